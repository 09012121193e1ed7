// A small reader for R's XDR serialization (versions 2 and 3) and lazy-load databases
// (<pkg>/data/Rdata.rdx + .rdb), enough for data frames: logical/integer/double/character
// vectors, lists, attributes (pairlists), symbols and references, factors, and the ALTREP
// classes R writes for plain vectors. Not a general R reader: closures, bytecode and S4 throw.
import { gunzipSync, inflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

export type RVector =
  | { type: 'logical' | 'integer'; data: Int32Array; attributes: RAttributes }
  | { type: 'double'; data: Float64Array; attributes: RAttributes }
  | { type: 'character'; data: (string | null)[]; attributes: RAttributes }
  | { type: 'list'; data: RValue[]; attributes: RAttributes }
  | { type: 'raw'; data: Uint8Array; attributes: RAttributes };
export type RValue = null | RVector | { type: 'symbol'; name: string } | { type: 'pairlist'; items: [string | null, RValue][] } | { type: 'environment' };
export type RAttributes = Map<string, RValue>;

/** R's NA_integer_ (also NA for logicals). */
export const NA_INTEGER = -2147483648;

const SXP = { NIL: 0, SYM: 1, LIST: 2, ENV: 4, LANG: 6, CHAR: 9, LGL: 10, INT: 13, REAL: 14, STR: 16, VEC: 19, EXPR: 20, RAW: 24 } as const;
const SPECIAL = {
  REF: 255,
  NILVALUE: 254,
  GLOBALENV: 253,
  EMPTYENV: 242,
  BASEENV: 241,
  BASENAMESPACE: 250,
  MISSINGARG: 251,
  UNBOUND: 252,
  ALTREP: 238,
  ATTRLIST: 239,
  ATTRLANG: 240,
} as const;

class Reader {
  private pos = 0;
  private readonly view: DataView;
  private readonly refs: RValue[] = [];
  private readonly utf8 = new TextDecoder();
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  int(): number {
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  header(): void {
    if (this.buf[0] === 0x58 && this.buf[1] === 0x0a)
      this.pos = 2; // "X\n": XDR
    else if (this.buf[0] === 0x41 || this.buf[0] === 0x42) throw new Error('rdata: only the XDR format is supported');
    const version = this.int();
    this.int(); // writer's R version
    this.int(); // minimal reader version
    if (version === 3) {
      const n = this.int(); // native encoding name
      this.pos += n;
    } else if (version !== 2) throw new Error(`rdata: serialization version ${version} is not supported`);
  }
  length(): number {
    const n = this.int();
    if (n !== -1) return n;
    return this.int() * 2 ** 32 + (this.int() >>> 0); // long vector
  }
  item(): RValue {
    const flags = this.int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    switch (type) {
      case SPECIAL.NILVALUE:
      case SPECIAL.EMPTYENV:
      case SPECIAL.BASEENV:
      case SPECIAL.GLOBALENV:
      case SPECIAL.BASENAMESPACE:
      case SPECIAL.MISSINGARG:
      case SPECIAL.UNBOUND:
        return null;
      case SPECIAL.REF: {
        const i = flags >> 8 || this.int();
        return this.refs[i - 1];
      }
      case SXP.SYM: {
        const name = this.item() as RVector & { type: 'character' };
        const sym = { type: 'symbol' as const, name: name.data[0] ?? 'NA' };
        this.refs.push(sym);
        return sym;
      }
      case SXP.ENV: {
        const env = { type: 'environment' as const };
        this.refs.push(env);
        this.int(); // locked
        this.item();
        this.item();
        this.item();
        this.item(); // enclosure, frame, hash table, attributes
        return env;
      }
      case SXP.LIST:
      case SXP.LANG:
      case SPECIAL.ATTRLIST:
      case SPECIAL.ATTRLANG: {
        // a pairlist cell: [attributes] [tag] car cdr, with the cdr chain read iteratively
        const items: [string | null, RValue][] = [];
        let f = flags;
        for (;;) {
          if (f & (1 << 9)) this.item();
          const tag = f & (1 << 10) ? (this.item() as { name: string }).name : null;
          items.push([tag, this.item()]);
          f = this.int();
          const t = f & 0xff;
          if (t === SPECIAL.NILVALUE) return { type: 'pairlist', items };
          if (t !== SXP.LIST && t !== SPECIAL.ATTRLIST) throw new Error(`rdata: pairlist tail of type ${t}`);
        }
      }
      case SXP.CHAR: {
        const n = this.int();
        if (n === -1) return { type: 'character', data: [null], attributes: new Map() };
        const s = this.utf8.decode(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        return { type: 'character', data: [s], attributes: new Map() };
      }
      case SPECIAL.ALTREP:
        return this.altrep();
    }
    const v = this.vector(type);
    if (hasAttr) v.attributes = attributesOf(this.item());
    return v;
  }
  private vector(type: number): RVector {
    const n = this.length();
    const attributes: RAttributes = new Map();
    switch (type) {
      case SXP.LGL:
      case SXP.INT: {
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = this.int();
        return { type: type === SXP.LGL ? 'logical' : 'integer', data, attributes };
      }
      case SXP.REAL: {
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++, this.pos += 8) data[i] = this.view.getFloat64(this.pos);
        return { type: 'double', data, attributes };
      }
      case SXP.STR: {
        const data = new Array<string | null>(n);
        for (let i = 0; i < n; i++) data[i] = (this.item() as RVector & { type: 'character' }).data[0];
        return { type: 'character', data, attributes };
      }
      case SXP.VEC:
      case SXP.EXPR: {
        const data = new Array<RValue>(n);
        for (let i = 0; i < n; i++) data[i] = this.item();
        return { type: 'list', data, attributes };
      }
      case SXP.RAW: {
        const data = this.buf.slice(this.pos, this.pos + n);
        this.pos += n;
        return { type: 'raw', data, attributes };
      }
    }
    throw new Error(`rdata: SEXP type ${type} is not supported`);
  }
  /** ALTREP: class info (pairlist of symbols), state, attributes; expanded to a plain vector. */
  private altrep(): RValue {
    const info = this.item() as { items: [string | null, RValue][] };
    const cls = (info.items[0][1] as { name: string }).name;
    const state = this.item();
    const attributes = attributesOf(this.item());
    let v: RVector;
    if (cls === 'compact_intseq' || cls === 'compact_realseq') {
      const [n, start, step] = (state as { data: Float64Array }).data;
      const data = cls === 'compact_intseq' ? new Int32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = start + i * step;
      v = cls === 'compact_intseq' ? { type: 'integer', data: data as Int32Array, attributes } : { type: 'double', data: data as Float64Array, attributes };
    } else if (cls.startsWith('wrap_')) {
      v = (state as { data: RValue[] }).data[0] as RVector;
    } else if (cls === 'deferred_string') {
      const arg = (state as { items: [string | null, RValue][] }).items[0][1] as { data: ArrayLike<number> };
      v = { type: 'character', data: Array.from(arg.data, String), attributes };
    } else throw new Error(`rdata: ALTREP class ${cls} is not supported`);
    if (attributes.size > 0) v.attributes = attributes;
    return v;
  }
}

function attributesOf(v: RValue): RAttributes {
  const out: RAttributes = new Map();
  if (v && v.type === 'pairlist') for (const [tag, value] of v.items) if (tag !== null) out.set(tag, value);
  return out;
}

/** Unserializes one R object (the bytes of saveRDS after decompression, or a .rdb entry). */
export function unserialize(buf: Uint8Array): RValue {
  const r = new Reader(buf);
  r.header();
  return r.item();
}

/** A lazy-load database: `<base>.rdx` (gzip'd index) and `<base>.rdb` (zlib'd objects). */
export function openLazyLoadDb(base: string): { names: string[]; get(name: string): RValue } {
  const index = unserialize(gunzipSync(readFileSync(`${base}.rdx`))) as RVector & { type: 'list' };
  const names = index.attributes.get('names') as { data: string[] };
  const variables = index.data[names.data.indexOf('variables')] as RVector & { type: 'list' };
  const varNames = (variables.attributes.get('names') as { data: string[] }).data;
  const rdb = readFileSync(`${base}.rdb`);
  return {
    names: varNames,
    get(name) {
      const at = varNames.indexOf(name);
      if (at < 0) throw new Error(`rdata: no object ${name} in ${base}.rdx`);
      const [offset, length] = (variables.data[at] as { data: Int32Array }).data;
      return unserialize(inflateEntry(rdb.subarray(offset, offset + length)));
    },
  };
}

/** An .rdb entry: 4-byte big-endian plain length, then zlib (or a type byte, for R's newer formats). */
export function inflateEntry(entry: Uint8Array): Uint8Array {
  const type = entry[4];
  if (type === 0x78) return inflateSync(entry.subarray(4)); // zlib header: R's default compression
  if (type === 0x5a) return inflateSync(entry.subarray(5)); // 'Z'
  if (type === 0x30) return entry.subarray(5); // '0': stored
  throw new Error(`rdata: entry compression ${String.fromCharCode(type)} (bzip2/xz) is not supported`);
}
