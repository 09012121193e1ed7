// One shard: its actors in memory, its journal on disk. Commands run strictly one at a time
// (the worker is single-threaded and every command runs to completion), the events of a whole
// batch go to disk in one transaction, and replies and pushes are released only after that
// commit: the output gate.
import type Database from 'better-sqlite3';
import { available, type Sku } from '../../actors/inventory-actor.js';
import type { CatalogEvent } from '../../actors/catalog-actor.js';
import type { DomainEvent, LivePrice, ShardContext } from '../../actors/actor.js';
import type { OrderEvent } from '../../actors/order-actor.js';
import type { ProductView, ShardSummary, SnapshotResult } from '../../protocol/types.js';
import { outcomeIndex, type WireError } from '../../protocol/errors.js';
import { CATALOG_KEY, parseKey } from '../../protocol/keys.js';
import { encodeError, encodeOk } from '../../protocol/frames.js';
import { openShardDb } from '../../persistence/shard-db.js';
import { GuestCartRetention } from '../../persistence/retention.js';
import { BatchWrites, Journal, decodeRow, encodeRow } from '../../persistence/journal.js';
import { CorruptRecordError } from '../../persistence/checksum.js';
import type { InteractionsPage, PriceEntry, ShardOptions, ShardRequest, ShardStats } from '../shard-messages.js';
import { TimerQueue } from './timer-queue.js';
import { ActorCells, type Cell } from './actor-cells.js';
import { PushStage, type BatchPushes } from './push-stage.js';
import { Checkpoints, type CheckpointRecord } from './checkpoints.js';
import { ShardQueries } from './shard-queries.js';

const INTERNAL_OUTCOME = outcomeIndex('INTERNAL');
const UNAVAILABLE_OUTCOME = outcomeIndex('UNAVAILABLE');
/** What a client is told to wait after a failed commit before retrying. */
const COMMIT_RETRY_MS = 1000;
/** meta key of partition p's absorbed stream position (cluster mode). */
const partitionPosKey = (p: number): string => `partition_pos.${p}`;
const GET = Object.freeze({ type: 'get' });
const EMPTY = Object.freeze({});
/** Array.isArray narrows a readonly array to any[]; this keeps its element type. */
const isEventList = (d: DomainEvent | readonly DomainEvent[] | undefined): d is readonly DomainEvent[] => Array.isArray(d);

export type { BatchPushes };

/** A group commit between its two halves (see prepare and complete). */
export interface Prepared {
  batches: ShardRequest[][];
  frames: Uint8Array[][];
  outcomes: Uint8Array[];
  stock: [string, number][] | null;
  rowCount: number;
  /** Set when running the commands threw (a bug): the batch is answered INTERNAL. */
  bug: unknown;
}

export interface BatchOutcome {
  /** One encoded response frame per request, in request order. */
  frames: Uint8Array[];
  /** Per request: 0 for ok, else the index of its error code in OUTCOMES (metrics). */
  outcomes: Uint8Array;
  stock: [string, number][] | null;
  products: ProductView[] | null;
  /** Pushes of the whole group commit (on the first outcome only), released with the replies. */
  pushes: BatchPushes | null;
  /** Domain events of the whole group commit (first outcome only), logged in it. */
  domain: DomainEvent[] | null;
  stats: ShardStats;
}

export class ShardRuntime {
  readonly db: Database.Database;
  private readonly journal: Journal;
  private readonly cells: ActorCells;
  private readonly timers = new TimerQueue();
  private readonly writes = new BatchWrites();
  private readonly touched = new Set<Cell>();
  /** Timers taken by dueTimers: gone from the queue, but their durable row stays until rewritten. */
  private readonly fired = new Map<string, number>();
  private changedProducts: ProductView[] | null = null;
  private lastOutcome = 0;
  private readonly stage = new PushStage();
  /** Live prices of every sku (the catalog lives on one shard; the edge sends each shard a copy). */
  private readonly prices = new Map<string, LivePrice>();
  private readonly ctx: ShardContext;
  private readonly checkpoints: Checkpoints;
  readonly queries: ShardQueries;
  /** Cluster mode: the keys this shard serves (its owned partitions); undefined on a single node. */
  private keyFilter: ((key: string) => boolean) | undefined;
  private movingError: WireError | undefined;
  private readonly retention: GuestCartRetention;

  constructor(private readonly opts: ShardOptions) {
    this.ctx = { item: (sku) => this.prices.get(sku), pricing: opts.pricing };
    this.db = openShardDb(opts.dataDir, opts.shard, opts.synchronous);
    this.journal = new Journal(this.db, opts.epoch);
    this.cells = new ActorCells(this.journal);
    this.checkpoints = new Checkpoints(opts.shard, this.journal, this.cells, {
      stageSnapshot: (cell) => this.stageSnapshot(cell),
      commitMaintenance: () => this.commitMaintenance(),
      discardStaged: () => this.writes.clear(),
    });
    this.queries = new ShardQueries(this.journal, this.cells, this.ctx);
    this.retention = new GuestCartRetention(this.db);
    this.stage.everything = opts.cluster !== undefined;
    for (const t of this.journal.timers()) this.timers.set(t.actor, t.due);
  }

  get actorCount(): number {
    return this.cells.size;
  }

  /** The last group commit failed (disk full, I/O error): writes are answered UNAVAILABLE until one succeeds. */
  commitFailing = false;

  get lastCheckpoint(): CheckpointRecord {
    return this.checkpoints.last;
  }

  /**
   * What the edge needs at start: committed availability of this shard's skus, the catalog if it
   * lives here, and the orders whose saga or work is unfinished (to be resumed now).
   */
  startupView(catalogHere: boolean): { stock: [string, number][]; products: ProductView[]; openOrders: string[] } {
    const products = catalogHere ? [...(this.cells.activate(CATALOG_KEY, Date.now()).state as { products: Map<string, ProductView> }).products.values()] : [];
    const openOrders: string[] = [];
    for (const k of this.timers.keys()) {
      const parsed = parseKey(k);
      if (parsed?.kind === 'order') openOrders.push(parsed.id);
    }
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
    const prep: Prepared = { batches, frames: [], outcomes: [], stock: null, rowCount: 0, bug: undefined };
    try {
      for (const reqs of batches) {
        const frames = new Array<Uint8Array>(reqs.length);
        const outcomes = new Uint8Array(reqs.length);
        for (let i = 0; i < reqs.length; i++) {
          frames[i] = this.run(reqs[i], now);
          outcomes[i] = this.lastOutcome;
        }
        prep.frames.push(frames);
        prep.outcomes.push(outcomes);
      }
      prep.stock = this.stageDerivedWrites();
      const domain = this.stage.domainEvents;
      if (domain) this.writes.domain = encodeRow(domain.map((d) => [d.name, d.data]));
      // Journal rows, plus the event log row of a batch that logged only domain events (event.view).
      prep.rowCount = this.writes.journal.length / 3 + (this.writes.journal.length === 0 && this.writes.domain ? 1 : 0);
    } catch (err) {
      prep.bug = err; // a bug in an actor: nothing of the batch is kept
    }
    return prep;
  }

  /** The journal rows a prepared batch will write: flat triples of actor key, seq and encoded events. */
  stagedRows(): readonly unknown[] {
    return this.writes.journal;
  }

  /** Extra rows of the local commit (cluster mode: each replicated partition's stream position). */
  stageMeta(key: string, value: string): void {
    this.writes.meta.push([key, value]);
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
          if (this.opts.failCommitsFor !== undefined && [...this.touched].some((c) => c.key === this.opts.failCommitsFor)) {
            throw new Error('simulated I/O error (failCommitsFor)');
          }
          this.journal.commit(this.writes);
          diskFailed = false;
          this.commitFailing = false;
        }
        commitMs = performance.now() - t0;
        this.afterCommit();
      } catch (err) {
        failed = true;
        prep.bug = err;
      }
    }
    if (failed) {
      this.afterFailedCommit(refused ?? prep.bug);
      if (diskFailed) this.onCommitFailed();
    }
    const stats: ShardStats = { commitMs, rows: prep.rowCount, actors: this.cells.size, commitFailing: this.commitFailing };
    const products = failed ? null : this.changedProducts;
    this.changedProducts = null;
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

  /** Runs one command on its actor and returns the encoded response. */
  private run(req: ShardRequest, now: number): Uint8Array {
    if (this.keyFilter && !this.keyFilter(req.key)) {
      const e = this.movingError!;
      this.lastOutcome = UNAVAILABLE_OUTCOME;
      return encodeError(req.id, e.code, e.message, e.details);
    }
    if (req.cmd.type === 'log') {
      // A domain event with no actor state behind it (product_viewed): logged with this commit.
      this.stage.domainEvent((req.cmd as unknown as { event: DomainEvent }).event);
      this.lastOutcome = 0;
      return encodeOk(req.id, EMPTY);
    }
    let cell: Cell;
    try {
      cell = this.cells.activate(req.key, now);
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        // Quarantined (actor-cells.ts logged it once): refused, the rest of the shard serves on.
        // An operator has to repair it, so the client is told to come back in a minute, not a second.
        this.lastOutcome = UNAVAILABLE_OUTCOME;
        return encodeError(req.id, 'UNAVAILABLE', 'this object cannot be read: its stored data is damaged; an operator has to restore it', {
          retryAfterMs: 60_000,
          reason: 'corrupt',
        });
      }
      console.error(`shard ${this.opts.shard}: cannot recover ${req.key}:`, err);
      this.lastOutcome = INTERNAL_OUTCOME;
      return encodeError(req.id, 'INTERNAL', 'the actor could not be recovered');
    }
    const type = cell.type;
    if (req.cmd.type === 'watch') {
      // Counted in the actor's turn: every change after this reply is pushed, none before it is missed.
      this.stage.watchInBatch(req.key);
      this.lastOutcome = 0;
      const frame = encodeOk(req.id, type.view(cell.state, GET, this.ctx));
      this.cells.release(cell);
      return frame;
    }
    const before = type.kind === 'sku' ? available(cell.state as Sku) : 0;
    const versionBefore = type.version ? type.version(cell.state) : -1;
    const decision = type.decide(cell.state, req.cmd, now, this.ctx);
    if (decision.error) {
      const e = decision.error;
      this.lastOutcome = outcomeIndex(e.code);
      this.cells.release(cell); // a lookup of a key that does not exist leaves nothing in memory
      return encodeError(req.id, e.code, e.message, e.details);
    }
    const events = decision.events;
    if (events.length > 0) this.applyEvents(cell, events, before, versionBefore);
    this.lastOutcome = 0;
    // `quiet`: an internal caller (the checkout driver) needs only ok or the error, not the object.
    const frame = encodeOk(req.id, (req.cmd as { quiet?: boolean }).quiet ? null : type.view(cell.state, req.cmd, this.ctx));
    this.cells.release(cell);
    return frame;
  }

  /**
   * Applies a decision's events and stages what follows from them: the journal row, domain
   * events, catalog and order bookkeeping, pushes. An apply that throws is a bug: it fails the
   * whole batch (runBatches), which reloads every touched actor from disk, this one included.
   */
  private applyEvents(cell: Cell, events: readonly unknown[], availableBefore: number, versionBefore: number): void {
    const type = cell.type;
    this.touched.add(cell);
    if (cell.seq === 0) this.cells.exists(cell.key);
    for (const e of events) {
      if (type.domain) {
        const d = type.domain(cell.state, e);
        if (isEventList(d)) for (const one of d) this.stage.domainEvent(one);
        else if (d) this.stage.domainEvent(d);
      }
      cell.state = type.apply(cell.state, e);
    }
    this.writes.appendEvents(cell.key, ++cell.seq, events);
    if (type.kind === 'catalog') {
      this.changedProducts ??= [];
      for (const e of events as CatalogEvent[]) this.changedProducts.push(e.product);
    } else if (type.kind === 'order') {
      for (const e of events as OrderEvent[])
        if (e.type === 'created') this.writes.orders.push({ orderId: parseKey(cell.key)!.id, userId: e.userId, createdAt: e.at });
    }
    if (type.pushName && (versionBefore < 0 || type.version!(cell.state) !== versionBefore)) {
      const topic = type.pushTopic ? type.pushTopic(cell.state) : cell.key;
      this.stage.change(type.pushName, topic, type.pushAlways === true, type.kind === 'order', () => type.view(cell.state, GET, this.ctx));
    }
    if (type.kind === 'sku') {
      // inventory.lowStock on the admin feed when available crosses down to the threshold.
      const s = cell.state as Sku;
      const after = available(s);
      if (availableBefore > s.lowStockThreshold && after <= s.lowStockThreshold) {
        this.stage.lowStock({ sku: s.sku, available: after, lowStockThreshold: s.lowStockThreshold, version: s.version });
      }
    }
  }

  /**
   * Cluster mode: rows another owner (or this node before) stored in partition `p`'s replicated
   * journal, applied in order to their actors and to the local store, with the stream position
   * they reach. Rows this store already has (seq not above the actor's) are skipped. No push or
   * domain event is made again: they went out when the rows were first committed.
   */
  absorbReplicated(p: number, rows: readonly (readonly [string, number, Buffer])[], position: number, now = Date.now()): BatchOutcome {
    for (const [key, seq, bytes] of rows) {
      const cell = this.cells.activate(key, now);
      if (seq <= cell.seq) continue;
      this.touched.add(cell);
      if (cell.seq === 0) this.cells.exists(cell.key);
      const events = decodeRow(bytes) as unknown[];
      for (const e of events) cell.state = cell.type.apply(cell.state, e);
      cell.seq = seq;
      this.writes.appendEncoded(key, seq, bytes);
      if (cell.type.kind === 'catalog') for (const e of events as CatalogEvent[]) (this.changedProducts ??= []).push(e.product);
      else if (cell.type.kind === 'order') {
        for (const e of events as OrderEvent[])
          if (e.type === 'created') this.writes.orders.push({ orderId: parseKey(key)!.id, userId: e.userId, createdAt: e.at });
      }
    }
    this.stageMeta(partitionPosKey(p), String(position));
    const prep: Prepared = {
      batches: [],
      frames: [],
      outcomes: [],
      stock: this.stageDerivedWrites(),
      rowCount: this.writes.journal.length / 3,
      bug: undefined,
    };
    const [out] = this.complete({ ...prep, batches: [[]], frames: [[]], outcomes: [new Uint8Array(0)] });
    return out;
  }

  /** Cluster mode: the local commit records the stream position partition `p` reached. */
  stagePartitionPosition(p: number, seq: number): void {
    this.stageMeta(partitionPosKey(p), String(seq));
  }

  /** Cluster mode: the orders of partition `p` whose saga or work is unfinished (their timers are set). */
  openOrdersOf(p: number, partitionOf: (key: string) => number): string[] {
    const out: string[] = [];
    for (const k of this.timers.keys()) {
      const parsed = parseKey(k);
      if (parsed?.kind === 'order' && partitionOf(k) === p) out.push(parsed.id);
    }
    return out;
  }

  /** Cluster mode: which keys this shard serves now; a request for another is refused with `moving`. */
  servesOnly(test: (key: string) => boolean, moving: WireError): void {
    this.keyFilter = test;
    this.movingError = moving;
    for (const key of this.timers.keys()) if (!test(key)) this.timers.set(key, undefined);
  }

  /** Cluster mode: the stream position of partition `p` this store has absorbed (0: none). */
  partitionPosition(p: number): number {
    return Number(this.journal.meta(partitionPosKey(p)) ?? 0);
  }

  /**
   * Cluster mode: partition `p` moved to another owner (or this node was fenced from it). Its
   * actors leave memory (snapshotted when they have rows no snapshot covers) and its timers stop
   * firing here; what is stored stays, for the day the partition comes back.
   */
  dropPartition(p: number, partitionOf: (key: string) => number): number {
    const mine = [...this.cells.values()].filter((c) => c.type.kind !== 'catalog' && partitionOf(c.key) === p);
    for (const key of this.timers.keys()) if (partitionOf(key) === p) this.timers.set(key, undefined);
    // Without the snapshot their runtime rows could only be found by a scan: drop them anyway,
    // marked for the scan, when the snapshot cannot be written.
    if (this.dropFromMemory(mine) === 0) for (const c of mine) this.cells.evict(c);
    return mine.length;
  }

  /** Cluster mode: partition `p` is served here again: its durable timers are loaded. */
  loadPartitionTimers(p: number, partitionOf: (key: string) => number): void {
    for (const t of this.journal.timers()) if (partitionOf(t.actor) === p) this.timers.set(t.actor, t.due);
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
      if (cell.seq - cell.snapSeq >= every) this.stageSnapshot(cell);
    }
    // A fired timer whose command changed nothing (a row left stale): rewrite it from the state.
    for (const key of this.fired.keys()) {
      const cell = this.cells.get(key);
      if (cell?.type.nextTimer && !this.touched.has(cell)) this.writes.timers.push({ actor: key, due: cell.type.nextTimer(cell.state) });
    }
    return stock;
  }

  private stageSnapshot(cell: Cell): void {
    this.writes.snapshots.push({ actor: cell.key, seq: cell.seq, state: encodeRow(cell.type.snapshot(cell.state)) });
  }

  private afterCommit(): void {
    for (const s of this.writes.snapshots) {
      const cell = this.cells.get(s.actor);
      if (cell) cell.snapSeq = s.seq;
    }
    for (const t of this.writes.timers) this.timers.set(t.actor, t.due);
  }

  private afterFailedCommit(err: unknown): void {
    console.error(`shard ${this.opts.shard}: group commit failed, ${this.touched.size} actors reloaded from disk:`, err);
    for (const cell of this.touched) this.cells.evict(cell);
    // Their rows were not rewritten: the timers are still due, or the holds would stay stranded.
    for (const [key, at] of this.fired) this.timers.set(key, at);
  }

  /**
   * A commit failed on the disk. SQLite rolled the transaction back, but the frames it wrote may
   * sit in the WAL file; truncating the WAL (a checkpoint) makes sure a later crash cannot bring
   * them back as committed. If that fails too, the probe retries it.
   */
  private onCommitFailed(): void {
    this.commitFailing = true;
    this.probeDisk();
  }

  /** Tries to make the journal writable again; true when it is. */
  probeDisk(): boolean {
    try {
      this.journal.scrub();
      this.commitFailing = false;
      return true;
    } catch (err) {
      console.error(`shard ${this.opts.shard}: journal still not writable:`, err instanceof Error ? err.message : err);
      this.commitFailing = true;
      return false;
    }
  }

  stats(): ShardStats {
    return { commitMs: 0, rows: 0, actors: this.cells.size, commitFailing: this.commitFailing };
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
    return this.checkpoints.step(limit);
  }

  checkpointDue(now: number): boolean {
    return this.checkpoints.due(now, this.opts.checkpointRows, this.opts.checkpointIntervalMs);
  }

  /** A whole checkpoint at once (POST /snapshot, shutdown). */
  snapshotAll(): SnapshotResult {
    const t0 = performance.now();
    const actors = this.checkpoints.all();
    return { shard: this.opts.shard, actors, durationMs: performance.now() - t0 };
  }

  /**
   * Deletes up to `limit` guest carts unchanged since `before` (epoch ms): not in memory, no
   * timer (no checkout in progress), no journal rows waiting. Returns how many went.
   */
  expireGuestCarts(before: number, limit: number): number {
    try {
      const stale = this.retention
        .stale(before, limit)
        .filter((key) => !this.cells.get(key) && this.timers.dueOf(key) === undefined && !this.journal.hasPendingRows(key));
      if (stale.length > 0) this.retention.delete(stale);
      for (const key of stale) this.cells.forget(key);
      return stale.length;
    } catch (err) {
      console.error(`shard ${this.opts.shard}: guest cart retention failed (retried later):`, err);
      return 0;
    }
  }

  /** Journal rows a checkpoint covered and event log rows past the limit, a chunk at a time; true while more are left. */
  cleanupStep(limit: number): boolean {
    return this.checkpoints.cleanupStep(limit) || this.checkpoints.trimEventLog(this.opts.eventLogKeepRows, limit);
  }

  /**
   * Drops up to `limit` actors idle for `olderThanMs`, snapshotting those with unsnapshotted rows
   * first (one transaction per call, so a big sweep never stalls the shard for long).
   */
  passivate(now: number, olderThanMs: number, limit: number): number {
    return this.dropFromMemory(this.cells.idle(now, olderThanMs, limit));
  }

  /**
   * Over `maxActors` in memory: passivates up to `limit` of the least recently used, whatever
   * their idle time. Returns how many left memory.
   */
  enforceActorCap(maxActors: number, limit: number): number {
    const over = this.cells.size - maxActors;
    return over > 0 ? this.dropFromMemory(this.cells.leastRecent(Math.min(over, limit))) : 0;
  }

  /** Snapshots the cells that have rows no snapshot covers (one transaction), then drops them all; nothing when that fails. */
  private dropFromMemory(cells: Cell[]): number {
    if (cells.length === 0) return 0;
    for (const cell of cells) if (cell.seq > cell.snapSeq) this.stageSnapshot(cell);
    if (!this.commitMaintenance()) return 0;
    this.cells.drop(cells);
    return cells.length;
  }

  private commitMaintenance(): boolean {
    try {
      if (!this.writes.empty) this.journal.commit(this.writes);
      this.afterCommit();
      return true;
    } catch (err) {
      console.error(`shard ${this.opts.shard}: snapshot write failed:`, err);
      return false;
    } finally {
      this.writes.clear();
    }
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
    };
  }

  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): { at: number; order: unknown }[] {
    return this.queries.orderPage(userId, before, limit, this.keyFilter);
  }

  interactionsPage(afterG: number, limit: number): InteractionsPage {
    return this.queries.interactionsPage(afterG, limit);
  }

  inspect(key: string): unknown {
    return this.queries.inspect(key);
  }

  close(): void {
    this.snapshotAll();
    this.db.close();
  }
}
