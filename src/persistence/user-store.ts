// Accounts and server secrets. The UserStore interface is what the accounts service uses; the
// embedded default keeps users in DATA_DIR/system.db (main thread; touched only by auth calls,
// never on the cart or inventory hot path). Emails are stored normalized (trimmed, lowercased)
// under a UNIQUE constraint; an insert is durable when it returns (synchronous=FULL by default).
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Role } from '../protocol/ops.js';

/** One account as the accounts service sees it. */
export interface UserRecord {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  passwordHash: string;
  createdAt: number;
}

/**
 * Where accounts live: SQLite on one node, a JetStream KV bucket in a cluster. Inserts are
 * durable when they resolve.
 */
export interface UserStore {
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /** Inserts a user; false when the email is taken (also by a concurrent insert). */
  tryInsert(user: UserRecord): Promise<boolean>;
  /** When the account was created (epoch ms), or undefined for an unknown id (a guest). */
  createdAt(id: string): Promise<number | undefined>;
  close(): void;
}

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  password_hash: string;
  created_at: number;
}

const toRecord = (r: UserRow): UserRecord => ({ id: r.id, email: r.email, name: r.name, role: r.role, passwordHash: r.password_hash, createdAt: r.created_at });

/** The embedded default: users in DATA_DIR/system.db. */
export class SqliteUserStore implements UserStore {
  private readonly db: Database.Database;
  private readonly byEmail: Database.Statement<[string], UserRow>;
  private readonly insertUser: Database.Statement;
  private readonly created: Database.Statement<[string], { created_at: number }>;

  constructor(dataDir: string, synchronous: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'system.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS users (
      id            TEXT PRIMARY KEY,
      email         TEXT NOT NULL UNIQUE,
      name          TEXT,
      role          TEXT NOT NULL,
      password_hash TEXT NOT NULL,
      created_at    INTEGER NOT NULL
    )`);
    this.byEmail = this.db.prepare('SELECT * FROM users WHERE email = ?');
    this.created = this.db.prepare('SELECT created_at FROM users WHERE id = ?');
    this.insertUser = this.db.prepare(
      'INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (@id, @email, @name, @role, @password_hash, @created_at)',
    );
  }

  findByEmail(email: string): Promise<UserRecord | undefined> {
    const row = this.byEmail.get(normalizeEmail(email));
    return Promise.resolve(row && toRecord(row));
  }

  createdAt(id: string): Promise<number | undefined> {
    return Promise.resolve(this.created.get(id)?.created_at);
  }

  tryInsert(u: UserRecord): Promise<boolean> {
    return Promise.resolve(this.insertSync(u));
  }

  private insertSync(u: UserRecord): boolean {
    try {
      this.insertUser.run({ id: u.id, email: normalizeEmail(u.email), name: u.name, role: u.role, password_hash: u.passwordHash, created_at: u.createdAt });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The JWT signing secret: JWT_SECRET when set, else one generated on first start and kept in
 * DATA_DIR/jwt-secret with mode 0600, so tokens survive restarts.
 */
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
