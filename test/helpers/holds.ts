// Holds without a wire op: no client op creates holds yet (checkout will), so tests make them
// through ShardRuntime on a stopped server's own shard file, and read durable timers from it.
import assert from 'node:assert/strict';
import { ShardRuntime } from '../../src/workers/shard/shard-runtime.js';
import { DEFAULT_PRICING } from '../../src/actors/pricing.js';
import type { ShardOptions } from '../../src/workers/shard-messages.js';
import type { InventoryView } from '../../src/protocol/types.js';
import { decodeValue } from '../../src/protocol/frames.js';
import { openShardDb } from '../../src/persistence/shard-db.js';
import { stableHash } from '../../src/protocol/keys.js';

export function shardOptions(dataDir: string, shard: number): ShardOptions {
  return {
    shard,
    dataDir,
    synchronous: 'FULL',
    snapshotEvery: 200,
    sweepIntervalMs: 5000,
    idleGcMs: 0,
    commitWindowUs: 0,
    checkpointRows: 100_000,
    checkpointIntervalMs: 60_000,
    passivateAfterMs: 600_000,
    pricing: DEFAULT_PRICING,
    eventLogKeepRows: 1_000_000,
    maxActors: 1_000_000,
    guestCartRetentionMs: 0,
  };
}

/** The shard that owns an actor key, as the server routes it. */
export const shardOf = (key: string, shards: number): number => stableHash(key) % shards;

export type Reply = { id: number; ok: boolean; result?: InventoryView; error?: { code: string } };

/** Runs commands on one actor as one group commit and returns the decoded replies. */
export function run(rt: ShardRuntime, key: string, cmds: { type: string }[], now = Date.now()): Reply[] {
  const [out] = rt.runBatches([cmds.map((cmd, i) => ({ id: i + 1, key, cmd }))], now);
  return out.frames.map((f) => decodeValue(f) as Reply);
}

/** Makes a hold on `sku` through the shard's own runtime, then drops the runtime like a crash (no checkpoint). */
export function holdOffline(
  dataDir: string,
  shards: number,
  sku: string,
  holdId: string,
  qty: number,
  ttlMs: number,
): { expiresAt: number; view: InventoryView } {
  const key = `sku:${sku}`;
  const rt = new ShardRuntime(shardOptions(dataDir, shardOf(key, shards)));
  try {
    const now = Date.now();
    const [r] = run(rt, key, [{ type: 'reserve', holdId, qty, ttlMs } as { type: string }], now);
    assert.equal(r.ok, true, JSON.stringify(r));
    return { expiresAt: now + ttlMs, view: r.result! };
  } finally {
    rt.db.close();
  }
}

export type TimerRow = { actor: string; due: number };

/** The durable timer rows of a stopped server's shard, read straight from its file. */
export function timerRowsOnDisk(dataDir: string, shard: number): TimerRow[] {
  const db = openShardDb(dataDir, shard, 'FULL');
  try {
    return db.prepare('SELECT actor, due FROM timers ORDER BY actor').all() as TimerRow[];
  } finally {
    db.close();
  }
}
