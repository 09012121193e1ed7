// One shard: its actors in memory, its journal on disk. Commands run strictly one at a time
// (the worker is single-threaded and every command runs to completion), the events of a whole
// batch go to disk in one transaction, and replies and pushes are released only after that
// commit: the output gate. A command's turn on its actor is in command-runner.ts, the work
// between batches in shard-maintenance.ts, the cluster-mode partitions in partition-store.ts;
// all of them share this shard's stores (shard-state.ts).
import { SealedReader, addressAad } from '../../persistence/sealed-reader.js';
import { MasterKeyring, masterKeyId } from '../../persistence/sealing.js';
import type { SnapshotEntry } from '../../persistence/partition-snapshots.js';
import type Database from 'better-sqlite3';
import { getHeapStatistics } from 'node:v8';
import { available, type Sku } from '../../actors/inventory-actor.js';
import type { LivePrice, ShardContext } from '../../actors/actor.js';
import type { ProductView, ShardSummary, SnapshotResult } from '../../protocol/types.js';
import { outcomeIndex, type WireError } from '../../protocol/errors.js';
import { CATALOG_KEY } from '../../protocol/keys.js';
import { encodeError } from '../../protocol/frames.js';
import type { Journal } from '../../persistence/journal.js';
import type { BatchWrites } from '../../persistence/batch-writes.js';
import { encodeRow } from '../../persistence/row-codec.js';
import type { InteractionsPage, PriceEntry, ShardOptions, ShardRequest, ShardStats, UserEventsPage } from '../shard-messages.js';
import type { TimerQueue } from './timer-queue.js';
import type { ActorCells, Cell } from './actor-cells.js';
import { PushStage } from './push-stage.js';
import type { BatchOutcome, Prepared, SettledAnswers } from './batch-outcome.js';
import type { CheckpointRecord } from './checkpoints.js';
import { ShardQueries } from './shard-queries.js';
import { AuditQueries } from './audit-queries.js';
import { ShardState } from './shard-state.js';
import { CommandRunner } from './command-runner.js';
import { ShardMaintenance } from './shard-maintenance.js';
import { PartitionStore } from './partition-store.js';
import { log } from '../../log/log.js';

const INTERNAL_OUTCOME = outcomeIndex('INTERNAL');
const UNAVAILABLE_OUTCOME = outcomeIndex('UNAVAILABLE');
/** What a client is told to wait after a failed commit before retrying. */
const COMMIT_RETRY_MS = 1000;
const NO_FRAME = new Uint8Array(0);

export type { BatchOutcome, BatchPushes, Prepared, SettledAnswers } from './batch-outcome.js';

export class ShardRuntime {
  // The state's stores, held directly: the batch path reads them for every request.
  readonly db: Database.Database;
  private readonly journal: Journal;
  private readonly cells: ActorCells;
  private readonly timers: TimerQueue;
  private readonly writes: BatchWrites;
  private readonly touched: Set<Cell>;
  /** Timers taken by dueTimers: gone from the queue, but their durable row stays until rewritten. */
  private readonly fired = new Map<string, number>();
  private readonly stage = new PushStage();
  /** Live prices of every sku (the catalog lives on one shard; the edge sends each shard a copy). */
  private readonly prices = new Map<string, LivePrice>();
  private readonly ctx: ShardContext;
  /** Where orders' sealed address copies are opened (on a cluster node through its key mirror). */
  private readonly sealed: SealedReader | undefined;
  private readonly state: ShardState;
  private readonly runner: CommandRunner;
  private readonly maintenance: ShardMaintenance;
  private readonly partitions: PartitionStore;
  readonly queries: ShardQueries;
  readonly audit: AuditQueries;

  constructor(private readonly opts: ShardOptions) {
    const sealed = openerOf(opts);
    this.sealed = sealed;
    this.ctx = {
      item: (sku) => this.prices.get(sku),
      pricing: opts.pricing,
      ...(sealed ? { openSealed: (userId, value) => sealed.open(userId, value, addressAad(userId)) } : {}),
    };
    const state = (this.state = new ShardState(opts));
    this.db = state.db;
    this.journal = state.journal;
    this.cells = state.cells;
    this.timers = state.timers;
    this.writes = state.writes;
    this.touched = state.touched;
    this.runner = new CommandRunner(state, this.stage, this.ctx);
    this.maintenance = new ShardMaintenance(state);
    this.partitions = new PartitionStore(state, this.maintenance, {
      noteApplied: (cell, events) => this.runner.noteApplied(cell, events),
      noteProducts: (products) => {
        const changed = (this.runner.changedProducts ??= []);
        for (const p of products) changed.push(p);
      },
      commitStaged: () => this.commitStaged(),
    });
    this.queries = new ShardQueries(this.journal, this.cells, this.ctx);
    this.audit = new AuditQueries(this.journal, this.cells, this.ctx);
    this.stage.everything = opts.cluster !== undefined;
  }

  get actorCount(): number {
    return this.cells.size;
  }

  /** The last group commit failed (disk full, I/O error) and the journal has not been scrubbed since: writes are answered UNAVAILABLE. */
  get commitFailing(): boolean {
    return this.failing;
  }
  private failing = false;

  get lastCheckpoint(): CheckpointRecord {
    return this.maintenance.lastCheckpoint;
  }

  /**
   * What the edge needs at start: committed availability of this shard's skus, the catalog if it
   * lives here, and the orders whose saga or work is unfinished (to be resumed now).
   */
  startupView(catalogHere: boolean): { stock: [string, number][]; products: ProductView[]; openOrders: string[] } {
    const products = catalogHere ? [...(this.cells.activate(CATALOG_KEY, Date.now()).state as { products: Map<string, ProductView> }).products.values()] : [];
    const openOrders = this.state.openOrders();
    return { stock: this.journal.stockView(), products, openOrders };
  }

  /** The live price list, from the edge's catalog view. Returns the watched carts in memory holding a sku whose price changed. */
  setPrices(entries: PriceEntry[]): string[] {
    const changed = new Set<string>();
    for (const [sku, productId, name, unitPrice, currency, active] of entries) {
      const before = this.prices.get(sku);
      if (before && (before.unitPrice !== unitPrice || before.name !== name)) changed.add(sku);
      this.prices.set(sku, { productId, name, unitPrice, currency, active });
    }
    if (changed.size === 0) return [];
    const keys: string[] = [];
    for (const key of this.stage.watchedTopics()) {
      const cell = this.cells.get(key);
      if (cell?.type.kind === 'cart' && (cell.state as { items: { sku: string }[] }).items.some((l) => changed.has(l.sku))) keys.push(key);
    }
    return keys;
  }

  /**
   * Runs several batches as one group commit. Returns one outcome per batch; on a failed commit
   * every request of every batch is answered INTERNAL and the touched actors are dropped from
   * memory, so their next use recovers exactly what is on disk.
   */
  runBatches(batches: ShardRequest[][], now = Date.now(), marker?: number): BatchOutcome[] {
    return this.complete(this.prepare(batches, now), marker);
  }

  /**
   * First half of a group commit: runs every command on its actor and stages what the commit
   * will write. Nothing leaves the shard until `complete`. In cluster mode the staged journal rows
   * are replicated (stagedRows) between the two halves.
   */
  prepare(batches: ShardRequest[][], now = Date.now()): Prepared {
    const prep = this.open();
    this.runMore(prep, batches, now);
    return this.seal(prep);
  }

  /** An empty group commit, to be filled by `runMore` and closed by `seal`. */
  open(): Prepared {
    return { batches: [], frames: [], outcomes: [], settled: [], stock: null, rowCount: 0, bug: undefined };
  }

  /**
   * Runs more batches into an open group commit (before `seal`): one node widens a group this way
   * with what arrived during its commit window. After a bug the rest is not run: the whole group
   * is answered INTERNAL.
   */
  runMore(prep: Prepared, batches: ShardRequest[][], now: number): void {
    for (const reqs of batches) prep.batches.push(reqs);
    if (prep.bug !== undefined) return;
    const runner = this.runner;
    try {
      for (const reqs of batches) {
        const frames = new Array<Uint8Array>(reqs.length);
        const outcomes = new Uint8Array(reqs.length);
        const settled = new Uint8Array(reqs.length);
        for (let i = 0; i < reqs.length; i++) {
          frames[i] = runner.run(reqs[i], now);
          outcomes[i] = runner.lastOutcome;
          settled[i] = runner.lastSettled ? 1 : 0;
        }
        prep.frames.push(frames);
        prep.outcomes.push(outcomes);
        prep.settled.push(settled);
      }
    } catch (err) {
      prep.bug = err; // a bug in an actor: nothing of the group is kept
    }
  }

  /** Stages what follows from every command the group ran (timers, stock, snapshots, the event log row). */
  seal(prep: Prepared): Prepared {
    if (prep.bug !== undefined) return prep;
    try {
      prep.stock = this.stageDerivedWrites();
      const domain = this.stage.domainEvents;
      if (domain) this.writes.domain = encodeRow(domain.map((d) => [d.name, d.data]));
      // Journal rows, plus the event log row of a batch that logged only domain events (event.view).
      prep.rowCount = this.writes.journal.length / 3 + (this.writes.journal.length === 0 && this.writes.domain ? 1 : 0);
    } catch (err) {
      prep.bug = err;
    }
    return prep;
  }

  /**
   * The answers of a prepared group commit that depend on nothing it will write (reads of actors
   * it leaves unchanged), taken out of it so they can leave before its fsync; null when there is
   * no such answer or nothing to wait for. On one node only: in cluster mode a read waits for the
   * replicated journal's verdict on this node's ownership like everything else. Batches before
   * `from` were looked at already (a group widened by `runMore`).
   */
  takeSettled(prep: Prepared, from = 0): (SettledAnswers | null)[] | null {
    // Before `seal` the event log row of domain events is not staged yet: they count as a write.
    if (prep.bug !== undefined || (this.writes.empty && !this.stage.domainEvents) || this.opts.cluster !== undefined) return null;
    let any = false;
    const out = prep.settled.map((settled, b) => {
      if (b < from || settled.indexOf(1) < 0) return null;
      const taken: SettledAnswers = { index: [], frames: [], outcomes: [] };
      const frames = prep.frames[b];
      for (let i = 0; i < settled.length; i++) {
        if (settled[i] === 0) continue;
        taken.index.push(i);
        taken.frames.push(frames[i]);
        taken.outcomes.push(prep.outcomes[b][i]);
        frames[i] = NO_FRAME; // answered already: the commit's reply carries an empty frame in its place
      }
      any = true;
      return taken;
    });
    return any ? out : null;
  }

  /** The journal rows a prepared batch will write: flat triples of actor key, seq and encoded events. */
  stagedRows(): readonly unknown[] {
    return this.writes.journal;
  }

  /**
   * Second half: commits what `prepare` staged in one local transaction and releases replies and
   * pushes (the output gate). With `refused` (the replication refused the rows) or a failed
   * local commit, nothing is applied: every request is refused and the touched actors are
   * reloaded from what is really stored.
   */
  complete(prep: Prepared, marker?: number, refused?: WireError): BatchOutcome[] {
    let failed = prep.bug !== undefined || refused !== undefined;
    /** The failure was the disk's (the commit), not a bug in an actor. */
    let diskFailed = false;
    let commitMs = 0;
    if (!failed) {
      try {
        const t0 = performance.now();
        if (!this.writes.empty) {
          this.writes.marker = marker;
          diskFailed = true; // until the commit returns
          // After a failure the WAL is scrubbed before anything is written on top of it: a group
          // is refused unwritten while the disk still refuses the scrub.
          if (this.failing && !this.probeDisk()) throw new Error('the journal is not writable');
          if (this.opts.failCommitsFor !== undefined && [...this.touched].some((c) => c.key === this.opts.failCommitsFor)) {
            throw new Error('simulated I/O error (failCommitsFor)');
          }
          this.journal.commit(this.writes);
          diskFailed = false;
        }
        commitMs = performance.now() - t0;
        this.state.afterCommit();
      } catch (err) {
        failed = true;
        prep.bug = err;
      }
    }
    if (failed) {
      this.afterFailedCommit(refused ?? prep.bug);
      // Marks the commits failing until the journal is writable again (not probed twice in a row).
      if (diskFailed && !this.failing) this.probeDisk();
    }
    // A failed group wrote nothing, whether or not the disk is writable again by now.
    const stats: ShardStats = { commitMs, windowMs: 0, rows: failed ? 0 : prep.rowCount, actors: this.cells.size, commitFailing: this.commitFailing };
    const products = failed ? null : this.runner.changedProducts;
    this.runner.changedProducts = null;
    const { pushes, domain } = this.stage.take(!failed); // the output gate: nothing before the commit
    this.writes.clear();
    this.touched.clear();
    this.fired.clear();
    const refusal = refused
      ? (id: number) => encodeError(id, refused.code, refused.message, refused.details)
      : diskFailed
        ? (id: number) => encodeError(id, 'UNAVAILABLE', 'the shard cannot write its journal now; nothing was changed', { retryAfterMs: COMMIT_RETRY_MS })
        : (id: number) => encodeError(id, 'INTERNAL', 'the change could not be stored; nothing was applied');
    const failOutcome = refused ? outcomeIndex(refused.code) : diskFailed ? UNAVAILABLE_OUTCOME : INTERNAL_OUTCOME;
    return prep.batches.map((reqs, b) => ({
      frames: failed ? reqs.map((r) => refusal(r.id)) : prep.frames[b],
      outcomes: failed ? new Uint8Array(reqs.length).fill(failOutcome) : prep.outcomes[b],
      stock: failed ? null : prep.stock,
      products,
      pushes: b === 0 ? pushes : null,
      domain: b === 0 ? domain : null,
      stats,
    }));
  }

  /** Commits what was staged with no request (replicated rows) as a batch of none, through the same output gate. */
  private commitStaged(): BatchOutcome {
    const stock = this.stageDerivedWrites();
    const [out] = this.complete({
      batches: [[]],
      frames: [[]],
      outcomes: [new Uint8Array(0)],
      settled: [new Uint8Array(0)],
      stock,
      rowCount: this.writes.journal.length / 3,
      bug: undefined,
    });
    return out;
  }

  /** Cluster mode: applies rows of partition `p`'s replicated journal up to `position` (see PartitionStore.absorb). */
  absorbReplicated(p: number, rows: readonly (readonly [string, number, Buffer])[], position: number, now = Date.now()): BatchOutcome {
    return this.partitions.absorb(p, rows, position, now);
  }

  /** Cluster mode: the committed state of every actor of the partitions `ps` (see PartitionStore.snapshotEntries). */
  partitionSnapshotEntries(ps: ReadonlySet<number>, partitionOf: (key: string) => number): Map<number, SnapshotEntry[]> {
    return this.partitions.snapshotEntries(ps, partitionOf);
  }

  /** Cluster mode: installs a replicated snapshot of partition `p` at stream position `pos`. */
  installPartitionSnapshot(p: number, entries: readonly SnapshotEntry[], pos: number, now = Date.now()): BatchOutcome {
    return this.partitions.install(p, entries, pos, now);
  }

  /** Cluster mode: the local commit records the stream position partition `p` reached. */
  stagePartitionPosition(p: number, seq: number): void {
    this.partitions.stagePosition(p, seq);
  }

  /** Cluster mode: the orders of partition `p` whose saga or work is unfinished (their timers are set). */
  openOrdersOf(p: number, partitionOf: (key: string) => number): string[] {
    return this.partitions.openOrdersOf(p, partitionOf);
  }

  /** Cluster mode: which keys this shard serves now; a request for another is refused with `moving`. */
  servesOnly(test: (key: string) => boolean, moving: WireError): void {
    this.runner.servesOnly(test, moving);
    this.partitions.stopTimersOutside(test);
  }

  /** Cluster mode: the stream position of partition `p` this store has absorbed (0: none). */
  partitionPosition(p: number): number {
    return this.partitions.position(p);
  }

  /** Cluster mode: partition `p` left this shard; its actors leave memory (see PartitionStore.drop). */
  dropPartition(p: number, partitionOf: (key: string) => number): number {
    return this.partitions.drop(p, partitionOf);
  }

  /** Cluster mode: partition `p` is served here again: its durable timers are loaded. */
  loadPartitionTimers(p: number, partitionOf: (key: string) => number): void {
    this.partitions.loadTimers(p, partitionOf);
  }

  /** Adds `delta` subscriptions to a topic; a topic at zero stops being pushed. */
  watch(topic: string, delta: number): void {
    this.stage.watch(topic, delta);
  }

  setAdminWatch(on: boolean): void {
    this.stage.setAdminFeed(on);
  }

  /** Timers, the stock view and inline snapshots of the touched actors join the same commit. */
  private stageDerivedWrites(): [string, number][] | null {
    let stock: [string, number][] | null = null;
    for (const cell of this.touched) {
      const t = cell.type;
      if (t.nextTimer) {
        const due = t.nextTimer(cell.state);
        if (due !== this.timers.dueOf(cell.key) || this.fired.has(cell.key)) this.writes.timers.push({ actor: cell.key, due });
      }
      if (t.kind === 'sku') {
        const s = cell.state as Sku;
        (stock ??= []).push([s.sku, available(s)]);
        this.writes.stock.push({ sku: s.sku, available: available(s) });
      }
      const every = t.snapshotWeight ? Math.max(this.opts.snapshotEvery, t.snapshotWeight(cell.state)) : this.opts.snapshotEvery;
      if (cell.seq - cell.snapSeq >= every) this.state.stageSnapshot(cell);
    }
    // A fired timer whose command changed nothing (a row left stale): rewrite it from the state.
    for (const key of this.fired.keys()) {
      const cell = this.cells.get(key);
      if (cell?.type.nextTimer && !this.touched.has(cell)) this.writes.timers.push({ actor: key, due: cell.type.nextTimer(cell.state) });
    }
    return stock;
  }

  private afterFailedCommit(err: unknown): void {
    log.error({ err }, `shard ${this.opts.shard}: group commit failed, ${this.touched.size} actors reloaded from disk`);
    for (const cell of this.touched) this.cells.evict(cell);
    // Their rows were not rewritten: the timers are still due, or the holds would stay stranded.
    for (const [key, at] of this.fired) this.timers.set(key, at);
  }

  /** Tries to make the journal writable again (see ShardMaintenance.scrubJournal); true when it is. */
  probeDisk(): boolean {
    this.failing = !this.maintenance.scrubJournal();
    return !this.failing;
  }

  stats(): ShardStats {
    return { commitMs: 0, windowMs: 0, rows: 0, actors: this.cells.size, commitFailing: this.commitFailing };
  }

  /** Actor keys whose timers are due, and the time of the next one. */
  dueTimers(now: number): string[] {
    const keys: string[] = [];
    for (const { key, at } of this.timers.takeDue(now)) {
      this.fired.set(key, at);
      keys.push(key);
    }
    return keys;
  }

  nextTimerAt(): number | undefined {
    return this.timers.peek();
  }

  /** One step of a checkpoint (see checkpoints.ts); true when none is left in progress. */
  checkpointStep(limit: number): boolean {
    return this.maintenance.checkpointStep(limit);
  }

  checkpointDue(now: number): boolean {
    return this.maintenance.checkpointDue(now);
  }

  /** A whole checkpoint at once (POST /snapshot, shutdown). */
  snapshotAll(): SnapshotResult {
    return this.maintenance.snapshotAll();
  }

  /** Looks at the next `limit` guest carts, deleting those unchanged since `before` (epoch ms) and not in use. */
  expireGuestCarts(before: number, limit: number): { deleted: number; wrapped: boolean } {
    return this.maintenance.expireGuestCarts(before, limit);
  }

  /** Journal rows a checkpoint covered and event log rows past the limit, a chunk at a time; true while more are left. */
  cleanupStep(limit: number): boolean {
    return this.maintenance.cleanupStep(limit);
  }

  /** Drops up to `limit` actors idle for `olderThanMs` (snapshotted first when they need it); returns how many. */
  passivate(now: number, olderThanMs: number, limit: number): number {
    return this.maintenance.passivate(now, olderThanMs, limit);
  }

  /** Over `maxActors` in memory: passivates up to `limit` of the least recently used; returns how many left memory. */
  enforceActorCap(maxActors: number, limit: number): number {
    return this.maintenance.enforceActorCap(maxActors, limit);
  }

  summary(): ShardSummary {
    return {
      shard: this.opts.shard,
      actors: this.cells.size,
      appendedSinceStart: this.journal.appended,
      timers: this.timers.size,
      watchedActors: this.stage.watchedCount,
      adminFeed: this.stage.adminFeed,
      ...this.journal.summary(),
      ...heapBytes(),
    };
  }

  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): { at: number; order: unknown }[] {
    return this.queries.orderPage(userId, before, limit, this.runner.keyFilter);
  }

  interactionsPage(afterG: number, limit: number): InteractionsPage {
    return this.queries.interactionsPage(afterG, limit);
  }

  userEventsPage(userId: string, afterG: number, limit: number): UserEventsPage {
    return this.queries.userEventsPage(userId, afterG, limit);
  }

  inspect(key: string): unknown {
    return this.queries.inspect(key);
  }

  close(): void {
    this.sealed?.close();
    this.snapshotAll();
    this.db.close();
  }
}

/** The reader of sealed values when the options carry the master keys (a single node). */
function openerOf(opts: ShardOptions): SealedReader | undefined {
  if (!opts.masterKeys || opts.masterKeys.length === 0) return undefined;
  const [current, ...others] = opts.masterKeys.map((hex) => {
    const key = Buffer.from(hex, 'hex');
    return { id: masterKeyId(key), key };
  });
  return new SealedReader(opts.dataDir, new MasterKeyring(current, others));
}

/** This thread's V8 heap (each worker thread has its own). */
function heapBytes(): { heapUsedBytes: number; heapTotalBytes: number } {
  const h = getHeapStatistics();
  return { heapUsedBytes: h.used_heap_size, heapTotalBytes: h.total_heap_size };
}
