// A cluster node's index of the accounts bucket: each account's id, role, last change and version,
// in the node's system.db beside its key mirror, filled from the bucket's watch at every start
// and kept in step with it. NATS KV can only list every key, so without it a page of `user.list`
// or a guest retention pass read every account of the cluster; with it they read the page's rows
// only. It is a hint, not the truth: the caller reads each row it names from the bucket (and a
// removal is compare-and-set on the row as read), so a row the watch has not delivered yet is at
// worst listed or swept one pass later.
import type Database from 'better-sqlite3';

export class AccountIndex {
  private readonly upsert: Database.Statement<[string, string, number, number]>;
  private readonly remove: Database.Statement<[string]>;
  private readonly pageAfter: Database.Statement<[string, number], { id: string }>;
  private readonly idle: Database.Statement<[number, number], { id: string }>;

  /** Creates (or empties) the index on `db`; `wrote` is told of every row written (bulk commits). */
  constructor(
    db: Database.Database,
    private readonly wrote: () => void = () => undefined,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS account_index (
      id         TEXT PRIMARY KEY,
      role       TEXT NOT NULL,
      updated_at INTEGER NOT NULL,
      version    INTEGER NOT NULL
    ) WITHOUT ROWID`);
    db.exec('CREATE INDEX IF NOT EXISTS account_index_idle ON account_index (role, updated_at)');
    db.exec('DELETE FROM account_index');
    // A delivery older than what the index holds (this node's own write is indexed at once, the
    // watch brings it again later) leaves it as it is.
    this.upsert = db.prepare(
      'INSERT INTO account_index (id, role, updated_at, version) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at, version = excluded.version WHERE excluded.version >= account_index.version',
    );
    this.remove = db.prepare('DELETE FROM account_index WHERE id = ?');
    this.pageAfter = db.prepare('SELECT id FROM account_index WHERE id > ? ORDER BY id LIMIT ?');
    this.idle = db.prepare("SELECT id FROM account_index WHERE role = 'guest' AND updated_at < ? ORDER BY updated_at, id LIMIT ?");
  }

  put(a: { id: string; role: string; updatedAt: number; version: number }): void {
    this.upsert.run(a.id, a.role, a.updatedAt, a.version);
    this.wrote();
  }

  drop(id: string): void {
    this.remove.run(id);
    this.wrote();
  }

  /** Up to `limit` account ids after `afterId`, in id order. */
  idsAfter(afterId: string, limit: number): string[] {
    return this.pageAfter.all(afterId, limit).map((r) => r.id);
  }

  /** Up to `limit` guest ids unchanged since before `before` (epoch ms), oldest first. */
  idleGuests(before: number, limit: number): string[] {
    return this.idle.all(before, limit).map((r) => r.id);
  }
}
