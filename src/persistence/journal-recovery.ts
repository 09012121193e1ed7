// Reading an actor back from the journal: its snapshot and its rows after it, each verified
// against its checksum. The rows after the watermark are indexed at start (actor -> rows, in
// memory), so a recovery reads only its own rows and never scans. An actor whose records fail
// verification is quarantined: refused from then on, its rows kept for the operator.
import type Database from 'better-sqlite3';
import { CorruptRecordError, TAG_JOURNAL, TAG_SNAPSHOT, mismatch, rowChecksum } from './checksum.js';
import { decodeRow } from './row-codec.js';

export interface RecoveredActor {
  snapshot?: { seq: number; state: unknown };
  /** Event lists of the journal rows after the snapshot, in order, each with its seq (and g, its row). */
  rows: { g: number; seq: number; events: unknown[] }[];
  /** Salvage only: the records that failed verification and were left out. */
  damaged?: CorruptRecordError[];
  /** Salvage only: the snapshot was damaged, so `rows` are every journal row of the actor still stored. */
  rebuilt?: boolean;
  /** Salvage only: the highest seq the actor's records show, damaged ones included (new rows go above it). */
  seqFloor?: number;
}

/** A journal row as read back for recovery. */
interface StoredRow {
  g: number;
  seq: number;
  events: Buffer;
  crc: number | null;
}

/** SQLite found the page or record malformed (SQLITE_CORRUPT and its extended codes). */
const isSqliteCorrupt = (err: unknown): boolean => String((err as { code?: unknown } | null)?.code).startsWith('SQLITE_CORRUPT');

export class JournalRecovery {
  private readonly getSnapshot: Database.Statement<[string], { seq: number; state: Buffer; crc: number | null }>;
  private readonly getRow: Database.Statement<[number], StoredRow>;
  private readonly scanActor: Database.Statement<[number, string, number], StoredRow>;
  /** Rows after the watermark of actors not recovered since start: actor -> flat [g, seq, g, seq, ...]. */
  private readonly tail = new Map<string, number[]>();
  /** Actors whose in-memory state was dropped after a failed commit: recovered by a scan. */
  private readonly unindexed = new Set<string>();
  /**
   * Actors whose records failed verification (strict recovery): never recovered again by this
   * process, listed in the summary, and their rows after the watermark kept (`pinFrom`: the
   * first of them).
   */
  private readonly corrupt = new Map<string, { error: CorruptRecordError; pinFrom: number | undefined }>();

  constructor(
    private readonly db: Database.Database,
    private readonly shard: number | undefined,
  ) {
    this.getSnapshot = db.prepare('SELECT seq, state, crc FROM snapshots WHERE actor = ?');
    this.getRow = db.prepare('SELECT g, seq, events, crc FROM journal WHERE g = ?');
    this.scanActor = db.prepare('SELECT g, seq, events, crc FROM journal WHERE g > ? AND actor = ? AND seq > ? ORDER BY g');
  }

  /** Indexes the rows after the watermark, in ranges of g with all(): about twice as fast as iterate() row by row. */
  indexTail(watermark: number, lastG: number): void {
    const CHUNK = 50_000;
    const rows = this.db.prepare<[number, number], [number, string, number]>('SELECT g, actor, seq FROM journal WHERE g > ? AND g <= ? ORDER BY g').raw();
    for (let from = watermark; from < lastG; from += CHUNK) {
      for (const [g, actor, seq] of rows.all(from, from + CHUNK)) {
        let list = this.tail.get(actor);
        if (!list) this.tail.set(actor, (list = []));
        list.push(g, seq);
      }
    }
  }

  /** See Journal.recover; `watermark` is the journal's now. */
  recover(actor: string, watermark: number, salvage: boolean): RecoveredActor {
    const known = this.corrupt.get(actor);
    if (known) throw known.error;
    // The tail index, or (rare: after a failed commit) a scan of the rows since the watermark.
    const scan = this.unindexed.delete(actor);
    const list = scan ? undefined : this.tail.get(actor);
    this.tail.delete(actor);
    const damaged: CorruptRecordError[] = [];
    const fail = (table: 'journal' | 'snapshots', rowId: number | string, seq: number | undefined, problem: string, missing = false): void => {
      const error = new CorruptRecordError(this.shard, actor, table, rowId, seq, problem, missing);
      if (salvage) return void damaged.push(error);
      this.corrupt.set(actor, { error, pinFrom: list ? list[0] : this.firstRowAfter(watermark, actor) });
      throw error;
    };

    let snap: { seq: number; state: Buffer; crc: number | null } | undefined;
    try {
      snap = this.getSnapshot.get(actor);
    } catch (err) {
      if (!isSqliteCorrupt(err)) throw err;
      fail('snapshots', actor, undefined, `SQLite cannot read it (${(err as Error).message})`);
    }
    let snapshot: RecoveredActor['snapshot'];
    let rebuilt = snap === undefined && damaged.length > 0;
    if (snap) {
      const decoded = this.verified(TAG_SNAPSHOT, actor, snap.seq, snap.state, snap.crc, false);
      if (typeof decoded === 'string') {
        fail('snapshots', actor, snap.seq, decoded);
        rebuilt = true;
      } else snapshot = { seq: snap.seq, state: decoded.value };
    }

    let stored: (StoredRow | number)[];
    if (rebuilt) stored = this.allRowsOf(actor);
    else if (scan) stored = this.scanActor.all(watermark, actor, snapshot?.seq ?? 0);
    else {
      stored = [];
      const after = snapshot?.seq ?? 0;
      // A row the index names but SQLite cannot read stays as its g: reported below.
      if (list) for (let i = 0; i < list.length; i += 2) if (list[i + 1] > after) stored.push(this.readRow(list[i]) ?? list[i]);
    }

    const rows: RecoveredActor['rows'] = [];
    let seqFloor = snap && Number.isSafeInteger(snap.seq) ? snap.seq : 0;
    /** The seq the next row must have (undefined when rebuilding: no snapshot to count from). */
    let next = rebuilt ? undefined : (snapshot?.seq ?? 0) + 1;
    for (const r of stored) {
      if (typeof r === 'number') {
        fail('journal', r, undefined, 'the row cannot be read (gone, or SQLite reports it malformed)');
        continue;
      }
      if (next !== undefined && r.seq !== next) {
        fail('journal', r.g, r.seq, r.seq > next ? `rows seq ${next}..${r.seq - 1} before it are missing` : `seq ${r.seq} comes after ${next - 1}`, true);
      }
      if (Number.isSafeInteger(r.seq)) {
        seqFloor = Math.max(seqFloor, r.seq);
        if (next !== undefined) next = r.seq + 1;
      }
      const decoded = this.verified(TAG_JOURNAL, actor, r.seq, r.events, r.crc, true);
      if (typeof decoded === 'string') fail('journal', r.g, r.seq, decoded);
      else rows.push({ g: r.g, seq: r.seq, events: decoded.value as unknown[] });
    }
    const out: RecoveredActor = snapshot ? { snapshot, rows } : { rows };
    if (salvage) Object.assign(out, { damaged, rebuilt, seqFloor });
    return out;
  }

  /** The decoded record, or what is wrong with it. */
  private verified(tag: number, actor: string, seq: number, bytes: Buffer, crc: number | null, eventList: boolean): { value: unknown } | string {
    if (!(bytes instanceof Uint8Array)) return 'its stored value is not a BLOB';
    if (crc !== null) {
      if (typeof crc !== 'number') return 'its checksum is not a number';
      const computed = rowChecksum(tag, actor, seq, bytes);
      if (computed !== crc) return mismatch(crc, computed);
    }
    let value: unknown;
    try {
      value = decodeRow(bytes);
    } catch (err) {
      return `cannot be decoded (${err instanceof Error ? err.message : String(err)})`;
    }
    return eventList && !Array.isArray(value) ? 'does not decode to a list of events' : { value };
  }

  /** A journal row by g; undefined when it is gone or SQLite reports it malformed. */
  private readRow(g: number): StoredRow | undefined {
    try {
      return this.getRow.get(g);
    } catch (err) {
      if (isSqliteCorrupt(err)) return undefined;
      throw err;
    }
  }

  /** Every stored journal row of `actor`, below the watermark too (a scan: for a damaged snapshot only). */
  private allRowsOf(actor: string): StoredRow[] {
    return this.db.prepare<[string], StoredRow>('SELECT g, seq, events, crc FROM journal WHERE actor = ? ORDER BY g').all(actor);
  }

  private firstRowAfter(watermark: number, actor: string): number | undefined {
    return (
      this.db.prepare<[number, string], { g: number | null }>('SELECT min(g) AS g FROM journal WHERE g > ? AND actor = ?').get(watermark, actor)?.g ?? undefined
    );
  }

  /** Why `actor` is refused (its records failed verification), if it is. */
  corruptRecord(actor: string): CorruptRecordError | undefined {
    return this.corrupt.get(actor)?.error;
  }

  /** The actors refused since start because their records are damaged. */
  get quarantined(): string[] {
    return [...this.corrupt.keys()];
  }

  /** The actor's memory was dropped without a snapshot (failed commit): recover it by scan. */
  markUnindexed(actor: string): void {
    this.unindexed.add(actor);
  }

  /** See Journal.hasPendingRows. */
  hasPendingRows(actor: string): boolean {
    return this.tail.has(actor) || this.unindexed.has(actor) || this.corrupt.has(actor);
  }

  /** Actors with journal rows no snapshot covers and no in-memory state: a checkpoint must recover them. */
  unrecoveredActors(): string[] {
    return [...this.tail.keys(), ...this.unindexed];
  }

  /** `upTo`, held below the first kept row of every quarantined actor (no snapshot covers those rows). */
  pinnedBelow(upTo: number): number {
    let to = upTo;
    for (const { pinFrom } of this.corrupt.values()) if (pinFrom !== undefined) to = Math.min(to, pinFrom - 1);
    return to;
  }
}
