// One command's turn on its actor, inside a batch (shard-runtime.ts runs the batch and commits
// it): the actor decides, its events are applied, and what follows from them is staged for the
// commit: the journal row, domain events, catalog and order bookkeeping, pushes and low-stock
// alerts. Nothing leaves the shard from here; the reply is only encoded.
import { available, type Sku } from '../../actors/inventory-actor.js';
import type { CatalogEvent } from '../../actors/catalog-actor.js';
import type { DomainEvent, ShardContext } from '../../actors/actor.js';
import type { OrderEvent } from '../../actors/order-actor.js';
import type { ProductView } from '../../protocol/types.js';
import { outcomeIndex, type WireError } from '../../protocol/errors.js';
import { parseKey } from '../../protocol/keys.js';
import { encodeError, encodeOk } from '../../protocol/frames.js';
import type { BatchWrites } from '../../persistence/batch-writes.js';
import { CorruptRecordError } from '../../persistence/checksum.js';
import type { ShardRequest } from '../shard-messages.js';
import type { ActorCells, Cell } from './actor-cells.js';
import type { PushStage } from './push-stage.js';
import type { ShardState } from './shard-state.js';
import { log } from '../../log/log.js';

const INTERNAL_OUTCOME = outcomeIndex('INTERNAL');
const UNAVAILABLE_OUTCOME = outcomeIndex('UNAVAILABLE');
const GET = Object.freeze({ type: 'get' });
const EMPTY = Object.freeze({});
/** Array.isArray narrows a readonly array to any[]; this keeps its element type. */
const isEventList = (d: DomainEvent | readonly DomainEvent[] | undefined): d is readonly DomainEvent[] => Array.isArray(d);

export class CommandRunner {
  /** The outcome of the last command run: 0 for ok, else the index of its error code in OUTCOMES. */
  lastOutcome = 0;
  /**
   * Whether the last command's answer depends on nothing undurable: its actor had no change in
   * the open group commit, and it made none (a read, a refusal, a no-op). Such an answer may leave
   * before the commit; every other one waits for it (the output gate).
   */
  lastSettled = false;
  /** Products the open batch changed (catalog events), for the edge's catalog view. */
  changedProducts: ProductView[] | null = null;
  /** Cluster mode: the keys this shard serves (its owned partitions); undefined on a single node. */
  keyFilter: ((key: string) => boolean) | undefined;
  private movingError: WireError | undefined;
  private readonly shard: number;
  private readonly cells: ActorCells;
  private readonly writes: BatchWrites;
  private readonly touched: Set<Cell>;

  constructor(
    s: ShardState,
    private readonly stage: PushStage,
    private readonly ctx: ShardContext,
  ) {
    this.shard = s.opts.shard;
    this.cells = s.cells;
    this.writes = s.writes;
    this.touched = s.touched;
  }

  /** Cluster mode: which keys this shard serves now; a request for another is refused with `moving`. */
  servesOnly(test: (key: string) => boolean, moving: WireError): void {
    this.keyFilter = test;
    this.movingError = moving;
  }

  /** Runs one command on its actor and returns the encoded response. */
  run(req: ShardRequest, now: number): Uint8Array {
    this.lastSettled = false;
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
      cell = this.cells.activate(req.key, now, (req.cmd as { fresh?: boolean }).fresh === true);
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
      log.error({ err }, `shard ${this.shard}: cannot recover ${req.key}`);
      this.lastOutcome = INTERNAL_OUTCOME;
      return encodeError(req.id, 'INTERNAL', 'the actor could not be recovered');
    }
    const type = cell.type;
    // A change earlier in this batch is not durable yet: the answer waits for it.
    const dirtyBefore = this.touched.has(cell);
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
      this.lastSettled = !dirtyBefore;
      this.cells.release(cell); // a lookup of a key that does not exist leaves nothing in memory
      return encodeError(req.id, e.code, e.message, e.details);
    }
    const events = decision.events;
    if (events.length > 0) this.applyEvents(cell, events, before, versionBefore);
    this.lastOutcome = 0;
    this.lastSettled = !dirtyBefore && events.length === 0;
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
    this.noteApplied(cell, events);
    if (type.pushName && (versionBefore < 0 || type.version!(cell.state) !== versionBefore)) {
      const topic = type.pushTopic ? type.pushTopic(cell.state) : cell.key;
      this.stage.change(type.pushName, topic, type.pushAlways === true, type.kind === 'order', () => type.view(cell.state, GET, this.ctx));
    }
    if (type.userPushes) for (const p of type.userPushes(cell.state, events)) this.stage.change(p.name, p.topic, true, false, () => p.data);
    if (type.kind === 'sku') {
      // inventory.lowStock on the admin feed when available crosses down to the threshold.
      const s = cell.state as Sku;
      const after = available(s);
      if (availableBefore > s.lowStockThreshold && after <= s.lowStockThreshold) {
        this.stage.lowStock({ sku: s.sku, available: after, lowStockThreshold: s.lowStockThreshold, version: s.version });
      }
    }
  }

  /** The catalog and order bookkeeping of events just applied to `cell` (by a command, or replicated). */
  noteApplied(cell: Cell, events: readonly unknown[]): void {
    const kind = cell.type.kind;
    if (kind === 'catalog') for (const e of events as CatalogEvent[]) (this.changedProducts ??= []).push(e.product);
    else if (kind === 'order') {
      for (const e of events as OrderEvent[])
        if (e.type === 'created') this.writes.orders.push({ orderId: parseKey(cell.key)!.id, userId: e.userId, createdAt: e.at });
    }
  }
}
