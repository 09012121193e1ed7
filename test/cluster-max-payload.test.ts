// A cluster on a NATS server that takes messages of at most 64 KiB (max_payload; 1 MiB by
// default): nothing a node sends may outgrow it. A joining node gets the whole catalog, a burst of
// writes to one cart in one frame is stored and answered, partition snapshots are stored in
// smaller chunks (the journal is trimmed behind them), and after kill -9 the other node serves
// every acknowledged change. Real nodes, a real nats-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { CartwireClient } from '../src/client/index.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { stockedSku } from './helpers/commerce.js';
import { adminOn, balanced, partitionOf, retryUnavailable, startNode } from './helpers/cluster.js';
import { cartKey } from '../src/protocol/keys.js';
import { until } from './helpers/server.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed';

async function snapshotHeads(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const info = await (await jetstreamManager(nc)).streams.info('CW_SNAPSHOTS', { subjects_filter: 'cw.sh.>' });
    return Object.keys(info.state.subjects ?? {}).length;
  } finally {
    await nc.close();
  }
}

test('cluster on a NATS server with a 64 KiB max_payload: catalog sync, a burst of writes, snapshots, failover', { skip }, async (t) => {
  const [nats] = await startNats(t, 1, 'max_payload: 65536\n');
  const env = { CLUSTER_SNAPSHOT_EVERY: '20' };
  const a = await startNode(t, nats.url, 'a', env);
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  await stockedSku(adm, 'burst-sku', 1_000_000, 100);
  const b = await startNode(t, nats.url, 'b', { ...env, SEED_DEMO: '0' });
  const owners = await balanced([a, b], token);

  // b has no catalog of its own: it learnt a's in the views a sent it.
  const onA = await CartwireClient.connect(a.server.url);
  const onB = await CartwireClient.connect(b.server.url);
  t.after(() => Promise.all([onA.close(), onB.close()]));
  const search = { limit: 100 };
  const fromA = await onA.call('catalog.search', search);
  assert.ok(fromA.items.length > 0);
  assert.deepEqual((await onB.call('catalog.search', search)).items.map((p) => p.productId).sort(), fromA.items.map((p) => p.productId).sort());

  // 250 adds in one frame (the client batches the calls of one tick), through the node that does
  // not own the cart: forwarded as one batch, its answers too many for one message.
  const { token: guest, userId } = await onA.call('auth.guest', {});
  const [owner, other] = owners.get(partitionOf(cartKey(userId))) === 'a' ? [a, b] : [b, a];
  const shopper = other === a ? onA : onB;
  await shopper.call('auth.resume', { token: guest });
  const burst = await Promise.all(Array.from({ length: 250 }, () => shopper.call('cart.add', { sku: 'burst-sku', qty: 1 })));
  assert.equal(burst.length, 250);
  assert.equal((await shopper.call('cart.get', {})).items[0]?.qty, 250);
  await until(async () => (await snapshotHeads(nats.url)) > 0, { timeoutMs: 20_000, what: 'a partition snapshot stored' });

  await owner.server.kill9();
  const after = await CartwireClient.connect(other.server.url);
  t.after(() => after.close());
  await after.call('auth.resume', { token: guest });
  assert.equal((await retryUnavailable(() => after.call('cart.get', {}))).items[0]?.qty, 250, `every acknowledged add, read through ${other.id}`);
  assert.doesNotMatch(a.server.output() + b.server.output(), /max_payload|could not be (stored|published|sent)/);
});
