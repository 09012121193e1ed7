// The shard pool and the options every shard worker starts with, from the server's configuration
// (one place for main.ts, which spawns the workers first, and server.ts).
import type { Config } from '../config.js';
import type { ShardOptions } from '../workers/shard-messages.js';
import { ShardPool } from './shard-pool.js';
import { loadMasterKeyring } from '../persistence/master-key.js';
import { MIRROR_KEY } from '../persistence/key-mirror.js';

export function shardOptions(config: Config): Omit<ShardOptions, 'shard' | 'epoch'> {
  return {
    dataDir: config.dataDir,
    synchronous: config.synchronous,
    snapshotEvery: config.snapshotEvery,
    sweepIntervalMs: config.sweepIntervalMs,
    idleGcMs: config.idleGcMs,
    commitWindowUs: config.commitWindowUs,
    passivateAfterMs: config.passivateAfterMs,
    failCommitsFor: config.faultFailCommitsFor,
    checkpointRows: config.checkpointRows,
    checkpointIntervalMs: config.checkpointIntervalMs,
    pricing: config.commerce.pricing,
    eventLogKeepRows: config.eventLogKeepRows,
    maxActors: config.maxActorsPerShard,
    guestCartRetentionMs: config.guestCartRetentionMs,
    auditRetentionMs: config.auditRetentionMs,
    // The shards open orders' sealed address copies themselves: with the master keys on one
    // node, with this process's key mirror key in a cluster (persistence/key-mirror.ts).
    masterKeys: config.cluster ? [MIRROR_KEY.key.toString('hex')] : loadMasterKeyring(config.dataDir, config.masterKey, config.previousMasterKey).hexKeys(),
    ...(config.faultCrashShardOn === undefined ? {} : { crashOn: config.faultCrashShardOn }),
    ...(config.faultCrashShardAtStop ? { crashAtStop: true } : {}),
    ...(config.faultFailAcquires > 0 ? { failAcquires: config.faultFailAcquires } : {}),
    ...(config.cluster
      ? {
          cluster: {
            servers: config.cluster.servers,
            nodeId: config.cluster.nodeId,
            partitions: config.cluster.partitions,
            snapshotEvery: config.cluster.snapshotEvery,
          },
        }
      : {}),
  };
}

export function createPool(config: Config): ShardPool {
  return new ShardPool({
    shards: config.shards,
    maxBacklog: config.maxShardBacklog,
    maxHeapMb: config.shardMaxHeapMb,
    ...(config.cluster ? { partitions: config.cluster.partitions } : {}),
  });
}
