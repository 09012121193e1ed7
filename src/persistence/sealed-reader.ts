// Opens values sealed under a user's data key from any thread (the shard workers render orders
// with their address copies): the wrapped key is read from system.db through a read-only
// connection of this thread's own and unwrapped with the master key (a cluster node's system.db
// is its key mirror, key-mirror.ts, read with the mirror key). Nothing is cached, so an erasure
// (the wrapped key removed) takes effect for the very next read on every thread.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open, type MasterKeyring, SealError } from './sealing.js';
import { log } from '../log/log.js';

/** Associated data of an order's address copy: it opens for that user's orders only. */
export const addressAad = (userId: string): string => `address:${userId}`;

export class SealedReader {
  private db: Database.Database | undefined;
  private wrapped: Database.Statement<[string], { wrapped_key: string | null }> | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly keyring: MasterKeyring,
  ) {}

  /** The plaintext, or undefined when the owner's key is gone (erased) or cannot open it. */
  open(userId: string, sealed: string, aad: string): string | undefined {
    const stmt = this.statement();
    const row = stmt?.get(userId);
    if (!row || row.wrapped_key === null) return undefined;
    try {
      return open(this.keyring.unwrap(row.wrapped_key, userId), sealed, aad).toString();
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      log.warn(`a sealed value of ${userId} does not open: ${err.message}`);
      return undefined;
    }
  }

  private statement(): Database.Statement<[string], { wrapped_key: string | null }> | undefined {
    if (this.wrapped) return this.wrapped;
    const path = join(this.dataDir, 'system.db');
    if (!existsSync(path)) return undefined;
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.wrapped = this.db.prepare('SELECT wrapped_key FROM accounts WHERE id = ?');
    return this.wrapped;
  }

  close(): void {
    this.db?.close();
  }
}
