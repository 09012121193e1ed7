// A connection's ids in flight decide the duplicate-id rule: the table must answer as a Set does
// through any sequence of adds and deletes, across its growth and its return to the small size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IdSet } from '../src/transport/id-set.js';

const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), id: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffffffff })) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffffffff })) }),
  fc.record({ kind: fc.constant('clear' as const), id: fc.constant(0) }),
);

test('property: IdSet answers has, add, delete and size as a Set<number> does', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const ids = new IdSet();
      const model = new Set<number>();
      for (const o of ops) {
        if (o.kind === 'add') {
          ids.add(o.id);
          model.add(o.id);
        } else if (o.kind === 'delete') assert.equal(ids.delete(o.id), model.delete(o.id));
        else for (const id of [...model]) assert.equal(ids.delete(id), model.delete(id));
        assert.equal(ids.size, model.size);
        for (let id = 0; id <= 40; id++) assert.equal(ids.has(id), model.has(id), `id ${id}`);
        for (const id of model) assert.ok(ids.has(id), `id ${id}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('many ids coming and going in a full table: every id in flight is found, no other', () => {
  // Seeded LCG: the same sequence every run, long probe runs at the table's highest load.
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const ids = new IdSet();
  const model = new Set<number>();
  for (let step = 0; step < 20_000; step++) {
    const id = next() % 300;
    if (next() % 2 === 0) {
      ids.add(id);
      model.add(id);
    } else assert.equal(ids.delete(id), model.delete(id), `delete ${id} at step ${step}`);
    if (step % 50 === 0) for (let k = 0; k < 300; k++) assert.equal(ids.has(k), model.has(k), `id ${k} at step ${step}`);
  }
});

test('a table grown past its large size empties back to the small one and still answers', () => {
  const ids = new IdSet();
  for (let id = 0; id < 3000; id++) ids.add(id * 7);
  assert.equal(ids.size, 3000);
  for (let id = 0; id < 3000; id++) assert.ok(ids.has(id * 7));
  assert.equal(ids.has(1), false);
  for (let id = 2999; id >= 0; id--) assert.equal(ids.delete(id * 7), true);
  assert.equal(ids.size, 0);
  assert.equal(ids.has(0), false);
  ids.add(0xffffffff);
  assert.ok(ids.has(0xffffffff));
  assert.equal(ids.size, 1);
});
