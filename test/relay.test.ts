// The catalog and stock views nodes share over NATS, when they are more than one message can
// carry (max_payload): a change of many products is published in parts, and a joining node gets a
// whole catalog from each node in parts, every product of it. A real nats-server with a 64 KiB
// max_payload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { Relay, viewParts, type ViewUpdate } from '../src/app/cluster/relay.js';
import { NODE_CONNECTION } from '../src/persistence/nats-streams.js';
import type { ProductView } from '../src/protocol/types.js';
import { decodeValue } from '../src/protocol/frames.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { until } from './helpers/server.js';

/** `n` products of about 600 bytes each, as the catalog read model holds them. */
function products(n: number): ProductView[] {
  return Array.from(
    { length: n },
    (_, i) =>
      ({
        productId: `p${i}`,
        name: `Product ${i}`,
        description: 'd'.repeat(500),
        category: 'tees',
        variants: [{ sku: `sku-${i}`, size: 'M', color: 'black', price: 1999 }],
      }) as unknown as ProductView,
  );
}
const ids = (u: ViewUpdate[]): string[] => u.flatMap((x) => (x.products ?? []).map((p) => p.productId)).sort();
const stockOf = (u: ViewUpdate[]): [string, number][] => u.flatMap((x) => x.stock ?? []);

test('viewParts: whole when it fits; else parts within the limit that hold every entry once', () => {
  const u: ViewUpdate = {
    stock: [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ],
    products: products(200),
  };
  assert.equal(viewParts(u, 1_000_000).length, 1);
  const parts = viewParts(u, 20_000).map((p) => decodeValue(p.bytes) as ViewUpdate);
  assert.ok(parts.length >= 7, `${parts.length} parts`);
  for (const { bytes } of viewParts(u, 20_000)) assert.ok(bytes.length <= 20_000, `a part of ${bytes.length} bytes`);
  assert.deepEqual(ids(parts), ids([u]));
  assert.deepEqual(stockOf(parts), u.stock);
  // One product over the limit alone cannot be sent: left out, not an endless split.
  assert.deepEqual(viewParts({ stock: null, products: products(1) }, 100), []);
});

test('views over max_payload: published in parts, and a joining node gets every product of a large catalog', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t, 1, 'max_payload: 65536\n');
  const [ncA, ncB] = await Promise.all([connect({ servers: server.url, ...NODE_CONNECTION }), connect({ servers: server.url, ...NODE_CONNECTION })]);
  t.after(() => Promise.all([ncA.close(), ncB.close()]));
  const catalog = products(500); // ~300 KB
  const a = new Relay(ncA, 'a', () => undefined);
  a.followViews(
    () => undefined,
    () => ({ stock: catalog.map((p) => [`sku-${p.productId}`, 5]), products: catalog }),
  );
  await ncA.flush();

  const b = new Relay(ncB, 'b', () => undefined);
  const heard: ViewUpdate[] = [];
  assert.equal(await b.syncViews((u) => heard.push(u), 1), 1);
  assert.ok(heard.length > 1, `${heard.length} parts`);
  assert.deepEqual(ids(heard), ids([{ stock: null, products: catalog }]));
  assert.equal(stockOf(heard).length, 500);

  // A change of the whole catalog at once reaches the other node too.
  const followed: ViewUpdate[] = [];
  b.followViews(
    (u) => followed.push(u),
    () => ({ stock: null, products: null }),
  );
  await ncB.flush();
  a.publishViews({ stock: null, products: catalog });
  await until(() => ids(followed).length === 500, { what: 'every product of the change' });
});

test("another node's views message that is not one is skipped: a joining node still counts the good answers, a follower still applies the next change", async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t, 1);
  const [ncA, ncB, ncBad] = await Promise.all([1, 2, 3].map(() => connect({ servers: server.url, ...NODE_CONNECTION })));
  t.after(() => Promise.all([ncA.close(), ncB.close(), ncBad.close()]));
  const a = new Relay(ncA, 'a', () => undefined);
  a.followViews(
    () => undefined,
    () => ({ stock: [['sku-a', 3]], products: null }),
  );
  // A node of another kind: answers a sync and publishes on the views subject with bytes that are no views.
  ncBad.subscribe('cw.views.sync', { callback: (_err, m) => void m.respond(new Uint8Array([0xc1, 0xff, 0x00])) });
  await Promise.all([ncA.flush(), ncBad.flush()]);

  const b = new Relay(ncB, 'b', () => undefined);
  const heard: ViewUpdate[] = [];
  assert.equal(await b.syncViews((u) => heard.push(u), 1), 1, "a's answer counts; the bad one is skipped, not thrown");
  assert.deepEqual(stockOf(heard), [['sku-a', 3]]);

  const followed: ViewUpdate[] = [];
  b.followViews(
    (u) => followed.push(u),
    () => ({ stock: null, products: null }),
  );
  await ncB.flush();
  ncBad.publish('cw.views', new Uint8Array([0xc1]));
  ncBad.publish('cw.views', new TextEncoder().encode('not msgpack at all'));
  a.publishViews({ stock: [['sku-a', 2]], products: null });
  await until(() => followed.length > 0, { what: "a's change after the bad messages" });
  assert.deepEqual(stockOf(followed), [['sku-a', 2]]);
});
