// The pipelined group commit of a single node, on the shard thread's side. A prepared batch is
// sealed: its staged rows leave for the writer thread (commit-writer.ts) as one buffer, and the
// shard's stores move on as if it were committed, so the next batch is decided on top of it
// while its fsync runs. What a seal keeps is what its outcome needs later: the answers, pushes
// and view updates (released only once it is durable: the output gate), and what undoes it.
//
// In-memory state that ran ahead of the disk is made right by dropping, not undoing: when a
// commit fails, it and every commit sealed after it (decided on top of it) fail together; every
// actor they touched leaves memory, so its next use recovers exactly what is on disk. Timers and
// watch counts are small and are undone, newest first; journal positions are given back.
// Actors with rows in flight are marked (ShardState.inFlight): their reads wait for the commit
// like a write would, and maintenance, which runs only with no commit in flight, never drops them.
import type { DomainEvent } from '../../actors/actor.js';
import type { ProductView } from '../../protocol/types.js';
import { outcomeIndex } from '../../protocol/errors.js';
import { encodeError } from '../../protocol/frames.js';
import { encodeCommit } from '../../persistence/commit-bytes.js';
import type { ShardStats } from '../shard-messages.js';
import type { Cell } from './actor-cells.js';
import type { BatchOutcome, BatchPushes, Prepared } from './batch-outcome.js';
import type { PushStage } from './push-stage.js';
import type { ShardState } from './shard-state.js';
import { log } from '../../log/log.js';

const INTERNAL_OUTCOME = outcomeIndex('INTERNAL');
const UNAVAILABLE_OUTCOME = outcomeIndex('UNAVAILABLE');
/** What a client is told to wait after a failed commit before retrying. */
export const COMMIT_RETRY_MS = 1000;

/** A sealed group commit, from its seal to its outcome. */
export interface Sealed {
  readonly prep: Prepared;
  /** The rows for the writer thread; null when the group writes nothing or failed already (prep.bug). */
  readonly bytes: Uint8Array | null;
  /** Journal position before its rows. */
  readonly firstG: number;
  /** The test hook of a simulated I/O error (ShardOptions.failCommitsFor) applies to it. */
  readonly fail: boolean;
  readonly touched: Cell[];
  /** Timers taken for this batch (dueTimers): due again if it fails. */
  readonly fired: [string, number][];
  /** Each timer this commit rewrote, with its due before. */
  readonly timerUndo: [string, number | undefined][];
  readonly watches: [string, number][];
  readonly pushes: BatchPushes | null;
  readonly domain: DomainEvent[] | null;
  readonly products: ProductView[] | null;
}

export class CommitSeal {
  constructor(
    private readonly s: ShardState,
    private readonly stage: PushStage,
    private readonly fired: Map<string, number>,
    private readonly takeProducts: () => ProductView[] | null,
  ) {}

  /** Seals a prepared group: its rows are encoded for the writer and the shard's stores move on. */
  seal(prep: Prepared, marker: number | undefined): Sealed {
    const { writes, touched, timers, cells, inFlight, journal } = this.s;
    const cellsTouched = [...touched];
    const fired = [...this.fired];
    const staged = this.stage.takeStaged();
    const products = this.takeProducts();
    let bytes: Uint8Array | null = null;
    let firstG = journal.position;
    const timerUndo: [string, number | undefined][] = [];
    const failFor = this.s.opts.failCommitsFor;
    let fail = false;
    if (prep.bug === undefined && !writes.empty) {
      writes.marker = marker;
      bytes = encodeCommit(writes);
      firstG = journal.reserve(writes.journal.length / 3);
      fail = failFor !== undefined && cellsTouched.some((c) => c.key === failFor);
      for (const sn of writes.snapshots) {
        const cell = cells.get(sn.actor);
        if (cell) cell.snapSeq = sn.seq;
      }
      for (const t of writes.timers) {
        timerUndo.push([t.actor, timers.dueOf(t.actor)]);
        timers.set(t.actor, t.due);
      }
      for (const cell of cellsTouched) inFlight.set(cell, (inFlight.get(cell) ?? 0) + 1);
    }
    writes.clear();
    touched.clear();
    this.fired.clear();
    return {
      prep,
      bytes,
      firstG,
      fail,
      touched: cellsTouched,
      fired,
      timerUndo,
      watches: staged.watches,
      pushes: prep.bug === undefined ? staged.pushes : null,
      domain: prep.bug === undefined ? staged.domain : null,
      products: prep.bug === undefined ? products : null,
    };
  }

  /** A sealed commit is durable (or wrote nothing): its answers, pushes and view updates. */
  settle(sealed: Sealed, stats: ShardStats): BatchOutcome[] {
    if (sealed.prep.bug !== undefined) return this.fail([sealed], false, stats)[0];
    const inFlight = this.s.inFlight;
    if (sealed.bytes) {
      for (const cell of sealed.touched) {
        const n = inFlight.get(cell) ?? 0;
        if (n <= 1) inFlight.delete(cell);
        else inFlight.set(cell, n - 1);
      }
    }
    const { prep } = sealed;
    return prep.batches.map((_reqs, b) => ({
      frames: prep.frames[b],
      outcomes: prep.outcomes[b],
      stock: prep.stock,
      products: sealed.products,
      pushes: b === 0 ? sealed.pushes : null,
      domain: b === 0 ? sealed.domain : null,
      stats,
    }));
  }

  /**
   * Sealed commits that failed, oldest first: the first failed (the disk's fault when
   * `diskFailed`, else a bug in an actor), the others were decided on top of it. Everything they
   * changed in memory is dropped or undone and every request is refused. Returns one outcome per
   * batch of each, in order.
   */
  fail(failed: readonly Sealed[], diskFailed: boolean, stats: ShardStats): BatchOutcome[][] {
    const { timers, cells, inFlight, journal } = this.s;
    for (let i = failed.length - 1; i >= 0; i--) {
      const f = failed[i];
      for (let u = f.timerUndo.length - 1; u >= 0; u--) timers.set(f.timerUndo[u][0], f.timerUndo[u][1]);
      for (const [topic, delta] of f.watches) this.stage.watch(topic, -delta);
    }
    let touched = 0;
    for (const f of failed) {
      for (const cell of f.touched) {
        inFlight.delete(cell);
        cells.evict(cell);
      }
      touched += f.touched.length;
      // Their rows were not rewritten: the timers are still due, or the holds would stay stranded.
      for (const [key, at] of f.fired) timers.set(key, at);
    }
    const firstWritten = failed.find((f) => f.bytes !== null);
    if (firstWritten) journal.rewind(firstWritten.firstG);
    const bug = diskFailed ? undefined : failed[0].prep.bug;
    log.error({ err: bug }, `shard ${this.s.opts.shard}: ${failed.length} group commits refused, ${touched} actors reloaded from disk`);
    const refusal = diskFailed
      ? (id: number) => encodeError(id, 'UNAVAILABLE', 'the shard cannot write its journal now; nothing was changed', { retryAfterMs: COMMIT_RETRY_MS })
      : (id: number) => encodeError(id, 'INTERNAL', 'the change could not be stored; nothing was applied');
    const failOutcome = diskFailed ? UNAVAILABLE_OUTCOME : INTERNAL_OUTCOME;
    return failed.map((f) =>
      f.prep.batches.map((reqs) => ({
        frames: reqs.map((r) => refusal(r.id)),
        outcomes: new Uint8Array(reqs.length).fill(failOutcome),
        stock: null,
        products: null,
        pushes: null,
        domain: null,
        stats,
      })),
    );
  }
}
