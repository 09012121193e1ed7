// Entry of a shard's writer thread (single node). It owns a second connection to the shard's
// database and runs the group commits the shard thread hands it, strictly in order, each in one
// transaction with the fsync of SYNCHRONOUS=FULL, and answers each with done/failed. The shard
// thread meanwhile decides the next batch (commit-pipeline.ts).
//
// A failed commit poisons its generation: every later commit of the same generation was decided
// on top of it, so it is refused unwritten. The shard starts a new generation once it has
// dropped those batches. Before the first commit after a failure the WAL is scrubbed (see
// scrubWal), as the shard thread itself does on its own path.
import { parentPort, workerData } from 'node:worker_threads';
import { openWriterDb, type Synchronous } from '../../persistence/shard-db.js';
import { batchCommitter, scrubWal } from '../../persistence/batch-commit.js';
import { decodeCommit } from '../../persistence/commit-bytes.js';
import { log } from '../../log/log.js';

export type ToWriter =
  /** `fail`: the test hook of a simulated I/O error (ShardOptions.failCommitsFor). */
  { t: 'commit'; n: number; gen: number; firstG: number; bytes: Uint8Array; fail: boolean } | { t: 'probe' } | { t: 'close' };

export type FromWriter = { t: 'done'; n: number; ms: number } | { t: 'failed'; n: number; gen: number; message: string } | { t: 'probed'; ok: boolean };

const { dataDir, shard, synchronous, epoch } = workerData as { dataDir: string; shard: number; synchronous: Synchronous; epoch: string };
const port = parentPort!;
const db = openWriterDb(dataDir, shard, synchronous);
const commit = batchCommitter(db, epoch);
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

port.on('message', (m: ToWriter) => {
  switch (m.t) {
    case 'commit': {
      if (m.gen === poisoned) return port.postMessage({ t: 'failed', n: m.n, gen: m.gen, message: 'an earlier commit failed' } satisfies FromWriter);
      try {
        if (!scrub()) throw new Error('the journal is not writable');
        if (m.fail) throw new Error('simulated I/O error (failCommitsFor)');
        const t0 = performance.now();
        commit(decodeCommit(m.bytes), m.firstG);
        port.postMessage({ t: 'done', n: m.n, ms: performance.now() - t0 } satisfies FromWriter);
      } catch (err) {
        poisoned = m.gen;
        broken = true;
        log.error({ err }, `shard ${shard}: group commit failed`);
        port.postMessage({ t: 'failed', n: m.n, gen: m.gen, message: err instanceof Error ? err.message : String(err) } satisfies FromWriter);
      }
      return;
    }
    case 'probe':
      return port.postMessage({ t: 'probed', ok: scrub() } satisfies FromWriter);
    case 'close':
      db.close();
      port.close();
  }
});
