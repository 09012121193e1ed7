// Checksums of stored records: every journal row, snapshot and event log row carries a CRC32C
// (Castagnoli) of its bytes and of its identity, checked when it is read back. SQLite has no page
// checksums: without these, a flipped bit in a BLOB decodes as something else, or throws deep in
// an actor.
//
// The checksum of a row is the CRC32C of
//   tag (1 byte: 'J' journal, 'S' snapshots, 'E' event_log)
//   the actor key in UTF-8 and a 0 byte (journal and snapshots only)
//   seq (journal, snapshots) or at (event_log) as 8 bytes, little-endian
//   the stored BLOB
// stored as an unsigned 32-bit integer (any CRC32C tool gives the same figure). The identity is in
// it so that a row copied to another actor, or under another seq, fails too. The few identity
// bytes are hashed here in JS; the BLOB by @node-rs/crc32's native CRC32C, which continues from
// that state (cost per row: `node dist/bench/micro/journal-checksum.js`).
import { crc32c } from '@node-rs/crc32';

export const TAG_JOURNAL = 0x4a; // 'J'
export const TAG_SNAPSHOT = 0x53; // 'S'
export const TAG_EVENT_LOG = 0x45; // 'E'

const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/** Raw (not inverted) CRC state after one more byte. */
const step = (c: number, byte: number): number => TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);

function stepUint64(c: number, v: number): number {
  let lo = (v % 0x1_0000_0000) >>> 0;
  let hi = Math.floor(v / 0x1_0000_0000) >>> 0;
  for (let i = 0; i < 4; i++, lo >>>= 8) c = step(c, lo);
  for (let i = 0; i < 4; i++, hi >>>= 8) c = step(c, hi);
  return c;
}

function stepString(c: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 0x80) {
      // Not ASCII (rare in keys): hash its UTF-8 bytes from here on.
      for (const b of Buffer.from(s.slice(i), 'utf8')) c = step(c, b);
      return c;
    }
    c = step(c, ch);
  }
  return c;
}

/** Checksum of a journal row (TAG_JOURNAL) or snapshot (TAG_SNAPSHOT) of `actor` at `seq`. */
export function rowChecksum(tag: number, actor: string, seq: number, bytes: Uint8Array): number {
  let c = step(~0, tag);
  c = step(stepString(c, actor), 0);
  c = stepUint64(c, seq);
  return crc32c(bytes, ~c >>> 0) >>> 0;
}

/** Checksum of an event_log row written at `at`. */
export function eventChecksum(at: number, bytes: Uint8Array): number {
  return crc32c(bytes, ~stepUint64(step(~0, TAG_EVENT_LOG), at) >>> 0) >>> 0;
}

export type RecordTable = 'journal' | 'snapshots' | 'event_log';

/**
 * A stored record that fails its checksum, cannot be decoded, or is missing from an actor's
 * sequence. Its actor cannot be recovered as it was: the shard quarantines it (actor-cells.ts).
 */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';

  constructor(
    readonly shard: number | undefined,
    readonly actor: string,
    readonly table: RecordTable,
    /** g of a journal or event_log row; a snapshot row's key is its actor. */
    readonly rowId: number | string,
    readonly seq: number | undefined,
    readonly problem: string,
    /** The damage is rows missing before this one (this row itself may be sound). */
    readonly missing = false,
  ) {
    super(`shard ${shard ?? '?'}: ${describeRecord(table, rowId, seq)} of ${actor} is corrupt: ${problem}`);
  }

  /** Where the record is, e.g. `journal row g=1234 (seq 7)`. */
  get where(): string {
    return describeRecord(this.table, this.rowId, this.seq);
  }
}

export function describeRecord(table: RecordTable, rowId: number | string, seq: number | undefined): string {
  const at = seq === undefined ? '' : ` (seq ${seq})`;
  return table === 'snapshots' ? `snapshots row${at}` : `${table} row g=${rowId}${at}`;
}

/** Stored and computed checksums as a problem text. */
export const mismatch = (stored: number, computed: number): string =>
  `checksum mismatch (stored ${stored.toString(16).padStart(8, '0')}, computed ${computed.toString(16).padStart(8, '0')})`;
