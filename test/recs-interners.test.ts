// The recommendation service's interners: the flat one (users) must number strings exactly as the
// Map one (products) does, across its buffers' growth and its table's rehashes, for any
// well-formed string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatInterner, MapInterner } from '../src/app/recs/interners.js';
import { randomId } from '../src/protocol/ids.js';

test('the flat interner numbers 100,000 ids as the Map does, finds each again and gives its string back', () => {
  const flat = new FlatInterner();
  const map = new MapInterner();
  const ids = Array.from({ length: 100_000 }, (_, i) => (i % 3 === 0 ? randomId('g', 12) : `u${i}`));
  for (const id of ids) assert.equal(flat.intern(id), map.intern(id));
  assert.equal(flat.size, map.size);
  for (let i = 0; i < ids.length; i += 7) {
    assert.equal(flat.get(ids[i]), map.get(ids[i]), ids[i]);
    assert.equal(flat.intern(ids[i]), map.get(ids[i]), 'a second intern is the same id');
    assert.equal(flat.name(map.get(ids[i])!), ids[i]);
  }
  assert.equal(flat.size, map.size, 'nothing was added twice');
  assert.equal(flat.get('never-interned'), undefined);
  assert.equal(flat.get(`${ids[5]}x`), undefined, 'a longer string sharing a prefix is another string');
  assert.equal(flat.get(ids[5].slice(0, -1)), undefined, 'so is a prefix');
});

test('the flat interner keeps any well-formed string: empty, non-ASCII, longer than its scratch buffer', () => {
  const flat = new FlatInterner();
  const strings = ['', 'é', 'ü👍', '用户', 'a'.repeat(1000), '€'.repeat(400), 'x\u0000y', 'plain'];
  const ids = strings.map((s) => flat.add(s));
  assert.deepEqual(ids, [...strings.keys()]);
  strings.forEach((s, i) => {
    assert.equal(flat.get(s), i, JSON.stringify(s).slice(0, 20));
    assert.equal(flat.name(i), s);
  });
  assert.equal(flat.get('e'), undefined, 'é is not e');
});

test('fitted to its ids, the flat interner gives back its growth room and keeps every id; it grows again after', () => {
  const flat = new FlatInterner();
  const ids = Array.from({ length: 50_000 }, (_, i) => `g_${i.toString(36).padStart(12, '0')}`);
  for (const id of ids) flat.intern(id);
  const before = flat.bytes;
  assert.equal(flat.fit(before), 0, 'growth room below the minimum asked for is kept');
  const freed = flat.fit();
  assert.ok(freed > 0, 'there was room to give back');
  assert.equal(flat.bytes, before - freed);
  assert.equal(flat.fit(), 0, 'nothing left to give');
  for (let i = 0; i < ids.length; i += 97) assert.equal(flat.get(ids[i]), i);
  assert.equal(flat.name(ids.length - 1), ids[ids.length - 1]);
  assert.equal(flat.intern('a-new-one'), ids.length, 'appends after a fit grow the buffers again');
  assert.equal(flat.name(ids.length), 'a-new-one');
  assert.equal(flat.get(ids[123]), 123);
});
