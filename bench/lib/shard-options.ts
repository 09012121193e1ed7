// Options of a ShardRuntime that a micro-benchmark runs on its own: one shard, every background
// job (checkpoints, passivation, retention) pushed out of the measured window.
import { DEFAULT_PRICING } from '../../src/actors/pricing.js';
import type { ShardOptions } from '../../src/workers/shard-messages.js';

export function benchShardOptions(dataDir: string, synchronous: ShardOptions['synchronous']): ShardOptions {
  return {
    shard: 0,
    dataDir,
    synchronous,
    snapshotEvery: 200,
    sweepIntervalMs: 5000,
    idleGcMs: 0,
    commitWindowUs: 0,
    checkpointRows: 10_000_000,
    checkpointIntervalMs: 3_600_000,
    passivateAfterMs: 3_600_000,
    pricing: DEFAULT_PRICING,
    eventLogKeepRows: 1_000_000,
    maxActors: 10_000_000,
    guestCartRetentionMs: 0,
  };
}
