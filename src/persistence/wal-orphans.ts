// A commit whose fsync failed is refused, but its frames are already in the WAL file, right after
// the last committed frame, with a valid commit frame at their end. SQLite ignores them while it
// runs (the wal-index says where the WAL ends), but if the process dies before the next commit
// overwrites them or a checkpoint truncates the WAL, the recovery at the next open rebuilds the
// wal-index from the file and finds them valid: the refused change would come back as committed.
// Voiding the salt of the first such frame ends the valid chain before it. It is a plain write
// (no fsync: a kill -9 keeps the page cache) of documented formats
// (https://www.sqlite.org/fileformat2.html#walformat and "The WAL-Index Format").
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import type Database from 'better-sqlite3';
import { log } from '../log/log.js';

const WAL_HEADER = 32;
const FRAME_HEADER = 24;
/** The wal-index header, kept twice at the start of the -shm file (copies must agree). */
const INDEX_HEADER = 48;

/**
 * Makes the frames past the last commit of `dbPath`'s WAL unrecoverable; true when there was a
 * frame there. Call it only while no connection is writing (right after a failed commit on the
 * connection that failed). Throws on an I/O error.
 */
export function voidUncommittedFrames(dbPath: string): boolean {
  const index = readAt(`${dbPath}-shm`, 0, 2 * INDEX_HEADER);
  if (!index || !index.subarray(0, INDEX_HEADER).equals(index.subarray(INDEX_HEADER))) return false;
  if (index[12] === 0) return false; // isInit: no wal-index yet
  const le = endianness() === 'LE'; // the -shm file is in the host's byte order
  const rawPage = le ? index.readUInt16LE(14) : index.readUInt16BE(14);
  const pageSize = rawPage === 1 ? 65536 : rawPage;
  const lastFrame = le ? index.readUInt32LE(16) : index.readUInt32BE(16);
  const at = WAL_HEADER + lastFrame * (FRAME_HEADER + pageSize);
  const fd = openSync(`${dbPath}-wal`, 'r+');
  try {
    if (fstatSync(fd).size < at + FRAME_HEADER) return false;
    const walHeader = Buffer.alloc(WAL_HEADER);
    readSync(fd, walHeader, 0, WAL_HEADER, 0);
    // A frame belongs to the WAL only if its salts (bytes 8-15) equal the header's (16-23).
    const salts = Buffer.alloc(8);
    for (let i = 0; i < 8; i++) salts[i] = ~walHeader[16 + i] & 0xff;
    writeSync(fd, salts, 0, 8, at + 8);
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `commit`, a write transaction on `db`; if it throws, the frames it may have left in the
 * WAL are voided before the error goes on (to the refusal). Every group commit of a shard goes
 * through here.
 */
export function commitOrVoid<T>(db: Database.Database, commit: () => T): T {
  try {
    return commit();
  } catch (err) {
    try {
      voidUncommittedFrames(db.name);
    } catch (voidErr) {
      log.error({ err: voidErr }, `${db.name}: could not void the failed commit's frames in the WAL`);
    }
    throw err;
  }
}

function readAt(path: string, position: number, length: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(length);
    return readSync(fd, buf, 0, length, position) === length ? buf : undefined;
  } finally {
    closeSync(fd);
  }
}
