// A structural pass over a client frame before anything is decoded: it enforces the transport
// rules of docs/protocol.md (one standard msgpack value, a map or an array of maps, string keys,
// nesting <= 16, no extension types) and finds forbidden keys, without building a single object.
// Declared lengths are checked against the bytes left, so a "4 GiB array" header costs nothing.
import { FORBIDDEN_KEYS, Limits } from '../protocol/errors.js';

export interface ScanOk {
  ok: true;
  /** True for a batch (array frame). */
  batch: boolean;
  /** Number of request maps (1 for a single request). */
  count: number;
  /** Indexes of requests that contain a forbidden key at any depth; usually empty. */
  forbidden: number[];
}
export interface ScanBad {
  ok: false;
  reason: string;
}
export type ScanResult = ScanOk | ScanBad;

class Bad extends Error {}
const NO_BYTES = new Uint8Array(0);
const bad = (reason: string): never => {
  throw new Bad(reason);
};

// Forbidden key bytes, matched only when a key has one of their lengths.
const FORBIDDEN_BYTES = [...FORBIDDEN_KEYS].map((k) => Buffer.from(k, 'utf8'));
const FORBIDDEN_LENGTHS = new Set(FORBIDDEN_BYTES.map((b) => b.length));

class Scanner {
  pos = 0;
  foundForbidden = false;
  private b: Uint8Array = NO_BYTES;

  /** Starts on `b` (one scanner serves every frame: a scan never re-enters). */
  reset(b: Uint8Array): this {
    this.b = b;
    this.pos = 0;
    this.foundForbidden = false;
    return this;
  }

  private need(n: number): void {
    if (n > this.b.length - this.pos) bad('truncated or oversized length');
  }
  private u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  private u16(): number {
    this.need(2);
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const b = this.b;
    const p = this.pos;
    this.pos += 4;
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }
  private skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Whether the bytes at the current position are `f`'s. */
  private bytesAre(f: Uint8Array): boolean {
    const b = this.b;
    const p = this.pos;
    for (let i = 0; i < f.length; i++) if (b[p + i] !== f[i]) return false;
    return true;
  }

  /** Reads a map header at the current position; undefined when the value is not a map. */
  mapHeader(): number | undefined {
    const t = this.b[this.pos];
    if (t >= 0x80 && t <= 0x8f) return (this.pos++, t & 0x0f);
    if (t === 0xde) return (this.pos++, this.u16());
    if (t === 0xdf) return (this.pos++, this.u32());
    return undefined;
  }

  /** A request map or any map inside it; `level` is this map's nesting level. */
  map(n: number, level: number): void {
    if (level > Limits.MAX_DEPTH) bad(`nesting deeper than ${Limits.MAX_DEPTH}`);
    this.need(n * 2); // each entry is at least a key byte and a value byte
    for (let i = 0; i < n; i++) {
      this.key();
      this.value(level);
    }
  }

  private key(): void {
    const t = this.u8();
    let len: number;
    if (t >= 0xa0 && t <= 0xbf) len = t & 0x1f;
    else if (t === 0xd9) len = this.u8();
    else if (t === 0xda) len = this.u16();
    else if (t === 0xdb) len = this.u32();
    else return bad('map keys must be strings');
    this.need(len);
    if (FORBIDDEN_LENGTHS.has(len)) {
      // Compared in place: "productId" has the length of "__proto__", and a view per key is garbage.
      for (const f of FORBIDDEN_BYTES) if (f.length === len && this.bytesAre(f)) this.foundForbidden = true;
    }
    this.pos += len;
  }

  /** Any value inside a container at `parentLevel`. */
  value(parentLevel: number): void {
    const t = this.u8();
    if (t <= 0x7f || t >= 0xe0) return; // fixints
    if (t <= 0x8f) return this.map(t & 0x0f, parentLevel + 1);
    if (t <= 0x9f) return this.array(t & 0x0f, parentLevel + 1);
    if (t <= 0xbf) return this.skip(t & 0x1f);
    switch (t) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return;
      case 0xc4:
      case 0xd9:
        return this.skip(this.u8());
      case 0xc5:
      case 0xda:
        return this.skip(this.u16());
      case 0xc6:
      case 0xdb:
        return this.skip(this.u32());
      case 0xca:
        return this.skip(4);
      case 0xcb:
        return this.skip(8);
      case 0xcc:
      case 0xd0:
        return this.skip(1);
      case 0xcd:
      case 0xd1:
        return this.skip(2);
      case 0xce:
      case 0xd2:
        return this.skip(4);
      case 0xcf:
      case 0xd3:
        return this.skip(8);
      case 0xdc:
        return this.array(this.u16(), parentLevel + 1);
      case 0xdd:
        return this.array(this.u32(), parentLevel + 1);
      case 0xde:
        return this.map(this.u16(), parentLevel + 1);
      case 0xdf:
        return this.map(this.u32(), parentLevel + 1);
      case 0xc1:
        return bad('byte 0xc1 is never used in msgpack');
      default:
        return bad('msgpack extension types are not accepted'); // 0xc7-0xc9, 0xd4-0xd8
    }
  }

  private array(n: number, level: number): void {
    if (level > Limits.MAX_DEPTH) bad(`nesting deeper than ${Limits.MAX_DEPTH}`);
    this.need(n);
    for (let i = 0; i < n; i++) this.value(level);
  }

  /** Array header of a batch frame, or undefined. */
  arrayHeader(): number | undefined {
    const t = this.b[this.pos];
    if (t >= 0x90 && t <= 0x9f) return (this.pos++, t & 0x0f);
    if (t === 0xdc) return (this.pos++, this.u16());
    if (t === 0xdd) return (this.pos++, this.u32());
    return undefined;
  }

  end(): void {
    if (this.pos !== this.b.length) bad('trailing bytes after the msgpack value');
  }
}

const NONE: number[] = [];
/** The result of most frames: one request, no forbidden key (shared, never changed). */
const SINGLE: ScanOk = Object.freeze({ ok: true, batch: false, count: 1, forbidden: Object.freeze(NONE) as number[] });
const scanner = new Scanner();

/** Checks a frame's structure. Never throws. */
export function scanFrame(bytes: Uint8Array): ScanResult {
  if (bytes.length === 0) return { ok: false, reason: 'empty frame' };
  const s = scanner.reset(bytes);
  try {
    const single = s.mapHeader();
    if (single !== undefined) {
      s.map(single, 1);
      s.end();
      return s.foundForbidden ? { ok: true, batch: false, count: 1, forbidden: [0] } : SINGLE;
    }
    const n = s.arrayHeader();
    if (n === undefined) return { ok: false, reason: 'a frame must be a request map or an array of request maps' };
    let forbidden = NONE;
    for (let i = 0; i < n; i++) {
      if (s.pos >= bytes.length) return { ok: false, reason: 'truncated or oversized length' };
      const m = s.mapHeader();
      if (m === undefined) return { ok: false, reason: 'a batch must contain only request maps' };
      s.foundForbidden = false;
      s.map(m, 1);
      if (s.foundForbidden) (forbidden === NONE ? (forbidden = []) : forbidden).push(i);
    }
    s.end();
    return { ok: true, batch: true, count: n, forbidden };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.message };
    throw e;
  } finally {
    s.reset(NO_BYTES); // the frame's bytes are not kept past its scan
  }
}
