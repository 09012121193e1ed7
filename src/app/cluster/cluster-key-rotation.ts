// `npm run rotate-master-key` with NATS_URL: rotates the master key of a running cluster (see
// cluster-keys.ts for how the nodes follow it). Two modes:
// - the key in the meta bucket (MASTER_KEY unset on the nodes): a new key is stored as
//   `master-key.next`, every node starts wrapping under it, every data key is rewrapped, and it
//   becomes `master-key`;
// - MASTER_KEY on the nodes: the operator restarts them first with MASTER_KEY set to the new key
//   and PREVIOUS_MASTER_KEY to the old one, then runs this with the same two variables.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { KvUserStore } from '../../persistence/kv-user-store.js';
import { newMasterKeyText, parseMasterKey } from '../../persistence/master-key.js';
import { MasterKeyring, type NamedKey } from '../../persistence/sealing.js';
import type { RotationResult } from '../../persistence/key-rotation.js';
import { BUCKETS, erasable } from './nats-cluster.js';
import { KEYRING_SUBJECT, META_MASTER_KEY, META_NEXT_MASTER_KEY, type KeyringAnswer } from './cluster-keys.js';
import { noResponders } from '../../persistence/nats-errors.js';

export interface ClusterRotationEnv {
  servers: string[];
  masterKey?: string;
  previousMasterKey?: string;
  /** How long to wait for every live node to wrap under the new key. */
  waitMs?: number;
}

export class RotationError extends Error {
  override name = 'RotationError';
}

export async function rotateClusterMasterKey(env: ClusterRotationEnv, say: (line: string) => void): Promise<RotationResult> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: env.servers, name: 'cartwire-rotate-master-key' });
  } catch (err) {
    throw new RotationError(`cannot reach NATS at NATS_URL=${env.servers.join(',')}`, { cause: err });
  }
  try {
    const kvm = new Kvm(nc);
    const jsm = await jetstreamManager(nc);
    const users = await kvm.open(BUCKETS.users);
    const keys = await kvm.open(BUCKETS.keys);
    const store = new KvUserStore(erasable({ jsm, users, keys }, 'users'), erasable({ jsm, users, keys }, 'keys'));
    const meta = await kvm.open(BUCKETS.meta);
    // The nodes of this version move each data key into its own entry at start; a rotation needs that done.
    if (!(await store.converted()))
      throw new RotationError('the accounts bucket is of an earlier layout: start the nodes of this version first (they convert it), then rotate');
    let target: NamedKey;
    let from: NamedKey[];
    let finish = (): Promise<void> => Promise.resolve();
    if (env.masterKey) {
      target = parseMasterKey(env.masterKey, 'MASTER_KEY');
      from = env.previousMasterKey ? [parseMasterKey(env.previousMasterKey, 'PREVIOUS_MASTER_KEY')] : [];
    } else {
      const cur = await meta.get(META_MASTER_KEY);
      const resumed = await meta.get(META_NEXT_MASTER_KEY);
      // No master-key but a next one: a run stopped in its last step, after the rewrap.
      if ((!cur || cur.operation !== 'PUT') && resumed?.operation !== 'PUT')
        throw new RotationError('the cluster has no master key in its meta bucket (its nodes run with MASTER_KEY: set it here too)');
      const nextText = await nextKeyText(meta);
      target = parseMasterKey(nextText, META_NEXT_MASTER_KEY);
      from = cur?.operation === 'PUT' ? [parseMasterKey(cur.string(), META_MASTER_KEY)] : [];
      say(`next master key ${target.id} stored as ${META_NEXT_MASTER_KEY}`);
      finish = async () => {
        // A replaced value stays in the stream's files until the server compacts them: the old
        // key is erased for good first (nodes meanwhile use master-key.next), then replaced.
        const now = await meta.get(META_MASTER_KEY);
        if (now?.operation === 'PUT' && now.string() !== nextText) await jsm.streams.deleteMessage(`KV_${BUCKETS.meta}`, now.revision, true);
        if ((await meta.get(META_MASTER_KEY))?.operation !== 'PUT') await meta.create(META_MASTER_KEY, nextText);
        await meta.purge(META_NEXT_MASTER_KEY);
      };
    }
    await everyNodeWrapsUnder(nc, jsm, target.id, env.waitMs ?? 30_000);
    const ring = new MasterKeyring(target, from);
    const r = await store.rewrapKeys(ring);
    await finish();
    say(`rewrapped ${r.rewrapped} keys of ${r.accounts} accounts`);
    return { rewrapped: r.rewrapped, fromKeyIds: from.map((k) => k.id).filter((id) => id !== target.id), toKeyId: target.id };
  } finally {
    await nc.close();
  }
}

/** The `master-key.next` of a rotation under way, or a new one stored now. */
async function nextKeyText(meta: KV): Promise<string> {
  const have = await meta.get(META_NEXT_MASTER_KEY);
  if (have?.operation === 'PUT') return have.string();
  const made = newMasterKeyText();
  try {
    await meta.create(META_NEXT_MASTER_KEY, made);
    return made;
  } catch {
    const e = await meta.get(META_NEXT_MASTER_KEY);
    if (!e || e.operation !== 'PUT') throw new RotationError(`cannot store ${META_NEXT_MASTER_KEY} in the meta bucket`);
    return e.string();
  }
}

/** Waits until every node beating in the cluster answers that it wraps new data keys under `keyId`. */
async function everyNodeWrapsUnder(nc: NatsConnection, jsm: Awaited<ReturnType<typeof jetstreamManager>>, keyId: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const prefix = `$KV.${BUCKETS.nodes}.`;
    const info = await jsm.streams.info(`KV_${BUCKETS.nodes}`, { subjects_filter: `${prefix}>` });
    const live = Object.keys(info.state.subjects ?? {}).map((s) => Buffer.from(s.slice(prefix.length + 1), 'hex').toString());
    const answers = new Map<string, KeyringAnswer>();
    try {
      for await (const m of await nc.requestMany(KEYRING_SUBJECT, undefined, { maxWait: 1_000, strategy: 'timer' })) {
        const a = JSON.parse(m.string()) as KeyringAnswer;
        answers.set(a.nodeId, a);
      }
    } catch (err) {
      if (!noResponders(err)) throw err;
    }
    const behind = live.filter((n) => answers.get(n)?.current !== keyId);
    if (behind.length === 0) return;
    if (Date.now() > deadline)
      throw new RotationError(
        `node(s) ${behind.join(', ')} do not wrap under master key ${keyId} yet: restart them with the new key (see docs/operations.md), then run this again`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
