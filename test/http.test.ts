// HTTP on the WebSocket's port: health, readiness, metrics and the admin snapshot endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, connectAdmin, connectGuest } from './helpers/server.js';
import type { SnapshotSummary } from '../src/protocol/types.js';

test('healthz, readyz and Prometheus metrics with the runtime set', async (t) => {
  const srv = await startTestServer(t);
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
  const guest = await connectGuest(srv.url);
  t.after(() => guest.close());
  await guest.call('cart.add', { sku: 'soap-bar', qty: 1 });
  const res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  for (const name of [
    'cartwire_connections 1',
    'cartwire_requests_total{op="cart.add",outcome="ok"} 1',
    'cartwire_request_duration_seconds_bucket{le="+Inf",op="cart.add"} 1',
    'cartwire_journal_commit_duration_seconds_count',
    'cartwire_journal_batch_rows_count',
    'cartwire_shard_actors{shard="0"}',
    'cartwire_shard_mailbox_depth{shard="1"}',
    'cartwire_recs_memory_bytes{part="log"}',
    'process_cpu_seconds_total',
  ]) {
    assert.ok(text.includes(name), `metrics lack ${name}`);
  }
  assert.equal((await fetch(`${srv.url}/nope`)).status, 404);
});

test('metric names follow the Prometheus conventions: counters end in _total, nothing else does', async (t) => {
  const srv = await startTestServer(t);
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1], type: m[2] }));
  assert.ok(
    types.some((m) => m.name === 'cartwire_recs_builds_total' && m.type === 'counter'),
    'recommendation builds are a counter',
  );
  const wrong = types.filter((m) => m.name.startsWith('cartwire_') && (m.type === 'counter') !== m.name.endsWith('_total'));
  assert.deepEqual(wrong, []);
});

test('admin snapshot endpoints: 401 without a token, 403 for a guest, state as JSON for an admin', async (t) => {
  const srv = await startTestServer(t);
  const guest = await connectGuest(srv.url);
  t.after(() => guest.close());
  const guestCart = await guest.call('cart.add', { sku: 'kite', qty: 2 });
  const guestToken = (await guest.call('auth.guest', {})).token; // a second guest identity, still not admin
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  const { token } = await admin.call('auth.login', { email: 'admin@example.com', password: 'test-admin-password' });

  assert.equal((await fetch(`${srv.url}/snapshot`)).status, 401);
  assert.equal((await fetch(`${srv.url}/snapshot`, { headers: { authorization: 'Bearer not-a-jwt' } })).status, 401);
  assert.equal((await fetch(`${srv.url}/snapshot`, { headers: { authorization: `Bearer ${guestToken}` } })).status, 403);
  const auth = { headers: { authorization: `Bearer ${token}` } };

  const summary = (await (await fetch(`${srv.url}/snapshot`, auth)).json()) as SnapshotSummary;
  assert.equal(summary.shards.length, 2);
  assert.ok(summary.shards.some((s) => s.journalRows > 0));
  // Each shard thread's own heap, and the process's memory: the heaps are parts of the RSS.
  for (const s of summary.shards) assert.ok(s.heapUsedBytes > 1e6 && s.heapTotalBytes >= s.heapUsedBytes, JSON.stringify(s));
  const mem = summary.process;
  assert.ok(mem.heapUsedBytes > 1e6 && mem.heapTotalBytes >= mem.heapUsedBytes, JSON.stringify(mem));
  assert.ok(mem.rssBytes > mem.heapTotalBytes + summary.shards.reduce((n, s) => n + s.heapUsedBytes, 0), JSON.stringify(summary));
  // glibc (this machine's libc): malloc's own totals; the SQLite connections and thread stacks alone hold megabytes.
  assert.ok(mem.cHeap, 'glibc figures are reported on Linux');
  assert.ok(mem.cHeap.inUseBytes > 1e6 && mem.cHeap.inUseBytes < mem.rssBytes, JSON.stringify(mem.cHeap));
  assert.ok(mem.cHeap.freeBytes >= 0 && mem.cHeap.mappedBytes <= mem.cHeap.inUseBytes, JSON.stringify(mem.cHeap));

  const cart = await (await fetch(`${srv.url}/snapshot/carts/${guestCart.userId}`, auth)).json();
  assert.deepEqual(cart, guestCart);
  const inv = (await (await fetch(`${srv.url}/snapshot/inventory/kite`, auth)).json()) as { sku: string; onHand: number };
  assert.equal(inv.sku, 'kite');
  assert.equal(inv.onHand, 35);
  assert.equal((await fetch(`${srv.url}/snapshot/carts/nobody`, auth)).status, 404);

  const post = await fetch(`${srv.url}/snapshot`, { method: 'POST', ...auth });
  assert.equal(post.status, 200);
  const done = (await post.json()) as { actors: number; durationMs: number };
  assert.ok(done.actors >= 2, `snapshotted ${done.actors} actors`);
  const after = (await (await fetch(`${srv.url}/snapshot`, auth)).json()) as { shards: { snapshots: number; lastSnapshotAt: number | null }[] };
  assert.ok(after.shards.every((s) => s.snapshots > 0 && s.lastSnapshotAt !== null));
});
