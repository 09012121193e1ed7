// The shard's durable store: everything a batch changed is written in one transaction (group
// commit), and an actor is recovered from its latest snapshot plus the journal rows after it.
import type Database from 'better-sqlite3';
import { Packr, Unpackr } from 'msgpackr';

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

  get empty(): boolean {
    return this.journal.length === 0 && this.snapshots.length === 0 && this.timers.length === 0 && this.stock.length === 0;
  }

  appendEvents(actor: string, seq: number, events: readonly unknown[]): void {
    this.journal.push(actor, seq, encodeRow(events));
  }

  clear(): void {
    this.journal.length = 0;
    this.snapshots.length = 0;
    this.timers.length = 0;
    this.stock.length = 0;
  }
}

export interface RecoveredActor {
  snapshot?: { seq: number; state: unknown };
  /** Event lists of the journal rows after the snapshot, in order, each with its seq. */
  rows: { seq: number; events: unknown[] }[];
}

export class Journal {
  private readonly appendRow: Database.Statement;
  private readonly putSnapshot: Database.Statement;
  private readonly truncate: Database.Statement;
  private readonly putTimer: Database.Statement;
  private readonly deleteTimer: Database.Statement;
  private readonly putStock: Database.Statement;
  private readonly getSnapshot: Database.Statement<[string], { seq: number; state: Buffer }>;
  private readonly getRows: Database.Statement<[string, number], { seq: number; events: Buffer }>;
  private readonly writeBatch: (w: BatchWrites) => void;
  /** Rows appended since start, for the /snapshot summary. */
  appended = 0;

  constructor(private readonly db: Database.Database) {
    this.appendRow = db.prepare('INSERT INTO journal (actor, seq, events) VALUES (?, ?, ?)');
    this.putSnapshot = db.prepare('INSERT OR REPLACE INTO snapshots (actor, seq, state, at) VALUES (?, ?, ?, ?)');
    this.truncate = db.prepare('DELETE FROM journal WHERE actor = ? AND seq <= ?');
    this.putTimer = db.prepare('INSERT OR REPLACE INTO timers (actor, due) VALUES (?, ?)');
    this.deleteTimer = db.prepare('DELETE FROM timers WHERE actor = ?');
    this.putStock = db.prepare('INSERT OR REPLACE INTO stock_view (sku, available) VALUES (?, ?)');
    this.getSnapshot = db.prepare('SELECT seq, state FROM snapshots WHERE actor = ?');
    this.getRows = db.prepare('SELECT seq, events FROM journal WHERE actor = ? AND seq > ? ORDER BY seq');
    this.writeBatch = db.transaction((w: BatchWrites) => {
      const j = w.journal;
      for (let i = 0; i < j.length; i += 3) this.appendRow.run(j[i], j[i + 1], j[i + 2]);
      const now = Date.now();
      for (const s of w.snapshots) {
        this.putSnapshot.run(s.actor, s.seq, s.state, now);
        // The journal behind a snapshot is no longer needed for recovery.
        this.truncate.run(s.actor, s.seq);
      }
      for (const t of w.timers) {
        if (t.due === undefined) this.deleteTimer.run(t.actor);
        else this.putTimer.run(t.actor, t.due);
      }
      for (const s of w.stock) this.putStock.run(s.sku, s.available);
    });
  }

  /** Writes a batch in one transaction; throws (and writes nothing) on any I/O error. */
  commit(w: BatchWrites): void {
    this.writeBatch(w);
    this.appended += w.journal.length / 3;
  }

  recover(actor: string): RecoveredActor {
    const snap = this.getSnapshot.get(actor);
    const rows = this.getRows.all(actor, snap ? snap.seq : 0).map((r) => ({ seq: r.seq, events: decodeRow(r.events) as unknown[] }));
    return snap ? { snapshot: { seq: snap.seq, state: decodeRow(snap.state) }, rows } : { rows };
  }

  timers(): { actor: string; due: number }[] {
    return this.db.prepare<[], { actor: string; due: number }>('SELECT actor, due FROM timers').all();
  }

  stockView(): [string, number][] {
    return this.db.prepare<[], { sku: string; available: number }>('SELECT sku, available FROM stock_view').raw().all() as unknown as [string, number][];
  }

  summary(): { journalRows: number; snapshots: number; lastSnapshotAt: number | null } {
    const journalRows = (this.db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
    const s = this.db.prepare('SELECT count(*) AS n, max(at) AS at FROM snapshots').get() as { n: number; at: number | null };
    return { journalRows, snapshots: s.n, lastSnapshotAt: s.at };
  }
}
