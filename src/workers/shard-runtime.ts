// One shard: its actors in memory, its journal on disk. Commands run strictly one at a time
// (the worker is single-threaded and every command runs to completion), the events of a whole
// batch go to disk in one transaction, and replies are released only after that commit.
import type Database from 'better-sqlite3';
import { actorTypeOf, type AnyActorType } from '../actors/registry.js';
import { available, type Sku } from '../actors/inventory-actor.js';
import type { CatalogEvent } from '../actors/catalog-actor.js';
import type { DomainEvent, ShardContext } from '../actors/actor.js';
import type { OrderEvent } from '../actors/order-actor.js';
import type { ProductView } from '../protocol/types.js';
import { openShardDb } from '../persistence/shard-db.js';
import { BatchWrites, Journal, decodeRow, encodeRow } from '../persistence/journal.js';
import { encodeError, encodeOk, encodePush } from '../protocol/frames.js';
import { TimerQueue } from './timer-queue.js';
import { outcomeIndex } from '../protocol/errors.js';
import { ADMIN_TOPIC } from '../protocol/keys.js';

const INTERNAL_OUTCOME = outcomeIndex('INTERNAL');
import type { InteractionsPage, ShardOptions, ShardRequest, ShardStats, ShardSummary, SnapshotResult } from './shard-messages.js';

interface Cell {
  readonly key: string;
  readonly type: AnyActorType;
  state: unknown;
  /** Seq of the last journal row of this actor (committed or in the open batch). */
  seq: number;
  /** Seq covered by the actor's latest snapshot. */
  snapSeq: number;
  lastUsed: number;
}

/** Push frames released by a commit, each with its topic (the actor key, or `admin`). */
export interface BatchPushes {
  topics: string[];
  frames: Uint8Array[];
}

const GET = Object.freeze({ type: 'get' });
const EMPTY = Object.freeze({});

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
  private readonly actors = new Map<string, Cell>();
  private readonly timers = new TimerQueue();
  private readonly writes = new BatchWrites();
  private readonly touched = new Set<Cell>();
  /** Timers taken by dueTimers: gone from the queue, but their durable row stays until rewritten. */
  private readonly fired = new Map<string, number>();
  private changedProducts: ProductView[] | null = null;
  private lastOutcome = 0;
  /** Subscriptions per actor key (connections on the main thread): changes of these are pushed. */
  private readonly watched = new Map<string, number>();
  /** Whether any admin follows the feed. */
  private adminWatch = false;
  private pushes: BatchPushes | null = null;
  private domain: DomainEvent[] | null = null;
  /** Live prices of every sku (the catalog lives on one shard; the edge sends each shard a copy). */
  private readonly prices = new Map<string, ReturnType<ShardContext['item']> & object>();
  private readonly ctx: ShardContext = { item: (sku) => this.prices.get(sku) };
  /** Watch changes of the open batch: undone if its commit fails (its replies say INTERNAL). */
  private readonly batchWatches: [string, number][] = [];
  private checkpoint: { upTo: number; keys: string[]; next: number; snapshots: number; startedAt: number } | undefined;
  /** The last completed checkpoint (at start: none yet, timed from now). */
  lastCheckpoint = { at: Date.now(), snapshots: 0, durationMs: 0 };

  constructor(private readonly opts: ShardOptions) {
    this.db = openShardDb(opts.dataDir, opts.shard, opts.synchronous);
    this.journal = new Journal(this.db);
    for (const t of this.journal.timers()) this.timers.set(t.actor, t.due);
  }

  get actorCount(): number {
    return this.actors.size;
  }

  /**
   * What the edge needs at start: committed availability of this shard's skus, the catalog if it
   * lives here, and the orders whose saga or work is unfinished (to be resumed now).
   */
  startupView(catalogHere: boolean): { stock: [string, number][]; products: ProductView[]; openOrders: string[] } {
    const products = catalogHere ? this.catalogProducts() : [];
    const openOrders = this.timers.keys().filter((k) => k.startsWith('order:')).map((k) => k.slice(6));
    return { stock: this.journal.stockView(), products, openOrders };
  }

  /** The live price list, from the edge's catalog view. Returns the watched carts in memory holding a sku whose price changed. */
  setPrices(entries: [string, string, string, number, string, boolean][]): string[] {
    const changed = new Set<string>();
    for (const [sku, productId, name, unitPrice, currency, active] of entries) {
      const before = this.prices.get(sku);
      if (before && (before.unitPrice !== unitPrice || before.name !== name)) changed.add(sku);
      this.prices.set(sku, { productId, name, unitPrice, currency, active });
    }
    if (changed.size === 0) return [];
    const keys: string[] = [];
    for (const key of this.watched.keys()) {
      const cell = this.actors.get(key);
      if (cell?.type.kind === 'cart' && (cell.state as { items: { sku: string }[] }).items.some((l) => changed.has(l.sku))) keys.push(key);
    }
    return keys;
  }

  /** Deletes up to `limit` of the oldest event log rows beyond EVENT_LOG_KEEP_ROWS; true while more are left. */
  trimEventLog(limit: number): boolean {
    try {
      return this.journal.trimEvents(this.opts.eventLogKeepRows, limit) === limit;
    } catch (err) {
      console.error(`shard ${this.opts.shard}: event log trim failed:`, err);
      return false;
    }
  }

  private catalogProducts(): ProductView[] {
    const cell = this.activate('catalog', Date.now());
    return [...(cell.state as { products: Map<string, ProductView> }).products.values()];
  }

  /**
   * Runs several batches as one group commit. Returns one outcome per batch; on a failed commit
   * every request of every batch is answered INTERNAL and the touched actors are dropped from
   * memory, so their next use recovers exactly what is on disk.
   */
  runBatches(batches: ShardRequest[][], now = Date.now()): BatchOutcome[] {
    const framesPerBatch: Uint8Array[][] = [];
    const outcomesPerBatch: Uint8Array[] = [];
    let failed = false;
    let stock: [string, number][] | null = null;
    let commitMs = 0;
    let rowCount = 0;
    try {
      for (const reqs of batches) {
        const frames = new Array<Uint8Array>(reqs.length);
        const outcomes = new Uint8Array(reqs.length);
        for (let i = 0; i < reqs.length; i++) {
          frames[i] = this.run(reqs[i], now);
          outcomes[i] = this.lastOutcome;
        }
        framesPerBatch.push(frames);
        outcomesPerBatch.push(outcomes);
      }
      stock = this.stageDerivedWrites();
      if (this.domain) this.writes.domain = encodeRow(this.domain.map((d) => [d.name, d.data]));
      // Journal rows, plus the event log row of a batch that logged only domain events (event.view).
      rowCount = this.writes.journal.length / 3 + (this.writes.journal.length === 0 && this.writes.domain ? 1 : 0);
      if (this.opts.failCommitsFor !== undefined && [...this.touched].some((c) => c.key === this.opts.failCommitsFor)) {
        throw new Error('simulated I/O error (failCommitsFor)');
      }
      const t0 = performance.now();
      if (!this.writes.empty) this.journal.commit(this.writes);
      commitMs = performance.now() - t0;
      this.afterCommit();
    } catch (err) {
      // A failed commit (disk full, I/O error) or a bug in an actor: nothing of the batch is
      // acknowledged, and the touched actors are reloaded from what is really on disk.
      failed = true;
      this.afterFailedCommit(err);
    }
    const stats: ShardStats = { commitMs, rows: rowCount, actors: this.actors.size };
    const products = this.changedProducts;
    this.changedProducts = null;
    const pushes = failed ? null : this.pushes; // the output gate: pushes only after the commit
    this.pushes = null;
    const domain = failed ? null : this.domain;
    this.domain = null;
    if (failed) for (const [key, delta] of this.batchWatches) this.watch(key, -delta);
    this.batchWatches.length = 0;
    this.writes.clear();
    this.touched.clear();
    this.fired.clear();
    return batches.map((reqs, b) => ({
      frames: failed ? reqs.map((r) => encodeError(r.id, 'INTERNAL', 'the change could not be stored; nothing was applied')) : framesPerBatch[b],
      outcomes: failed ? new Uint8Array(reqs.length).fill(INTERNAL_OUTCOME) : outcomesPerBatch[b],
      stock: failed ? null : stock,
      products: failed ? null : products,
      pushes: b === 0 ? pushes : null,
      domain: b === 0 ? domain : null,
      stats,
    }));
  }

  /** Runs one command on its actor and returns the encoded response. */
  private run(req: ShardRequest, now: number): Uint8Array {
    if (req.cmd.type === 'log') {
      // A domain event with no actor state behind it (product_viewed): logged with this commit.
      this.noteDomain((req.cmd as unknown as { event: DomainEvent }).event);
      this.lastOutcome = 0;
      return encodeOk(req.id, EMPTY);
    }
    let cell: Cell;
    try {
      cell = this.activate(req.key, now);
    } catch (err) {
      console.error(`shard ${this.opts.shard}: cannot recover ${req.key}:`, err);
      this.lastOutcome = INTERNAL_OUTCOME;
      return encodeError(req.id, 'INTERNAL', 'the actor could not be recovered');
    }
    const type = cell.type;
    const ctype = req.cmd.type;
    if (ctype === 'watch') {
      // Counted in the actor's turn: every change after this reply is pushed, none before it is missed.
      this.watch(req.key, 1);
      this.batchWatches.push([req.key, 1]);
      this.lastOutcome = 0;
      return encodeOk(req.id, type.view(cell.state, GET));
    }
    const before = type.kind === 'sku' ? available(cell.state as Sku) : 0;
    const versionBefore = type.version ? type.version(cell.state) : -1;
    const decision = type.decide(cell.state, req.cmd, now, this.ctx);
    if (decision.error) {
      const e = decision.error;
      this.lastOutcome = outcomeIndex(e.code);
      return encodeError(req.id, e.code, e.message, e.details);
    }
    const events = decision.events;
    if (events.length > 0) {
      // An apply that throws is a bug: it propagates and fails the whole batch (runBatches),
      // which reloads every touched actor from disk, this half-applied one included.
      this.touched.add(cell);
      for (const e of events) {
        if (type.domain) {
          const d = type.domain(cell.state, e);
          if (d) {
            if (Array.isArray(d)) for (const one of d) this.noteDomain(one);
            else this.noteDomain(d as DomainEvent);
          }
        }
        cell.state = type.apply(cell.state, e);
      }
      this.writes.appendEvents(cell.key, ++cell.seq, events);
      if (type.kind === 'catalog') this.noteProducts(events as CatalogEvent[]);
      else if (type.kind === 'order') this.noteOrder(cell, events as OrderEvent[]);
      if (type.pushName && (versionBefore < 0 || type.version!(cell.state) !== versionBefore)) this.pushChange(cell, type.pushName);
      if (type.kind === 'sku' && this.adminWatch) this.checkLowStock(cell.state as Sku, before);
    }
    this.lastOutcome = 0;
    // `quiet`: an internal caller (the checkout driver) needs only ok or the error, not the object.
    return encodeOk(req.id, (req.cmd as { quiet?: boolean }).quiet ? null : type.view(cell.state, req.cmd));
  }

  /** A push per visible change: to the actor's watchers, or always (per-user order topics), and orders to the admin feed. */
  private pushChange(cell: Cell, name: string): void {
    const type = cell.type;
    const topic = type.pushTopic ? type.pushTopic(cell.state) : cell.key;
    const toAdmin = type.kind === 'order' && this.adminWatch;
    if (!type.pushAlways && !toAdmin && !this.watched.has(topic)) return;
    const frame = encodePush(name, type.view(cell.state, GET));
    if (type.pushAlways || this.watched.has(topic)) this.stagePush(topic, frame);
    if (toAdmin) this.stagePush(ADMIN_TOPIC, frame);
  }

  private noteDomain(d: DomainEvent): void {
    (this.domain ??= []).push(d);
    if (this.adminWatch) this.stagePush(ADMIN_TOPIC, encodePush(d.name, d.data));
  }

  private noteOrder(cell: Cell, events: OrderEvent[]): void {
    for (const e of events) if (e.type === 'created') this.writes.orders.push({ orderId: cell.key.slice(6), userId: e.userId, createdAt: e.at });
  }

  private stagePush(topic: string, frame: Uint8Array): void {
    const p = (this.pushes ??= { topics: [], frames: [] });
    p.topics.push(topic);
    p.frames.push(frame);
  }

  /** `inventory.lowStock` to the admin feed when available crosses down to the threshold. */
  private checkLowStock(s: Sku, before: number): void {
    const after = available(s);
    if (before > s.lowStockThreshold && after <= s.lowStockThreshold) {
      this.stagePush(ADMIN_TOPIC, encodePush('inventory.lowStock', { sku: s.sku, available: after, lowStockThreshold: s.lowStockThreshold, version: s.version }));
    }
  }

  /** Adds `delta` subscriptions to an actor key; a key at zero stops being pushed. */
  watch(key: string, delta: number): void {
    const n = (this.watched.get(key) ?? 0) + delta;
    if (n > 0) this.watched.set(key, n);
    else this.watched.delete(key);
  }

  setAdminWatch(on: boolean): void {
    this.adminWatch = on;
  }

  private noteProducts(events: CatalogEvent[]): void {
    this.changedProducts ??= [];
    for (const e of events) this.changedProducts.push(e.product);
  }

  /** The actor of `key`, recovered on first use. `lastUsed` 0 leaves it first in line for passivation. */
  private activate(key: string, lastUsed: number): Cell {
    let cell = this.actors.get(key);
    if (cell) {
      if (lastUsed > 0) cell.lastUsed = lastUsed;
      return cell;
    }
    const found = actorTypeOf(key);
    if (!found) throw new Error(`no actor type owns key ${key}`);
    const { type, id } = found;
    const rec = this.journal.recover(key);
    let state = rec.snapshot ? type.restore(id, rec.snapshot.state) : type.create(id);
    let seq = rec.snapshot ? rec.snapshot.seq : 0;
    const snapSeq = seq;
    for (const row of rec.rows) {
      for (const e of row.events) state = type.apply(state, e);
      seq = row.seq;
    }
    cell = { key, type, state, seq, snapSeq, lastUsed };
    this.actors.set(key, cell);
    return cell;
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
      const cell = this.actors.get(key);
      if (cell?.type.nextTimer && !this.touched.has(cell)) this.writes.timers.push({ actor: key, due: cell.type.nextTimer(cell.state) });
    }
    return stock;
  }

  private stageSnapshot(cell: Cell): void {
    this.writes.snapshots.push({ actor: cell.key, seq: cell.seq, state: encodeRow(cell.type.snapshot(cell.state)) });
  }

  private afterCommit(): void {
    for (const s of this.writes.snapshots) {
      const cell = this.actors.get(s.actor);
      if (cell) cell.snapSeq = s.seq;
    }
    for (const t of this.writes.timers) this.timers.set(t.actor, t.due);
  }

  private afterFailedCommit(err: unknown): void {
    console.error(`shard ${this.opts.shard}: group commit failed, ${this.touched.size} actors reloaded from disk:`, err);
    for (const cell of this.touched) {
      this.actors.delete(cell.key);
      this.journal.markUnindexed(cell.key);
    }
    // Their rows were not rewritten: the timers are still due, or the holds would stay stranded.
    for (const [key, at] of this.fired) this.timers.set(key, at);
    this.changedProducts = null;
    this.domain = null;
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

  /**
   * One step of a checkpoint: snapshots up to `limit` actors that have journal rows no snapshot
   * covers, and once all of them are done deletes the journal up to the watermark taken when the
   * checkpoint began. Returns true when no checkpoint is left in progress. Steps are small so
   * that batches run between them.
   */
  checkpointStep(limit: number): boolean {
    let plan = this.checkpoint;
    if (!plan) {
      const keys: string[] = [];
      for (const cell of this.actors.values()) if (cell.seq > cell.snapSeq) keys.push(cell.key);
      keys.push(...this.journal.unrecoveredActors());
      plan = this.checkpoint = { upTo: this.journal.position, keys, next: 0, snapshots: 0, startedAt: performance.now() };
    }
    const end = Math.min(plan.keys.length, plan.next + limit);
    try {
      for (; plan.next < end; plan.next++) {
        const cell = this.activate(plan.keys[plan.next], 0);
        if (cell.seq > cell.snapSeq) {
          this.stageSnapshot(cell);
          plan.snapshots++;
        }
      }
    } catch (err) {
      console.error(`shard ${this.opts.shard}: checkpoint stopped, journal kept:`, err);
      this.writes.clear();
      this.checkpoint = undefined;
      return true;
    }
    if (!this.commitMaintenance()) {
      this.checkpoint = undefined; // retried by a later sweep; nothing was truncated
      return true;
    }
    if (plan.next < plan.keys.length) return false;
    this.journal.truncate(plan.upTo);
    this.lastCheckpoint = { at: Date.now(), snapshots: plan.snapshots, durationMs: performance.now() - plan.startedAt };
    this.checkpoint = undefined;
    return true;
  }

  /** Whether a checkpoint is due: the journal tail is long, or old enough. */
  checkpointDue(now: number, maxRows: number, maxAgeMs: number): boolean {
    const rows = this.journal.tailRows;
    return this.checkpoint !== undefined || rows >= maxRows || (rows > 0 && now - this.lastCheckpoint.at >= maxAgeMs);
  }

  /** A whole checkpoint at once (POST /snapshot, shutdown). */
  snapshotAll(): SnapshotResult {
    const t0 = performance.now();
    this.checkpoint = undefined;
    while (!this.checkpointStep(50_000));
    return { shard: this.opts.shard, actors: this.lastCheckpoint.snapshots, durationMs: performance.now() - t0 };
  }

  /**
   * Drops up to `limit` actors idle for `olderThanMs`, snapshotting those with unsnapshotted rows
   * first (one transaction per call, so a big sweep never stalls the shard for long).
   */
  passivate(now: number, olderThanMs: number, limit: number): number {
    const idle: Cell[] = [];
    for (const cell of this.actors.values()) {
      const after = cell.type.idleMs === undefined ? olderThanMs : Math.min(olderThanMs, cell.type.idleMs);
      if (cell.type.kind !== 'catalog' && now - cell.lastUsed >= after) idle.push(cell);
      if (idle.length >= limit) break;
    }
    for (const cell of idle) if (cell.seq > cell.snapSeq) this.stageSnapshot(cell);
    if (!this.commitMaintenance()) return 0;
    for (const cell of idle) this.actors.delete(cell.key);
    return idle.length;
  }

  /** Deletes a chunk of journal rows a checkpoint covered; true while more are left. */
  journalCleanupStep(limit: number): boolean {
    try {
      return this.journal.deleteStep(limit);
    } catch (err) {
      console.error(`shard ${this.opts.shard}: journal cleanup failed (retried by a later sweep):`, err);
      return false;
    }
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
      shard: this.opts.shard, actors: this.actors.size, appendedSinceStart: this.journal.appended, timers: this.timers.size,
      watchedActors: this.watched.size, adminFeed: this.adminWatch, ...this.journal.summary(),
    };
  }

  /**
   * A page of orders (their views), newest first, with each one's position for the next page.
   * Runs between batches, so every state it reads is committed.
   */
  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): { at: number; order: unknown }[] {
    const now = Date.now();
    return this.journal.orderPage(userId, before, limit).map(([orderId, at]) => {
      const cell = this.activate(`order:${orderId}`, now);
      return { at, order: cell.type.view(cell.state, GET) };
    });
  }

  /** Views, cart additions and purchases logged after row `afterG`, for recommendations. */
  interactionsPage(afterG: number, limit: number): InteractionsPage {
    const flat: (string | number)[] = [];
    let lastG = afterG;
    for (const row of this.journal.eventsAfter(afterG, limit)) {
      lastG = row.g;
      for (const [name, d] of decodeRow(row.events) as [string, Record<string, unknown>][]) {
        if (name === 'product_viewed') flat.push(0, d.userId as string, d.productId as string, d.at as number);
        else if (name === 'product_added_to_cart') flat.push(1, d.userId as string, d.productId as string, d.at as number);
        else if (name === 'order_paid') for (const l of d.items as { productId: string }[]) flat.push(2, d.userId as string, l.productId, d.at as number);
      }
    }
    return { flat, lastG };
  }

  /** The JSON-ready state of one actor for the admin snapshot endpoints, or undefined if it never existed. */
  inspect(key: string): unknown {
    const cell = this.activate(key, Date.now());
    return cell.seq === 0 ? undefined : cell.type.view(cell.state, { type: 'get' });
  }

  close(): void {
    this.snapshotAll();
    this.db.close();
  }
}
