// Cluster mode inside a shard: what its local store keeps of the partitions it serves. Rows
// another owner stored in a partition's replicated journal are absorbed into the actors and the
// local journal, with the stream position they reach; a partition that leaves takes its actors
// out of memory and its timers off the queue (what is stored stays), and one that comes back
// has its timers loaded again. On a single node none of this runs.
import { decodeRow } from '../../persistence/row-codec.js';
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
