// The shard's durable store. Everything a batch changed is written in one transaction (group
// commit) and the journal is append-only. Recovery of an actor = its latest snapshot + its
// journal rows after it. A checkpoint snapshots every actor with rows up to a watermark and then
// deletes those rows, so at start only the short tail after the watermark is indexed (actor ->
// rows, in memory) and /readyz does not depend on the total data size.
import type Database from 'better-sqlite3';
import { Packr, Unpackr } from 'msgpackr';
import { CorruptRecordError, TAG_JOURNAL, TAG_SNAPSHOT, describeRecord, eventChecksum, mismatch, rowChecksum } from './checksum.js';

export { CorruptRecordError } from './checksum.js';

/** meta key of the commit marker: `<epoch>:<last batch>` of the latest group commit. */
export const COMMIT_MARKER = 'commit_marker';

// Standard msgpack (no records): rows stay readable by any tool and any later version.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export const encodeRow = (value: unknown): Buffer => packr.pack(value);
export const decodeRow = (bytes: Buffer): unknown => unpackr.unpack(bytes);

/** What one batch changed; filled by the shard runtime, written by `commit`. */
export class BatchWrites {
  /** Flat triples: actor key, seq, encoded events. */
  readonly journal: unknown[] = [];
  readonly snapshots: { actor: string; seq: number; state: Buffer }[] = [];
  readonly timers: { actor: string; due: number | undefined }[] = [];
  readonly stock: { sku: string; available: number }[] = [];
  readonly orders: { orderId: string; userId: string; createdAt: number }[] = [];
  /** Encoded domain events of the batch (one event_log row), or null. */
  domain: Buffer | null = null;
  /** The last main-thread batch this commit covers (the commit marker), if any. */
  marker: number | undefined;
  /** meta rows written with the commit (cluster mode: replicated positions). */
  readonly meta: [string, string][] = [];

  get empty(): boolean {
    return (
      this.journal.length === 0 &&
      this.snapshots.length === 0 &&
      this.timers.length === 0 &&
      this.stock.length === 0 &&
      this.domain === null &&
      this.meta.length === 0
    );
  }

  /** Journal rows whose events are already encoded (replicated from another node). */
  appendEncoded(actor: string, seq: number, events: Buffer): void {
    this.journal.push(actor, seq, events);
  }

  appendEvents(actor: string, seq: number, events: readonly unknown[]): void {
    this.journal.push(actor, seq, encodeRow(events));
  }

  clear(): void {
    this.journal.length = 0;
    this.snapshots.length = 0;
    this.timers.length = 0;
    this.stock.length = 0;
    this.orders.length = 0;
    this.domain = null;
    this.marker = undefined;
    this.meta.length = 0;
  }
}

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

/** The shard number in a shard database's file name (`shard-N.db`, see shardDbPath). */
const shardOfFile = (name: string): number | undefined => {
  const m = /shard-(\d+)\.db$/.exec(name);
  return m ? Number(m[1]) : undefined;
};

export class Journal {
  private readonly appendRow: Database.Statement;
  private readonly putSnapshot: Database.Statement;
  private readonly putTimer: Database.Statement;
  private readonly deleteTimer: Database.Statement;
  private readonly putStock: Database.Statement;
  private readonly putOrder: Database.Statement;
  private readonly appendEvents: Database.Statement;
  private readonly getSnapshot: Database.Statement<[string], { seq: number; state: Buffer; crc: number | null }>;
  private readonly getRow: Database.Statement<[number], StoredRow>;
  private readonly scanActor: Database.Statement<[number, string, number], StoredRow>;
  private readonly writeBatch: (w: BatchWrites) => void;
  private readonly putWatermark: Database.Statement;
  private readonly putProbe: Database.Statement;
  private readonly deleteRange: Database.Statement;
  /** Rows up to here are deleted; rows above it and up to the watermark wait for `deleteStep`. */
  private deletedUpTo: number;
  /** Rows after the watermark of actors not recovered since start: actor -> flat [g, seq, g, seq, ...]. */
  private readonly tail = new Map<string, number[]>();
  /** Actors whose in-memory state was dropped after a failed commit: recovered by a scan. */
  private readonly unindexed = new Set<string>();
  /**
   * Every row with g <= watermark is covered by a snapshot (the rows of quarantined actors
   * excepted: the watermark stays below them, see `truncate`).
   */
  private watermark: number;
  /** The position the last checkpoint covered: the watermark unless a quarantined actor holds it back. */
  private coveredUpTo: number;
  private lastG: number;
  /**
   * Actors whose records failed verification (strict recovery): never recovered again by this
   * process, listed in the summary, and their rows after the watermark kept (`pinFrom`: the
   * first of them).
   */
  private readonly corrupt = new Map<string, { error: CorruptRecordError; pinFrom: number | undefined }>();
  /** event_log rows already reported as corrupt (a reader that starts over must not log them again). */
  private readonly reportedEvents = new Set<number>();
  /** Rows appended since start, for the /snapshot summary. */
  appended = 0;

  /**
   * `epoch` names this process in the commit marker (see readCommitMarker); `shard` is named in
   * the errors and log lines of corrupt records (by default from the file name, shard-N.db).
   */
  constructor(
    private readonly db: Database.Database,
    epoch = '',
    readonly shard: number | undefined = shardOfFile(db.name),
  ) {
    const meta = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'watermark'").get();
    this.watermark = meta ? Number(meta.value) : 0;
    this.coveredUpTo = this.watermark;
    const max = db.prepare<[], { g: number | null }>('SELECT max(g) AS g FROM journal').get();
    this.lastG = Math.max(this.watermark, max?.g ?? 0);
    this.appendRow = db.prepare('INSERT INTO journal (g, actor, seq, events, crc) VALUES (?, ?, ?, ?, ?)');
    this.putSnapshot = db.prepare('INSERT OR REPLACE INTO snapshots (actor, seq, state, at, crc) VALUES (?, ?, ?, ?, ?)');
    this.putTimer = db.prepare('INSERT OR REPLACE INTO timers (actor, due) VALUES (?, ?)');
    this.deleteTimer = db.prepare('DELETE FROM timers WHERE actor = ?');
    this.putStock = db.prepare('INSERT OR REPLACE INTO stock_view (sku, available) VALUES (?, ?)');
    this.putOrder = db.prepare('INSERT OR IGNORE INTO orders (order_id, user_id, created_at) VALUES (?, ?, ?)');
    this.appendEvents = db.prepare('INSERT INTO event_log (at, events, crc) VALUES (?, ?, ?)');
    this.getSnapshot = db.prepare('SELECT seq, state, crc FROM snapshots WHERE actor = ?');
    this.getRow = db.prepare('SELECT g, seq, events, crc FROM journal WHERE g = ?');
    this.scanActor = db.prepare('SELECT g, seq, events, crc FROM journal WHERE g > ? AND actor = ? AND seq > ? ORDER BY g');
    this.putWatermark = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watermark', ?)");
    this.putProbe = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)");
    const putMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    const putMarker = db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('${COMMIT_MARKER}', ?)`);
    this.deleteRange = db.prepare('DELETE FROM journal WHERE g > ? AND g <= ?');
    const min = db.prepare<[], { g: number | null }>('SELECT min(g) AS g FROM journal').get();
    this.deletedUpTo = min?.g == null ? this.watermark : Math.min(min.g - 1, this.watermark);
    this.writeBatch = db.transaction((w: BatchWrites) => {
      const j = w.journal;
      let g = this.lastG;
      for (let i = 0; i < j.length; i += 3) {
        const actor = j[i] as string;
        const seq = j[i + 1] as number;
        const events = j[i + 2] as Buffer;
        this.appendRow.run(++g, actor, seq, events, rowChecksum(TAG_JOURNAL, actor, seq, events));
      }
      const now = Date.now();
      for (const s of w.snapshots) this.putSnapshot.run(s.actor, s.seq, s.state, now, rowChecksum(TAG_SNAPSHOT, s.actor, s.seq, s.state));
      for (const t of w.timers) {
        if (t.due === undefined) this.deleteTimer.run(t.actor);
        else this.putTimer.run(t.actor, t.due);
      }
      for (const s of w.stock) this.putStock.run(s.sku, s.available);
      for (const o of w.orders) this.putOrder.run(o.orderId, o.userId, o.createdAt);
      if (w.domain) this.appendEvents.run(now, w.domain, eventChecksum(now, w.domain));
      if (w.marker !== undefined) putMarker.run(`${epoch}:${w.marker}`);
      for (const [k, v] of w.meta) putMeta.run(k, v);
    });
    this.indexTail();
  }

  /** Reads the tail in ranges of g with all(): about twice as fast as iterate() row by row. */
  private indexTail(): void {
    const CHUNK = 50_000;
    const rows = this.db.prepare<[number, number], [number, string, number]>('SELECT g, actor, seq FROM journal WHERE g > ? AND g <= ? ORDER BY g').raw();
    for (let from = this.watermark; from < this.lastG; from += CHUNK) {
      for (const [g, actor, seq] of rows.all(from, from + CHUNK)) {
        let list = this.tail.get(actor);
        if (!list) this.tail.set(actor, (list = []));
        list.push(g, seq);
      }
    }
  }

  /** Writes a batch in one transaction; throws (and writes nothing) on any I/O error. */
  commit(w: BatchWrites): void {
    this.writeBatch(w);
    const rows = w.journal.length / 3;
    this.lastG += rows;
    this.appended += rows;
  }

  /**
   * After a failed commit: checkpoints the WAL and truncates it, so frames of the failed
   * transaction can never be recovered as committed, then writes (and syncs) a probe row.
   * Throws while the disk still fails.
   */
  scrub(): void {
    const r = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    if (r[0]?.busy) throw new Error('wal_checkpoint(TRUNCATE) was blocked');
    this.putProbe.run(String(Date.now()));
  }

  /**
   * The actor's snapshot and its journal rows after it, each checked against its checksum (rows
   * written before schema 4 have none) and decoded, the seqs after the snapshot checked to follow
   * one another. A damaged record throws CorruptRecordError, and the actor is refused from then on
   * (`corruptRecord`), its rows kept. With `salvage` (the catalog: one actor holding every product)
   * damaged records are left out and listed in `damaged` instead; a damaged snapshot is then
   * replaced by every journal row of the actor still stored, oldest first.
   */
  recover(actor: string, salvage = false): RecoveredActor {
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
      this.corrupt.set(actor, { error, pinFrom: list ? list[0] : this.firstRowAfterWatermark(actor) });
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
    else if (scan) stored = this.scanActor.all(this.watermark, actor, snapshot?.seq ?? 0);
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

  private firstRowAfterWatermark(actor: string): number | undefined {
    return (
      this.db.prepare<[number, string], { g: number | null }>('SELECT min(g) AS g FROM journal WHERE g > ? AND actor = ?').get(this.watermark, actor)?.g ??
      undefined
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

  /** A value of the meta table, or undefined. */
  meta(key: string): string | undefined {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)?.value;
  }

  /**
   * Whether rows of `actor` after the watermark wait to be recovered (from before this start, or a
   * failed commit), or its records are damaged (kept as they are for the operator).
   */
  hasPendingRows(actor: string): boolean {
    return this.tail.has(actor) || this.unindexed.has(actor) || this.corrupt.has(actor);
  }

  /** Actors with journal rows no snapshot covers and no in-memory state: a checkpoint must recover them. */
  unrecoveredActors(): string[] {
    return [...this.tail.keys(), ...this.unindexed];
  }

  /**
   * Rows no checkpoint has covered yet: what the next one would cover. (A restart reads every row
   * after the watermark, which a quarantined actor may hold further back: see `truncate`.)
   */
  get tailRows(): number {
    return this.lastG - Math.max(this.watermark, this.coveredUpTo);
  }

  get position(): number {
    return this.lastG;
  }

  /**
   * Ends a checkpoint: every row up to `upTo` is covered by a snapshot now. Recovery ignores
   * rows at or below the watermark from this moment; `deleteStep` removes them in small chunks
   * (one delete of 100k rows held the shard ~83 ms, chunks of 5,000 at most ~9 ms each:
   * `node dist/bench/micro/journal-delete.js`).
   *
   * The rows of a quarantined actor are not covered by any snapshot: the watermark stops below the
   * first of them, so they are neither deleted nor left out of the next start's recovery.
   */
  truncate(upTo: number): void {
    this.coveredUpTo = Math.max(this.coveredUpTo, upTo);
    let to = upTo;
    for (const { pinFrom } of this.corrupt.values()) if (pinFrom !== undefined) to = Math.min(to, pinFrom - 1);
    if (to <= this.watermark) return;
    this.putWatermark.run(String(to));
    this.watermark = to;
  }

  /** Deletes up to `limit` rows below the watermark; returns true while more are left. */
  deleteStep(limit: number): boolean {
    if (this.deletedUpTo >= this.watermark) return false;
    const to = Math.min(this.watermark, this.deletedUpTo + limit);
    this.deleteRange.run(this.deletedUpTo, to);
    this.deletedUpTo = to;
    return to < this.watermark;
  }

  timers(): { actor: string; due: number }[] {
    return this.db.prepare<[], { actor: string; due: number }>('SELECT actor, due FROM timers').all();
  }

  /**
   * A page of order ids, newest first: of one user, or of everyone (userId undefined), strictly
   * before the (createdAt, orderId) position `before`.
   */
  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): [string, number][] {
    const [at, id] = before ?? [Number.MAX_SAFE_INTEGER, ''];
    const where = '(created_at < ? OR (created_at = ? AND order_id < ?))';
    const sql =
      userId === undefined
        ? `SELECT order_id, created_at FROM orders WHERE ${where} ORDER BY created_at DESC, order_id DESC LIMIT ?`
        : `SELECT order_id, created_at FROM orders WHERE user_id = ? AND ${where} ORDER BY created_at DESC, order_id DESC LIMIT ?`;
    const stmt = this.db.prepare<unknown[], [string, number]>(sql).raw();
    return userId === undefined ? stmt.all(at, at, id || '\uffff', limit) : stmt.all(userId, at, at, id || '\uffff', limit);
  }

  /**
   * Domain events logged after `afterG` (at most `limit` rows), for readers such as
   * recommendations. A row that fails its checksum is left out (logged once) and never throws;
   * `lastG` is the last row read, left out or not, where the next page starts.
   */
  eventsAfter(afterG: number, limit: number): { rows: { g: number; events: Buffer }[]; lastG: number } {
    const read = this.db
      .prepare<[number, number], { g: number; at: number; events: Buffer; crc: number | null }>(
        'SELECT g, at, events, crc FROM event_log WHERE g > ? ORDER BY g LIMIT ?',
      )
      .all(afterG, limit);
    const rows: { g: number; events: Buffer }[] = [];
    for (const r of read) {
      const problem = !(r.events instanceof Uint8Array)
        ? 'its stored value is not a BLOB'
        : r.crc !== null && r.crc !== eventChecksum(r.at, r.events)
          ? mismatch(Number(r.crc), eventChecksum(r.at, r.events))
          : undefined;
      if (problem === undefined) rows.push({ g: r.g, events: r.events });
      else this.reportEventRow(r.g, problem);
    }
    return { rows, lastG: read.length > 0 ? read[read.length - 1].g : afterG };
  }

  /** Logs a damaged event_log row once (a reader that starts over skips it silently). */
  reportEventRow(g: number, problem: string): void {
    if (this.reportedEvents.has(g)) return;
    if (this.reportedEvents.size >= 10_000) this.reportedEvents.clear();
    this.reportedEvents.add(g);
    console.error(
      `shard ${this.shard ?? '?'}: ${describeRecord('event_log', g, undefined)} is corrupt: ${problem}; its domain events are skipped by readers (recommendations)`,
    );
  }

  /** Deletes up to `limit` of the oldest rows past the newest `keep`; returns how many went. */
  trimEvents(keep: number, limit: number): number {
    return this.trimStmt.run(keep, limit).changes;
  }

  private get trimStmt(): Database.Statement {
    return (this.trimCache ??= this.db.prepare(
      'DELETE FROM event_log WHERE g IN (SELECT g FROM event_log WHERE g <= (SELECT max(g) FROM event_log) - ? ORDER BY g LIMIT ?)',
    ));
  }

  private trimCache: Database.Statement | undefined;

  stockView(): [string, number][] {
    return this.db.prepare<[], [string, number]>('SELECT sku, available FROM stock_view').raw().all();
  }

  summary(): { journalRows: number; journalPosition: number; watermark: number; snapshots: number; lastSnapshotAt: number | null; quarantined: string[] } {
    const s = this.db.prepare('SELECT count(*) AS n, max(at) AS at FROM snapshots').get() as { n: number; at: number | null };
    return {
      journalRows: this.lastG - this.watermark,
      journalPosition: this.lastG,
      watermark: this.watermark,
      snapshots: s.n,
      lastSnapshotAt: s.at,
      quarantined: this.quarantined,
    };
  }
}
