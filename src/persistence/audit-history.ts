// Audit history: the journal rows of audited actors (carts, skus, orders, coupons) that a
// checkpoint covered are moved into the `history` table instead of being deleted, and kept for
// AUDIT_RETENTION_DAYS. The journal stays append-only and unindexed by actor (its commit speed);
// the move runs in the maintenance chunks that used to delete those rows, and `history` is
// indexed by actor for the audit reads. An actor's rows are then: history (g up to the journal's
// deleted position), then the journal (after it).
import type Database from 'better-sqlite3';

/** Actor keys whose history is kept (the kinds audit.* answers for). */
const AUDITED = "(actor GLOB 'cart:*' OR actor GLOB 'sku:*' OR actor GLOB 'order:*' OR actor GLOB 'coupon:*')";

/** A stored row of an actor, as the audit reads it (checked and decoded by the reader). */
export interface HistoryRow {
  g: number;
  seq: number;
  events: Buffer;
  crc: number | null;
}

export class AuditHistory {
  private readonly move: Database.Statement<[number, number, number]>;
  private readonly historyPage: Database.Statement<[string, number, number], HistoryRow>;
  private readonly journalPage: Database.Statement<[string, number, number], HistoryRow>;
  private readonly oldest: Database.Statement<[number], { g: number; kept_at: number }>;
  private readonly deleteUpTo: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.move = db.prepare(
      `INSERT OR IGNORE INTO history (g, actor, seq, events, crc, kept_at) SELECT g, actor, seq, events, crc, ? FROM journal WHERE g > ? AND g <= ? AND ${AUDITED}`,
    );
    this.historyPage = db.prepare('SELECT g, seq, events, crc FROM history WHERE actor = ? AND g >= ? ORDER BY g LIMIT ?');
    // The journal has no index by actor: this scans the rows no checkpoint has cleaned up yet
    // (about CHECKPOINT_ROWS at most), which is why audit reads run on the shard, between batches.
    this.journalPage = db.prepare('SELECT g, seq, events, crc FROM journal WHERE actor = ? AND g >= ? ORDER BY g LIMIT ?');
    this.oldest = db.prepare('SELECT g, kept_at FROM history ORDER BY g LIMIT ?');
    this.deleteUpTo = db.prepare('DELETE FROM history WHERE g <= ?');
  }

  /** Copies the audited rows of journal range (from, to] into the history (in the caller's transaction). */
  keep(from: number, to: number, now: number): void {
    this.move.run(now, from, to);
  }

  /**
   * Up to `limit` rows of `actor` from row `fromG` on, oldest first: the history, then the
   * journal rows after `deletedUpTo` (where the history ends).
   */
  rows(actor: string, fromG: number, limit: number, deletedUpTo: number): HistoryRow[] {
    const out = fromG <= deletedUpTo ? this.historyPage.all(actor, fromG, limit) : [];
    if (out.length < limit) out.push(...this.journalPage.all(actor, Math.max(fromG, deletedUpTo + 1), limit - out.length));
    return out;
  }

  /** Deletes up to `limit` of the oldest history rows kept before `before` (epoch ms); returns how many went. */
  trim(before: number, limit: number): number {
    const head = this.oldest.all(limit);
    let upTo: number | undefined;
    for (const r of head) {
      if (r.kept_at >= before) break;
      upTo = r.g;
    }
    return upTo === undefined ? 0 : this.deleteUpTo.run(upTo).changes;
  }
}
