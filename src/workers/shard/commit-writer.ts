// Entry of a shard's writer thread (single node). It owns a second connection to the shard's
// database and runs the group commits the shard thread hands it, strictly in order, each in one
// transaction with the fsync of SYNCHRONOUS=FULL, and answers each with done/failed. The shard
// thread meanwhile decides the next batch (commit-pipeline.ts).
//
// Commits that are already queued when the writer turns to them (at most the pipeline's depth) are
// written together, in one transaction and one fsync: all durable, or none.
//
// A failed commit poisons its generation: every later commit of the same generation was decided
// on top of it, so it is refused unwritten. The shard starts a new generation once it has
// dropped those batches. Before the first commit after a failure the WAL is scrubbed (see
// scrubWal), as the shard thread itself does on its own path, and the writer tries it at once
// after a failure, once it has voided the failed transaction's frames (wal-orphans.ts). The
// shard thread commits on its own connection under light load (commit-pipeline.ts); `broken`
// says such a commit failed and so did the shard's own scrub.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openWriterDb, type Synchronous } from '../../persistence/shard-db.js';
import { batchCommitter, scrubWal } from '../../persistence/batch-commit.js';
import { decodeCommit } from '../../persistence/commit-bytes.js';
import { commitOrVoid } from '../../persistence/wal-orphans.js';
import { log } from '../../log/log.js';
import { IdleHeapTrim } from '../heap-trim.js';

export type ToWriter =
  /** `fail`: the test hook of a simulated I/O error (ShardOptions.failCommitsFor). */
  { t: 'commit'; n: number; gen: number; firstG: number; bytes: Uint8Array; fail: boolean } | { t: 'probe' } | { t: 'broken' } | { t: 'close' };

export type FromWriter =
  | { t: 'done'; n: number; ms: number }
  | { t: 'failed'; n: number; gen: number; message: string }
  | { t: 'probed'; ok: boolean }
  /** Loaded, its database open: see CommitPipeline.up. */
  | { t: 'up' };

const { dataDir, shard, synchronous, epoch, idleGcMs } = workerData as {
  dataDir: string;
  shard: number;
  synchronous: Synchronous;
  epoch: string;
  idleGcMs: number;
};
const port = parentPort!;
const db = openWriterDb(dataDir, shard, synchronous);
const commit = batchCommitter(db, epoch);
// Quiet after a burst: the page cache's spare pages and the heap's garbage go back (heap-trim.ts).
const trim = new IdleHeapTrim(idleGcMs, () => void db.pragma('shrink_memory')).start();
/** The generation whose commit failed: its later commits are refused. */
let poisoned = -1;
/** A commit failed and the WAL has not been scrubbed since. */
let broken = false;

/** True when the journal is writable (again). */
function scrub(): boolean {
  if (!broken) return true;
  try {
    scrubWal(db);
    broken = false;
    return true;
  } catch (err) {
    log.warn({ err }, `shard ${shard}: journal still not writable`);
    return false;
  }
}

type Commit = Extract<ToWriter, { t: 'commit' }>;
/** Commits that queued up while the last one was on disk, written together (bounded by the shard's PIPELINE_DEPTH). */
const writeGroup = db.transaction((list: readonly Commit[]) => {
  for (const c of list) commit(decodeCommit(c.bytes), c.firstG);
});

port.on('message', (first: ToWriter) => {
  // Everything that queued up while the last commit was on disk: consecutive commits share one
  // transaction and one fsync, as batches that queue up on the shard thread share a group commit.
  const list: Commit[] = [];
  for (let m: ToWriter | undefined = first; m; m = receiveMessageOnPort(port)?.message as ToWriter | undefined) {
    if (m.t !== 'commit') {
      write(list.splice(0));
      other(m);
      continue;
    }
    // A simulated failure is a group of its own, so the commits before it are written as they would be.
    if (m.fail) write(list.splice(0));
    list.push(m);
    if (m.fail) write(list.splice(0));
  }
  write(list);
});

/** Writes commits in one transaction: all of them are durable, or none is and all are refused. */
function write(all: Commit[]): void {
  const list: Commit[] = [];
  for (const m of all) {
    if (m.gen === poisoned) port.postMessage({ t: 'failed', n: m.n, gen: m.gen, message: 'an earlier commit failed' } satisfies FromWriter);
    else list.push(m);
  }
  if (list.length === 0) return;
  let wrote = false;
  try {
    if (!scrub()) throw new Error('the journal is not writable');
    if (list.some((m) => m.fail)) throw new Error('simulated I/O error (failCommitsFor)');
    const t0 = performance.now();
    wrote = true;
    commitOrVoid(db, () => writeGroup(list));
    const ms = performance.now() - t0;
    for (const m of list) port.postMessage({ t: 'done', n: m.n, ms } satisfies FromWriter);
  } catch (err) {
    // The first of the group names the failure: the shard fails it and everything after it.
    poisoned = list[0].gen;
    broken = true;
    log.error({ err }, `shard ${shard}: group commit failed`);
    const message = err instanceof Error ? err.message : String(err);
    for (const m of list) port.postMessage({ t: 'failed', n: m.n, gen: m.gen, message } satisfies FromWriter);
    // At once, not at the next commit: the refused transaction's frames sit in the WAL past its
    // last commit, and a crash before the scrub could bring them back as committed.
    if (wrote) scrub();
  }
}

function other(m: Exclude<ToWriter, Commit>): void {
  if (m.t === 'probe') return port.postMessage({ t: 'probed', ok: scrub() } satisfies FromWriter);
  if (m.t === 'broken') {
    // The shard thread's commit failed and so did its own scrub: try again from here, at once.
    broken = true;
    return void scrub();
  }
  trim.stop();
  db.close();
  port.close();
}

port.postMessage({ t: 'up' } satisfies FromWriter);
