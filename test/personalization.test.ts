// The personalised-recommendations flag per user: a bounded cache over the user store, with a
// bounded queue of interactions waiting for a flag being read. Never more flags in memory than
// the bound, whatever the number of users who turned personalisation off; a miss reads the store
// again and still answers right; a full queue refuses (the interaction is not recorded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Personalization } from '../src/app/accounts/personalization.js';
import type { UserRecord } from '../src/persistence/user-store.js';

function fakeStore(optedOut: Set<string>, known: Set<string>) {
  const reads: string[] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> = Promise.resolve();
  return {
    reads,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    open() {
      release?.();
    },
    get: async (id: string): Promise<UserRecord | undefined> => {
      reads.push(id);
      await gate;
      return known.has(id) ? ({ id, personalizedRecs: !optedOut.has(id) } as UserRecord) : undefined;
    },
  };
}

test('flags: at most `cached` in memory however many users opted out; an evicted one is read again and still right', async () => {
  const ids = Array.from({ length: 50 }, (_, i) => `u${i}`);
  const store = fakeStore(new Set(ids), new Set(ids));
  const p = new Personalization(store, { cached: 3, waitingUsers: 100, waitingPerUser: 10 });
  for (const id of ids) assert.equal(await p.get(id), false, id);
  assert.equal(p.size, 3, 'bounded');
  assert.equal(store.reads.length, 50);
  assert.equal(await p.get('u0'), false, 'evicted long ago: read again, still opted out');
  assert.equal(store.reads.length, 51);
  assert.equal(await p.get('u0'), false);
  assert.equal(store.reads.length, 51, 'now in memory: no read');
  assert.equal(await p.get('guest-without-row'), true, 'no row: the default preference');
});

test('writes: this node sets the flag at once; another node changes only what is in memory', async () => {
  const store = fakeStore(new Set(), new Set(['a', 'b']));
  const p = new Personalization(store, { cached: 10, waitingUsers: 10, waitingPerUser: 10 });
  p.set('a', false);
  assert.equal(p.cached('a'), false);
  p.changed('a', true);
  assert.equal(await p.get('a'), true);
  p.changed('b', false);
  assert.equal(p.cached('b'), undefined, 'not cached by a change from elsewhere');
  assert.equal(store.reads.length, 0);
});

test('waiting interactions: bounded per user and in users; a refused one is never recorded; idle() waits for the reads', async () => {
  const store = fakeStore(new Set(['off']), new Set(['on', 'off']));
  const p = new Personalization(store, { cached: 10, waitingUsers: 2, waitingPerUser: 2 });
  store.hold();
  const ran: string[] = [];
  const record = (id: string, n: number) => p.when(id, (on) => on && ran.push(`${id}#${n}`));
  assert.deepEqual([record('on', 1), record('on', 2), record('on', 3)], [true, true, false], 'two per user');
  assert.deepEqual([record('off', 1), record('third', 1)], [true, false], 'two users waiting');
  const idle = p.idle();
  store.open();
  await idle;
  assert.deepEqual(ran, ['on#1', 'on#2'], 'the opted-out user is not recorded, the refused ones never run');
  assert.ok(p.dropped >= 2);
  assert.equal(record('third', 2), true, 'room again once read');
});
