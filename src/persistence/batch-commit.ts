// The one transaction of a group commit: journal rows, snapshots, timers, the stock view, the
// orders index, the event log row, the commit marker and meta rows. The shard's connection runs
// it (Journal.commit).
import type Database from 'better-sqlite3';
import { TAG_JOURNAL, TAG_SNAPSHOT, eventChecksum, rowChecksum } from './checksum.js';

/** meta key of the commit marker: `<epoch>:<last batch>` of the latest group commit. */
export const COMMIT_MARKER = 'commit_marker';

/** What one group commit writes (BatchWrites is one). */
export interface CommitRows {
  /** Flat triples: actor key, seq, encoded events. */
  readonly journal: readonly unknown[];
  readonly snapshots: readonly { actor: string; seq: number; state: Buffer }[];
  readonly timers: readonly { actor: string; due: number | undefined }[];
  readonly stock: readonly { sku: string; available: number }[];
  readonly orders: readonly { orderId: string; userId: string; createdAt: number }[];
  readonly domain: Buffer | null;
  readonly marker: number | undefined;
  readonly meta: readonly (readonly [string, string])[];
}

/**
 * Prepares the statements of a group commit on `db` and returns the transaction: it writes `w`
 * with journal positions `firstG + 1`.. and throws (writing nothing) on any I/O error.
 * `epoch` names the process in the commit marker.
 */
export function batchCommitter(db: Database.Database, epoch: string): (w: CommitRows, firstG: number) => void {
  const appendRow = db.prepare('INSERT INTO journal (g, actor, seq, events, crc) VALUES (?, ?, ?, ?, ?)');
  // An upsert, not INSERT OR REPLACE: the triggers of snapshot_stats count an insert as a new row.
  const putSnapshot = db.prepare(
    'INSERT INTO snapshots (actor, seq, state, at, crc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (actor) DO UPDATE SET seq = excluded.seq, state = excluded.state, at = excluded.at, crc = excluded.crc',
  );
  const putTimer = db.prepare('INSERT OR REPLACE INTO timers (actor, due) VALUES (?, ?)');
  const deleteTimer = db.prepare('DELETE FROM timers WHERE actor = ?');
  const putStock = db.prepare('INSERT OR REPLACE INTO stock_view (sku, available) VALUES (?, ?)');
  const putOrder = db.prepare('INSERT OR IGNORE INTO orders (order_id, user_id, created_at) VALUES (?, ?, ?)');
  const appendEvents = db.prepare('INSERT INTO event_log (at, events, crc) VALUES (?, ?, ?)');
  const putMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  const putMarker = db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('${COMMIT_MARKER}', ?)`);
  return db.transaction((w: CommitRows, firstG: number) => {
    const j = w.journal;
    let g = firstG;
    for (let i = 0; i < j.length; i += 3) {
      const actor = j[i] as string;
      const seq = j[i + 1] as number;
      const events = j[i + 2] as Buffer;
      appendRow.run(++g, actor, seq, events, rowChecksum(TAG_JOURNAL, actor, seq, events));
    }
    const now = Date.now();
    for (const s of w.snapshots) putSnapshot.run(s.actor, s.seq, s.state, now, rowChecksum(TAG_SNAPSHOT, s.actor, s.seq, s.state));
    for (const t of w.timers) {
      if (t.due === undefined) deleteTimer.run(t.actor);
      else putTimer.run(t.actor, t.due);
    }
    for (const s of w.stock) putStock.run(s.sku, s.available);
    for (const o of w.orders) putOrder.run(o.orderId, o.userId, o.createdAt);
    if (w.domain) appendEvents.run(now, w.domain, eventChecksum(now, w.domain));
    if (w.marker !== undefined) putMarker.run(`${epoch}:${w.marker}`);
    for (const [k, v] of w.meta) putMeta.run(k, v);
  });
}

/**
 * After a failed commit: checkpoints the WAL and truncates it, so frames of the failed
 * transaction can never be recovered as committed, then writes (and syncs) a probe row.
 * Throws while the disk still fails.
 */
export function scrubWal(db: Database.Database): void {
  const r = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
  if (r[0]?.busy) throw new Error('wal_checkpoint(TRUNCATE) was blocked');
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)").run(String(Date.now()));
}
