// A group commit that fails (simulated with FAULT_FAIL_COMMITS_FOR=<actor key>, the test hook of
// the shard runtime) answers UNAVAILABLE to the requests of that commit and never ok; other actors
// keep working, the server keeps running, and the failed change is visible nowhere: not in
// memory, not after kill -9 and a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, serverRestarts, spawnServer, connect, connectGuest, connectAdmin, until, tmpDataDir, type ChildServer } from './helpers/server.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import type { CartView } from '../src/protocol/types.js';
import { holdOffline, shardOf, timerRowsOnDisk } from './helpers/holds.js';

async function resume(url: string, token: string): Promise<CartwireClient> {
  const c = await connect(url);
  await c.call('auth.resume', { token });
  return c;
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CartwireError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m === undefined ? 0 : Number(m.slice(line.length + 1));
}

test('FAULT_FAIL_COMMITS_FOR=cart:<user>: that cart answers UNAVAILABLE to every change, nothing of it persists, everyone else goes on', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir);

  // Before the fault: two guests with committed carts.
  const a = await start();
  const victim = await connect(a.url);
  const { token: victimToken, userId: victimId } = await victim.call('auth.guest', {});
  const committed = await victim.call('cart.add', { sku: 'soap-bar', qty: 2 });
  const other = await connect(a.url);
  const { token: otherToken } = await other.call('auth.guest', {});
  const otherBefore = await other.call('cart.add', { sku: 'kite', qty: 1 });
  await Promise.all([victim.close(), other.close()]);
  await a.kill9();

  // The victim's cart cannot commit any more.
  const b = await start({ FAULT_FAIL_COMMITS_FOR: `cart:${victimId}` });
  const v = await resume(b.url, victimToken);
  const o = await resume(b.url, otherToken);
  t.after(() => Promise.all([v.close(), o.close()]));
  for (let i = 0; i < 5; i++) {
    // One at a time, so each failing commit is a batch of its own.
    await rejects(v.call('cart.add', { sku: 'mug-stoneware-sand', qty: 1 }), 'UNAVAILABLE');
    await rejects(v.call('cart.setQty', { sku: 'soap-bar', qty: 7 }), 'UNAVAILABLE');
    await rejects(v.call('cart.remove', { sku: 'soap-bar' }), 'UNAVAILABLE');
    await rejects(v.call('cart.clear', {}), 'UNAVAILABLE');
    // Between the failures, other actors' requests in other batches commit as usual.
    const oc = await o.call('cart.setQty', { sku: 'kite', qty: 2 + i });
    assert.equal(oc.version, otherBefore.version + 1 + i);
    assert.equal(oc.items[0].qty, 2 + i);
  }
  // A change that changes nothing has nothing to commit: it is answered from what is stored.
  assert.deepEqual(await v.call('cart.setQty', { sku: 'soap-bar', qty: 2 }), committed);
  // Reads show the state on disk: the failed changes left nothing in memory.
  assert.deepEqual(await v.call('cart.get', {}), committed);
  const token = await adminToken(b.url);
  const inspected = await (await fetch(`${b.url}/snapshot/carts/${victimId}`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(inspected, committed);
  const admin = await connectAdmin(b.url);
  t.after(() => admin.close());
  const inv = await admin.call('inventory.adjust', { sku: 'soap-bar', type: 'purchase', qty: 3, reason: 'restock during the fault' });

  // The server kept running and counted exactly the failures.
  assert.equal(b.proc.exitCode, null);
  assert.equal((await fetch(`${b.url}/healthz`)).status, 200);
  assert.equal(await metric(b.url, 'cartwire_requests_total{op="cart.add",outcome="UNAVAILABLE"}'), 5);
  assert.equal(await metric(b.url, 'cartwire_requests_total{op="cart.setQty",outcome="UNAVAILABLE"}'), 5);
  assert.equal(await metric(b.url, 'cartwire_requests_total{op="cart.remove",outcome="UNAVAILABLE"}'), 5);
  assert.equal(await metric(b.url, 'cartwire_requests_total{op="cart.clear",outcome="UNAVAILABLE"}'), 5);
  assert.equal(await metric(b.url, 'cartwire_requests_total{op="cart.setQty",outcome="ok"}'), 6);
  assert.doesNotMatch(b.output(), /exiting|crashed|exited unexpectedly/);
  assert.match(b.output(), /simulated I\/O error \(failCommitsFor\)/, 'the failure is logged');
  await b.kill9();

  // After kill -9 and a restart without the fault: the failed changes never happened, the others did.
  const c = await start();
  const v2 = await resume(c.url, victimToken);
  const o2 = await resume(c.url, otherToken);
  t.after(() => Promise.all([v2.close(), o2.close()]));
  assert.deepEqual(await v2.call('cart.get', {}), committed);
  const otherAfter = await o2.call('cart.get', {});
  assert.equal(otherAfter.version, otherBefore.version + 5);
  assert.equal(otherAfter.items[0].qty, 6);
  const g = await connectGuest(c.url);
  t.after(() => g.close());
  assert.deepEqual(await g.call('inventory.get', { sku: 'soap-bar' }), inv);
  // The cart goes on from the version on disk.
  const next: CartView = await v2.call('cart.add', { sku: 'soap-bar', qty: 1 });
  assert.equal(next.version, committed.version + 1);
  assert.equal(next.items[0].qty, 3);
});

test('FAULT_FAIL_COMMITS_FOR=sku:<sku>: stock changes of that sku fail with UNAVAILABLE and are not kept; carts and other skus work', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir);

  // The first start seeds the demo stock; the fault comes with the restart.
  const a = await start();
  const seeded = await connectGuest(a.url);
  const kite = await seeded.call('inventory.get', { sku: 'kite' });
  await seeded.close();
  assert.ok(kite.onHand > 1);
  await a.kill9();

  const b = await start({ FAULT_FAIL_COMMITS_FOR: 'sku:kite' });
  const admin = await connectAdmin(b.url);
  const guest = await connectGuest(b.url);
  t.after(() => Promise.all([admin.close(), guest.close()]));
  assert.deepEqual(await admin.call('inventory.get', { sku: 'kite' }), kite);
  for (const type of ['purchase', 'sale', 'adjustment'] as const) {
    await rejects(admin.call('inventory.adjust', { sku: 'kite', type, qty: 1, reason: `${type} during the fault` }), 'UNAVAILABLE');
    assert.deepEqual(await admin.call('inventory.get', { sku: 'kite' }), kite, `after the failed ${type}`);
  }
  const tent = await admin.call('inventory.adjust', { sku: 'tent-2p', type: 'purchase', qty: 4, reason: 'restock', referenceId: 'po-1' });
  const cart = await guest.call('cart.add', { sku: 'kite', qty: 2 }); // the cart actor, not the sku's
  assert.equal(cart.items[0].qty, 2);
  assert.equal(b.proc.exitCode, null);
  await b.kill9();

  const c = await start();
  const admin2 = await connectAdmin(c.url);
  t.after(() => admin2.close());
  assert.deepEqual(await admin2.call('inventory.get', { sku: 'kite' }), kite);
  assert.deepEqual(await admin2.call('inventory.get', { sku: 'tent-2p' }), tent);
  const after = await admin2.call('inventory.adjust', { sku: 'kite', type: 'purchase', qty: 1, reason: 'disk is back' });
  assert.equal(after.onHand, kite.onHand + 1);
  assert.equal(after.version, kite.version + 1);
});

test('a demo seed whose stock cannot be stored stops the first start instead of running without that stock', async (t) => {
  const dataDir = tmpDataDir(t);
  let started: ChildServer;
  try {
    started = await spawnServer(dataDir, { FAULT_FAIL_COMMITS_FOR: 'sku:kite' });
  } catch (e) {
    assert.match(String(e), /exited with 1 before listening/);
    assert.match(String(e), /kite/);
    return;
  }
  const g = await connectGuest(started.url);
  const kite = await g.call('inventory.get', { sku: 'kite' }).finally(() => g.close());
  await started.kill9();
  assert.fail(`the server started and is ready with kite at onHand ${kite.onHand}: the seed's stock was lost silently`);
});

test('a hold whose release cannot be committed stays held, is retried about once a second (not lost, no spin), and goes once the disk works', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: '2' });
  const available = async (url: string) => {
    const c = await connect(url);
    const p = await c.call('catalog.get', { productId: 'kite' }).finally(() => c.close());
    return p.variants[0].available!;
  };

  const a = await start();
  const before = await available(a.url);
  await a.kill9();
  const held = holdOffline(dataDir, 2, 'kite', 'order-x', 3, 1); // expired by the time a server runs
  assert.equal(held.view.available, before - 3);

  const b = await start({ FAULT_FAIL_COMMITS_FOR: 'sku:kite' });
  // One log line per failed attempt (the error's message appears in it more than once: message, stack).
  const attempts = () =>
    b
      .output()
      .split('\n')
      .filter((l) => l.includes('simulated I/O error')).length;
  const seenAt: number[] = []; // when each failed attempt was first seen
  await until(
    () => {
      for (let n = attempts(); seenAt.length < n;) seenAt.push(Date.now());
      return seenAt.length >= 3;
    },
    { timeoutMs: 10_000, what: 'three attempts to release the expired hold' },
  );
  assert.ok(seenAt[2] - seenAt[1] >= 500, `a retry ${seenAt[2] - seenAt[1]} ms after the previous failure: a spin`);
  assert.ok(attempts() <= 4, `${attempts()} attempts`);
  assert.equal(await available(b.url), before - 3, 'the failed release is not visible');
  await b.kill9();

  const c = await start();
  await until(async () => (await available(c.url)) === before, { timeoutMs: 10_000, what: 'the hold to be released without the fault' });
  await c.kill9();
  assert.deepEqual(timerRowsOnDisk(dataDir, shardOf('sku:kite', 2)), []);
});
