// The embedded account store keeps the rows it read lately. What it returns must always be the
// row as committed: a write shows in the next read once its group commits (never before), an
// erased or removed row is never served from memory, and the kept rows are bounded. Checked
// against a second connection reading the same file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteUserStore, type UserRecord } from '../src/persistence/user-store.js';
import { tmpDataDir } from './helpers/server.js';

const row = (id: string): UserRecord => ({
  id,
  role: 'guest',
  emailHash: null,
  usernameHash: null,
  passwordHash: null,
  tokenGen: 0,
  personalizedRecs: true,
  wrappedKey: `wrapped-${id}`,
  sealed: `sealed-${id}`,
  createdAt: 1,
  updatedAt: 1,
  erasedAt: null,
  version: 0,
});

/** The row as stored, read on a connection of its own. */
function stored(dir: string, id: string): { sealed: string | null; version: number; wrapped_key: string | null } | undefined {
  const db = new Database(join(dir, 'system.db'), { readonly: true });
  try {
    return db.prepare('SELECT sealed, version, wrapped_key FROM accounts WHERE id = ?').get(id) as never;
  } finally {
    db.close();
  }
}

test('a read after a write returns the committed row; a queued write does not show before its commit', async (t) => {
  const dir = tmpDataDir(t);
  const store = new SqliteUserStore(dir, 'FULL');
  t.after(() => store.close());
  assert.equal(await store.tryInsert(row('a')), true);
  const v0 = (await store.get('a'))!;
  assert.equal(v0.sealed, 'sealed-a');
  assert.ok(Object.isFrozen(v0), 'a kept row cannot be changed by a caller');

  const writing = store.update(v0, { ...v0, sealed: 'second' });
  assert.equal((await store.get('a'))!.sealed, 'sealed-a', 'queued, not committed: the old row');
  assert.equal(await writing, 'ok');
  const v1 = (await store.get('a'))!;
  assert.equal(v1.sealed, 'second');
  assert.equal(v1.version, 1);
  assert.deepEqual({ sealed: v1.sealed, version: v1.version }, { sealed: stored(dir, 'a')!.sealed, version: stored(dir, 'a')!.version });

  // A stale write changes nothing, and the row read after it is still the committed one.
  assert.equal(await store.update(v0, { ...v0, sealed: 'stale' }), 'stale');
  assert.equal((await store.get('a'))!.sealed, 'second');
  // So is a write rolled back in its group (a taken username), beside one that commits.
  assert.equal(await store.tryInsert({ ...row('b'), usernameHash: 'taken' }), true);
  const b = (await store.get('b'))!;
  const [clash, other] = await Promise.all([store.update(v1, { ...v1, usernameHash: 'taken', sealed: 'clash' }), store.update(b, { ...b, sealed: 'b2' })]);
  assert.deepEqual([clash, other], ['conflict', 'ok']);
  assert.equal((await store.get('a'))!.sealed, 'second');
  assert.equal(stored(dir, 'a')!.sealed, 'second');
  assert.equal((await store.get('b'))!.sealed, 'b2');

  // Erasure (the wrapped key and profile gone) is what the next read sees.
  assert.equal(await store.update(v1, { ...v1, wrappedKey: null, sealed: null, erasedAt: 5 }), 'ok');
  const erased = (await store.get('a'))!;
  assert.deepEqual([erased.wrappedKey, erased.sealed, erased.erasedAt], [null, null, 5]);
  assert.equal(stored(dir, 'a')!.wrapped_key, null);
});

test('a removed guest row is not served from memory; a row inserted after a miss is found', async (t) => {
  const store = new SqliteUserStore(tmpDataDir(t), 'FULL');
  t.after(() => store.close());
  assert.equal(await store.get('g'), undefined);
  assert.equal(await store.tryInsert(row('g')), true);
  const g = (await store.get('g'))!;
  assert.equal(g.id, 'g', 'a miss is not kept');
  assert.equal(await store.removeGuest(g), true);
  assert.equal(await store.get('g'), undefined);
});

test('the kept rows are bounded in number and in bytes, and rows beyond the bound are still read right', async (t) => {
  const dir = tmpDataDir(t);
  const store = new SqliteUserStore(dir, 'FULL');
  t.after(() => store.close());
  const n = 5000;
  await Promise.all(Array.from({ length: n }, (_, i) => store.tryInsert(row(`u${i}`))));
  for (let i = 0; i < n; i++) assert.equal((await store.get(`u${i}`))!.sealed, `sealed-u${i}`);
  const recent = (store as unknown as { recent: { size: number; calculatedSize: number } }).recent;
  assert.ok(recent.size > 0 && recent.size <= 4096, `kept ${recent.size}`);
  // Rows with large sealed profiles: the bytes bound them first.
  const big = Array.from({ length: 80 }, (_, i) => ({ ...row(`big${i}`), sealed: `s${i}-`.padEnd(200_000, 'x') }));
  await Promise.all(big.map((u) => store.tryInsert(u)));
  for (const u of big) assert.equal((await store.get(u.id))!.sealed, u.sealed);
  assert.ok(recent.calculatedSize <= 8 * 1024 * 1024, `kept ${recent.calculatedSize} bytes`);
  assert.ok(recent.size < 4096, 'the large rows pushed rows out');
  // The first rows were dropped from memory: a write to one of them and a read still agree with the file.
  const first = (await store.get('u0'))!;
  assert.equal(await store.update(first, { ...first, sealed: 'changed' }), 'ok');
  assert.equal((await store.get('u0'))!.sealed, 'changed');
  assert.equal(stored(dir, 'u0')!.sealed, 'changed');
});
