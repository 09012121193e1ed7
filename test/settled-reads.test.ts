// A read of an actor with no uncommitted change is answered without waiting for the group commit
// it shares a batch with; an answer that observed an uncommitted change still waits for that
// commit (the output gate). A commit made to fail (FAULT_FAIL_COMMITS_FOR) tells them apart: the
// answers that waited are refused with it, the settled reads are not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, serverRestarts, tmpDataDir } from './helpers/server.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';

type Settled<T> = { ok: true; value: T } | { ok: false; code: string };

async function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    assert.ok(e instanceof CartwireError, String(e));
    return { ok: false, code: e.code };
  }
}

async function resume(url: string, token: string): Promise<CartwireClient> {
  const c = await connect(url);
  await c.call('auth.resume', { token });
  return c;
}

test('in a batch whose commit fails, reads of unchanged actors are answered and everything that saw the change is refused', async (t) => {
  // One shard: every request of the frame lands in the same batch and the same group commit.
  const start = serverRestarts(t, tmpDataDir(t), { SHARDS: '1' });
  const a = await start();
  const first = await connect(a.url);
  const { token, userId } = await first.call('auth.guest', {});
  const committed = await first.call('cart.add', { sku: 'soap-bar', qty: 2 });
  const kite = await first.call('inventory.get', { sku: 'kite' });
  await first.close();
  await a.kill9();

  const b = await start({ FAULT_FAIL_COMMITS_FOR: `cart:${userId}` });
  const c = await resume(b.url, token);
  t.after(() => c.close());
  for (let round = 0; round < 3; round++) {
    // Called in one tick: the client sends them as one frame, in this order.
    const [before, add, sku, after] = await Promise.all([
      settle(c.call('cart.get', {})),
      settle(c.call('cart.add', { sku: 'soap-bar', qty: 1 })),
      settle(c.call('inventory.get', { sku: 'kite' })),
      settle(c.call('cart.get', {})),
    ]);
    assert.deepEqual(add, { ok: false, code: 'UNAVAILABLE' }, 'the change whose commit failed');
    assert.deepEqual(after, { ok: false, code: 'UNAVAILABLE' }, 'a read that saw the uncommitted change waits for its commit');
    assert.deepEqual(before, { ok: true, value: committed }, 'a read of the cart before the change: the stored cart');
    assert.deepEqual(sku, { ok: true, value: kite }, 'a read of an actor the commit does not touch');
  }
  // Nothing of the failed changes is anywhere.
  assert.deepEqual(await c.call('cart.get', {}), committed);
  await b.kill9();
  const d = await start();
  const c2 = await resume(d.url, token);
  t.after(() => c2.close());
  assert.deepEqual(await c2.call('cart.get', {}), committed);
});
