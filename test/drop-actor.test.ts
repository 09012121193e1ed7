// The drop actor as pure functions: the start orders early joiners by their ranks, admissions
// keep to the rate (also after a stop), places and admissions are pushed to the users concerned,
// the checkout check, the queue bound, and replay and snapshot/restore (through the journal's
// msgpack) rebuild the same state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DropActor,
  check,
  create,
  decide,
  apply,
  nextTimer,
  placeOf,
  userPushes,
  type Drop,
  type DropCommand,
  type DropEvent,
} from '../src/actors/drop-actor.js';
import { decodeRow, encodeRow } from '../src/persistence/row-codec.js';
import { Limits } from '../src/protocol/errors.js';

const T0 = 1_700_000_000_000;
const CONFIG = { sku: 'tee', startsAt: T0 + 1_000, perUserLimit: 2, admitPerSecond: 4, checkoutWindowMs: 60_000 };

/** Runs one command like the shard runtime; returns the events applied (and the pushes they cause). */
function run(s: Drop, c: DropCommand, now: number, journal?: DropEvent[][]): { events: readonly DropEvent[]; pushes: ReturnType<typeof userPushes> } {
  const d = decide(s, c, now);
  if (d.error) throw new Error(`${d.error.code}: ${d.error.message}`);
  for (const e of d.events) apply(s, e);
  if (d.events.length > 0) journal?.push([...d.events]);
  return { events: d.events, pushes: d.events.length > 0 ? userPushes(s, d.events) : [] };
}

test('the start orders early joiners by rank; admissions keep to the rate and push to the users concerned', () => {
  const s = create('d1');
  run(s, { type: 'create', config: CONFIG }, T0);
  const ranks = [50, 10, 40, 20, 30];
  ranks.forEach((rank, i) => run(s, { type: 'join', userId: `u${i}`, rank }, T0 + i));
  assert.equal(placeOf(s, 'u0').position, null, 'no place before the start');
  assert.equal(nextTimer(s), CONFIG.startsAt);
  assert.equal(run(s, { type: 'timer' }, CONFIG.startsAt - 1).events.length, 0, 'an early timer changes nothing');

  const start = run(s, { type: 'timer' }, CONFIG.startsAt);
  assert.deepEqual(
    start.events.map((e) => e.type),
    ['started', 'admitted'],
  );
  assert.deepEqual(s.queue, ['u1', 'u3', 'u4', 'u2', 'u0'], 'by rank, lowest first');
  assert.deepEqual(
    start.pushes.map((p) => [p.name, p.topic]),
    [['drop.admitted', 'drops:u1'], ...['u3', 'u4', 'u2', 'u0'].map((u) => ['drop.position', `drops:${u}`])],
  );
  assert.deepEqual(placeOf(s, 'u0'), { dropId: 'd1', position: 4, ahead: 3, admitted: false, startsAt: CONFIG.startsAt });

  // 4 a second: the next one at +250 ms, not before; a late timer admits what is due at once.
  assert.equal(nextTimer(s), CONFIG.startsAt + 250);
  assert.equal(run(s, { type: 'timer' }, CONFIG.startsAt + 249).events.length, 0);
  const late = run(s, { type: 'timer' }, CONFIG.startsAt + 760);
  assert.deepEqual(late.events, [{ type: 'admitted', count: 3, nextAdmitAt: CONFIG.startsAt + 1_000, positions: true, at: CONFIG.startsAt + 760 }]);
  assert.equal(placeOf(s, 'u0').position, 1);
  // After a long stop the queue resumes at its rate: at most one second's worth at once.
  run(s, { type: 'join', userId: 'v0', rank: 0 }, CONFIG.startsAt + 800);
  for (let i = 1; i < 10; i++) run(s, { type: 'join', userId: `v${i}`, rank: 0 }, CONFIG.startsAt + 800);
  const resumed = run(s, { type: 'timer' }, CONFIG.startsAt + 3_600_000);
  assert.equal((resumed.events[0] as Extract<DropEvent, { type: 'admitted' }>).count, CONFIG.admitPerSecond);
  assert.equal(placeOf(s, 'v9').position, 10 - (CONFIG.admitPerSecond - 1));
});

test('the checkout check: admitted, within the window and the limit; a second join keeps the place; the queue is bounded', () => {
  const s = create('d2');
  run(s, { type: 'create', config: { ...CONFIG, admitPerSecond: 1000 } }, T0);
  run(s, { type: 'join', userId: 'a', rank: 1 }, T0);
  assert.equal(run(s, { type: 'join', userId: 'a', rank: 0 }, T0).events.length, 0, 'joining twice changes nothing');
  assert.equal(check(s, 'a', 1, T0).why, 'not_admitted');
  run(s, { type: 'timer' }, CONFIG.startsAt);
  const expiresAt = CONFIG.startsAt + CONFIG.checkoutWindowMs;
  assert.deepEqual(placeOf(s, 'a'), { dropId: 'd2', position: 0, ahead: 0, admitted: true, expiresAt, startsAt: CONFIG.startsAt });
  assert.equal(check(s, 'a', 2, CONFIG.startsAt).allowed, true);
  assert.equal(check(s, 'a', 3, CONFIG.startsAt).why, 'limit');
  assert.equal(check(s, 'a', 1, expiresAt).why, 'window_closed');
  run(s, { type: 'claim', userId: 'a', orderId: 'o1', qty: 2 }, CONFIG.startsAt + 5);
  assert.equal(run(s, { type: 'claim', userId: 'a', orderId: 'o1', qty: 2 }, CONFIG.startsAt + 5).events.length, 0, 'a retried claim counts once');
  assert.equal(check(s, 'a', 1, CONFIG.startsAt + 6).why, 'limit');
  const refusedClaim = decide(s, { type: 'claim', userId: 'a', orderId: 'o2', qty: 1 }, CONFIG.startsAt + 6);
  assert.deepEqual([refusedClaim.error?.code, refusedClaim.error?.details?.reason, refusedClaim.error?.details?.why], ['FORBIDDEN', 'drop', 'limit']);
  run(s, { type: 'release', userId: 'a', orderId: 'o1' }, CONFIG.startsAt + 7);
  assert.equal(check(s, 'a', 2, CONFIG.startsAt + 8).allowed, true, 'a failed checkout gives its units back');
  assert.equal(run(s, { type: 'release', userId: 'a', orderId: 'o1' }, CONFIG.startsAt + 9).events.length, 0, 'released once');
  assert.equal(check(s, 'nobody', 1, CONFIG.startsAt).why, 'not_admitted');

  const full = create('d3');
  run(full, { type: 'create', config: CONFIG }, T0);
  for (let i = 0; i < Limits.DROP_MAX_QUEUE; i++) run(full, { type: 'join', userId: `u${i}`, rank: i }, T0);
  const over = decide(full, { type: 'join', userId: 'one-more', rank: 0 }, T0);
  assert.equal(over.error?.code, 'LIMIT_EXCEEDED');
  assert.equal(decide(create('nope'), { type: 'join', userId: 'a', rank: 0 }, T0).error?.code, 'NOT_FOUND');
  assert.equal(decide(s, { type: 'create', config: CONFIG }, T0).error?.code, 'CONFLICT');
});

test('property: replaying the journal and restoring a snapshot rebuild the live drop', () => {
  const cmd = fc.oneof(
    fc.record({ kind: fc.constant('join' as const), user: fc.integer({ min: 0, max: 30 }), rank: fc.integer({ min: 0, max: 1_000 }) }),
    fc.record({ kind: fc.constant('timer' as const), dt: fc.integer({ min: 0, max: 2_000 }) }),
    fc.record({ kind: fc.constant('claim' as const), user: fc.integer({ min: 0, max: 30 }), order: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('release' as const), user: fc.integer({ min: 0, max: 30 }), order: fc.integer({ min: 0, max: 5 }) }),
  );
  fc.assert(
    fc.property(fc.array(cmd, { maxLength: 120 }), (cmds) => {
      const live = create('p');
      const journal: DropEvent[][] = [];
      run(live, { type: 'create', config: CONFIG }, T0, journal);
      let now = T0;
      for (const c of cmds) {
        if (c.kind === 'timer') {
          now += c.dt;
          run(live, { type: 'timer' }, now, journal);
        } else if (c.kind === 'join') run(live, { type: 'join', userId: `u${c.user}`, rank: c.rank }, now, journal);
        else {
          const cmd: DropCommand =
            c.kind === 'claim'
              ? { type: 'claim', userId: `u${c.user}`, orderId: `o${c.order}`, qty: 1 }
              : { type: 'release', userId: `u${c.user}`, orderId: `o${c.order}` };
          // A refused claim (not admitted, closed, over the limit) changes nothing.
          if (!decide(live, cmd, now).error) run(live, cmd, now, journal);
        }
        for (const a of live.admitted.values()) assert.ok(a.bought <= CONFIG.perUserLimit, 'never more claimed than the limit');
        // Never more admitted than the rate allows since the start.
        if (live.started) assert.ok(live.head <= 1 + Math.floor(((now - CONFIG.startsAt) * CONFIG.admitPerSecond) / 1000));
      }
      const replayed = create('p');
      for (const events of journal) for (const e of decodeRow(encodeRow(events)) as DropEvent[]) apply(replayed, e);
      const restored = DropActor.restore('p', decodeRow(encodeRow(DropActor.snapshot(live))));
      for (const other of [replayed, restored]) {
        assert.deepEqual(DropActor.snapshot(other), DropActor.snapshot(live));
        for (let u = 0; u <= 30; u++) assert.deepEqual(placeOf(other, `u${u}`), placeOf(live, `u${u}`));
        assert.equal(nextTimer(other), nextTimer(live));
      }
    }),
    { numRuns: 200 },
  );
});
