// Master key rotation for a single node's data directory (run while the server is stopped; it
// takes the directory's lock, so it refuses to run beside one):
// every wrapped data key and the lookup key are rewrapped under the new master key in one
// SQLite transaction. With key files, the new key is written to master-key.next first and
// renamed over master-key only after the rewrap is durable, so a crash at any point leaves a
// directory the server starts from (it knows both files) and a rerun finishes.
import Database from 'better-sqlite3';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MASTER_KEY_FILE, NEXT_MASTER_KEY_FILE, loadMasterKeyring, newMasterKeyText, parseMasterKey, writeKeyFile } from './master-key.js';
import { MasterKeyring } from './sealing.js';
import { DataDirLock } from './data-dir-lock.js';

export interface RotationResult {
  /** Wrapped keys rewrapped (accounts, plus the lookup key). */
  rewrapped: number;
  fromKeyIds: string[];
  toKeyId: string;
}

/**
 * Rotates to `newKey` (given: MASTER_KEY mode, the operator then sets MASTER_KEY to it) or to a
 * generated key kept in the data directory (key file mode).
 */
export function rotateMasterKey(dataDir: string, env: { masterKey?: string; previousMasterKey?: string; newMasterKey?: string }): RotationResult {
  const dbPath = join(dataDir, 'system.db');
  if (!existsSync(dbPath)) throw new Error(`${dbPath} does not exist: nothing to rotate`);
  // A running server would write its rows, as it read them before, back over the rewrapped keys.
  const lock = DataDirLock.take(dataDir, 'rotate-master-key');
  try {
    return rotateHolding(dataDir, dbPath, env);
  } finally {
    lock.release();
  }
}

function rotateHolding(dataDir: string, dbPath: string, env: { masterKey?: string; previousMasterKey?: string; newMasterKey?: string }): RotationResult {
  const old = loadMasterKeyring(dataDir, env.masterKey, env.previousMasterKey);
  let target: MasterKeyring;
  const nextPath = join(dataDir, NEXT_MASTER_KEY_FILE);
  if (env.masterKey) {
    if (!env.newMasterKey) throw new Error('with MASTER_KEY set, give the new key as NEW_MASTER_KEY');
    target = new MasterKeyring(parseMasterKey(env.newMasterKey, 'NEW_MASTER_KEY'), []);
  } else {
    // A rotation that stopped half-way left its next key: finish with that one.
    if (!existsSync(nextPath)) writeKeyFile(nextPath, newMasterKeyText());
    target = new MasterKeyring(parseMasterKey(readNext(nextPath), nextPath), []);
  }
  const known = old.keys();
  const both = new MasterKeyring(target.current, known);
  const db = new Database(dbPath);
  let rewrapped = 0;
  try {
    db.pragma('secure_delete = ON');
    const rows = db.prepare<[], { id: string; wrapped_key: string }>('SELECT id, wrapped_key FROM accounts WHERE wrapped_key IS NOT NULL').all();
    const secret = db.prepare<[string], { value: string }>('SELECT value FROM secrets WHERE name = ?').get('lookup-key');
    // A new version too: a write prepared from the row as it was (by anything that read it before)
    // fails its compare-and-set instead of putting the old wrapping back.
    const setRow = db.prepare('UPDATE accounts SET wrapped_key = ?, version = version + 1 WHERE id = ?');
    const setSecret = db.prepare('UPDATE secrets SET value = ? WHERE name = ?');
    db.transaction(() => {
      for (const r of rows) {
        const next = both.rewrap(r.wrapped_key, r.id);
        if (next !== r.wrapped_key) rewrapped++;
        setRow.run(next, r.id);
      }
      if (secret) {
        const next = both.rewrap(secret.value, 'lookup-key');
        if (next !== secret.value) rewrapped++;
        setSecret.run(next, 'lookup-key');
      }
    })();
    // No frame of the WAL may keep a value wrapped by the retired key.
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  if (!env.masterKey) renameSync(nextPath, join(dataDir, MASTER_KEY_FILE));
  return { rewrapped, fromKeyIds: known.map((k) => k.id).filter((id) => id !== target.current.id), toKeyId: target.current.id };
}

function readNext(path: string): string {
  if ((statSync(path).mode & 0o077) !== 0) throw new Error(`${path} must be readable by its owner only (mode 0600)`);
  return readFileSync(path, 'utf8');
}
