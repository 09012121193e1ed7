// A cluster node's local copy of its users' data keys, so the threads that render orders (the
// shards, and the edge for checkout answers) open address copies synchronously through
// SealedReader, as on one node, although the accounts live in a NATS KV bucket. Each data key is
// kept wrapped under a key made at process start and held only in this process's memory (its
// shard threads get it in their options): the file is worthless without the running process, and
// it is emptied and filled again from the accounts bucket at every start. An erased account's
// row is deleted (secure_delete), so its orders' address copies stop opening on this node.
// The same file holds the node's index of the accounts (account-index.ts), filled the same way.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MasterKeyring, masterKeyId, type NamedKey } from './sealing.js';
import { AccountIndex } from './account-index.js';

const key = randomBytes(32);
const BULK_ROWS = 1_000;
/** This process's mirror key: the one "master key" its shard threads know in cluster mode. */
export const MIRROR_KEY: NamedKey = Object.freeze({ id: masterKeyId(key), key });

export class KeyMirror {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, string]>;
  private readonly remove: Database.Statement<[string]>;
  private readonly ring = new MasterKeyring(MIRROR_KEY);
  /** The accounts bucket's ids, roles and change times (account-index.ts), filled with the keys. */
  readonly index: AccountIndex;
  /** Rows put in the open bulk transaction; -1 outside one. */
  private bulkRows = -1;

  /** Opens DATA_DIR/system.db (a cluster node keeps no accounts there) and empties the mirror. */
  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'system.db'));
    this.db.pragma('journal_mode = WAL');
    // Rebuilt from the bucket at every start: nothing here needs to survive a crash.
    this.db.pragma('synchronous = OFF');
    this.db.pragma('secure_delete = ON');
    // The table name and column are what SealedReader reads on one node too.
    this.db.exec('CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, wrapped_key TEXT)');
    this.db.exec('DELETE FROM accounts');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.upsert = this.db.prepare('INSERT INTO accounts (id, wrapped_key) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET wrapped_key = excluded.wrapped_key');
    this.remove = this.db.prepare('DELETE FROM accounts WHERE id = ?');
    this.index = new AccountIndex(this.db, this.wrote);
  }

  /** The keyring the readers of this mirror open it with. */
  get keyring(): MasterKeyring {
    return this.ring;
  }

  put(userId: string, dataKey: NamedKey): void {
    this.upsert.run(userId, this.ring.wrap(dataKey, userId));
    this.wrote();
  }

  private readonly wrote = (): void => {
    if (this.bulkRows >= 0 && ++this.bulkRows >= BULK_ROWS) {
      this.db.exec('COMMIT; BEGIN');
      this.bulkRows = 0;
    }
  };

  /**
   * Writes (keys and index rows) until endBulk() go in transactions of BULK_ROWS (the fill at
   * start: one transaction per row costs a WAL write each). Nothing reads the mirror meanwhile.
   */
  beginBulk(): void {
    if (this.bulkRows >= 0) return;
    this.db.exec('BEGIN');
    this.bulkRows = 0;
  }

  endBulk(): void {
    if (this.bulkRows < 0) return;
    this.db.exec('COMMIT');
    this.bulkRows = -1;
  }

  drop(userId: string): void {
    if (this.remove.run(userId).changes > 0) this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    this.endBulk();
    this.db.close();
  }
}

/** Whether system.db's `accounts` table is a cluster node's key mirror (two columns), not accounts. */
export function isKeyMirror(db: Database.Database): boolean {
  const cols = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('accounts')").all();
  return cols.length === 2 && cols.every((c) => c.name === 'id' || c.name === 'wrapped_key');
}
