// The master key that wraps every user's data key: MASTER_KEY (64 hex digits or the base64 of 32
// bytes) when set, else DATA_DIR/master-key, created with mode 0600 on first start. A rotation
// (rotate-master-key.ts) writes the new key to DATA_DIR/master-key.next before rewrapping, so a
// start after an interrupted rotation knows both keys and reads everything.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MasterKeyring, masterKeyId, type NamedKey } from './sealing.js';

export const MASTER_KEY_FILE = 'master-key';
export const NEXT_MASTER_KEY_FILE = 'master-key.next';

/** A master key from its text form; throws naming `what` when it is not 32 bytes. */
export function parseMasterKey(raw: string, what: string): NamedKey {
  const text = raw.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(text);
  const key = hex ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new Error(`${what} must be 32 bytes as 64 hex digits or base64`);
  return { id: masterKeyId(key), key };
}

export const newMasterKeyText = (): string => randomBytes(32).toString('hex');

/** Writes a key file readable by the owner only; never replaces an existing one. */
export function writeKeyFile(path: string, text: string): void {
  writeFileSync(path, text + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

function readKeyFile(path: string): NamedKey {
  return parseMasterKey(readFileSync(path, 'utf8'), path);
}

/**
 * The master keys of a single node: MASTER_KEY (plus PREVIOUS_MASTER_KEY, for a rotation done by
 * changing the variable), or the key files of the data directory.
 */
export function loadMasterKeyring(dataDir: string, configured: string | undefined, previous?: string): MasterKeyring {
  const others: NamedKey[] = [];
  if (previous) others.push(parseMasterKey(previous, 'PREVIOUS_MASTER_KEY'));
  const path = join(dataDir, MASTER_KEY_FILE);
  const next = join(dataDir, NEXT_MASTER_KEY_FILE);
  if (configured) {
    if (existsSync(path)) others.push(readKeyFile(path));
    return new MasterKeyring(parseMasterKey(configured, 'MASTER_KEY'), others);
  }
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    writeKeyFile(path, newMasterKeyText());
  }
  const current = readKeyFile(path);
  // An interrupted rotation: some keys may already be wrapped by the next key.
  if (existsSync(next)) others.push(readKeyFile(next));
  return new MasterKeyring(current, others);
}
