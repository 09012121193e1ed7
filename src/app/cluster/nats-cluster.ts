// The connection of a node to its cluster: NATS with JetStream. At start it checks that NATS is
// reachable (a clear error naming NATS_URL otherwise), creates the journal stream and the KV
// buckets when they do not exist, and refuses to join a cluster whose PARTITIONS differ.
import { ConnectionWatch, NODE_CONNECTION, ensureStream } from '../../persistence/nats-streams.js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { randomBytes } from 'node:crypto';
import { JOURNAL_STREAM } from '../../persistence/replicated-journal.js';
import { PartitionSnapshots } from '../../persistence/partition-snapshots.js';
import { EventStream } from './event-stream.js';
import { DATA_KEY_HISTORY, type ErasableKv } from '../../persistence/kv-data-keys.js';
import type { ClusterConfig } from '../../config.js';

export const BUCKETS = {
  /** `p<n>` -> the owner's node id; the bucket's TTL is the lease. */
  owners: 'cw-owners',
  /** `n<base64url node id>` -> { nodeId, url }; the TTL drops a node that stopped beating. */
  nodes: 'cw-nodes',
  /** `partitions`, `jwt-secret`: set once for the whole cluster. */
  meta: 'cw-meta',
  /** The accounts: `u<hex userId>` -> account, `e<email hash>` and `n<username hash>` -> user id, `s<name>` -> secret. */
  users: 'cw-users',
  /** `k<hex userId>` -> the account's wrapped data key (kept apart so erasure can erase every revision). */
  keys: 'cw-keys',
} as const;

export class ClusterError extends Error {
  override name = 'ClusterError';
}

export interface NatsCluster {
  nc: NatsConnection;
  /** Fails the lease requests in flight when the connection drops (their answers are lost). */
  watch: ConnectionWatch;
  js: JetStreamClient;
  jsm: JetStreamManager;
  owners: KV;
  nodes: KV;
  meta: KV;
  users: KV;
  keys: KV;
  config: ClusterConfig;
}

/** An accounts bucket with the secure erase of its revisions (the message overwritten in the stream's files). */
export const erasable = (c: Pick<NatsCluster, 'jsm' | 'users' | 'keys'>, bucket: 'users' | 'keys'): ErasableKv => ({
  kv: c[bucket],
  erase: (seq) => c.jsm.streams.deleteMessage(`KV_${BUCKETS[bucket]}`, seq, true),
});

const sec = (ms: number) => ms * 1_000_000; // JetStream durations are in nanoseconds

export async function openCluster(config: ClusterConfig): Promise<NatsCluster> {
  let nc: NatsConnection;
  try {
    nc = await connect({ ...NODE_CONNECTION, servers: config.servers, name: `cartwire-${config.nodeId}`, noEcho: true });
  } catch (err) {
    throw new ClusterError(`cannot reach NATS at NATS_URL=${config.servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const watch = new ConnectionWatch(nc, `cluster node ${config.nodeId}`);
  try {
    const jsm = await jetstreamManager(nc);
    await ensureJournal(jsm, config);
    await PartitionSnapshots.ensureStream(jsm, config.replicas);
    await EventStream.ensure(jsm, config.replicas);
    const kvm = new Kvm(nc);
    const replicas = config.replicas;
    const cluster: NatsCluster = {
      nc,
      watch,
      js: jetstream(nc),
      jsm,
      owners: await kvm.create(BUCKETS.owners, { history: 1, ttl: config.leaseMs, replicas, storage: 'file' }),
      nodes: await kvm.create(BUCKETS.nodes, { history: 1, ttl: config.leaseMs, replicas, storage: 'file' }),
      meta: await kvm.create(BUCKETS.meta, { history: 1, replicas, storage: 'file' }),
      users: await kvm.create(BUCKETS.users, { history: 1, replicas, storage: 'file' }),
      // Revisions are never dropped by the bucket's limit but erased by cartwire (kv-data-keys.ts).
      keys: await kvm.create(BUCKETS.keys, { history: DATA_KEY_HISTORY, replicas, storage: 'file' }),
      config,
    };
    await agreeOnPartitions(cluster);
    return cluster;
  } catch (err) {
    await nc.close();
    if (err instanceof ClusterError) throw err;
    throw new ClusterError(
      `NATS at ${config.servers.join(',')} has no usable JetStream (start nats-server with -js): ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

function ensureJournal(jsm: JetStreamManager, config: ClusterConfig): Promise<void> {
  return ensureStream(jsm, {
    name: JOURNAL_STREAM,
    subjects: ['cw.j.>'],
    storage: 'file',
    num_replicas: config.replicas,
    // Appends retried after a lost connection are recognised by their id for this long.
    duplicate_window: sec(120_000),
  });
}

/** The first node sets PARTITIONS for the cluster; a node with another value may not join. */
async function agreeOnPartitions(c: NatsCluster): Promise<void> {
  const mine = String(c.config.partitions);
  try {
    await c.meta.create('partitions', mine);
    return;
  } catch {
    // set already
  }
  const theirs = (await c.meta.get('partitions'))?.string();
  if (theirs !== mine)
    throw new ClusterError(`PARTITIONS=${mine} but the cluster at NATS_URL was created with PARTITIONS=${theirs}; every node must use the same value`);
}

/** JWT_SECRET when set; else the cluster's own, created once by the first node and shared by all. */
/** A secret of the cluster (`name` in the meta bucket): the configured one, or made once by the first node. */
export async function clusterJwtSecret(
  c: NatsCluster,
  configured: string | undefined,
  name = 'jwt-secret',
  make = () => randomBytes(48).toString('base64url'),
): Promise<string> {
  if (configured) return configured;
  const made = make();
  try {
    await c.meta.create(name, made);
    return made;
  } catch {
    const e = await c.meta.get(name);
    if (!e) throw new ClusterError(`the cluster has no ${name} and cannot create one`);
    return e.string();
  }
}
