// One process per data directory. Two servers on one DATA_DIR would each hold actors of the same
// shard files in memory and write over each other's decisions; a master key rotation beside a
// running server would have its rewrapped keys written back by the server's stale rows. The
// lock is SQLite's own: `DATA_DIR/lock.db` held in exclusive locking mode after one write, so
// the operating system drops it with the process, even after kill -9 (no stale lock file).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'lock.db';

export class DataDirBusy extends Error {}

export class DataDirLock {
  private constructor(private db: Database.Database | undefined) {}

  /** Takes the directory's lock, or throws DataDirBusy when another process (or server) holds it. */
  static take(dataDir: string, who: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, who TEXT NOT NULL, at INTEGER NOT NULL)');
      // The write takes the exclusive lock; exclusive locking mode keeps it until close.
      db.prepare('INSERT OR REPLACE INTO holder (id, pid, who, at) VALUES (1, ?, ?, ?)').run(process.pid, who, Date.now());
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new DataDirBusy(`${dataDir} is in use by another cartwire process (a running server?): one process per data directory`);
      }
      throw err;
    }
    return new DataDirLock(db);
  }

  /** Gives the lock back (idempotent). */
  release(): void {
    this.db?.close();
    this.db = undefined;
  }
}
