// Reads of the tables the group commit keeps beside the journal: the orders index (pages of
// order ids), the event log (domain events for readers such as recommendations, and its trim),
// the stock view and the durable timers.
import type Database from 'better-sqlite3';
import { describeRecord, eventChecksum, mismatch } from './checksum.js';
import { log } from '../log/log.js';

export class JournalReads {
  /** event_log rows already reported as corrupt (a reader that starts over must not log them again). */
  private readonly reportedEvents = new Set<number>();
  private trimCache: Database.Statement | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly shard: number | undefined,
  ) {}

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
    log.error(
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

  stockView(): [string, number][] {
    return this.db.prepare<[], [string, number]>('SELECT sku, available FROM stock_view').raw().all();
  }
}
