// The actors a shard holds in memory, each in a cell with its journal position. An actor is
// activated on first use from its snapshot plus the journal rows after it, and passivated
// (dropped from memory, its state safe on disk) once idle.
import { actorTypeOf, type AnyActorType } from '../../actors/registry.js';
import type { Journal } from '../../persistence/journal.js';

export interface Cell {
  readonly key: string;
  readonly type: AnyActorType;
  state: unknown;
  /** Seq of the last journal row of this actor (committed or in the open batch). */
  seq: number;
  /** Seq covered by the actor's latest snapshot. */
  snapSeq: number;
  lastUsed: number;
}

export class ActorCells {
  private readonly cells = new Map<string, Cell>();

  constructor(private readonly journal: Journal) {}

  get size(): number {
    return this.cells.size;
  }

  get(key: string): Cell | undefined {
    return this.cells.get(key);
  }

  values(): IterableIterator<Cell> {
    return this.cells.values();
  }

  /** The actor of `key`, recovered on first use. `lastUsed` 0 leaves it first in line for passivation. */
  activate(key: string, lastUsed: number): Cell {
    let cell = this.cells.get(key);
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
    this.cells.set(key, cell);
    return cell;
  }

  /**
   * Drops an actor whose memory may be ahead of the disk (its batch failed to commit): its next
   * use recovers exactly what is on disk.
   */
  evict(cell: Cell): void {
    this.cells.delete(cell.key);
    this.journal.markUnindexed(cell.key);
  }

  /** Up to `limit` actors idle for their type's idle time (at most `olderThanMs`); the catalog stays. */
  idle(now: number, olderThanMs: number, limit: number): Cell[] {
    const idle: Cell[] = [];
    for (const cell of this.cells.values()) {
      const after = cell.type.idleMs === undefined ? olderThanMs : Math.min(olderThanMs, cell.type.idleMs);
      if (cell.type.kind !== 'catalog' && now - cell.lastUsed >= after) idle.push(cell);
      if (idle.length >= limit) break;
    }
    return idle;
  }

  /** Drops actors whose state is on disk (snapshotted or never changed since). */
  drop(cells: readonly Cell[]): void {
    for (const cell of cells) this.cells.delete(cell.key);
  }
}
