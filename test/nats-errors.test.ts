// The NATS client's errors as cluster mode reads them (a lost compare-and-set, a request nobody
// heard), made by a real NATS server: a client upgrade that changed them would turn a fenced
// owner into one that keeps serving, or a lost answer into "nothing was changed".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { noResponders, wrongLastSequence } from '../src/persistence/nats-errors.js';
import { haveNatsServer, rejection, startNats } from './helpers/nats.js';

test('a lost compare-and-set and a request nobody heard are told apart from a timeout', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t);
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  t.after(() => nc.close());
  const kv = await new Kvm(nc).create('errors_test');
  const rev = await kv.create('k', 'a');

  const exists = await rejection(kv.create('k', 'b'));
  const stale = await rejection(kv.update('k', 'b', rev + 1));
  assert.ok(wrongLastSequence(exists), String(exists));
  assert.ok(wrongLastSequence(stale), String(stale));
  assert.equal(noResponders(stale), false);

  const nobody = await rejection(nc.request('nobody.listens', 'x', { timeout: 2000 }));
  assert.ok(noResponders(nobody), String(nobody));
  assert.equal(wrongLastSequence(nobody), false);
  const nobodyMany = await rejection(
    (async () => {
      for await (const m of await nc.requestMany('nobody.listens', 'x', { maxWait: 500, strategy: 'count', maxMessages: 2 })) void m;
    })(),
  );
  assert.ok(noResponders(nobodyMany), String(nobodyMany));

  nc.subscribe('slow', { callback: () => undefined });
  await nc.flush();
  const late = await rejection(nc.request('slow', 'x', { timeout: 100 }));
  assert.equal(noResponders(late), false, String(late));
  assert.equal(wrongLastSequence(late), false);
});
