// The actors a shard holds in memory, each in a cell with its journal position. An actor is
// activated on first use from its snapshot plus the journal rows after it, and passivated
// (dropped from memory, its state safe on disk) once idle or when the shard holds too many. A key
// with nothing on disk that a command leaves unchanged (a lookup of an unknown order, coupon or
// cart) is not kept: hostile lookups cannot fill memory. The map is in recency order (a use moves
// a cell to the end, at most once a second), so the least recently used come first.
//
// An actor whose stored records are damaged (checksum, decoding, a missing row) is quarantined:
// never activated, every request for it answered UNAVAILABLE (reason `corrupt`, see
// command-runner.ts), one log line naming the record. The catalog is salvaged instead (see
// activateCatalog): without it there is no shop.
import { actorTypeOf, type AnyActorType } from '../../actors/registry.js';
import { CorruptRecordError, type Journal, type RecoveredActor } from '../../persistence/journal.js';
import { log } from '../../log/log.js';

export interface Cell {
  readonly key: string;
  readonly type: AnyActorType;
  state: unknown;
  /** Seq of the last journal row of this actor (committed or in the open batch). */
  seq: number;
  /** Seq covered by the actor's latest snapshot. */
  snapSeq: number;
  /**
   * When the actor was last used, as `usedAt` returns it: ms since this thread started, a small
   * integer V8 keeps inside the cell (an epoch-ms timestamp would be a 16-byte heap number of its
   * own per actor).
   */
  used: number;
}

/** The origin of Cell.used. */
const USE_BASE = Date.now();
/** Cell.used of an actor activated with lastUsed 0: idle from the start. */
const NEVER_USED = -(2 ** 30);
function usedAt(epochMs: number): number {
  if (epochMs === 0) return NEVER_USED;
  const d = epochMs - USE_BASE;
  // `| 0` makes it a small integer (a subtraction of two timestamps is a heap number); past
  // ~12 days of uptime it stays a plain number, which costs memory, not correctness.
  return d > NEVER_USED && d < -NEVER_USED ? d | 0 : d;
}

/** Cell.used advances (and the cell moves to the end of the recency order) in steps of this much. */
const RECENCY_STEP_MS = 1_000;

/** Keys known to have nothing on disk, remembered so that a repeated lookup costs no read. */
const ABSENT_KEPT = 10_000;

export class ActorCells {
  private readonly cells = new Map<string, Cell>();
  /** Bounded, oldest first: keys whose recovery found neither snapshot nor journal rows. */
  private readonly absent = new Set<string>();

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

  /**
   * The actor of `key`, recovered on first use. `lastUsed` 0 leaves it first in line for passivation.
   * `fresh`: the command says its sender minted the key just now (FreshHint in actor.ts), so there
   * is nothing to read; a key the journal still lists rows for (from before this start, or
   * quarantined) is recovered all the same.
   */
  activate(key: string, lastUsed: number, fresh = false): Cell {
    let cell = this.cells.get(key);
    if (cell) {
      // Most recent last, moved at most once a second: each move leaves a deleted entry in the
      // map's table, and V8 rebuilds the whole table when they pile up (a pause that grows with
      // the actors in memory). Idle times are minutes, so a second of staleness changes nothing.
      const used = lastUsed > 0 ? usedAt(lastUsed) : NEVER_USED;
      if (used - cell.used >= RECENCY_STEP_MS) {
        cell.used = used;
        this.cells.delete(key);
        this.cells.set(key, cell);
      }
      return cell;
    }
    const found = actorTypeOf(key);
    if (!found) throw new Error(`no actor type owns key ${key}`);
    const { type, id } = found;
    if (this.absent.has(key) || (fresh && type.kind !== 'catalog' && !this.journal.hasPendingRows(key))) {
      cell = { key, type, state: type.create(id), seq: 0, snapSeq: 0, used: usedAt(lastUsed) };
      this.cells.set(key, cell);
      return cell;
    }
    if (type.kind === 'catalog') {
      cell = this.activateCatalog(key, type, id, lastUsed);
      this.cells.set(key, cell);
      return cell;
    }
    const rec = this.recover(key);
    let state: unknown = rec.snapshot ? type.restore(id, rec.snapshot.state) : type.create(id);
    let seq = rec.snapshot ? rec.snapshot.seq : 0;
    const snapSeq = seq;
    for (const row of rec.rows) {
      for (const e of row.events) state = type.apply(state, e);
      seq = row.seq;
    }
    cell = { key, type, state, seq, snapSeq, used: usedAt(lastUsed) };
    this.cells.set(key, cell);
    return cell;
  }

  /**
   * Sets an actor's state from a replicated partition snapshot (newer than what this store has):
   * in memory now, and its snapshot written by the commit that records the snapshot's position.
   */
  install(key: string, type: AnyActorType, state: unknown, seq: number, now: number): Cell {
    let cell = this.cells.get(key);
    if (cell) {
      cell.state = state;
      cell.seq = seq;
      cell.used = usedAt(now);
    } else {
      cell = { key, type, state, seq, snapSeq: 0, used: usedAt(now) };
      this.cells.set(key, cell);
    }
    return cell;
  }

  /**
   * The actor's stored records, or its quarantine: a damaged record throws CorruptRecordError, now
   * and for every later use of the key (the journal remembers it, keeps its rows and lists it in
   * the summary), and is logged here once.
   */
  private recover(key: string): RecoveredActor {
    const known = this.journal.corruptRecord(key);
    if (known) throw known;
    try {
      return this.journal.recover(key);
    } catch (err) {
      if (err instanceof CorruptRecordError) {
        log.error(
          `shard ${err.shard ?? '?'}: actor ${key} quarantined: its ${err.where} is corrupt: ${err.problem}. ` +
            'Its requests answer UNAVAILABLE (reason corrupt) until it is repaired; its stored records are kept as they are (docs/operations.md "Corrupt records")',
        );
      }
      throw err;
    }
  }

  /**
   * The catalog holds every product: quarantined, it would take the shop down. Its damaged records
   * are reported and left out instead: a damaged journal row loses the change it held, a damaged
   * snapshot is rebuilt from the catalog's journal rows still stored. What loads is snapshotted by
   * the next checkpoint (seq is above the snapshot's), which replaces the damaged records.
   */
  private activateCatalog(key: string, type: AnyActorType, id: string, lastUsed: number): Cell {
    const rec = this.journal.recover(key, true);
    const damaged = rec.damaged ?? [];
    let state: unknown = rec.snapshot ? type.restore(id, rec.snapshot.state) : type.create(id);
    let seq = rec.snapshot ? rec.snapshot.seq : 0;
    for (const row of rec.rows) {
      try {
        for (const e of row.events) state = type.apply(state, e);
      } catch (err) {
        // A row from before checksums that decodes to something else: as damaged as a bad checksum.
        damaged.push(
          new CorruptRecordError(
            this.journal.shard,
            key,
            'journal',
            row.g,
            row.seq,
            `its events do not apply (${err instanceof Error ? err.message : String(err)})`,
          ),
        );
      }
      seq = row.seq;
    }
    seq = Math.max(seq, rec.seqFloor ?? 0);
    const snapSeq = rec.rebuilt || !rec.snapshot ? 0 : rec.snapshot.seq;
    const products = (state as { products?: Map<string, unknown> }).products?.size ?? 0;
    const shard = `shard ${this.journal.shard ?? '?'}`;
    const advice = `upsert the products again, or restore shard-${this.journal.shard ?? 'N'}.db from a backup (docs/operations.md "Corrupt records")`;
    for (const d of damaged) {
      if (d.table === 'snapshots') {
        const first = rec.rows[0]?.seq;
        const rows = first === undefined ? '' : `${rec.rows.length} journal rows are left (seq ${first}..${rec.rows[rec.rows.length - 1].seq})`;
        const from =
          first === undefined
            ? 'no journal row is left: every product is lost'
            : first === 1
              ? `${rows}, every change since the catalog began: nothing is lost but what other lines here name`
              : `${rows}: changes before seq ${first} are lost, so a product last upserted before it is missing`;
        log.error(
          `${shard}: catalog ${d.where} is corrupt: ${d.problem}; rebuilt from the journal, ${products} products loaded; ${from}. To get them back: ${advice}`,
        );
      } else if (d.missing) {
        log.error(
          `${shard}: catalog journal rows are missing before ${d.where}: ${d.problem}; the catalog loaded without them (${products} products). The product changes they held are lost: ${advice}`,
        );
      } else {
        log.error(
          `${shard}: catalog ${d.where} is corrupt: ${d.problem}; skipped, the rest of the catalog loaded (${products} products). ` +
            `The product change it held is lost (that product is missing or at its earlier version): ${advice}`,
        );
      }
    }
    return { key, type, state, seq, snapSeq, used: usedAt(lastUsed) };
  }

  /**
   * After a command: a cell with nothing on disk and nothing new (seq 0) leaves memory at once,
   * and its key is remembered as absent. The catalog, read at every start, stays.
   */
  release(cell: Cell): void {
    if (cell.seq !== 0 || cell.type.kind === 'catalog') return;
    this.cells.delete(cell.key);
    if (this.absent.size >= ABSENT_KEPT) this.absent.delete(this.absent.values().next().value!);
    this.absent.add(cell.key);
  }

  /** The key's state was deleted from disk: it reads as new again. */
  forget(key: string): void {
    this.absent.delete(key);
  }

  /** The key now has state on disk (its first events are being committed). */
  exists(key: string): void {
    this.absent.delete(key);
  }

  /** Up to `n` cells, least recently used first, that may leave memory (not the catalog). */
  leastRecent(n: number): Cell[] {
    const out: Cell[] = [];
    for (const cell of this.cells.values()) {
      if (out.length >= n) break;
      if (cell.type.kind !== 'catalog') out.push(cell);
    }
    return out;
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
    const at = usedAt(now);
    for (const cell of this.cells.values()) {
      const after = cell.type.idleMs === undefined ? olderThanMs : Math.min(olderThanMs, cell.type.idleMs);
      if (cell.type.kind !== 'catalog' && (cell.used === NEVER_USED || at - cell.used >= after)) idle.push(cell);
      if (idle.length >= limit) break;
    }
    return idle;
  }

  /** Drops actors whose state is on disk (snapshotted or never changed since). */
  drop(cells: readonly Cell[]): void {
    for (const cell of cells) this.cells.delete(cell.key);
  }
}
