// Dense ids for the strings the recommendation log names: products (a catalog's worth, a Map) and
// users (up to millions, in flat memory). Both are append-only, so a model's ids stay valid
// across builds.

/** The interface the service uses of either interner. */
export interface Interner {
  readonly size: number;
  /** The id of `s`, or undefined when it was never interned. */
  get(s: string): number | undefined;
  intern(s: string): number;
  /** intern() for a string known to be new here. */
  add(s: string): number;
  /** The string of id `i` (0 <= i < size). */
  name(i: number): string;
}

/** A Map and an array: right for a few thousand products, each string shared with the catalog. */
export class MapInterner implements Interner {
  private readonly byName = new Map<string, number>();
  private readonly names: string[] = [];
  get size(): number {
    return this.names.length;
  }
  get(s: string): number | undefined {
    return this.byName.get(s);
  }
  intern(s: string): number {
    return this.byName.get(s) ?? this.add(s);
  }
  add(s: string): number {
    this.byName.set(s, this.names.length);
    return this.names.push(s) - 1;
  }
  name(i: number): string {
    return this.names[i];
  }
}

const EMPTY = -1;

/**
 * Well-formed strings (user ids are checked at the edge; a lone surrogate would be stored as
 * U+FFFD) in one byte buffer (UTF-8, back to back), found through an open-addressing table of
 * their ids. A million user ids cost ~80 bytes each as V8 strings held by a Map and an array,
 * here ~32 (bench/micro/user-interner.ts), and the heap holds three typed arrays instead of a
 * million strings for the collector to trace.
 */
export class FlatInterner implements Interner {
  private chars = new Uint8Array(1 << 16);
  private used = 0;
  /** starts[i] .. starts[i + 1]: the bytes of id i. */
  private starts = new Int32Array(1 << 12);
  private count = 0;
  /** Ids by hash, EMPTY where free; at most half full. */
  private table = new Int32Array(1 << 13).fill(EMPTY);
  /** Where a looked-up string is encoded, and its length there. */
  private scratch = Buffer.alloc(256);
  private scratchLen = 0;

  get size(): number {
    return this.count;
  }

  /** Bytes of its buffers (with their room to grow). */
  get bytes(): number {
    return this.chars.byteLength + this.starts.byteLength + this.table.byteLength + this.scratch.byteLength;
  }

  /**
   * Moves the ids' bytes and offsets into arrays of their exact length when the growth room is
   * worth it; returns the bytes given up (the hash table keeps its size). For a quiet moment.
   */
  fit(minFree = 0): number {
    const free = this.chars.byteLength - this.used + (this.starts.length - (this.count + 1)) * 4;
    if (free <= 0 || free < minFree) return 0;
    this.chars = this.chars.slice(0, this.used);
    this.starts = this.starts.slice(0, this.count + 1);
    return free;
  }

  get(s: string): number | undefined {
    const slot = this.find(s);
    const id = this.table[slot];
    return id === EMPTY ? undefined : id;
  }

  intern(s: string): number {
    const slot = this.find(s);
    const id = this.table[slot];
    return id === EMPTY ? this.append(slot) : id;
  }

  add(s: string): number {
    return this.intern(s);
  }

  name(i: number): string {
    return Buffer.from(this.chars.buffer, this.chars.byteOffset + this.starts[i], this.starts[i + 1] - this.starts[i]).toString('utf8');
  }

  /** Encodes `s` into the scratch buffer and returns the slot holding it, or the free slot it would take. */
  private find(s: string): number {
    if (s.length * 3 > this.scratch.length) this.scratch = Buffer.alloc(s.length * 3);
    const n = (this.scratchLen = this.scratch.write(s, 0, 'utf8'));
    const key = this.scratch;
    // FNV-1a over the bytes
    let h = 0x811c9dc5;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key[i], 0x01000193);
    const mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const id = this.table[slot];
      if (id === EMPTY || this.equals(id, key, n)) return slot;
    }
  }

  private equals(id: number, key: Uint8Array, n: number): boolean {
    const start = this.starts[id];
    if (this.starts[id + 1] - start !== n) return false;
    const chars = this.chars;
    for (let i = 0; i < n; i++) if (chars[start + i] !== key[i]) return false;
    return true;
  }

  /** Stores the scratch buffer's string as a new id in `slot` (found free by find()). */
  private append(slot: number): number {
    const n = this.scratchLen;
    if (this.used + n > this.chars.length) this.chars = grown(this.chars, this.used + n);
    this.chars.set(this.scratch.subarray(0, n), this.used);
    this.used += n;
    if (this.count + 2 > this.starts.length) this.starts = grown(this.starts, this.count + 2);
    const id = this.count++;
    this.starts[id + 1] = this.used;
    this.table[slot] = id;
    if (this.count * 2 > this.table.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2).fill(EMPTY);
    const mask = table.length - 1;
    const chars = this.chars;
    for (let id = 0; id < this.count; id++) {
      let h = 0x811c9dc5;
      for (let i = this.starts[id]; i < this.starts[id + 1]; i++) h = Math.imul(h ^ chars[i], 0x01000193);
      let slot = h & mask;
      while (table[slot] !== EMPTY) slot = (slot + 1) & mask;
      table[slot] = id;
    }
    this.table = table;
  }
}

/** `a` copied into a typed array half again as large (at least `need` long). */
function grown<T extends Uint8Array | Int32Array>(a: T, need: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, Math.ceil(a.length * 1.5)));
  b.set(a);
  return b;
}
