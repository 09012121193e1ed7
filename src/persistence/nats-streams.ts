// The JetStream streams of cluster mode are created by the first node that needs them; later
// nodes find them and leave their settings as they are. Also: how a node's connections connect.
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { ConnectionOptions } from '@nats-io/transport-node';

/**
 * Every long-lived connection of a node (the node's, each shard's journal): it reconnects for
 * ever, and its requests capture no stack trace up front (two Error objects per request and
 * JetStream publish otherwise: 8% of a node's main thread under load; a failed request still
 * rejects with its error and cause).
 */
export const NODE_CONNECTION: ConnectionOptions = { maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true };

/** Creates stream `config.name` unless it exists. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
  }
}
