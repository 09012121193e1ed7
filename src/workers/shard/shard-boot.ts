// Entry of a shard worker thread: opens the shard's runtime (its database and journal), in
// cluster mode joins the cluster, then loads the shard loop (shard-worker.ts). The join is a
// promise chain, not a top-level await: no module a thread loads awaits at its top level (see
// log/log.ts for why), and the loop is a plain module loaded when the join resolved.
import { workerData } from 'node:worker_threads';
import { ShardRuntime } from './shard-runtime.js';
import type { Replication } from './replication.js';
import type { ShardOptions } from '../shard-messages.js';

export interface BootedShard {
  runtime: ShardRuntime;
  /** Cluster mode only. */
  replication: Replication | undefined;
}

let booted: BootedShard | undefined;

/** What the boot opened, for the shard loop. */
export function bootedShard(): BootedShard {
  if (!booted) throw new Error('the shard loop was loaded before its boot');
  return booted;
}

async function boot(opts: ShardOptions): Promise<void> {
  const runtime = new ShardRuntime(opts);
  let replication: Replication | undefined;
  // The NATS client is loaded only in cluster mode (a single node starts faster without it).
  if (opts.cluster) {
    const { Replication } = await import('./replication.js');
    replication = await Replication.open(runtime, opts.cluster, `${opts.cluster.nodeId}.${opts.shard}.${opts.epoch ?? ''}`);
    const r = replication;
    runtime.servesOnly((key) => r.serves(key), Replication.moving);
  }
  booted = { runtime, replication };
  await import('./shard-worker.js');
}

boot((workerData as { opts: ShardOptions }).opts).catch((err: unknown) =>
  // Uncaught, as a failure of the module itself would be: the thread dies and the main thread restarts it.
  setImmediate(() => {
    throw err;
  }),
);
