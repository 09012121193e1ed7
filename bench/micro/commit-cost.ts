// Micro-benchmark: what one group commit costs the thread that makes it, by rows per commit, with
// the shard database and transaction the server uses (SYNCHRONOUS=FULL: the WAL is fsynced before
// the commit returns). Prints wall time and this thread's CPU (user and system, from
// getrusage(RUSAGE_THREAD) via process.threadCpuUsage when present, else the process's) per
// commit and per row, and the whole machine's busy time per commit (/proc/stat: the kernel's
// journal thread and the virtual disk's work for an fsync are not this process's). The fixed
// cost of a commit is what a group of one row pays alone. Run it on an otherwise quiet machine.
// Run: npm run build && node dist/bench/micro/commit-cost.js [commits per size] [sizes...]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShardDb } from '../../src/persistence/shard-db.js';
import { batchCommitter } from '../../src/persistence/batch-commit.js';
import { BatchWrites } from '../../src/persistence/batch-writes.js';
import { machineBusyMicros } from '../lib/procfs.js';

const commits = Number(process.argv[2] ?? 2000);
const sizes = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1, 2, 4, 16, 64];
const dir = mkdtempSync(join(tmpdir(), 'cw-commit-cost-'));
const db = openShardDb(dir, 0, 'FULL');
const commit = batchCommitter(db, 'bench');
let g = 0;

const line = { sku: 'tee-classic-m', qty: 2, price: 1900 };
function group(rows: number, round: number): BatchWrites {
  const w = new BatchWrites();
  for (let i = 0; i < rows; i++) w.appendEvents(`cart:g_${(round * rows + i).toString(36).padStart(8, '0')}`, round + 1, [{ type: 'added', line }]);
  w.marker = round;
  return w;
}

const cpu = (): { user: number; system: number } => {
  const threadCpu = (process as unknown as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;
  return threadCpu ? threadCpu() : process.cpuUsage();
};

console.log(`${commits} group commits per size, SYNCHRONOUS=FULL, ${dir}`);
console.log('rows/commit | wall µs/commit | user µs/commit | sys µs/commit | CPU µs/row | machine busy µs/commit');
for (const rows of sizes) {
  const groups = Array.from({ length: commits }, (_, i) => group(rows, i));
  // A few commits first: the file grows, the statements warm up.
  for (let i = 0; i < 20; i++) commit(groups[i], (g += rows) - rows);
  const c0 = cpu();
  const m0 = machineBusyMicros();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < commits; i++) {
    commit(groups[i], g);
    g += rows;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e3 / commits;
  const c1 = cpu();
  const machine = (machineBusyMicros() - m0) / commits;
  const user = (c1.user - c0.user) / commits;
  const system = (c1.system - c0.system) / commits;
  console.log(
    `${String(rows).padStart(11)} | ${wall.toFixed(1).padStart(14)} | ${user.toFixed(1).padStart(14)} | ${system.toFixed(1).padStart(13)} | ${((user + system) / rows).toFixed(1).padStart(10)} | ${machine.toFixed(1).padStart(22)}`,
  );
}
db.close();
rmSync(dir, { recursive: true, force: true });
