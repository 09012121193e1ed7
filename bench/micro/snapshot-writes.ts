// Micro-benchmark behind schema 5's snapshot counts: what a group commit of snapshots costs with
// the counting triggers and the upsert (the shard database as opened now), against the same
// commit on a copy of the table with neither (INSERT OR REPLACE, as before schema 5). Both in one
// process on real files with SYNCHRONOUS=OFF (the fsync is the same either way and would hide
// the difference), new rows and rewrites of stored rows, alternated.
// Run: npm run build && node dist/bench/micro/snapshot-writes.js [rows per commit] [commits]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardDb } from '../../src/persistence/shard-db.js';
import { batchCommitter } from '../../src/persistence/batch-commit.js';
import { BatchWrites } from '../../src/persistence/batch-writes.js';
import { encodeRow } from '../../src/persistence/row-codec.js';
import { rowChecksum, TAG_SNAPSHOT } from '../../src/persistence/checksum.js';

const perCommit = Number(process.argv[2] ?? 1000);
const commits = Number(process.argv[3] ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'cw-snapshot-writes-'));
const db = openShardDb(dir, 0, 'OFF');
// The table as it was: same columns and key, no triggers on it, written as batch-commit did.
db.exec('CREATE TABLE plain (actor TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB NOT NULL, at INTEGER NOT NULL, crc INTEGER) WITHOUT ROWID');
const commit = batchCommitter(db, 'bench');
const plain = db.prepare('INSERT OR REPLACE INTO plain (actor, seq, state, at, crc) VALUES (?, ?, ?, ?, ?)');
const commitPlain = db.transaction((w: BatchWrites) => {
  const now = Date.now();
  for (const s of w.snapshots) plain.run(s.actor, s.seq, s.state, now, rowChecksum(TAG_SNAPSHOT, s.actor, s.seq, s.state));
});

const state = encodeRow({
  lines: [
    { sku: 'soap-bar', qty: 2, price: 450 },
    { sku: 'kite', qty: 1, price: 2900 },
  ],
  version: 3,
});
const batch = (from: number, seq: number) => {
  const w = new BatchWrites();
  for (let i = from; i < from + perCommit; i++) w.snapshots.push({ actor: `cart:g_${i.toString(36).padStart(8, '0')}`, seq, state });
  return w;
};

const usPerRow: Record<string, number[]> = {
  'triggers + upsert, new rows': [],
  'plain, new rows': [],
  'triggers + upsert, rewrites': [],
  'plain, rewrites': [],
};
const time = (label: string, f: () => void) => {
  const t0 = process.hrtime.bigint();
  f();
  usPerRow[label].push(Number(process.hrtime.bigint() - t0) / 1e3 / perCommit);
};
for (let c = 0; c < commits; c++) {
  const w = batch(c * perCommit, 1);
  time('triggers + upsert, new rows', () => commit(w, 0));
  time('plain, new rows', () => commitPlain(w));
}
for (let c = 0; c < commits; c++) {
  const w = batch(c * perCommit, 2);
  time('triggers + upsert, rewrites', () => commit(w, 0));
  time('plain, rewrites', () => commitPlain(w));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${commits} commits of ${perCommit} snapshots (${state.length} B states), µs per snapshot, median of the commits:`);
for (const [label, xs] of Object.entries(usPerRow)) console.log(`  ${label.padEnd(30)} ${median(xs).toFixed(2)}`);
const counted = db.prepare('SELECT rows FROM snapshot_stats').get() as { rows: number };
console.log(`snapshot_stats.rows ${counted.rows} (rows written: ${commits * perCommit})`);
db.close();
rmSync(dir, { recursive: true, force: true });
