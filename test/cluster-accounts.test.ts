// Accounts in cluster mode, for real: two cartwire nodes on one nats-server with JetStream, as
// child processes on loopback. An order's address copy is sealed under its buyer's data key
// whichever node renders it, and erasure makes it unreadable on every node and leaves no revision
// of the wrapped data key in the JetStream store; user.export gathers the user's events from every
// node's event log; one node sweeps guest rows; a sign-out reaches the user's connections on every
// node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient } from '../src/client/index.js';
import { orderKey } from '../src/protocol/keys.js';
import { until } from './helpers/server.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { stockedSku } from './helpers/commerce.js';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { adminOn, balanced, codeOf, partitionOf, retryUnavailable, startNode, type ClusterNodeProc } from './helpers/cluster.js';
import { holders } from './helpers/file-scan.js';

const PASSWORD = 'cluster-erase-password';
const skip = haveNatsServer() ? false : 'nats-server is not installed';
const hex = (id: string): string => Buffer.from(id).toString('hex');

/** Every stored revision of a KV key (values and delete markers), as the bucket's history gives them. */
async function revisions(kv: KV, key: string): Promise<{ operation: string; value: string }[]> {
  const out: { operation: string; value: string }[] = [];
  for await (const e of await kv.history({ key })) out.push({ operation: e.operation, value: e.string() });
  return out;
}

/** Guest retention passes a node logged since `from` (an offset in its output). */
const sweeps = (n: ClusterNodeProc, from = 0): number =>
  n.server
    .output()
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('guest retention: swept')).length;

test(
  'cluster: orders keep their address sealed; user.export through one node names every order, whichever node committed it; after user.erase on one node every node reads it erased, and its bytes and its wrapped data key are in no file of either node or of JetStream; one node sweeps guests',
  { skip },
  async (t) => {
    const [nats] = await startNats(t, 1);
    // A retention of seconds: each node would sweep every second if every node swept.
    const retention = { GUEST_RETENTION_DAYS: '0.00005' };
    const a = await startNode(t, nats.url, 'a', retention);
    const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0', ...retention });
    const { c: adminA, token } = await adminOn(a.server.url);
    const { c: adminB } = await adminOn(b.server.url);
    t.after(() => Promise.all([adminA.close(), adminB.close()]));
    const owners = await balanced([a, b], token);
    // The sweeper is the node serving partition 0; a pass of the other one after this is a second sweeper.
    const [sweeper, other] = owners.get(0) === 'a' ? [a, b] : [b, a];
    const before = sweeps(sweeper);
    await until(() => sweeps(sweeper) > before, { timeoutMs: 10_000, what: `a guest retention pass on ${sweeper.id}` });
    const marks = new Map([sweeper, other].map((n) => [n.id, n.server.output().length]));
    const nc = await natsConnect({ servers: nats.url });
    t.after(() => nc.close());
    const kvm = new Kvm(nc);
    const [users, keys] = [await kvm.open('cw-users'), await kvm.open('cw-keys')];
    await retryUnavailable(() => stockedSku(adminA, 'seal-sku', 100, 1200));

    const secrets = { name: 'Quirinus Vantablack', line1: '31 Zephyrine Wharf', city: 'Oxbrindle', postalCode: 'ZQ7 4XW' };
    const onA = await CartwireClient.connect(a.server.url);
    t.after(() => onA.close());
    const { userId } = await onA.call('auth.register', { email: 'quirinus@example.com', password: PASSWORD, name: secrets.name });
    const home = await onA.call('address.add', { ...secrets, country: 'NL' });
    await onA.call('user.update', { name: secrets.name, preferences: { marketing: true } });
    // The wrapped data key, in its own entry; the account entry names it and never carries it.
    const wrapped = (await keys.get(`k${hex(userId)}`))!.string();
    assert.match(wrapped, /^cw1\./);
    const account = (await users.get(`u${hex(userId)}`))!.json<Record<string, unknown>>();
    assert.deepEqual([account.dataKey, 'wrappedKey' in account], [`k${hex(userId)}`, false], 'the account entry refers to the key');
    for (const r of await revisions(users, `u${hex(userId)}`)) assert.ok(!r.value.includes(wrapped), 'no revision of the account carries the key');
    // The scan can see the key while it is stored (so its absence below means something).
    await until(() => holders(nats.dir, wrapped).length > 0, { timeoutMs: 10_000, what: 'the wrapped key in the JetStream store' });
    // Orders placed through a until one lives in a partition b owns: b's shards render it.
    const orders: { orderId: string; total: number }[] = [];
    for (let i = 0; i < 12 && !orders.some((o) => owners.get(partitionOf(orderKey(o.orderId))) === 'b'); i++) {
      await retryUnavailable(() => onA.call('cart.add', { sku: 'seal-sku', qty: 1 }));
      const o = await retryUnavailable(() =>
        onA.call('checkout', { idempotencyKey: `seal-${i}`, payment: { token: 'tok_visa' }, shippingAddressId: home.addressId }),
      );
      assert.equal(o.shippingAddress.line1, secrets.line1, 'the checkout answer shows the address');
      orders.push({ orderId: o.orderId, total: o.totals.total });
    }
    const onB = orders.find((o) => owners.get(partitionOf(orderKey(o.orderId))) === 'b');
    assert.ok(onB, 'an order lives in a partition of b');
    for (const o of orders) {
      const seen = await retryUnavailable(() => adminB.call('order.get', { orderId: o.orderId }));
      assert.deepEqual([seen.shippingAddress.name, seen.shippingAddress.line1], [secrets.name, secrets.line1], 'read through b before the erasure');
    }

    // user.export through a holds the events of every order, also of the order b committed (in b's own event log).
    const exported = await onA.call('user.export', {});
    const events = exported.events as { name: string; data: { orderId?: string } }[];
    const created = new Set(events.filter((e) => e.name === 'order_created').map((e) => e.data.orderId));
    for (const o of orders)
      assert.ok(created.has(o.orderId), `the export names order ${o.orderId}, committed on ${owners.get(partitionOf(orderKey(o.orderId)))}`);

    assert.deepEqual(await onA.call('user.erase', { password: PASSWORD }), {});
    // Every revision of the key entry is gone from the bucket's history (a delete marker stays)...
    const left = await revisions(keys, `k${hex(userId)}`);
    assert.deepEqual(
      left.filter((r) => r.operation === 'PUT' || r.value.includes(wrapped)),
      [],
      'no revision of the data key entry holds a value',
    );
    // ... and from the stream's files: erased in place, not only marked deleted.
    assert.deepEqual(holders(nats.dir, wrapped), [], 'the wrapped data key is in no file of the JetStream store');
    for (const admin of [adminA, adminB]) {
      for (const o of orders) {
        await until(async () => (await retryUnavailable(() => admin.call('order.get', { orderId: o.orderId }))).shippingAddress.erased === true, {
          timeoutMs: 10_000,
          what: `order ${o.orderId} erased`,
        });
        const kept = await admin.call('order.get', { orderId: o.orderId });
        assert.deepEqual(kept.shippingAddress, { name: '', line1: '', city: '', postalCode: '', country: 'NL', erased: true });
        assert.deepEqual([kept.totals.total, kept.status], [o.total, 'confirmed'], 'totals and status stay for the books');
      }
    }

    // Only the node serving partition 0 swept meanwhile (over at least two of its passes).
    await until(() => sweeps(sweeper, marks.get(sweeper.id)) >= 2, { timeoutMs: 10_000, what: `two more passes on ${sweeper.id}` });
    assert.equal(sweeps(other, marks.get(other.id)), 0, `${other.id}, which does not serve partition 0, did not sweep`);

    await Promise.all([onA.close(), adminA.close(), adminB.close()]);
    assert.equal(await b.server.term(), 0);
    assert.equal(await a.server.term(), 0);
    // The scan can see: the sku is stored in the clear in the journal stream, so it must be found.
    await until(() => holders(nats.dir, 'seal-sku').length > 0, { timeoutMs: 10_000, what: 'the sku in the JetStream store' });
    assert.ok(holders(a.dataDir, 'seal-sku').length > 0, "the sku in a's data directory");
    for (const dir of [a.dataDir, b.dataDir, nats.dir])
      for (const [what, value] of Object.entries({ ...secrets, wrapped })) assert.deepEqual(holders(dir, value), [], `${what} under ${dir}`);
  },
);

test('cluster: a logout on one node signs the user out on every node; an export waits for every live node', { skip }, async (t) => {
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a');
  const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
  const { c: adminA, token } = await adminOn(a.server.url);
  t.after(() => adminA.close());
  await balanced([a, b], token);

  const onA = await CartwireClient.connect(a.server.url);
  const onB = await CartwireClient.connect(b.server.url);
  const bystander = await CartwireClient.connect(b.server.url);
  t.after(() => Promise.all([onA.close(), onB.close(), bystander.close()]));
  await onA.call('auth.register', { email: 'everywhere@example.com', password: PASSWORD });
  await onB.call('auth.login', { email: 'everywhere@example.com', password: PASSWORD });
  await bystander.call('auth.register', { email: 'bystander@example.com', password: PASSWORD });
  assert.equal((await onB.call('user.get', {})).email, 'everywhere@example.com', 'signed in on b');

  await onA.call('auth.logout', {});
  assert.equal(await codeOf(onA.call('user.get', {})), 'UNAUTHENTICATED', 'the node that answered');
  await until(async () => (await codeOf(onB.call('user.get', {}))) === 'UNAUTHENTICATED', { timeoutMs: 10_000, what: "b's connection signed out" });
  assert.equal(await codeOf(retryUnavailable(() => onB.call('cart.get', {}))), 'UNAUTHENTICATED', 'every user op is refused on b');
  assert.equal((await bystander.call('user.get', {})).email, 'bystander@example.com', "another user's connection on b keeps its identity");
  // Signing in again on b works: the new token is of the new generation.
  await onB.call('auth.login', { email: 'everywhere@example.com', password: PASSWORD });
  assert.equal((await onB.call('user.get', {})).email, 'everywhere@example.com');

  // An export needs every live node's events: with b paused (still in the live list) it is
  // refused UNAVAILABLE, not answered without b's share; once b runs again it is answered.
  const exporter = await CartwireClient.connect(a.server.url);
  t.after(() => exporter.close());
  await exporter.call('auth.register', { email: 'exporter@example.com', password: PASSWORD });
  b.server.proc.kill('SIGSTOP');
  try {
    assert.equal(await codeOf(exporter.call('user.export', {})), 'UNAVAILABLE', 'b did not answer');
  } finally {
    b.server.proc.kill('SIGCONT');
  }
  const whole = await retryUnavailable(() => exporter.call('user.export', {}));
  assert.equal(whole.user.email, 'exporter@example.com');
});

test('cluster: guest rows without an order leave the accounts bucket after GUEST_RETENTION_DAYS; a guest with an order keeps its row', { skip }, async (t) => {
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a', { GUEST_RETENTION_DAYS: '0.00005', TOKEN_TTL_SECONDS: '1' });
  const { c: admin } = await adminOn(a.server.url);
  t.after(() => admin.close());
  await retryUnavailable(() => stockedSku(admin, 'guest-sku', 10, 500));
  const address = { name: 'Guest Node', line1: '8 Transient Quay', city: 'Leaseby', postalCode: '2000', country: 'FI' };
  const buyer = await CartwireClient.connect(a.server.url);
  const leaver = await CartwireClient.connect(a.server.url);
  t.after(() => Promise.all([buyer.close(), leaver.close()]));
  const { userId: buyerId } = await buyer.call('auth.guest', {});
  const saved = await buyer.call('address.add', address);
  await retryUnavailable(() => buyer.call('cart.add', { sku: 'guest-sku', qty: 1 }));
  const order = await retryUnavailable(() =>
    buyer.call('checkout', { idempotencyKey: 'g1', payment: { token: 'tok_visa' }, shippingAddressId: saved.addressId }),
  );
  const { userId: leaverId } = await leaver.call('auth.guest', {});
  await leaver.call('address.add', address);
  assert.equal((await admin.call('user.list', { q: leaverId })).items.length, 1, 'the guest row exists');

  await until(async () => (await admin.call('user.list', { q: leaverId })).items.length === 0, { timeoutMs: 15_000, what: "the idle guest's row removed" });
  // Its data key went with it: no revision of the key entry is left, in the history or in the files.
  const nc = await natsConnect({ servers: nats.url });
  t.after(() => nc.close());
  const keys = await new Kvm(nc).open('cw-keys');
  assert.deepEqual(
    (await revisions(keys, `k${hex(leaverId)}`)).filter((r) => r.operation === 'PUT'),
    [],
    "no value of the removed guest's key entry",
  );
  assert.equal((await keys.get(`k${hex(buyerId)}`))?.operation, 'PUT', 'the guest with an order keeps its key');
  assert.equal((await admin.call('user.list', { q: buyerId })).items.length, 1, 'the guest with an order keeps its row');
  assert.equal((await retryUnavailable(() => admin.call('order.get', { orderId: order.orderId }))).shippingAddress.line1, address.line1);
});
