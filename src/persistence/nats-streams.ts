// The JetStream streams of cluster mode are created by the first node that needs them; later
// nodes find them and leave their settings as they are.
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';

/** Creates stream `config.name` unless it exists. */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
  }
}
