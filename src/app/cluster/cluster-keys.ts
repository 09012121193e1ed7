// The master key of a cluster and its rotation. Without MASTER_KEY the key is `master-key` in the
// cw-meta bucket; a rotation first stores the new one as `master-key.next`. Every node follows
// both entries while it runs: a new `master-key.next` becomes the key it wraps new data keys
// under, and the old key stays known for unwrapping, so nodes read both key ids during the
// change. The rotation (npm run rotate-master-key with NATS_URL) waits until every live node
// answers that it wraps under the new key, rewraps every account's data key by compare-and-set,
// then makes the new key `master-key` and removes `master-key.next`; run again after an
// interruption, it goes on with the same next key and skips what is rewrapped already.
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import { parseMasterKey } from '../../persistence/master-key.js';
import { MasterKeyring, type NamedKey } from '../../persistence/sealing.js';
import { log } from '../../log/log.js';

export const META_MASTER_KEY = 'master-key';
export const META_NEXT_MASTER_KEY = 'master-key.next';
/** Asked by a rotation: every node answers with the key ids it wraps and unwraps with. */
export const KEYRING_SUBJECT = 'cw.accounts.keyring';

export interface KeyringAnswer {
  nodeId: string;
  current: string;
  known: string[];
}

const metaKey = (text: string, name: string): NamedKey => parseMasterKey(text, `the cluster's ${name}`);

/**
 * The keyring of a node without MASTER_KEY: the cluster's `master-key` (made by `create` when the
 * cluster has none), and `master-key.next` when a rotation is under way (then the key new data
 * keys are wrapped under; a rotation's last step may have removed `master-key` already), kept up
 * to date with the meta bucket while the node runs.
 */
export async function followClusterMasterKey(meta: KV, create: () => Promise<string>, others: readonly NamedKey[]): Promise<MasterKeyring> {
  // Watched before the reads, so a change in between is not missed. Every key of the small meta
  // bucket (NATS 2.9 watches one subject filter, and the two names are not one).
  const w = await meta.watch({ include: KvWatchInclude.UpdatesOnly });
  const [cur, next] = await Promise.all([meta.get(META_MASTER_KEY), meta.get(META_NEXT_MASTER_KEY)]);
  const nextText = next?.operation === 'PUT' ? next.string() : undefined;
  const curText = cur?.operation === 'PUT' ? cur.string() : (nextText ?? (await create()));
  const ring = new MasterKeyring(metaKey(curText, META_MASTER_KEY), others);
  if (nextText !== undefined) ring.use(metaKey(nextText, META_NEXT_MASTER_KEY));
  void (async () => {
    for await (const e of w) {
      if (e.operation !== 'PUT' || (e.key !== META_MASTER_KEY && e.key !== META_NEXT_MASTER_KEY)) continue;
      try {
        ring.use(metaKey(e.string(), e.key));
        log.info(`cluster: new data keys are wrapped under master key ${ring.current.id} (${e.key})`);
      } catch (err) {
        log.error({ err }, `cluster: the meta bucket's ${e.key} is not a master key; kept ${ring.current.id}`);
      }
    }
  })();
  return ring;
}

/** Answers a rotation's question: which key this node wraps under and which it knows. */
export function answerKeyring(nc: NatsConnection, nodeId: string, ring: MasterKeyring): void {
  nc.subscribe(KEYRING_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const a: KeyringAnswer = { nodeId, current: ring.current.id, known: ring.keys().map((k) => k.id) };
      msg.respond(JSON.stringify(a));
    },
  });
}
