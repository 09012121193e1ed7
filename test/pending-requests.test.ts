// The pool's batches are reused once answered: a reused batch must start empty and must not keep
// the connections of its earlier requests alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addToQueue, newQueue, recycleQueue } from '../src/app/pending-requests.js';
import type { ReplySink } from '../src/transport/dispatch.js';

const sink = (): ReplySink => ({ push: () => true, flush: () => undefined });

test('an answered batch comes back empty, for its new shard, without its sinks', () => {
  const q = newQueue(0);
  const sinks = [sink(), sink(), sink()];
  sinks.forEach((s, i) => addToQueue(q, 10 + i, s, i, i));
  q.flat.push(10, 'cart:a', 1, 'get');
  q.answered = new Uint8Array(3);
  q.held = [sinks[0]];
  q.watches = [1];
  q.keys = ['cart:a'];
  recycleQueue(q);
  const again = newQueue(1);
  assert.equal(again, q, 'the spare batch is reused');
  assert.equal(again.shard, 1);
  assert.equal(again.n, 0);
  assert.deepEqual(again.flat, []);
  assert.equal(again.answered, null);
  assert.equal(again.held, null);
  assert.equal(again.watches, null);
  assert.equal(again.keys, null);
  for (const s of sinks) assert.ok(!again.sinks.includes(s), "an earlier request's sink is let go");
  addToQueue(again, 99, sinks[0], 7, 1.5);
  assert.deepEqual([again.n, again.ids[0], again.tags[0], again.starts[0]], [1, 99, 7, 1.5]);
});

test('a batch with more slots than the bound is not kept', () => {
  const q = newQueue(0);
  for (let i = 0; i < 2000; i++) addToQueue(q, i, sink(), 0, 0);
  recycleQueue(q);
  assert.notEqual(newQueue(0), q);
});
