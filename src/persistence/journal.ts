// The shard's durable store. Everything a batch changed is written in one transaction (group
// commit) and the journal is append-only. Recovery of an actor = its latest snapshot + its
// journal rows after it (journal-recovery.ts). A checkpoint snapshots every actor with rows up to
// a watermark and then deletes those rows, so at start only the short tail after the watermark
// is indexed (actor -> rows, in memory) and /readyz does not depend on the total data size.
import type Database from 'better-sqlite3';
import type { CorruptRecordError } from './checksum.js';
import { batchCommitter, scrubWal, type CommitRows } from './batch-commit.js';
import { commitOrVoid } from './wal-orphans.js';
import type { BatchWrites } from './batch-writes.js';
import { JournalRecovery, type RecoveredActor } from './journal-recovery.js';
import { JournalReads } from './journal-reads.js';
import { AuditHistory, type HistoryRow } from './audit-history.js';

export { CorruptRecordError } from './checksum.js';
export type { RecoveredActor } from './journal-recovery.js';

export { COMMIT_MARKER } from './batch-commit.js';

/** The shard number in a shard database's file name (`shard-N.db`, see shardDbPath). */
const shardOfFile = (name: string): number | undefined => {
  const m = /shard-(\d+)\.db$/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** Journal rows moved into the audit history per cleanup step at most. */
const MOVE_STEP = 1_000;

export class Journal {
  private readonly writeBatch: (w: CommitRows, firstG: number) => void;
  private readonly putWatermark: Database.Statement;
  private readonly deleteRange: Database.Statement;
  private readonly moveRange: (from: number, to: number) => void;
  private readonly history: AuditHistory;
  /** Whether covered rows of audited actors go to the history instead of away (AUDIT_RETENTION_DAYS > 0). */
  private keepingHistory = false;
  private readonly recovery: JournalRecovery;
  private readonly reads: JournalReads;
  /** Rows up to here are deleted; rows above it and up to the watermark wait for `deleteStep`. */
  private deletedUpTo: number;
  /**
   * Every row with g <= watermark is covered by a snapshot (the rows of quarantined actors
   * excepted: the watermark stays below them, see `truncate`).
   */
  private watermark: number;
  /** The position the last checkpoint covered: the watermark unless a quarantined actor holds it back. */
  private coveredUpTo: number;
  private lastG: number;
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
    this.recovery = new JournalRecovery(db, shard);
    this.reads = new JournalReads(db, shard);
    this.putWatermark = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watermark', ?)");
    this.deleteRange = db.prepare('DELETE FROM journal WHERE g > ? AND g <= ?');
    this.history = new AuditHistory(db);
    this.moveRange = db.transaction((from: number, to: number) => {
      this.history.keep(from, to, Date.now());
      this.deleteRange.run(from, to);
    });
    const min = db.prepare<[], { g: number | null }>('SELECT min(g) AS g FROM journal').get();
    this.deletedUpTo = min?.g == null ? this.watermark : Math.min(min.g - 1, this.watermark);
    this.writeBatch = batchCommitter(db, epoch);
    this.recovery.indexTail(this.watermark, this.lastG);
  }

  /** Writes a batch in one transaction; throws (and writes nothing, see wal-orphans.ts) on any I/O error. */
  commit(w: BatchWrites): void {
    commitOrVoid(this.db, () => this.writeBatch(w, this.lastG));
    const rows = w.journal.length / 3;
    this.lastG += rows;
    this.appended += rows;
  }

  /** See scrubWal: makes the journal writable again after a failed commit, or throws. */
  scrub(): void {
    scrubWal(this.db);
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
    return this.recovery.recover(actor, this.watermark, salvage);
  }

  /** Why `actor` is refused (its records failed verification), if it is. */
  corruptRecord(actor: string): CorruptRecordError | undefined {
    return this.recovery.corruptRecord(actor);
  }

  /** The actors refused since start because their records are damaged. */
  get quarantined(): string[] {
    return this.recovery.quarantined;
  }

  /** The actor's memory was dropped without a snapshot (failed commit): recover it by scan. */
  markUnindexed(actor: string): void {
    this.recovery.markUnindexed(actor);
  }

  /** Every stored snapshot: actor, seq, state, checksum (null before schema 4). */
  snapshotRows(): IterableIterator<[string, number, Buffer, number | null]> {
    return this.db.prepare<[], [string, number, Buffer, number | null]>('SELECT actor, seq, state, crc FROM snapshots').raw().iterate();
  }

  /** Actors with a snapshot whose key starts with `prefix` (a range of the snapshots' key, no scan). */
  snapshotKeys(prefix: string): string[] {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.db
      .prepare<[string, string], [string]>('SELECT actor FROM snapshots WHERE actor >= ? AND actor < ?')
      .raw()
      .all(prefix, end)
      .map((r) => r[0]);
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
    return this.recovery.hasPendingRows(actor);
  }

  /** Actors with journal rows no snapshot covers and no in-memory state: a checkpoint must recover them. */
  unrecoveredActors(): string[] {
    return this.recovery.unrecoveredActors();
  }

  /**
   * Rows no checkpoint has covered yet: what the next one would cover. (A restart reads every row
   * after the watermark, which a quarantined actor may hold further back: see `truncate`.)
   */
  get tailRows(): number {
    return this.lastG - Math.max(this.watermark, this.coveredUpTo);
  }

  /** False once the shard closed its database: a read that yields between chunks checks it. */
  get isOpen(): boolean {
    return this.db.open;
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
    const to = this.recovery.pinnedBelow(upTo);
    if (to <= this.watermark) return;
    this.putWatermark.run(String(to));
    this.watermark = to;
  }

  /** Covered rows of audited actors are kept in the history from now on (see audit-history.ts). */
  keepHistory(on: boolean): void {
    this.keepingHistory = on;
  }

  /**
   * Deletes up to `limit` rows below the watermark (moving those of audited actors to the history
   * when it is kept); returns true while more are left.
   */
  deleteStep(limit: number): boolean {
    if (this.deletedUpTo >= this.watermark) return false;
    // A move also writes the history and its index: smaller steps hold the shard as briefly
    // (node dist/bench/micro/audit-history.js).
    const to = Math.min(this.watermark, this.deletedUpTo + (this.keepingHistory ? Math.min(limit, MOVE_STEP) : limit));
    if (this.keepingHistory) this.moveRange(this.deletedUpTo, to);
    else this.deleteRange.run(this.deletedUpTo, to);
    this.deletedUpTo = to;
    return to < this.watermark;
  }

  /** Up to `limit` stored rows of `actor` from row `fromG` on, oldest first: its history, then its journal rows. */
  actorRows(actor: string, fromG: number, limit: number): HistoryRow[] {
    return this.history.rows(actor, fromG, limit, this.deletedUpTo);
  }

  /** Deletes up to `limit` of the oldest history rows kept before `before`; returns how many went. */
  trimHistory(before: number, limit: number): number {
    return this.history.trim(before, limit);
  }

  timers(): { actor: string; due: number }[] {
    return this.reads.timers();
  }

  /** See JournalReads.orderPage. */
  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): [string, number][] {
    return this.reads.orderPage(userId, before, limit);
  }

  /** See JournalReads.eventsAfter. */
  eventsAfter(afterG: number, limit: number): { rows: { g: number; events: Buffer }[]; lastG: number } {
    return this.reads.eventsAfter(afterG, limit);
  }

  /** Logs a damaged event_log row once (a reader that starts over skips it silently). */
  reportEventRow(g: number, problem: string): void {
    this.reads.reportEventRow(g, problem);
  }

  /** Deletes up to `limit` of the oldest event log rows past the newest `keep`; returns how many went. */
  trimEvents(keep: number, limit: number): number {
    return this.reads.trimEvents(keep, limit);
  }

  stockView(): [string, number][] {
    return this.reads.stockView();
  }

  summary(): { journalRows: number; journalPosition: number; watermark: number; snapshots: number; lastSnapshotAt: number | null; quarantined: string[] } {
    const s = this.db.prepare('SELECT rows AS n, last_at AS at FROM snapshot_stats').get() as { n: number; at: number | null };
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
