// A product drop survives kill -9: the queue of those who joined before the start, then the
// admissions made and the order of those still waiting (drops.test.ts has the drop itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, serverRestarts, tmpDataDir, until, connect } from './helpers/server.js';
import { ADDRESS_GB, stockedSku } from './helpers/commerce.js';
import type { CartwireClient } from '../src/client/index.js';

const checkout = (c: CartwireClient, key: string) => c.call('checkout', { idempotencyKey: key, payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });

test('kill -9 keeps a drop: its queue before the start, then its admissions and the order of those still waiting', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir);
  let srv = await start();
  const admin = await connectAdmin(srv.url);
  await stockedSku(admin, 'drop-kill', 50);
  const tokens: string[] = [];
  for (let i = 0; i < 6; i++) {
    const c = await connect(srv.url);
    tokens.push((await c.call('auth.guest', {})).token);
    await c.close();
  }
  const startsAt = Date.now() + 4_000;
  await admin.call('drop.create', { dropId: 'kill', sku: 'drop-kill', startsAt, admitPerSecond: 1, checkoutWindowMs: 600_000 });
  const resume = async (url: string, token: string) => {
    const c = await connect(url);
    await c.call('auth.resume', { token });
    return c;
  };
  for (const token of tokens) {
    const c = await resume(srv.url, token);
    await c.call('drop.join', { dropId: 'kill' });
    await c.close();
  }
  await admin.close();
  await srv.kill9(); // acknowledged joins, before the start

  srv = await start();
  const users = await Promise.all(tokens.map((tk) => resume(srv.url, tk)));
  await until(() => Date.now() > startsAt + 100, { timeoutMs: 20_000, what: 'the start' });
  const places = async () => Promise.all(users.map((u) => u.call('drop.join', { dropId: 'kill' })));
  const before = await places();
  assert.deepEqual(before.map((p) => p.position).sort(), [0, 1, 2, 3, 4, 5], 'all six joiners are in the queue after the restart');
  // Wait for a second admission, then kill again.
  let mid = before;
  await until(
    async () => {
      mid = await places();
      return mid.filter((p) => p.admitted).length >= 2;
    },
    { timeoutMs: 20_000, what: 'two admissions' },
  );
  await Promise.all(users.map((u) => u.close()));
  await srv.kill9();

  srv = await start();
  const back = await Promise.all(tokens.map((tk) => resume(srv.url, tk)));
  t.after(() => Promise.all(back.map((u) => u.close())));
  const after = await Promise.all(back.map((u) => u.call('drop.join', { dropId: 'kill' })));
  for (const [i, p] of mid.entries()) {
    if (p.admitted) assert.deepEqual(after[i], p, `user ${i}: the admission and its window survived`);
  }
  // Those still waiting keep their order (places shift only by admissions since).
  const waitingBefore = mid.flatMap((p, i) => (p.admitted ? [] : [[i, p.position!] as const])).sort((a, b) => a[1] - b[1]);
  const waitingAfter = waitingBefore.filter(([i]) => !after[i].admitted).map(([i]) => [i, after[i].position!] as const);
  assert.deepEqual(
    waitingAfter.map(([i]) => i),
    [...waitingAfter].sort((a, b) => a[1] - b[1]).map(([i]) => i),
    'the waiting order is kept',
  );
  // And the queue goes on: everyone is admitted in the end, in that order.
  await until(async () => (await Promise.all(back.map((u) => u.call('drop.join', { dropId: 'kill' })))).every((p) => p.admitted), {
    timeoutMs: 20_000,
    what: 'every joiner admitted after the restarts',
  });
  // An admitted user buys after the restarts.
  await back[0].call('cart.add', { sku: 'drop-kill', qty: 1 });
  assert.equal((await checkout(back[0], 'after-kill')).status, 'confirmed');
});
