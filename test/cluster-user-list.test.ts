// user.list in cluster mode, for real: two cartwire nodes on one nats-server. The accounts live
// in the cluster's KV bucket, which can only list every key; each node pages through its own
// index of the bucket instead, so an admin sees every account in id order from either node and a
// page reads from NATS the rows it shows, not the whole bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient } from '../src/client/index.js';
import { until } from './helpers/server.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { adminOn, startNode } from './helpers/cluster.js';
import type { NatsServer } from '../bench/lib/nats-servers.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed';
const GUESTS = 120;

/** Every account id user.list gives through `admin`, `limit` at a time. */
async function listAll(admin: CartwireClient, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await admin.call('user.list', cursor === undefined ? { limit } : { limit, cursor });
    assert.ok(page.items.length <= limit);
    ids.push(...page.items.map((u) => u.userId));
    if (page.nextCursor === null) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('user.list did not end');
}

/** Messages the nats-server has sent to the connection called `name` so far (its /connz). */
async function sentTo(nats: NatsServer, name: string): Promise<number> {
  const res = await fetch(`${nats.monitorUrl}/connz?limit=1024`);
  const body = (await res.json()) as { connections: { name?: string; out_msgs: number }[] };
  const conn = body.connections.find((c) => c.name === name);
  assert.ok(conn, `a connection named ${name}`);
  return conn.out_msgs;
}

test('cluster: user.list pages through every account in id order from either node; a page reads its own rows from NATS, not every key', { skip }, async (t) => {
  const [nats] = await startNats(t, 1);
  const a = await startNode(t, nats.url, 'a');
  const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
  const { c: adminA } = await adminOn(a.server.url);
  const { c: adminB } = await adminOn(b.server.url);
  t.after(() => Promise.all([adminA.close(), adminB.close()]));

  // Guests with a saved address have an account row: half of them made through each node.
  const made: string[] = [];
  for (let i = 0; i < GUESTS; i++) {
    const c = await CartwireClient.connect((i % 2 === 0 ? a : b).server.url);
    try {
      const { userId } = await c.call('auth.guest', {});
      await c.call('address.add', { name: `Guest ${i}`, line1: `${i} Test Street`, city: 'Leiden', postalCode: '2311', country: 'NL' });
      made.push(userId);
    } finally {
      await c.close();
    }
  }

  for (const [id, admin] of [
    ['a', adminA],
    ['b', adminB],
  ] as const) {
    // The other node's accounts arrive through the bucket's watch.
    let listed: string[] = [];
    await until(
      async () => {
        listed = await listAll(admin, 7);
        return made.every((u) => listed.includes(u));
      },
      { timeoutMs: 10_000, what: `every guest listed through ${id}` },
    );
    assert.deepEqual(listed, [...listed].sort(), `${id}: in id order`);
    assert.equal(new Set(listed).size, listed.length, `${id}: no account twice`);
    assert.ok(listed.length >= GUESTS + 1, `${id}: the guests and the admin (${listed.length})`);
  }

  // One page of 5 reads 6 rows (and their data keys): 12 messages, where reading every key of
  // the bucket is at least one message per account. The node's ownership rounds (~30 messages
  // each, every 500 ms) run meanwhile.
  const before = await sentTo(nats, 'cartwire-b');
  const page = await adminB.call('user.list', { limit: 5 });
  const sent = (await sentTo(nats, 'cartwire-b')) - before;
  assert.equal(page.items.length, 5);
  assert.ok(sent < GUESTS, `one page of 5 took ${sent} messages from NATS (${GUESTS} accounts in the bucket)`);
});
