// order.list in cluster mode, for real: two cartwire nodes on one nats-server. Each node answers
// for the orders of the partitions it serves; a page is whole or refused, because a page without
// one node's orders would be wrong and its cursor would skip them for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient } from '../src/client/index.js';
import { orderKey } from '../src/protocol/keys.js';
import { until } from './helpers/server.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { stockedSku } from './helpers/commerce.js';
import { adminOn, balanced, codeOf, partitionOf, retryUnavailable, startNode } from './helpers/cluster.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed';
const ADDRESS = { name: 'Ada', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };

test(
  'cluster: a node that holds orders and does not answer makes order.list UNAVAILABLE, not a page without its orders; once its partitions move, the page holds every order',
  { skip },
  async (t) => {
    const [nats] = await startNats(t, 1);
    const a = await startNode(t, nats.url, 'a');
    const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
    const { c: admin, token } = await adminOn(a.server.url);
    t.after(() => admin.close());
    const owners = await balanced([a, b], token);
    await retryUnavailable(() => stockedSku(admin, 'list-sku', 100, 500));

    // Orders until both nodes hold some (an order lives in the partition of its id).
    const buyer = await CartwireClient.connect(a.server.url);
    t.after(() => buyer.close());
    await buyer.call('auth.guest', {});
    const orders: string[] = [];
    const heldBy = (node: string) => orders.some((id) => owners.get(partitionOf(orderKey(id))) === node);
    for (let i = 0; i < 40 && !(heldBy('a') && heldBy('b')); i++) {
      await retryUnavailable(() => buyer.call('cart.add', { sku: 'list-sku', qty: 1 }));
      const o = await retryUnavailable(() => buyer.call('checkout', { idempotencyKey: `list-${i}`, payment: { token: 'tok_visa' }, shippingAddress: ADDRESS }));
      orders.push(o.orderId);
    }
    assert.ok(heldBy('a') && heldBy('b'), 'orders on both nodes');
    const listed = async () => (await admin.call('order.list', { limit: 100 })).items.map((o) => o.orderId);
    assert.deepEqual((await retryUnavailable(listed)).sort(), [...orders].sort(), 'every order, whichever node holds it');

    // b stops answering (paused): it still counts as a live node until its beat and leases lapse.
    b.server.proc.kill('SIGSTOP');
    t.after(() => void b.server.proc.kill('SIGCONT'));
    assert.equal(await codeOf(listed()), 'UNAVAILABLE', "a page without b's orders is refused");
    // Once b's leases lapse, a serves b's partitions (caught up from the journal) and lists them.
    await until(
      async () => {
        const ids = await listed().catch((): string[] => []);
        return orders.every((id) => ids.includes(id));
      },
      { timeoutMs: 20_000, what: "b's orders listed through a after the failover" },
    );
  },
);
