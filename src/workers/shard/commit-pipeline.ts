// Pipelined group commit of a single node: the shard thread decides batch N+1 while its writer
// thread (commit-writer.ts) makes batch N durable. At most PIPELINE_DEPTH sealed commits are in
// flight; their answers and pushes are released strictly in order, each only once its commit is
// durable (the output gate). A failed commit fails every commit sealed after it too: they were
// decided on top of it (commit-seal.ts undoes them), and the writer refuses them unwritten.
//
// A group with nothing in flight and nothing queued behind it is committed on the shard thread's
// own connection instead (see submit): two thread wake-ups and one encoding of its rows fewer.
// Under a steady stream that is most groups too: requests that reach the shard while it sits in
// such a commit's fsync form the next group, alone again. Sending those to the writer was
// measured on two cores: 5-39% more server CPU per request, no throughput gained
// (docs/benchmarks.md, "Which thread commits under load"). The writer takes a group when other
// work waits behind it (a timer batch, a control message), and those decided while one is in flight.
//
// Maintenance (passivation, checkpoints, retention, snapshots) writes on the shard thread's own
// connection and runs only when the pipeline is drained: SQLite has one writer at a time, and
// an actor with rows in flight must neither leave memory nor be read back from disk before they
// are durable. Doing it on the writer instead would mean shipping its reads and decisions there too.
import { Worker } from 'node:worker_threads';
import type { ShardOptions, ShardStats } from '../shard-messages.js';
import type { BatchOutcome, Prepared, ShardRuntime } from './shard-runtime.js';
import type { Sealed } from './commit-seal.js';
import type { FromWriter, ToWriter } from './commit-writer.js';

/**
 * Sealed commits in flight at most: one being written, one decided behind it. Batches that arrive
 * meanwhile queue on the shard thread and join one group at the next free slot, as on the serial
 * path. Deeper pipelines (8, with the writer writing the queued commits in one transaction) were
 * measured and did worse at a constant arrival rate on a 2-core machine (docs/benchmarks.md).
 */
export const PIPELINE_DEPTH = 2;

interface InFlight {
  n: number;
  sealed: Sealed;
  /** Sent to the writer (it wrote something), and its transaction time once durable. */
  sent: boolean;
  ms: number | undefined;
  /** Gets the outcome (one per batch) once the commit is durable or failed. */
  after: (outcomes: BatchOutcome[]) => void;
}

export class CommitPipeline {
  private readonly writer: Worker;
  private readonly records: InFlight[] = [];
  /** Messages to the writer not answered yet (failed commits' included). */
  private outstanding = 0;
  /** Commits of an older generation were refused with a failed one (see commit-writer.ts). */
  private gen = 0;
  private next = 0;
  /** Group commits made on the shard thread's own connection (see submit), for tests. */
  inline = 0;
  private probed: (() => void) | undefined;
  private closing = false;
  private isUp!: () => void;
  /**
   * The writer thread loaded and opened its database. A shard reports ready only then: a worker
   * torn down while its writer still loads the native SQLite binding aborts the whole process
   * (Node-API's fatal error in the binding's registration), and a shard that dies on its first
   * request would be one.
   */
  readonly up = new Promise<void>((resolve) => (this.isUp = resolve));

  constructor(
    private readonly runtime: ShardRuntime,
    opts: ShardOptions,
    /** Called when a commit settled: room for the next batch, or the pipeline drained. */
    private readonly onSettled: () => void,
    private readonly depth = PIPELINE_DEPTH,
  ) {
    this.writer = new Worker(new URL('./commit-writer.js', import.meta.url), {
      workerData: { dataDir: opts.dataDir, shard: opts.shard, synchronous: opts.synchronous, epoch: opts.epoch ?? '', idleGcMs: opts.idleGcMs },
    });
    this.writer.on('message', (m: FromWriter) => this.fromWriter(m));
    // Without its writer the shard cannot know what became durable: it dies, and is restarted.
    const die = (err: Error) =>
      setImmediate(() => {
        throw err;
      });
    this.writer.on('error', die);
    this.writer.on('exit', (code) => {
      if (!this.closing) die(new Error(`shard ${opts.shard}: the writer thread exited (code ${code})`));
    });
  }

  /** Room for one more sealed commit; not while a batch that failed in its actors waits for the commits before it. */
  get ready(): boolean {
    const last = this.records[this.records.length - 1];
    return this.records.length < this.depth && (last === undefined || last.sealed.prep.bug === undefined);
  }

  /** Commits in flight whose answers wait. */
  get busy(): boolean {
    return this.records.length > 0;
  }

  /** Nothing in flight and the writer idle: the shard thread's connection may write. */
  get drained(): boolean {
    return this.records.length === 0 && this.outstanding === 0;
  }

  /**
   * Seals a prepared group and hands its rows to the writer; `after` gets its outcome, in order.
   * `alone`: nothing waits behind this group. With nothing in flight either, it is committed on
   * the shard thread's own connection instead, `after` called before this returns: under light
   * load a group commit then costs two thread hand-offs instead of four (each wakes a sleeping
   * thread, the dearest part of a small commit), and there is nothing to decide meanwhile.
   */
  submit(prep: Prepared, marker: number | undefined, after: (outcomes: BatchOutcome[]) => void, alone = false): void {
    if (alone && this.drained && !this.runtime.commitFailing) {
      const out = this.runtime.complete(prep, marker);
      // Its frames are voided (Journal.commit) but the WAL could not be scrubbed: the writer tries, at once.
      if (this.runtime.commitFailing) this.writer.postMessage({ t: 'broken' } satisfies ToWriter);
      this.inline++;
      return after(out);
    }
    const sealed = this.runtime.seals.seal(prep, marker);
    const rec: InFlight = { n: this.next++, sealed, sent: false, ms: undefined, after };
    this.records.push(rec);
    if (sealed.bytes) {
      rec.sent = true;
      this.outstanding++;
      const m: ToWriter = { t: 'commit', n: rec.n, gen: this.gen, firstG: sealed.firstG, bytes: sealed.bytes, fail: sealed.fail };
      this.writer.postMessage(m, [sealed.bytes.buffer as ArrayBuffer]);
    }
    this.release();
  }

  /** Asks the writer whether the journal is writable again after a failure; `ok` runs if it is. */
  probe(ok: () => void): void {
    if (this.probed) return;
    this.probed = ok;
    this.outstanding++;
    this.writer.postMessage({ t: 'probe' } satisfies ToWriter);
  }

  /** Closes the writer's connection (call drained) and waits for its thread to end. */
  close(): Promise<void> {
    this.closing = true;
    const exited = new Promise<void>((resolve) => this.writer.once('exit', () => resolve()));
    this.writer.postMessage({ t: 'close' } satisfies ToWriter);
    return exited;
  }

  private stats(rec: InFlight): ShardStats {
    return {
      commitMs: rec.ms ?? 0,
      rows: rec.sealed.prep.rowCount,
      writer: rec.sent,
      actors: this.runtime.actorCount,
      commitFailing: this.runtime.commitFailing,
    };
  }

  /** Releases the settled commits at the head, in order. */
  private release(): void {
    while (this.records.length > 0) {
      const head = this.records[0];
      if (head.sent && head.ms === undefined) return;
      this.records.shift();
      if (head.sent) this.runtime.commitFailing = false;
      head.after(this.runtime.seals.settle(head.sealed, this.stats(head)));
    }
  }

  private fromWriter(m: FromWriter): void {
    if (m.t === 'up') return this.isUp();
    this.outstanding--;
    if (m.t === 'done') {
      const rec = this.records.find((r) => r.n === m.n);
      if (rec) rec.ms = m.ms;
      this.release();
    } else if (m.t === 'failed') {
      // A refusal of an older generation: its batches were failed with the first one already.
      if (m.gen === this.gen) {
        this.gen++;
        const at = this.records.findIndex((r) => r.n === m.n);
        const failed = at < 0 ? [] : this.records.splice(at);
        this.runtime.commitFailing = true;
        const outcomes = this.runtime.seals.fail(
          failed.map((r) => r.sealed),
          true,
          failed.length > 0 ? this.stats(failed[0]) : this.runtime.stats(),
        );
        for (let i = 0; i < failed.length; i++) failed[i].after(outcomes[i]);
      }
    } else {
      const ok = this.probed;
      this.probed = undefined;
      if (m.ok && this.runtime.commitFailing) {
        this.runtime.commitFailing = false;
        ok?.();
      }
    }
    this.onSettled();
  }
}
