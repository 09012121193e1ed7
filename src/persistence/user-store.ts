// Accounts and server secrets. The UserStore interface is what the accounts service uses; the
// embedded default keeps users in DATA_DIR/system.db (main thread: account ops, and a checkout
// reads the buyer's row to seal its address copy; never on the cart or inventory hot path).
// A row holds no personal data in the clear: the profile (email, name, username, addresses,
// payment method summaries) is sealed under the user's data key, the data key is wrapped by the
// master key, and emails and usernames are found through keyed hashes under UNIQUE constraints.
// Writes are durable when they resolve (synchronous=FULL by default) and compare-and-set on the
// row's version.
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Role } from '../protocol/ops.js';
import { log } from '../log/log.js';
import { isKeyMirror } from './key-mirror.js';

/** One account as it is stored. Guests get a row only once they keep something (an address). */
export interface UserRecord {
  id: string;
  role: Role;
  /** Keyed hash of the normalized email; null for guests and erased accounts. */
  emailHash: string | null;
  /** Keyed hash of the username, when one is set. */
  usernameHash: string | null;
  passwordHash: string | null;
  /** Tokens issued under an earlier generation are refused (logout, password change, role change). */
  tokenGen: number;
  /** `preferences.personalizedRecs`, kept in the clear: the recommendations read it per interaction. */
  personalizedRecs: boolean;
  /** The data key wrapped by the master key; null once erased (crypto-shredding). */
  wrappedKey: string | null;
  /** The profile sealed under the data key; null once erased. */
  sealed: string | null;
  createdAt: number;
  updatedAt: number;
  erasedAt: number | null;
  /** Grows by one per write; a write names the version it read. */
  version: number;
}

/** An account of the first schema (plaintext email and name), read once to be converted. */
export interface LegacyUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  passwordHash: string;
  createdAt: number;
}

export type UpdateOutcome = 'ok' | 'stale' | 'conflict';

/**
 * Where accounts live: SQLite on one node, a JetStream KV bucket in a cluster. Writes are
 * durable when they resolve.
 */
export interface UserStore {
  /** The row as committed; not to be changed (the embedded store hands out the rows it keeps, frozen). */
  get(id: string): Promise<Readonly<UserRecord> | undefined>;
  findByEmailHash(emailHash: string): Promise<UserRecord | undefined>;
  findByUsernameHash(usernameHash: string): Promise<UserRecord | undefined>;
  /** Inserts a user; false when its email or username hash is taken (also by a concurrent insert). */
  tryInsert(user: UserRecord): Promise<boolean>;
  /**
   * Replaces `before` (as read) by `after` at version before.version + 1: `stale` when someone
   * wrote in between, `conflict` when the new username hash is taken.
   */
  update(before: UserRecord, after: UserRecord): Promise<UpdateOutcome>;
  /** Accounts by id, after `afterId`. */
  list(limit: number, afterId: string | undefined): Promise<UserRecord[]>;
  /** Guest rows unchanged since before `before` (epoch ms), oldest first. */
  idleGuests(before: number, limit: number): Promise<UserRecord[]>;
  /** Deletes a guest row as read (`u.version`); false when it changed meanwhile or is gone. */
  removeGuest(u: UserRecord): Promise<boolean>;
  /** A named secret, made by `make` and stored on first use (the same value for every caller after). */
  secret(name: string, make: () => string): Promise<string>;
  /** Accounts of the first schema, converted by `convert` and replaced in one step (no-op when none). */
  migrateLegacy(convert: (u: LegacyUser) => UserRecord): Promise<number>;
  /** After an erasure: leaves no freed page or log frame holding what was overwritten. */
  scrub(): Promise<void>;
  close(): void;
}

interface AccountRow {
  id: string;
  role: Role;
  email_hash: string | null;
  username_hash: string | null;
  password_hash: string | null;
  token_gen: number;
  personalized: number;
  wrapped_key: string | null;
  sealed: string | null;
  created_at: number;
  updated_at: number;
  erased_at: number | null;
  version: number;
}

const toRecord = (r: AccountRow): UserRecord => ({
  id: r.id,
  role: r.role,
  emailHash: r.email_hash,
  usernameHash: r.username_hash,
  passwordHash: r.password_hash,
  tokenGen: r.token_gen,
  personalizedRecs: r.personalized === 1,
  wrappedKey: r.wrapped_key,
  sealed: r.sealed,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  erasedAt: r.erased_at,
  version: r.version,
});

const toRow = (u: UserRecord): AccountRow => ({
  id: u.id,
  role: u.role,
  email_hash: u.emailHash,
  username_hash: u.usernameHash,
  password_hash: u.passwordHash,
  token_gen: u.tokenGen,
  personalized: u.personalizedRecs ? 1 : 0,
  wrapped_key: u.wrappedKey,
  sealed: u.sealed,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
  erased_at: u.erasedAt,
  version: u.version,
});

/**
 * Account rows kept after a read, by id: a checkout reads its buyer's row (sealing the address
 * copy; an account's also for the fraud rules' account age), a connection's sign-in once more.
 * Bounded in number and in bytes (the sealed profile, most of a row, grows with the address book).
 */
const RECENT_ROWS = 4096;
const RECENT_BYTES = 8 * 1024 * 1024;
/** What a kept row holds, roughly: its strings (the sealed profile is most of it) and the record. */
const rowBytes = (u: UserRecord): number => 2 * ((u.sealed?.length ?? 0) + (u.wrappedKey?.length ?? 0) + 200);

/** Checkpoints tried after an erasure before giving up on truncating the WAL at once. */
const SCRUB_ATTEMPTS = 20;

// A taken email or username hash (UNIQUE), or an id inserted by a concurrent first write (PRIMARY KEY).
const isUnique = (err: unknown): boolean => ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'].includes((err as { code?: string }).code ?? '');

/** A write waiting for its group commit, and what it came to inside the transaction. */
interface PendingWrite {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  failed?: boolean;
  outcome?: unknown;
}

/**
 * The embedded default: accounts in DATA_DIR/system.db. Writes of one turn of the event loop are
 * committed together (one transaction, one WAL fsync, each write in a savepoint of its own):
 * a flash sale's first checkouts each make a guest row, and one fsync per row would stall the
 * main thread that much per buyer. A write resolves once its group is durable.
 */
export class SqliteUserStore implements UserStore {
  private readonly db: Database.Database;
  private pending: PendingWrite[] = [];
  /** Runs one write as a savepoint inside the group's transaction. */
  private readonly inSavepoint: (op: () => unknown) => unknown;
  private readonly inGroup: (group: PendingWrite[]) => void;
  private readonly byId: Database.Statement<[string], AccountRow>;
  private readonly byEmail: Database.Statement<[string], AccountRow>;
  private readonly byUsername: Database.Statement<[string], AccountRow>;
  private readonly insertRow: Database.Statement<[AccountRow]>;
  private readonly updateRow: Database.Statement<[AccountRow & { before: number }]>;
  private readonly page: Database.Statement<[string, number], AccountRow>;
  private readonly idleGuestRows: Database.Statement<[number, number], AccountRow>;
  private readonly deleteGuest: Database.Statement<[string, number]>;
  private readonly getSecret: Database.Statement<[string], { value: string }>;
  private readonly putSecret: Database.Statement<[string, string]>;
  /**
   * Rows as last read, frozen. This store is the only writer of system.db in the process (the
   * shards only read wrapped keys; a master key rotation cannot run beside the server, see
   * data-dir-lock.ts, and gives the rows it rewraps a new version), and
   * every write drops its row here inside the transaction that changes it: a read after the
   * write finds the new row on disk.
   */
  private readonly recent: LRUCache<string, UserRecord>;

  constructor(dataDir: string, synchronous: string, recentRows = RECENT_ROWS) {
    this.recent = new LRUCache({ max: recentRows, maxSize: RECENT_BYTES, sizeCalculation: rowBytes });
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'system.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    // Overwritten and deleted content is zeroed, so an erased key leaves no copy in freed pages.
    this.db.pragma('secure_delete = ON');
    // A data directory that served a cluster node holds that node's key mirror under this name,
    // and its account index: both are worthless once its process is gone.
    if (isKeyMirror(this.db)) this.db.exec('DROP TABLE accounts; DROP TABLE IF EXISTS account_index');
    this.db.exec(`CREATE TABLE IF NOT EXISTS accounts (
      id            TEXT PRIMARY KEY,
      role          TEXT NOT NULL,
      email_hash    TEXT UNIQUE,
      username_hash TEXT UNIQUE,
      password_hash TEXT,
      token_gen     INTEGER NOT NULL,
      personalized  INTEGER NOT NULL,
      wrapped_key   TEXT,
      sealed        TEXT,
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL,
      erased_at     INTEGER,
      version       INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS accounts_idle_guests ON accounts (updated_at) WHERE role = 'guest';
    CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const cols =
      '(id, role, email_hash, username_hash, password_hash, token_gen, personalized, wrapped_key, sealed, created_at, updated_at, erased_at, version)';
    const vals =
      '(@id, @role, @email_hash, @username_hash, @password_hash, @token_gen, @personalized, @wrapped_key, @sealed, @created_at, @updated_at, @erased_at, @version)';
    this.byId = this.db.prepare('SELECT * FROM accounts WHERE id = ?');
    this.byEmail = this.db.prepare('SELECT * FROM accounts WHERE email_hash = ?');
    this.byUsername = this.db.prepare('SELECT * FROM accounts WHERE username_hash = ?');
    this.insertRow = this.db.prepare(`INSERT INTO accounts ${cols} VALUES ${vals}`);
    this.updateRow = this.db.prepare(
      `UPDATE accounts SET role = @role, email_hash = @email_hash, username_hash = @username_hash, password_hash = @password_hash,
       token_gen = @token_gen, personalized = @personalized, wrapped_key = @wrapped_key, sealed = @sealed, updated_at = @updated_at,
       erased_at = @erased_at, version = @version WHERE id = @id AND version = @before`,
    );
    this.page = this.db.prepare('SELECT * FROM accounts WHERE id > ? ORDER BY id LIMIT ?');
    this.idleGuestRows = this.db.prepare("SELECT * FROM accounts WHERE role = 'guest' AND updated_at < ? ORDER BY updated_at LIMIT ?");
    this.deleteGuest = this.db.prepare("DELETE FROM accounts WHERE id = ? AND version = ? AND role = 'guest'");
    this.getSecret = this.db.prepare('SELECT value FROM secrets WHERE name = ?');
    this.putSecret = this.db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)');
    this.inSavepoint = this.db.transaction((op: () => unknown) => op());
    this.inGroup = this.db.transaction((group: PendingWrite[]) => {
      for (const w of group) {
        try {
          w.outcome = this.inSavepoint(w.op);
        } catch (err) {
          // Its savepoint is rolled back; the others stay.
          w.failed = true;
          w.outcome = err;
        }
      }
    });
  }

  /** Queues a write for this turn's group commit; resolves with what `op` returned once durable. */
  private write<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const group = this.pending;
    if (group.length === 0) return;
    this.pending = [];
    try {
      this.inGroup(group);
    } catch (err) {
      // The commit itself failed (a disk error): nothing of the group is stored.
      for (const w of group) w.reject(err);
      return;
    }
    for (const w of group) (w.failed ? w.reject : w.resolve)(w.outcome);
  }

  get(id: string): Promise<Readonly<UserRecord> | undefined> {
    let u = this.recent.get(id);
    if (u === undefined) {
      const row = this.byId.get(id);
      if (row === undefined) return Promise.resolve(undefined);
      u = Object.freeze(toRecord(row));
      this.recent.set(id, u);
    }
    return Promise.resolve(u);
  }

  findByEmailHash(emailHash: string): Promise<UserRecord | undefined> {
    const row = this.byEmail.get(emailHash);
    return Promise.resolve(row && toRecord(row));
  }

  findByUsernameHash(usernameHash: string): Promise<UserRecord | undefined> {
    const row = this.byUsername.get(usernameHash);
    return Promise.resolve(row && toRecord(row));
  }

  tryInsert(u: UserRecord): Promise<boolean> {
    const row = toRow(u);
    return this.write(() => {
      this.recent.delete(u.id);
      return this.insertRow.run(row);
    }).then(
      () => true,
      (err: unknown) => {
        if (isUnique(err)) return false;
        throw err;
      },
    );
  }

  update(before: UserRecord, after: UserRecord): Promise<UpdateOutcome> {
    const row = { ...toRow(after), version: before.version + 1, before: before.version };
    return this.write(() => {
      this.recent.delete(after.id);
      return this.updateRow.run(row).changes;
    }).then(
      (changes): UpdateOutcome => (changes === 1 ? 'ok' : 'stale'),
      (err: unknown) => {
        if (isUnique(err)) return 'conflict';
        throw err;
      },
    );
  }

  list(limit: number, afterId: string | undefined): Promise<UserRecord[]> {
    return Promise.resolve(this.page.all(afterId ?? '', limit).map(toRecord));
  }

  idleGuests(before: number, limit: number): Promise<UserRecord[]> {
    return Promise.resolve(this.idleGuestRows.all(before, limit).map(toRecord));
  }

  removeGuest(u: UserRecord): Promise<boolean> {
    return this.write(() => {
      this.recent.delete(u.id);
      return this.deleteGuest.run(u.id, u.version).changes === 1;
    });
  }

  secret(name: string, make: () => string): Promise<string> {
    const have = this.getSecret.get(name);
    if (have) return Promise.resolve(have.value);
    this.putSecret.run(name, make());
    return Promise.resolve(this.getSecret.get(name)!.value);
  }

  migrateLegacy(convert: (u: LegacyUser) => UserRecord): Promise<number> {
    const legacy = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'").get();
    if (!legacy) return Promise.resolve(0);
    const rows = this.db.prepare('SELECT * FROM users').all() as {
      id: string;
      email: string;
      name: string | null;
      role: Role;
      password_hash: string;
      created_at: number;
    }[];
    // One transaction: a crash leaves either the old table or the converted rows, never half.
    this.recent.clear();
    this.db.transaction(() => {
      for (const r of rows)
        this.insertRow.run(toRow(convert({ id: r.id, email: r.email, name: r.name, role: r.role, passwordHash: r.password_hash, createdAt: r.created_at })));
      this.db.exec('DROP TABLE users');
    })();
    this.db.exec('VACUUM');
    return this.scrub().then(() => rows.length);
  }

  async scrub(): Promise<void> {
    // The WAL still holds the frames of the rows as they were: copy them home and truncate it.
    // A reader in the middle of a read (a shard opening an address) makes it busy: try again.
    for (let attempt = 0; attempt < SCRUB_ATTEMPTS; attempt++) {
      const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (r.busy === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    log.warn('system.db: the WAL could not be truncated after an erasure (readers kept it busy); a later checkpoint overwrites it');
  }

  close(): void {
    this.commitPending(); // writes queued in this turn are not dropped by a shutdown
    this.db.close();
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Writes a generated admin password to `DATA_DIR/admin-password`, readable by the owner only,
 * and returns the file's path. The password is never logged; this file is the one place it is
 * shown. A file left from an earlier data dir is replaced, never appended to.
 */
export function writeAdminPassword(dataDir: string, password: string): string {
  const path = join(dataDir, 'admin-password');
  mkdirSync(dataDir, { recursive: true });
  rmSync(path, { force: true });
  // Created with 0600 in one step (flag wx): there is no moment when others could read it.
  writeFileSync(path, password + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600); // the umask may have narrowed it further, never widened; keep it exact
  return path;
}

/**
 * The JWT signing secret: JWT_SECRET when set, else one generated on first start and kept in
 * DATA_DIR/jwt-secret with mode 0600, so tokens survive restarts.
 */
export function loadJwtSecret(dataDir: string, configured: string | undefined): string {
  if (configured) return configured;
  const path = join(dataDir, 'jwt-secret');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return secret;
}
