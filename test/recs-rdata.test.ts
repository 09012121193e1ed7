// The R serialization reader, on XDR bytes written by a tiny serializer here: a data frame
// with integer, character (with NA), factor and double columns, a symbol reused by reference,
// an ALTREP compact sequence, and a lazy-load database (.rdx/.rdb) holding it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { NA_INTEGER, openLazyLoadDb, unserialize, type RVector } from '../bench/recs/rdata.js';

/** Writes R's XDR serialization, version 3. */
class Xdr {
  private readonly chunks: Buffer[] = [];
  int(n: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    this.chunks.push(b);
    return this;
  }
  dbl(x: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    this.chunks.push(b);
    return this;
  }
  header(): this {
    this.chunks.push(Buffer.from('X\n'));
    this.int(3).int(0x040101).int(0x030500).int(5);
    this.chunks.push(Buffer.from('UTF-8'));
    return this;
  }
  charsxp(s: string | null): this {
    if (s === null) return this.int(9).int(-1);
    const b = Buffer.from(s, 'utf8');
    this.int(9 | (8 << 12)).int(b.length); // gp bit: UTF-8
    this.chunks.push(b);
    return this;
  }
  strsxp(xs: (string | null)[], flags = 0): this {
    this.int(16 | flags).int(xs.length);
    for (const s of xs) this.charsxp(s);
    return this;
  }
  intsxp(xs: number[], flags = 0): this {
    this.int(13 | flags).int(xs.length);
    for (const x of xs) this.int(x);
    return this;
  }
  symbol(name: string): this {
    return this.int(1).charsxp(name);
  }
  /** A tagged pairlist cell; the caller writes the car, then the next cell or NIL. */
  cell(tag: () => void): this {
    this.int(2 | (1 << 10));
    tag();
    return this;
  }
  nil(): this {
    return this.int(254);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const ATTR = 1 << 9;
const OBJ = 1 << 8;

/** data.frame(id = c(1L, NA, 3L), name = c("a", NA, "ü"), g = factor(c("y","x","y")), x = c(1.5, NaN), seq = 1:3) */
function dataFrame(w: Xdr): Xdr {
  w.int(19 | ATTR | OBJ).int(5);
  w.intsxp([1, NA_INTEGER, 3]);
  w.strsxp(['a', null, 'ü']);
  // factor: codes with attributes levels (symbol ref 1) and class (symbol ref 2)
  w.intsxp([2, 1, 2], ATTR | OBJ);
  w.cell(() => w.symbol('levels')).strsxp(['x', 'y']);
  w.cell(() => w.symbol('class')).strsxp(['factor']);
  w.nil();
  w.int(14).int(2).dbl(1.5).dbl(NaN);
  // ALTREP compact_intseq 1:3 (class info pairlist, state (n, start, step), no attributes)
  w.int(238);
  w.int(2).symbol('compact_intseq').int(2).symbol('base').int(2).intsxp([13]).nil();
  w.int(14).int(3).dbl(3).dbl(1).dbl(1);
  w.nil();
  // the frame's attributes: names, class (a reference to symbol 2), row.names
  w.cell(() => w.symbol('names')).strsxp(['id', 'name', 'g', 'x', 'seq']);
  w.cell(() => w.int((2 << 8) | 255)).strsxp(['data.frame']);
  w.cell(() => w.symbol('row.names')).intsxp([NA_INTEGER, -3]);
  return w.nil();
}

function checkFrame(df: RVector & { type: 'list' }) {
  const attr = (v: RVector, k: string) => (v.attributes.get(k) as { data: unknown[] }).data;
  assert.deepEqual(attr(df, 'names'), ['id', 'name', 'g', 'x', 'seq']);
  assert.deepEqual(attr(df, 'class'), ['data.frame']);
  const [id, name, g, x, seq] = df.data as RVector[];
  assert.deepEqual([...(id.data as Int32Array)], [1, NA_INTEGER, 3]);
  assert.deepEqual(name.data, ['a', null, 'ü']);
  assert.deepEqual([...(g.data as Int32Array)], [2, 1, 2]);
  assert.deepEqual(attr(g, 'levels'), ['x', 'y']);
  assert.deepEqual(attr(g, 'class'), ['factor']);
  assert.equal((x.data as Float64Array)[0], 1.5);
  assert.ok(Number.isNaN((x.data as Float64Array)[1]));
  assert.equal(seq.type, 'integer');
  assert.deepEqual([...seq.data], [1, 2, 3]);
}

test('unserialize reads a data frame with factor, NA, references and ALTREP', () => {
  checkFrame(unserialize(dataFrame(new Xdr().header()).bytes()) as RVector & { type: 'list' });
});

test('openLazyLoadDb finds an object through the .rdx index and inflates it from the .rdb', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'recs-rdata-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const other = new Xdr().header().intsxp([42]).bytes();
  const frame = dataFrame(new Xdr().header()).bytes();
  const entry = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b.length);
    return Buffer.concat([len, deflateSync(b)]);
  };
  const e1 = entry(other);
  const e2 = entry(frame);
  writeFileSync(join(dir, 'Rdata.rdb'), Buffer.concat([e1, e2]));
  // index: list(variables = list(other = c(0L, n1), df = c(n1, n2)), references = list(), compressed = TRUE)
  const w = new Xdr().header();
  w.int(19 | ATTR).int(3);
  w.int(19 | ATTR)
    .int(2)
    .intsxp([0, e1.length])
    .intsxp([e1.length, e2.length]);
  w.cell(() => w.symbol('names'))
    .strsxp(['other', 'df'])
    .nil();
  w.int(19).int(0);
  w.int(10).int(1).int(1);
  w.cell(() => w.int((1 << 8) | 255))
    .strsxp(['variables', 'references', 'compressed'])
    .nil();
  writeFileSync(join(dir, 'Rdata.rdx'), gzipSync(w.bytes()));
  const db = openLazyLoadDb(join(dir, 'Rdata'));
  assert.deepEqual(db.names, ['other', 'df']);
  assert.deepEqual([...((db.get('other') as RVector).data as Int32Array)], [42]);
  checkFrame(db.get('df') as RVector & { type: 'list' });
  assert.throws(() => db.get('nope'), /no object nope/);
});
