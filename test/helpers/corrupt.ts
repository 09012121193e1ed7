// Damage to a stopped server's files, done the way a disk does it: bytes changed in place in the
// file, not through SQL. The exact bytes of one stored BLOB are read with SQLite first, then found
// in the file and changed there.
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Moves the WAL of a stopped database into its main file with SQLite's own checkpoint (not the
 * server's: its journal rows, snapshots and watermark stay exactly as they were), so every
 * committed row sits in the .db file. A byte changed in a WAL frame would not reach the server:
 * SQLite checks each frame's checksum when it recovers a WAL and drops that frame and every later
 * one as never committed.
 */
export function settleWal(dbPath: string): void {
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** One BLOB as SQLite stores it (the first column of the first row `sql` selects). */
export function storedBlob(dbPath: string, sql: string, ...params: unknown[]): Buffer {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare(sql)
      .raw()
      .get(...params) as unknown[] | undefined;
    if (!row || !Buffer.isBuffer(row[0])) throw new Error(`no BLOB for ${sql} ${JSON.stringify(params)}`);
    return row[0];
  } finally {
    db.close();
  }
}

/** Every offset at which `needle` occurs in `haystack`. */
function offsetsOf(haystack: Buffer, needle: Buffer): number[] {
  const out: number[] = [];
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) out.push(i);
  return out;
}

/** Longest window of a BLOB too large for one page that is looked for around the byte to change. */
const WINDOW = 512;

/**
 * Flips the lowest bit of byte `at` of every copy of `blob` in the file (an older copy may sit in
 * a free page; changing it too is harmless). Returns how many copies were changed. A BLOB larger
 * than a page is split over overflow pages: then the 512 bytes of it around `at` that sit in one
 * page are looked for instead (longer than a journal row, so they are this BLOB's bytes).
 */
export function flipInFile(file: string, blob: Buffer, at: number): number {
  if (at < 0 || at >= blob.length) throw new Error(`offset ${at} is outside the ${blob.length}-byte BLOB`);
  const bytes = readFileSync(file);
  let found = offsetsOf(bytes, blob).map((o) => o + at);
  const size = Math.min(WINDOW, blob.length);
  for (let s = Math.max(0, at - size + 1); found.length === 0 && s <= Math.min(at, blob.length - size); s++) {
    found = offsetsOf(bytes, blob.subarray(s, s + size)).map((o) => o + at - s);
  }
  for (const o of found) bytes[o] ^= 0x01;
  if (found.length > 0) writeFileSync(file, bytes);
  return found.length;
}
