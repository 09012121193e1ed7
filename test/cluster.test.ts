// Cluster mode for real: nats-server with JetStream and cartwire nodes as child processes on
// loopback. A client may use any node; what a node acknowledges is stored in the replicated
// journal, so a node killed with kill -9 loses nothing and its partitions are served again by the
// others; a paused owner that wakes up cannot append any more (fencing).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient, CartwireError } from '../src/client/index.js';
import { skuKey } from '../src/protocol/keys.js';
import type { CartView } from '../src/protocol/types.js';
import { until } from './helpers/server.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { errorOf, stockedSku } from './helpers/commerce.js';
import { PARTITIONS, adminOn, balanced, clusterStatus, codeOf, partitionOf, startNode, type ClusterNodeProc } from './helpers/cluster.js';
import { metricSum } from './helpers/proc.js';

type Node = ClusterNodeProc;

/** One NATS server and three nodes (a seeds the demo catalog), with an admin signed in on `on`. */
async function threeNodes(t: TestContext, on: 'a' | 'c') {
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a');
  const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
  const c = await startNode(t, nats.url, 'c', { SEED_DEMO: '0' });
  const { c: adm, token } = await adminOn((on === 'a' ? a : c).server.url);
  t.after(() => adm.close());
  return { nats, a, b, c, adm, token };
}

async function outcome(p: Promise<unknown>): Promise<{ code: string; applied?: unknown }> {
  try {
    await p;
    return { code: 'ok' };
  } catch (err) {
    if (err instanceof CartwireError) return { code: err.code, applied: err.details?.applied };
    throw err;
  }
}

/** The longest a read waited for its partition to be served again (printed by the tests that read after a fault). */
let longestWaitMs = 0;

/**
 * Calls `f` again while it answers UNAVAILABLE, as a client does: for up to 30 s (on a machine
 * whose cores every process shares, a JetStream leader election can hold partitions that long).
 */
async function retryUnavailable<T>(f: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      const out = await f();
      longestWaitMs = Math.max(longestWaitMs, Date.now() - started);
      return out;
    } catch (err) {
      if (!(err instanceof CartwireError) || err.code !== 'UNAVAILABLE' || Date.now() - started > 30_000) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

test('three nodes share the shop: ops and pushes through any node, accounts everywhere, a checkout whose lines live on three owners', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const { nats, a, b, c, adm, token } = await threeNodes(t, 'c');
  const owners = await balanced([a, b, c], token);
  // Actor ops retry UNAVAILABLE as clients do: on a loaded machine a lease can lapse and move a
  // partition mid-test (nothing was changed by such an answer).

  // A sku on each node's partitions, stocked through one node.
  const skus: Record<string, string> = {};
  for (let i = 0; Object.keys(skus).length < 3 && i < 500; i++) {
    const sku = `cl-sku-${i}`;
    const owner = owners.get(partitionOf(skuKey(sku)))!;
    if (!skus[owner]) skus[owner] = sku;
  }
  for (const sku of Object.values(skus)) await retryUnavailable(() => stockedSku(adm, sku, 10, 1000));

  // A guest signed in on node a, its second device on node b: pushes cross nodes.
  const onA = await CartwireClient.connect(a.server.url);
  const onB = await CartwireClient.connect(b.server.url);
  t.after(() => Promise.all([onA.close(), onB.close()]));
  const guest = await onA.call('auth.guest', {});
  await onB.call('auth.resume', { token: guest.token });
  const heard: CartView[] = [];
  onA.onPush((push, data) => {
    if (push === 'cart.updated') heard.push(data as CartView);
  });
  await retryUnavailable(() => onA.call('cart.subscribe', {}));
  let last: CartView | undefined;
  for (const sku of Object.values(skus)) last = await retryUnavailable(() => onB.call('cart.add', { sku, qty: 2 }));
  await until(() => heard.some((x) => x.version === last!.version), { what: 'the cart push on node a for changes made through node b' });
  assert.deepEqual(
    (await retryUnavailable(() => onA.call('cart.get', {}))).items.map((l) => l.qty),
    [2, 2, 2],
  );

  // Checkout through node c: holds on three owners, the order on a fourth partition.
  const onC = await CartwireClient.connect(c.server.url);
  t.after(() => onC.close());
  await onC.call('auth.resume', { token: guest.token });
  // The same idempotency key makes a retried checkout the same one.
  const order = await retryUnavailable(() =>
    onC.call('checkout', {
      idempotencyKey: 'k-cluster',
      payment: { token: 'tok_visa' },
      shippingAddress: { name: 'Ada', line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' },
    }),
  );
  assert.equal(order.status, 'confirmed');
  for (const sku of Object.values(skus)) {
    const inv = await retryUnavailable(() => adm.call('inventory.get', { sku }));
    assert.deepEqual([inv.onHand, inv.reserved], [8, 0], `${sku} sold on its owner`);
  }
  assert.equal((await retryUnavailable(() => onA.call('order.get', { orderId: order.orderId }))).status, 'confirmed');
  // order.list gathers every node's partitions, whichever node answers.
  for (const cl of [onA, onB])
    assert.deepEqual(
      (await retryUnavailable(() => cl.call('order.list', {}))).items.map((o) => o.orderId),
      [order.orderId],
    );
  assert.ok(
    (await retryUnavailable(() => adm.call('order.list', { limit: 100 }))).items.some((o) => o.orderId === order.orderId),
    'admins see it too',
  );
  assert.deepEqual((await retryUnavailable(() => onB.call('cart.get', {}))).items, [], 'the cart emptied');

  // Accounts are the cluster's: registered through a, signed in through b.
  const r = await onA.call('auth.register', { email: 'cluster@example.com', password: 'long enough password' });
  const viaB = await CartwireClient.connect(b.server.url);
  t.after(() => viaB.close());
  assert.equal((await viaB.call('auth.login', { email: 'cluster@example.com', password: 'long enough password' })).userId, r.userId);
  assert.equal(await codeOf(viaB.call('auth.register', { email: 'cluster@example.com', password: 'another password' })), 'CONFLICT');
  // A profile written through one node reads through another; a username is unique cluster-wide.
  await onA.call('user.update', { username: 'clusterer' });
  await onA.call('address.add', { name: 'C', line1: '1 Node St', city: 'Natsville', postalCode: '4222', country: 'SE' });
  const seen = await viaB.call('user.get', {});
  assert.deepEqual([seen.email, seen.username], ['cluster@example.com', 'clusterer']);
  assert.deepEqual(
    (await viaB.call('address.list', {})).map((x) => x.line1),
    ['1 Node St'],
  );
  assert.equal(await codeOf(onB.call('user.update', { username: 'clusterer' })), 'CONFLICT');
  // A logout through a refuses the token everywhere.
  await onA.call('auth.logout', {});
  const probe = await CartwireClient.connect(c.server.url);
  t.after(() => probe.close());
  assert.equal(await codeOf(probe.call('auth.resume', { token: r.token })), 'UNAUTHENTICATED');

  // Every series of a node's metrics carries its NODE_ID, so the nodes' scrapes add up.
  const metrics = await (await fetch(`${b.server.url}/metrics`)).text();
  assert.match(metrics, /^cartwire_requests_total\{[^}]*node="b"/m);
  assert.doesNotMatch(metrics, /^cartwire_requests_total\{(?![^}]*node=)/m, 'no series without the node label');
  // The cluster's own series: every partition served by one node, three live nodes seen by each;
  // requests forwarded to their owner are counted by op where the client sent them, never as "unknown".
  const nodes = [a, b, c];
  const served = await Promise.all(nodes.map((n) => metricSum(n.server.url, 'cartwire_cluster_partitions', { state: 'serving' })));
  assert.equal(
    served.reduce((x, y) => x + y, 0),
    PARTITIONS,
    `partitions served per node: ${served.join(', ')}`,
  );
  for (const n of nodes) assert.equal(await metricSum(n.server.url, 'cartwire_cluster_nodes'), 3, `${n.id} sees three live nodes`);
  // Every partition a node serves was caught up there once at least (taken at start or from another node).
  const caughtUp = await Promise.all(nodes.map((n) => metricSum(n.server.url, 'cartwire_cluster_catchup_seconds_count')));
  nodes.forEach((n, i) => assert.ok(caughtUp[i] >= served[i], `${n.id}: ${caughtUp[i]} catch-ups for ${served[i]} partitions served`));
  const forwarded = await Promise.all(nodes.map((n) => metricSum(n.server.url, 'cartwire_cluster_forwarded_total', { outcome: 'ok' })));
  assert.ok(
    forwarded.some((x) => x > 0),
    `requests were forwarded: ${forwarded.join(', ')}`,
  );
  for (const n of nodes)
    assert.equal(await metricSum(n.server.url, 'cartwire_requests_total', { op: 'unknown', outcome: 'ok' }), 0, `${n.id}: no answered request without its op`);
  const addsOnB = await metricSum(b.server.url, 'cartwire_requests_total', { op: 'cart.add', outcome: 'ok' });
  assert.ok(addsOnB >= Object.keys(skus).length, `b counts the cart.adds sent to it, wherever the cart lives: ${addsOnB}`);

  // The domain events of every node's commits are in the cluster's event stream.
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const events = await (await jetstreamManager(nc)).streams.info('CW_EVENTS', { subjects_filter: 'cw.ev.>' });
  const writers = Object.keys(events.state.subjects ?? {}).map((s) => Buffer.from(s.slice('cw.ev.'.length), 'hex').toString());
  assert.deepEqual(writers.sort(), ['a', 'b', 'c'], 'each node appended the events of its commits');
});

test('kill -9 of a node under write load: every acknowledged change survives, its partitions are served again within seconds, clients resume on another node', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const { nats, a, b, c, adm, token } = await threeNodes(t, 'a');
  await balanced([a, b, c], token);
  await stockedSku(adm, 'load-sku', 1_000_000, 100);

  const nodes = [a, b, c];
  for (const [round, victim] of [b, c].entries()) {
    // Shoppers spread over the nodes; each keeps adding one unit and counts what was acknowledged.
    const shoppers = await Promise.all(
      Array.from({ length: 9 }, async (_, i) => {
        const node = nodes[i % nodes.length];
        const cl = await CartwireClient.connect(node.server.url);
        const g = await cl.call('auth.guest', {});
        return { cl, token: g.token, node, acked: 0, maybe: 0 };
      }),
    );
    let running = true;
    const load = shoppers.map(async (s) => {
      while (running) {
        const o = await outcome(s.cl.call('cart.add', { sku: 'load-sku', qty: 1 }, { timeoutMs: 3000 }));
        if (o.code === 'ok') s.acked++;
        else if (o.code === 'UNAVAILABLE' && o.applied === undefined)
          await new Promise((r) => setTimeout(r, 50)); // nothing changed
        else if (o.code === 'CLOSED' || o.code === 'TIMEOUT' || o.code === 'UNAVAILABLE') {
          // The answer was lost (the node died with it in flight): the add may or may not be stored.
          s.maybe++;
          await new Promise((r) => setTimeout(r, 50));
        } else assert.fail(`unexpected ${o.code}`);
        if (s.cl.state === 'closed') return;
      }
    });
    await until(() => shoppers.every((s) => s.acked >= 3), { timeoutMs: 10_000, what: 'load on every node' });
    const killedAt = Date.now();
    await victim.server.kill9();
    const survivors = nodes.filter((n) => n !== victim && n.server.proc.exitCode === null && n.server.proc.signalCode === null);
    await balanced(survivors, token, 15_000);
    const failoverMs = Date.now() - killedAt;
    t.diagnostic(`round ${round + 1}: node ${victim.id} killed; every partition served again after ${failoverMs} ms`);
    assert.ok(failoverMs < 10_000, `failover took ${failoverMs} ms`);
    running = false;
    await Promise.all(load);
    // Every shopper reads its cart through a surviving node: every acknowledged add, plus at most
    // the adds whose answer was lost with the node (they may or may not have been stored).
    for (const s of shoppers) {
      const cl = await CartwireClient.connect(survivors[0].server.url);
      await cl.call('auth.resume', { token: s.token });
      const qty = (await retryUnavailable(() => cl.call('cart.get', {}))).items[0]?.qty ?? 0;
      assert.ok(qty >= s.acked && qty <= s.acked + s.maybe, `cart of a shopper on ${s.node.id}: ${qty}, acknowledged ${s.acked}, answers lost ${s.maybe}`);
      await cl.close();
    }
    const acked = shoppers.reduce((n, s) => n + s.acked, 0);
    t.diagnostic(
      `round ${round + 1}: ${acked} adds acknowledged, ${shoppers.reduce((n, s) => n + s.maybe, 0)} answers lost with the node, none lost of the acknowledged`,
    );
    await Promise.all(shoppers.map((s) => s.cl.close()));
    // The killed node comes back on its data directory and takes its share again.
    const back = await startNode(t, nats.url, victim.id, { SEED_DEMO: '0' }, victim.dataDir);
    nodes[nodes.indexOf(victim)] = back;
    await balanced(nodes, token);
  }
});

test('fencing: an owner paused past its lease cannot append when it wakes up, and stops serving the partitions it lost', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a');
  const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  const owners = await balanced([a, b], token);
  await stockedSku(adm, 'fence-sku', 1_000_000, 100);

  // Guests whose carts live on b's partitions, connected to b.
  const onB: { cl: CartwireClient; token: string; acked: number }[] = [];
  while (onB.length < 4) {
    const cl = await CartwireClient.connect(b.server.url);
    const g = await cl.call('auth.guest', {});
    if (owners.get(partitionOf(`cart:${g.userId}`)) === 'b') onB.push({ cl, token: g.token, acked: 0 });
    else await cl.close();
  }
  t.after(() => Promise.all(onB.map((s) => s.cl.close())));
  for (const s of onB) if ((await codeOf(s.cl.call('cart.add', { sku: 'fence-sku', qty: 1 }))) === 'ok') s.acked++;

  b.server.proc.kill('SIGSTOP');
  // While b sleeps, its shoppers' next adds wait in its socket buffer.
  const late = onB.map((s) => codeOf(s.cl.call('cart.add', { sku: 'fence-sku', qty: 1 }, { timeoutMs: 20_000 })));
  await balanced([a], token, 15_000).catch(async () => {
    // a alone lists b as live until b's node key expires; wait on a's own serving instead.
    await until(async () => (await clusterStatus(a.server.url, token)).owners.filter((o) => o.owner === 'a' && o.state === 'serving').length === PARTITIONS, {
      timeoutMs: 15_000,
      what: 'a serving every partition',
    });
  });
  // Meanwhile a serves b's old partitions: the shoppers go on through a.
  for (const s of onB) {
    const cl = await CartwireClient.connect(a.server.url);
    await cl.call('auth.resume', { token: s.token });
    if ((await codeOf(cl.call('cart.add', { sku: 'fence-sku', qty: 1 }))) === 'ok') s.acked++;
    await cl.close();
  }
  b.server.proc.kill('SIGCONT');
  const lateAnswers = await Promise.all(late);
  t.diagnostic(`answers b gave after waking up: ${lateAnswers.join(', ')}`);
  for (const o of lateAnswers) assert.ok(o === 'UNAVAILABLE' || o === 'ok', `b answered ${o}`);
  for (const [i, o] of lateAnswers.entries()) if (o === 'ok') onB[i].acked++;
  await until(() => /fenced|lost/.test(b.server.output()), { timeoutMs: 10_000, what: "b's log saying it lost its partitions" });
  t.diagnostic(
    b.server
      .output()
      .split('\n')
      .filter((l) => /fenced|lost/.test(l))
      .slice(0, 3)
      .join(' | '),
  );
  // Every acknowledged add is there, whoever answered it; nothing b refused appears.
  for (const s of onB) {
    const cl = await CartwireClient.connect(a.server.url);
    await cl.call('auth.resume', { token: s.token });
    assert.equal((await retryUnavailable(() => cl.call('cart.get', {}))).items[0]?.qty, s.acked);
    await cl.close();
  }
});

/** Shoppers adding one unit at a time through the given nodes, counting acknowledged and lost answers. */
async function shopLoad(nodes: Node[], n: number, sku: string) {
  const shoppers = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const cl = await CartwireClient.connect(nodes[i % nodes.length].server.url);
      const g = await cl.call('auth.guest', {});
      return { cl, token: g.token, acked: 0, maybe: 0, refused: 0 };
    }),
  );
  let running = true;
  const done = shoppers.map(async (s) => {
    while (running && s.cl.state !== 'closed') {
      const o = await outcome(s.cl.call('cart.add', { sku, qty: 1 }, { timeoutMs: 5000 }));
      if (o.code === 'ok') s.acked++;
      else if (o.code === 'UNAVAILABLE' && o.applied === undefined) s.refused++;
      else if (o.code === 'CLOSED' || o.code === 'TIMEOUT' || o.code === 'UNAVAILABLE') s.maybe++;
      else assert.fail(`unexpected ${o.code}`);
      if (o.code !== 'ok') await new Promise((r) => setTimeout(r, 50));
    }
  });
  return {
    shoppers,
    total: () => shoppers.reduce((x, s) => x + s.acked, 0),
    stop: async () => {
      running = false;
      await Promise.all(done);
    },
    /** Every acknowledged add is stored, read through `via`; at most the lost answers more. */
    check: (via: Node) =>
      explained(via, async () => {
        for (const s of shoppers) {
          const cl = await CartwireClient.connect(via.server.url);
          // A partition or the account store may still be settling after the fault: UNAVAILABLE
          // means retry, as for any client.
          await retryUnavailable(() => cl.call('auth.resume', { token: s.token }));
          const qty = (await retryUnavailable(() => cl.call('cart.get', {}))).items[0]?.qty ?? 0;
          assert.ok(qty >= s.acked && qty <= s.acked + s.maybe, `cart ${qty}, acknowledged ${s.acked}, lost answers ${s.maybe}`);
          await cl.close();
          await s.cl.close();
        }
      }),
  };
}

/**
 * `f()`, failing with what the node logged about a signal or its shutdown added: an answer such as
 * OVERLOADED "the server is shutting down" from a node the test never stopped means a signal from
 * outside the test (e.g. `pkill -f dist/src/main.js`, SIGTERM by default).
 */
async function explained<T>(node: Node, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const said = node.server
      .output()
      .split('\n')
      .filter((l) => /SIGTERM|SIGINT|draining|stopped|shutdown/.test(l));
    throw new Error(`${String(err)}; node ${node.id} logged about stopping: ${said.length ? said.join(' | ') : '(nothing)'}`, { cause: err });
  }
}

test('three NATS servers (R3): kill -9 of one under load loses no acknowledged change, and writes go on', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const servers = await startNats(t, 3);
  const url = servers.map((s) => s.url).join(',');
  const env = { CLUSTER_REPLICAS: '3' };
  const a = await startNode(t, url, 'a', env);
  const b = await startNode(t, url, 'b', { ...env, SEED_DEMO: '0' });
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  await balanced([a, b], token);
  await stockedSku(adm, 'r3-sku', 1_000_000, 100);
  const load = await shopLoad([a, b], 6, 'r3-sku');
  await until(() => load.total() > 100, { timeoutMs: 15_000, what: 'load running' });
  // A stream whose leader dies waits for NATS's election (seconds) before it takes writes again.
  const led = await streamsLedBy(url, servers[1].name);
  await servers[1].kill9();
  const killedAt = Date.now();
  const before = load.total();
  // JetStream elects new leaders for the streams the dead server led; until then appends wait
  // (retried) and leases may lapse. On failure, what the nodes logged says where it stalled.
  await until(() => load.total() > before + 200, { timeoutMs: 60_000, what: 'writes acknowledged after a NATS server died' }).catch((err: unknown) => {
    const logged = [a, b]
      .flatMap((n) =>
        n.server
          .output()
          .split('\n')
          .filter((l) => /cluster|partition|journal/.test(l)),
      )
      .slice(-20);
    throw new Error(`${String(err)}; the nodes logged:\n${logged.join('\n')}`);
  });
  t.diagnostic(`200 more adds acknowledged ${Date.now() - killedAt} ms after the NATS server was killed; it led ${led.join(', ') || 'none of the streams'}`);
  await load.stop();
  t.diagnostic(`${load.total()} adds acknowledged across the kill of one of three NATS servers`);
  const moved = [a, b].flatMap((n) =>
    n.server
      .output()
      .split('\n')
      .filter((l) => /lost|fenced|round failed/.test(l)),
  );
  t.diagnostic(`partitions lost or fenced meanwhile: ${moved.length}${moved.length ? ` (${moved.slice(0, 3).join(' | ')})` : ''}`);
  await load.check(a);
  t.diagnostic(`the longest a read waited for its partition: ${longestWaitMs} ms`);
});

test('three NATS servers (R3): the one both nodes are connected to dies; they reconnect to the others, no lease lapses, writes go on', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const servers = await startNats(t, 3);
  const all = servers.map((s) => s.url).join(',');
  const env = { CLUSTER_REPLICAS: '3' };
  // Given only servers[1], the nodes learn the other two from it (cluster gossip) to reconnect.
  const a = await startNode(t, servers[1].url, 'a', env);
  const b = await startNode(t, servers[1].url, 'b', { ...env, SEED_DEMO: '0' });
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  await balanced([a, b], token);
  await stockedSku(adm, 'drop-sku', 1_000_000, 100);
  // Every stream keeps its leader: what the kill costs is the connection alone.
  await leadersOff(all, servers[1].name);
  const load = await shopLoad([a, b], 6, 'drop-sku');
  await until(() => load.total() > 100, { timeoutMs: 15_000, what: 'load running' });
  const before = load.total();
  await servers[1].kill9();
  const killedAt = Date.now();
  await until(() => load.total() > before + 200, { timeoutMs: 30_000, what: 'writes acknowledged after the connection moved' });
  t.diagnostic(`200 more adds acknowledged ${Date.now() - killedAt} ms after the NATS server was killed`);
  await load.stop();
  const logged = (re: RegExp) =>
    [a, b].flatMap((n) =>
      n.server
        .output()
        .split('\n')
        .filter((l) => re.test(l)),
    );
  // A lease renewal in flight when the connection dropped has lost its answer; waited for until
  // its 5 s timeout, it would let the 2 s lease lapse and the partition move.
  const lost = logged(/ lost \(/);
  t.diagnostic(`partitions that lost their lease meanwhile: ${lost.length}`);
  assert.deepEqual(lost, [], 'no partition lost its lease');
  assert.ok(logged(/disconnected from NATS server/).length >= 2, 'both nodes were connected to the killed server');
  await load.check(a);
});

test('a partition whose catch-up fails is given up and taken again, not left leased and unserved', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [nats] = await startNats(t, 1);
  // Each shard's first catch-up fails, as a read from a NATS server that just died would.
  const a = await startNode(t, nats.url, 'a', { FAULT_FAIL_ACQUIRES: '1' });
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  const failed = () =>
    a.server
      .output()
      .split('\n')
      .filter((l) => /could not be taken over/.test(l));
  await until(() => failed().length === 2, { timeoutMs: 10_000, what: 'one failed catch-up per shard reported' });
  // Unreported, a failed catch-up would leave its partition "acquiring" (leased, renewed, never
  // served): every request on it answered UNAVAILABLE for as long as the node ran.
  await balanced([a], token, 15_000);
  t.diagnostic(
    `failed, then served: ${failed()
      .map((l) => /partition \d+/.exec(l)?.[0])
      .join(', ')}`,
  );
});

test('a node joins and another leaves (SIGTERM) under load: partitions move, nothing acknowledged is lost', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a');
  const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  await balanced([a, b], token);
  await stockedSku(adm, 'move-sku', 1_000_000, 100);
  const load = await shopLoad([a], 6, 'move-sku');
  await until(() => load.total() > 50, { timeoutMs: 10_000, what: 'load running' });
  const c = await startNode(t, nats.url, 'c', { SEED_DEMO: '0' });
  await balanced([a, b, c], token);
  const joined = load.total();
  assert.equal(await b.server.term(), 0, 'b leaves cleanly');
  await balanced([a, c], token);
  await until(() => load.total() > joined + 50, { timeoutMs: 10_000, what: 'writes after the moves' });
  await load.stop();
  const refused = load.shoppers.reduce((n, s) => n + s.refused, 0);
  t.diagnostic(`${load.total()} adds acknowledged while c joined and b left; ${refused} answered UNAVAILABLE (retry) during moves`);
  await load.check(a);
});

/** The streams whose JetStream leader is NATS server `name` now (the journal, the lease and beat buckets, ...). */
async function streamsLedBy(natsUrl: string, name: string): Promise<string[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const led: string[] = [];
    for await (const s of jsm.streams.list()) if (s.cluster?.leader === name) led.push(s.config.name);
    return led.sort();
  } finally {
    await nc.close();
  }
}

/** Moves every stream's JetStream leader off NATS server `name` (leader step-downs until none is left on it). */
async function leadersOff(natsUrl: string, name: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    await until(
      async () => {
        const led = await streamsLedBy(natsUrl, name);
        for (const s of led) await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${s}`, undefined, { timeout: 5_000 }).catch(() => undefined);
        return led.length === 0;
      },
      { timeoutMs: 30_000, what: `no stream led by ${name}` },
    );
  } finally {
    await nc.close();
  }
}

/** Messages in the journal stream and snapshot heads stored, read straight from NATS. */
async function journalCounts(natsUrl: string): Promise<{ journal: number; heads: number }> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const journal = (await jsm.streams.info('CW_JOURNAL')).state.messages;
    const snaps = await jsm.streams.info('CW_SNAPSHOTS', { subjects_filter: 'cw.sh.>' });
    return { journal, heads: Object.keys(snaps.state.subjects ?? {}).length };
  } finally {
    await nc.close();
  }
}

test('partition snapshots: the journal is trimmed behind them, and a node that never held a partition takes it over from its snapshot', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [nats] = await startNats(t, 1);
  const env = { CLUSTER_SNAPSHOT_EVERY: '20' };
  const a = await startNode(t, nats.url, 'a', env);
  const { c: adm, token } = await adminOn(a.server.url);
  t.after(() => adm.close());
  await stockedSku(adm, 'snap-sku', 1_000_000, 100);
  const shopper = await CartwireClient.connect(a.server.url);
  t.after(() => shopper.close());
  const { token: guest } = await shopper.call('auth.guest', {});
  const adds = 300;
  for (let i = 0; i < adds; i++) await shopper.call('cart.add', { sku: 'snap-sku', qty: 1 });
  // Each add was one journal message; snapshots taken every 20 messages of a partition trim them.
  let counts = await journalCounts(nats.url);
  await until(async () => ((counts = await journalCounts(nats.url)), counts.journal < adds / 2 && counts.heads > 0), {
    timeoutMs: 20_000,
    what: 'partitions snapshotted and the journal trimmed',
  });
  t.diagnostic(`after ${adds} adds: ${counts.journal} journal messages left, ${counts.heads} partition snapshots`);

  // b starts with an empty store, a dies: b can only have the cart from a snapshot and the tail.
  const b = await startNode(t, nats.url, 'b', { ...env, SEED_DEMO: '0' });
  await balanced([a, b], token);
  await a.server.kill9();
  const onB = await CartwireClient.connect(b.server.url);
  t.after(() => onB.close());
  await onB.call('auth.resume', { token: guest });
  assert.equal((await retryUnavailable(() => onB.call('cart.get', {}))).items[0]?.qty, adds, 'every acknowledged add, read through b');
  await retryUnavailable(() => onB.call('cart.add', { sku: 'snap-sku', qty: 1 }));
  assert.equal((await onB.call('cart.get', {})).items[0]?.qty, adds + 1, 'b appends after the snapshot and the tail');
  // The catalog actor came over too (a's demo seeding snapshotted its partition and trimmed its
  // rows): the sku still belongs to its product, so another product cannot take it.
  const { c: admB } = await adminOn(b.server.url);
  t.after(() => admB.close());
  const thief = { productId: 'thief', name: 'Thief', category: 'test', variants: [{ sku: 'snap-sku', price: 1 }] };
  const taken = await errorOf(retryUnavailable(() => admB.call('catalog.upsert', thief)));
  assert.equal(taken.code, 'CONFLICT', `the catalog b took over knows snap-sku: ${taken.message}`);
});

test('a node restarted on its store serves its catalog when the shard count does not divide the partitions (SHARDS=5, PARTITIONS=64)', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [nats] = await startNats(t, 1);
  const env = { SHARDS: '5', PARTITIONS: '64', SEED_DEMO: '0' };
  const a = await startNode(t, nats.url, 'a', env);
  const { c: adm } = await adminOn(a.server.url);
  await stockedSku(adm, 'five-sku', 10);
  await adm.close();
  assert.equal(await a.server.term(), 0, 'a stops cleanly');
  const again = await startNode(t, nats.url, 'a', env, a.dataDir);
  const shopper = await CartwireClient.connect(again.server.url);
  t.after(() => shopper.close());
  await shopper.call('auth.guest', {});
  // The catalog read model is filled at start by the shard that holds the catalog's partition.
  const cart = await retryUnavailable(() => shopper.call('cart.add', { sku: 'five-sku', qty: 1 }));
  assert.equal(cart.items[0]?.sku, 'five-sku');
});
