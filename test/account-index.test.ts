// A cluster node's index of the accounts bucket, on a real SQLite file: pages in id order, idle
// guests oldest first, deliveries older than what it holds ignored, removals, and a new process
// starting from an empty index (it is filled from the bucket's watch at every start).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AccountIndex } from '../src/persistence/account-index.js';

function openIndex(t: { after(fn: () => void): void }, dir?: string): { index: AccountIndex; dir: string; db: Database.Database } {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'cw-account-index-'));
  const db = new Database(join(d, 'system.db'));
  t.after(() => {
    db.close();
    if (!dir) rmSync(d, { recursive: true, force: true });
  });
  return { index: new AccountIndex(db), dir: d, db };
}

test('pages of account ids in id order, after a cursor; a dropped account is not listed', (t) => {
  const { index } = openIndex(t);
  for (const id of ['u-c', 'u-a', 'g-b', 'u-d', 'g-a']) index.put({ id, role: id.startsWith('g') ? 'guest' : 'customer', updatedAt: 1, version: 1 });
  assert.deepEqual(index.idsAfter('', 2), ['g-a', 'g-b']);
  assert.deepEqual(index.idsAfter('g-b', 2), ['u-a', 'u-c']);
  assert.deepEqual(index.idsAfter('u-c', 2), ['u-d']);
  index.drop('u-a');
  index.drop('no-such-id');
  assert.deepEqual(index.idsAfter('g-b', 10), ['u-c', 'u-d']);
});

test('idle guests: guests only, changed before the time given, oldest first, at most the limit', (t) => {
  const { index } = openIndex(t);
  index.put({ id: 'g1', role: 'guest', updatedAt: 300, version: 1 });
  index.put({ id: 'g2', role: 'guest', updatedAt: 100, version: 1 });
  index.put({ id: 'g3', role: 'guest', updatedAt: 200, version: 1 });
  index.put({ id: 'g4', role: 'guest', updatedAt: 900, version: 1 });
  index.put({ id: 'c1', role: 'customer', updatedAt: 50, version: 1 });
  assert.deepEqual(index.idleGuests(500, 10), ['g2', 'g3', 'g1']);
  assert.deepEqual(index.idleGuests(500, 2), ['g2', 'g3']);
  // A guest that signed up is no guest any more; a guest touched since is not idle.
  index.put({ id: 'g2', role: 'customer', updatedAt: 600, version: 2 });
  index.put({ id: 'g3', role: 'guest', updatedAt: 700, version: 2 });
  assert.deepEqual(index.idleGuests(500, 10), ['g1']);
});

test('a delivery older than the indexed version leaves the index as it is; the same or a newer one replaces it', (t) => {
  const { index } = openIndex(t);
  // This node's own write is indexed at once; the watch brings an earlier revision afterwards.
  index.put({ id: 'g1', role: 'guest', updatedAt: 900, version: 3 });
  index.put({ id: 'g1', role: 'guest', updatedAt: 100, version: 2 });
  assert.deepEqual(index.idleGuests(500, 10), [], 'not idle: the older revision did not win');
  index.put({ id: 'g1', role: 'guest', updatedAt: 100, version: 3 });
  assert.deepEqual(index.idleGuests(500, 10), ['g1'], 'the same version again is taken');
  index.put({ id: 'g1', role: 'customer', updatedAt: 1000, version: 4 });
  assert.deepEqual([index.idleGuests(2000, 10), index.idsAfter('', 10)], [[], ['g1']]);
});

test('a new process starts from an empty index (the watch fills it again)', (t) => {
  const first = openIndex(t);
  first.index.put({ id: 'g1', role: 'guest', updatedAt: 1, version: 1 });
  assert.deepEqual(first.index.idsAfter('', 10), ['g1']);
  first.db.close();
  const again = openIndex(t, first.dir);
  assert.deepEqual(again.index.idsAfter('', 10), []);
});
