// Audit over real sockets and real SQLite files: the history of a sku after sales, read after a
// checkpoint moved its journal rows out (the history stays), paged with cursors, replayed to a
// point in time, and still there after a restart; with AUDIT_RETENTION_DAYS=0 it is not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { adminToken, connectAdmin, connectGuest, startTestServer, tmpDataDir, until } from './helpers/server.js';
import { shardOptions } from './helpers/holds.js';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { ADDRESS_GB, refused, stockedSku } from './helpers/commerce.js';
import type { CartwireClient } from '../src/client/index.js';
import type { AuditEntry, InventoryView } from '../src/protocol/types.js';
import { AuditOps } from '../src/app/audit/audit-ops.js';
import { DropOps } from '../src/app/drops/drop-ops.js';
import type { ShardPool } from '../src/app/shard-pool.js';
import type { CatalogView } from '../src/app/catalog/catalog-view.js';

const FAST_MAINTENANCE = { SWEEP_INTERVAL_MS: '20' };
/** Changes of one sku committed one at a time: a replay of them takes two chunks (1,000 rows each). */
const LONG_HISTORY = 1_500;
const ADJUST_ONE = { type: 'adjust', txType: 'purchase', qty: 1, reason: 'one by one', warehouse: 'main' } as { type: string };

/** Journal and history rows of `actor` over every shard file of `dataDir` (read-only, beside the server). */
function storedRows(dataDir: string, actor: string): { journal: number; history: number } {
  const out = { journal: 0, history: 0 };
  for (const f of readdirSync(dataDir).filter((n) => /^shard-\d+\.db$/.test(n))) {
    const db = new Database(join(dataDir, f), { readonly: true });
    try {
      out.journal += (db.prepare('SELECT count(*) AS n FROM journal WHERE actor = ?').get(actor) as { n: number }).n;
      out.history += (db.prepare('SELECT count(*) AS n FROM history WHERE actor = ?').get(actor) as { n: number }).n;
    } finally {
      db.close();
    }
  }
  return out;
}

/** POST /snapshot: every actor snapshotted, the journal behind them due for cleanup. */
async function checkpoint(url: string): Promise<void> {
  const res = await fetch(`${url}/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${await adminToken(url)}` } });
  assert.equal(res.status, 200);
}

async function allHistory(admin: CartwireClient, actor: 'inventory' | 'cart' | 'order' | 'coupon', key: string, limit: number): Promise<AuditEntry[]> {
  const items: AuditEntry[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await admin.call('audit.history', { actor, key, limit, ...(cursor ? { cursor } : {}) });
    assert.ok(page.items.length <= limit, 'a page holds at most limit entries');
    items.push(...page.items);
    if (page.nextCursor === null) return items;
    cursor = page.nextCursor;
  }
  assert.fail('more than 100 pages');
}

async function buy(url: string, sku: string, qty: number, key: string): Promise<string> {
  const c = await connectGuest(url);
  try {
    await c.call('cart.add', { sku, qty });
    const order = await c.call('checkout', { idempotencyKey: key, payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });
    assert.equal(order.status, 'confirmed');
    return order.orderId;
  } finally {
    await c.close();
  }
}

test('audit history of a sku after sales survives a checkpoint and a restart, pages with cursors, and stateAt replays it', async (t) => {
  const srv = await startTestServer(t, FAST_MAINTENANCE);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await stockedSku(admin, 'audit-mug', 10);
  await admin.call('inventory.adjust', { sku: 'audit-mug', type: 'purchase', qty: 5, reason: 'restock', referenceId: 'po-7' });
  const order1 = await buy(srv.url, 'audit-mug', 2, 'audit-1');
  await buy(srv.url, 'audit-mug', 3, 'audit-2');
  const now: InventoryView = await admin.call('inventory.adjust', { sku: 'audit-mug', type: 'damage', qty: 1, reason: 'dropped' });
  assert.equal(now.onHand, 9);

  await checkpoint(srv.url);
  await until(
    () => {
      const rows = storedRows(srv.dataDir, 'sku:audit-mug');
      return rows.journal === 0 && rows.history > 0;
    },
    { timeoutMs: 10_000, what: "the checkpoint's cleanup to move the sku's journal rows to the history" },
  );

  const full = await allHistory(admin, 'inventory', 'audit-mug', 100);
  assert.deepEqual(
    full.map((e) => e.event),
    ['transaction', 'transaction', 'reserved', 'hold_committed', 'reserved', 'hold_committed', 'transaction'],
    'every change of the stock, oldest first',
  );
  assert.deepEqual(
    full.filter((e) => e.event === 'transaction').map((e) => [e.data.txType, e.data.reason]),
    [
      ['adjustment', 'test stock'],
      ['purchase', 'restock'],
      ['damage', 'dropped'],
    ],
  );
  assert.equal(full[1].data.referenceId, 'po-7');
  assert.equal(full[2].data.holdId, order1, 'the reservation names its order');
  for (let i = 1; i < full.length; i++) assert.ok(full[i].seq > full[i - 1].seq && full[i].at! >= full[i - 1].at!, 'ordered by change and time');
  assert.deepEqual(await allHistory(admin, 'inventory', 'audit-mug', 2), full, 'pages of 2 join up to the same history');

  // The state at the first sale's commit: 10 + 5 - 2 on hand, nothing reserved.
  const at = full[3].at!;
  assert.ok(full[4].at! > at, 'the second sale came later');
  const mid = await admin.call('audit.stateAt', { actor: 'inventory', key: 'audit-mug', at });
  const midState = mid.state as InventoryView;
  assert.deepEqual([mid.seq, midState.onHand, midState.reserved], [full[3].seq, 13, 0]);
  const latest = await admin.call('audit.stateAt', { actor: 'inventory', key: 'audit-mug', at: Date.now() });
  const latestState = latest.state as InventoryView;
  assert.deepEqual(
    [latestState.onHand, latestState.reserved, latestState.available, latestState.version],
    [now.onHand, now.reserved, now.available, now.version],
  );
  const before = await admin.call('audit.stateAt', { actor: 'inventory', key: 'audit-mug', at: full[0].at! - 1 });
  assert.deepEqual([before.seq, before.state], [0, null], 'before its first change the sku had no stock record');

  // The order and the cart that bought it have their histories too.
  const orderEvents = (await allHistory(admin, 'order', order1, 50)).map((e) => e.event);
  assert.equal(orderEvents[0], 'created');
  assert.ok(orderEvents.includes('confirmed'), orderEvents.join(','));
  await refused(admin.call('audit.history', { actor: 'inventory', key: 'audit-mug', cursor: 'bm90LWEtY3Vyc29y' }), 'BAD_REQUEST', 'a made-up cursor');
  assert.deepEqual(await admin.call('audit.history', { actor: 'coupon', key: 'NEVER' }), { items: [], nextCursor: null });
  const guest = await connectGuest(srv.url);
  t.after(() => guest.close());
  await refused(guest.call('audit.history', { actor: 'inventory', key: 'audit-mug' }), 'FORBIDDEN', 'a guest');

  // The history is on disk: a restart on the same files answers the same.
  await admin.close();
  await srv.close();
  const again = await startTestServer(t, { ...FAST_MAINTENANCE, DATA_DIR: srv.dataDir });
  const admin2 = await connectAdmin(again.url);
  t.after(() => admin2.close());
  assert.deepEqual(await allHistory(admin2, 'inventory', 'audit-mug', 3), full);
});

test('AUDIT_RETENTION_DAYS=0 keeps no history: after a checkpoint stateAt of the sku answers NOT_FOUND (retention)', async (t) => {
  const srv = await startTestServer(t, { ...FAST_MAINTENANCE, AUDIT_RETENTION_DAYS: '0' });
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await stockedSku(admin, 'gone-mug', 4);
  assert.equal((await admin.call('audit.history', { actor: 'inventory', key: 'gone-mug' })).items.length, 1, 'the journal row before the checkpoint');
  await checkpoint(srv.url);
  await until(() => storedRows(srv.dataDir, 'sku:gone-mug').journal === 0, { timeoutMs: 10_000, what: 'the cleanup' });
  assert.equal(storedRows(srv.dataDir, 'sku:gone-mug').history, 0);
  assert.deepEqual(await admin.call('audit.history', { actor: 'inventory', key: 'gone-mug' }), { items: [], nextCursor: null });
  const e = await refused(admin.call('audit.stateAt', { actor: 'inventory', key: 'gone-mug', at: Date.now() }), 'NOT_FOUND', 'no history left');
  assert.equal(e.reason, 'retention');
});

test('cluster mode keeps no audit history and serves no drops: both answer BAD_REQUEST with reason "cluster"', async () => {
  // No shard is asked in cluster mode: the answer comes first.
  const noPool = undefined as unknown as ShardPool;
  const audit = new AuditOps(noPool, true);
  const drops = new DropOps(noPool, undefined as unknown as CatalogView, true);
  for (const answer of [
    await audit.history({ actor: 'inventory', key: 'soap-bar' }),
    await audit.stateAt({ actor: 'order', key: 'ord_1', at: 0 }),
    await drops.create({ dropId: 'd', sku: 'soap-bar', startsAt: 0 }),
  ]) {
    assert.equal(answer.ok, false);
    if (!answer.ok) assert.deepEqual([answer.error.code, answer.error.details], ['BAD_REQUEST', { reason: 'cluster' }]);
  }
  assert.equal(
    await drops.refuse('u', 'ord_1', [{ sku: 'soap-bar', productId: 'p', name: 'n', qty: 1, unitPrice: 1, lineTotal: 1 }]),
    undefined,
    'no drop gates a checkout',
  );
});

test('a shard that stops while stateAt replays a long history ends the replay with UNAVAILABLE, not a read of the closed file', async (t) => {
  // NORMAL: 1,500 commits without an fsync each; this is about the replay, not durability.
  const rt = new ShardRuntime({ ...shardOptions(tmpDataDir(t), 0), synchronous: 'NORMAL' });
  t.after(() => {
    if (rt.db.open) rt.close();
  });
  // One journal row per group commit: a replay reads them REPLAY_CHUNK at a time and yields between chunks.
  const T = 1_800_000_000_000;
  for (let i = 0; i < LONG_HISTORY; i++) rt.runBatches([[{ id: 1, key: 'sku:long-mug', cmd: ADJUST_ONE }]], T + i);
  const whole = await rt.audit.stateAt('sku:long-mug', T + LONG_HISTORY);
  assert.ok(whole.ok);
  assert.equal((whole.state as InventoryView).onHand, LONG_HISTORY, 'the whole history replays while the shard runs');

  const replay = rt.audit.stateAt('sku:long-mug', T + LONG_HISTORY);
  rt.close(); // the worker's `stop`, while the replay waits for its next chunk
  const cut = await replay;
  assert.ok(!cut.ok);
  assert.equal(cut.code, 'UNAVAILABLE');
  assert.equal(typeof cut.details.retryAfterMs, 'number');
});
