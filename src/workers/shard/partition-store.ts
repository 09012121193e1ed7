// Cluster mode inside a shard: what its local store keeps of the partitions it serves. Rows
// another owner stored in a partition's replicated journal are absorbed into the actors and the
// local journal, with the stream position they reach; a partition that leaves takes its actors
// out of memory and its timers off the queue (what is stored stays), and one that comes back
// has its timers loaded again. On a single node none of this runs.
import { decodeRow, encodeRow } from '../../persistence/row-codec.js';
import { TAG_SNAPSHOT, rowChecksum } from '../../persistence/checksum.js';
import type { SnapshotEntry } from '../../persistence/partition-snapshots.js';
import { actorTypeOf } from '../../actors/registry.js';
import type { Order } from '../../actors/order-actor.js';
import type { Catalog } from '../../actors/catalog-actor.js';
import type { ProductView } from '../../protocol/types.js';
import { parseKey } from '../../protocol/keys.js';
import type { Cell } from './actor-cells.js';
import type { ShardMaintenance } from './shard-maintenance.js';
import type { ShardState } from './shard-state.js';
import type { BatchOutcome } from './batch-outcome.js';

/** meta key of partition p's absorbed stream position. */
const partitionPosKey = (p: number): string => `partition_pos.${p}`;

/** What absorbing rows takes from the batch path: its bookkeeping of applied events, and its commit. */
export interface AbsorbingBatch {
  /** The catalog and order bookkeeping of `events`, just applied to `cell`. */
  noteApplied(cell: Cell, events: readonly unknown[]): void;
  /** Products whose view changed without events (a replicated catalog snapshot installed). */
  noteProducts(products: readonly ProductView[]): void;
  /** Commits what is staged as a batch of no requests, through the output gate. */
  commitStaged(): BatchOutcome;
}

export class PartitionStore {
  constructor(
    private readonly s: ShardState,
    private readonly maintenance: ShardMaintenance,
    private readonly batch: AbsorbingBatch,
  ) {}

  /**
   * Rows another owner (or this node before) stored in partition `p`'s replicated journal,
   * applied in order to their actors and to the local store, with the stream position they
   * reach. Rows this store already has (seq not above the actor's) are skipped. No push or
   * domain event is made again: they went out when the rows were first committed.
   */
  absorb(p: number, rows: readonly (readonly [string, number, Buffer])[], position: number, now: number): BatchOutcome {
    const { cells, touched, writes } = this.s;
    for (const [key, seq, bytes] of rows) {
      const cell = cells.activate(key, now);
      if (seq <= cell.seq) continue;
      touched.add(cell);
      if (cell.seq === 0) cells.exists(cell.key);
      const events = decodeRow(bytes) as unknown[];
      for (const e of events) cell.state = cell.type.apply(cell.state, e);
      cell.seq = seq;
      writes.appendEncoded(key, seq, bytes);
      this.batch.noteApplied(cell, events);
    }
    this.stagePosition(p, position);
    return this.batch.commitStaged();
  }

  /**
   * The committed state of every actor of the partitions in `ps` (none of them may have a batch in
   * flight): actors in memory as they are, actors with journal rows no snapshot covers recovered
   * (activated), the others straight from their stored snapshot, checked against its checksum.
   * An actor whose records are damaged makes its partition's snapshot impossible (its rows must
   * stay in the replicated journal): that partition is left out of the result.
   */
  snapshotEntries(ps: ReadonlySet<number>, partitionOf: (key: string) => number): Map<number, SnapshotEntry[]> {
    const { cells, journal } = this.s;
    const out = new Map<number, SnapshotEntry[]>();
    for (const p of ps) out.set(p, []);
    const spoiled = new Set<number>();
    const seen = new Set<string>();
    const fromCell = (p: number, key: string): void => {
      try {
        const cell = cells.activate(key, 0);
        if (cell.seq > 0) out.get(p)!.push([key, cell.seq, encodeRow(cell.type.snapshot(cell.state))]);
      } catch {
        spoiled.add(p); // quarantined: logged by the activation
      }
    };
    for (const cell of cells.values()) {
      const p = partitionOf(cell.key);
      if (!ps.has(p)) continue;
      seen.add(cell.key);
      if (cell.seq > 0) out.get(p)!.push([cell.key, cell.seq, encodeRow(cell.type.snapshot(cell.state))]);
    }
    for (const key of journal.unrecoveredActors()) {
      const p = partitionOf(key);
      if (!ps.has(p) || seen.has(key)) continue;
      seen.add(key);
      fromCell(p, key);
    }
    // Activated after the scan: the connection runs one statement at a time.
    const recover: [number, string][] = [];
    for (const [key, seq, state, crc] of journal.snapshotRows()) {
      const p = partitionOf(key);
      if (!ps.has(p) || seen.has(key)) continue;
      // The catalog recovers through its own path (damaged rows salvaged, not quarantined).
      const catalog = actorTypeOf(key)?.type.kind === 'catalog';
      if (catalog || journal.hasPendingRows(key) || (crc !== null && crc !== rowChecksum(TAG_SNAPSHOT, key, seq, state))) recover.push([p, key]);
      else out.get(p)!.push([key, seq, state]);
    }
    for (const [p, key] of recover) fromCell(p, key);
    for (const p of spoiled) out.delete(p);
    return out;
  }

  /**
   * Installs partition `p`'s snapshot at stream position `pos` (newer than this store's): each
   * actor's state replaces what memory and the local store hold of it, with its timers, stock view
   * and order index, in one local commit that also records the position.
   */
  install(p: number, entries: readonly SnapshotEntry[], pos: number, now: number): BatchOutcome {
    const { cells, touched, writes } = this.s;
    for (const [key, seq, bytes] of entries) {
      const found = actorTypeOf(key);
      if (!found) continue;
      const state: unknown = found.type.restore(found.id, decodeRow(bytes));
      const cell = cells.install(key, found.type, state, seq, now);
      touched.add(cell);
      cells.exists(key);
      this.s.stageSnapshot(cell);
      if (found.type.kind === 'order') {
        const o = state as Order;
        if (o.createdAt > 0) writes.orders.push({ orderId: parseKey(key)!.id, userId: o.userId, createdAt: o.createdAt });
      } else if (found.type.kind === 'catalog') {
        // The edge's read model (and every node's) learns the products this node now serves.
        this.batch.noteProducts([...(state as Catalog).products.values()]);
      }
    }
    this.stagePosition(p, pos);
    return this.batch.commitStaged();
  }

  /** The local commit records the stream position partition `p` reached. */
  stagePosition(p: number, seq: number): void {
    this.s.writes.meta.push([partitionPosKey(p), String(seq)]);
  }

  /** The stream position of partition `p` this store has absorbed (0: none). */
  position(p: number): number {
    return Number(this.s.journal.meta(partitionPosKey(p)) ?? 0);
  }

  /** The orders of partition `p` whose saga or work is unfinished (their timers are set). */
  openOrdersOf(p: number, partitionOf: (key: string) => number): string[] {
    return this.s.openOrders((key) => partitionOf(key) === p);
  }

  /** Only the keys `serves` accepts fire their timers here. */
  stopTimersOutside(serves: (key: string) => boolean): void {
    const timers = this.s.timers;
    for (const key of timers.keys()) if (!serves(key)) timers.set(key, undefined);
  }

  /**
   * Partition `p` moved to another owner (or this node was fenced from it). Its actors leave
   * memory (snapshotted when they have rows no snapshot covers) and its timers stop firing here;
   * what is stored stays, for the day the partition comes back.
   */
  drop(p: number, partitionOf: (key: string) => number): number {
    const { cells, timers } = this.s;
    const mine = [...cells.values()].filter((c) => c.type.kind !== 'catalog' && partitionOf(c.key) === p);
    for (const key of timers.keys()) if (partitionOf(key) === p) timers.set(key, undefined);
    // Without the snapshot their runtime rows could only be found by a scan: drop them anyway,
    // marked for the scan, when the snapshot cannot be written.
    if (this.maintenance.dropFromMemory(mine) === 0) for (const c of mine) cells.evict(c);
    return mine.length;
  }

  /** Partition `p` is served here again: its durable timers are loaded. */
  loadTimers(p: number, partitionOf: (key: string) => number): void {
    for (const t of this.s.journal.timers()) if (partitionOf(t.actor) === p) this.s.timers.set(t.actor, t.due);
  }
}
