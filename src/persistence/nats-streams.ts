// The JetStream streams of cluster mode are created by the first node that needs them; later
// nodes find them and leave their settings as they are. Also: how a node's connections connect.
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import { log } from '../log/log.js';

/**
 * Every long-lived connection of a node (the node's, each shard's journal): it reconnects for
 * ever, and its requests capture no stack trace up front (two Error objects per request and
 * JetStream publish otherwise: 8% of a node's main thread under load; a failed request still
 * rejects with its error and cause).
 */
export const NODE_CONNECTION: ConnectionOptions = { maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true };

/** NATS's max_payload when the server has not said (its default). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Bytes of a message kept free below max_payload for its headers and what frames the payload. */
const MESSAGE_ROOM = 1_024;

/** The most bytes a message's payload on `nc` may hold: the server's max_payload, less room for its headers. */
export function payloadLimit(nc: NatsConnection): number {
  return (nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - MESSAGE_ROOM;
}

/** A request was in flight when its connection dropped: its answer was lost with the socket. */
export class ConnectionDroppedError extends Error {
  override name = 'ConnectionDroppedError';
}

/**
 * Follows a node connection: logs what an operator needs to follow a NATS server's loss (the
 * connection dropped, reconnected elsewhere, a server error), and fails at once the guarded
 * requests that cannot be answered: those in flight when it dropped, and those sent while it was
 * down (nats.js discards what was buffered when it dials the next server). nats.js would keep
 * them until their timeout (5 s for JetStream): a lease renewal waiting that long lets the lease
 * lapse, a journal append holds its shard's commits. Their callers retry on the new connection.
 */
export class ConnectionWatch {
  private readonly inFlight = new Set<(err: Error) => void>();
  private dropped = false;

  constructor(nc: NatsConnection, name: string) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.dropped = true;
          log.warn(`${name}: disconnected from NATS server ${s.server}; reconnecting`);
          this.failInFlight(`the connection to NATS server ${s.server} dropped before the answer`);
        } else if (s.type === 'reconnect') {
          this.dropped = false;
          log.info(`${name}: reconnected to NATS server ${s.server}`);
          this.failInFlight(`the request was sent while the connection to NATS was down`);
        } else if (s.type === 'error') log.warn({ err: s.error }, `${name}: the NATS server reported an error`);
      }
    })().catch(() => undefined);
  }

  private failInFlight(why: string): void {
    const dropped = new ConnectionDroppedError(why);
    for (const fail of this.inFlight) fail(dropped);
    this.inFlight.clear();
  }

  /** Whether the connection is down now (dropped and not yet back). */
  get down(): boolean {
    return this.dropped;
  }

  /** `request`'s outcome, or ConnectionDroppedError if the connection drops (or comes back) first. */
  guard<T>(request: Promise<T>): Promise<T> {
    let fail!: (err: Error) => void;
    const dropped = new Promise<never>((_, reject) => (fail = reject));
    this.inFlight.add(fail);
    return Promise.race([request, dropped]).finally(() => this.inFlight.delete(fail));
  }
}

/** Creates stream `config.name` unless it exists. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
  }
}
