// Idle actors are snapshotted and dropped from memory (passivation), and the journal is
// truncated behind a checkpoint once it grows past CHECKPOINT_ROWS: both are watched through
// GET /snapshot (which activates no actor), and the state read back, also after kill -9, is
// exactly what was acknowledged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken, serverRestarts, shardSummaries, connect, connectAdmin, until, tmpDataDir } from './helpers/server.js';
import type { CartwireClient } from '../src/client/index.js';
import type { CartView } from '../src/protocol/types.js';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { ShardSummary } from '../src/workers/shard-messages.js';

/** Journal rows physically in a shard's file (read-only; the server keeps writing). */
function rowsOnDisk(dataDir: string, shard: number): number {
  const db = new Database(join(dataDir, `shard-${shard}.db`), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const summary = shardSummaries;
const sum = (shards: ShardSummary[], f: (s: ShardSummary) => number) => shards.reduce((n, s) => n + f(s), 0);

interface Shopper {
  token: string;
  cart: CartView;
}

/** `n` guests, each making `changes` cart changes (every one a real change: one journal row each). */
async function shop(url: string, n: number, changes: number, skus: string[]): Promise<Shopper[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const c = await connect(url);
      try {
        const { token } = await c.call('auth.guest', {});
        let cart: CartView | undefined;
        for (let k = 0; k < changes; k++) cart = await c.call('cart.setQty', { sku: skus[(i + k) % skus.length], qty: 1 + ((i + k) % 5) + k });
        return { token, cart: cart! };
      } finally {
        await c.close();
      }
    }),
  );
}

async function cartOf(url: string, token: string): Promise<CartView> {
  const c = await connect(url);
  try {
    await c.call('auth.resume', { token });
    return await c.call('cart.get', {});
  } finally {
    await c.close();
  }
}

const SKUS = ['soap-bar', 'kite', 'mug-stoneware-sand', 'beanie'];

test('idle carts are passivated (snapshotted, dropped from memory) and read back identical, also after kill -9', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, {
    SHARDS: '2',
    PASSIVATE_AFTER_MS: '1000',
    SWEEP_INTERVAL_MS: '50',
    CHECKPOINT_ROWS: '1000000',
    CHECKPOINT_INTERVAL_MS: '3600000',
  });
  const a = await start();
  const token = await adminToken(a.url);
  const shoppers = await shop(a.url, 6, 4, SKUS);
  const snapshotsBefore = sum(await summary(a.url, token), (s) => s.snapshots);

  // Only the catalog actor is never passivated: everything else leaves memory once idle.
  await until(async () => sum(await summary(a.url, token), (s) => s.actors) === 1, { timeoutMs: 10_000, what: 'every idle actor to be passivated' });
  const idle = await summary(a.url, token);
  assert.ok(sum(idle, (s) => s.snapshots) >= snapshotsBefore + shoppers.length, 'each passivated cart was snapshotted first');
  assert.equal(
    sum(idle, (s) => s.journalRows),
    sum(idle, (s) => s.journalPosition),
    'passivation truncates nothing (no checkpoint ran)',
  );

  // Read together: one by one on a busy machine, the first could be idle again before the last.
  const read = await Promise.all(shoppers.map((s) => cartOf(a.url, s.token)));
  const awake = await summary(a.url, token);
  for (const [i, s] of shoppers.entries()) assert.deepEqual(read[i], s.cart);
  assert.ok(sum(awake, (s) => s.actors) >= 1 + shoppers.length, 'the reads activated the carts again');

  // A reactivated cart goes on from its version.
  const c = await connect(a.url);
  await c.call('auth.resume', { token: shoppers[0].token });
  const next = await c.call('cart.add', { sku: 'kite', qty: 1 });
  await c.close();
  assert.equal(next.version, shoppers[0].cart.version + 1);
  shoppers[0].cart = next;

  await until(async () => sum(await summary(a.url, token), (s) => s.actors) === 1, { timeoutMs: 10_000, what: 'the carts to be passivated again' });
  await a.kill9();

  const b = await start();
  for (const s of shoppers) assert.deepEqual(await cartOf(b.url, s.token), s.cart);
});

test('the journal is truncated behind a checkpoint once it reaches CHECKPOINT_ROWS; state is exact after kill -9 (snapshots + tail)', async (t) => {
  const dataDir = tmpDataDir(t);
  const ROWS = 50;
  // One shard so that every row counts toward the same CHECKPOINT_ROWS.
  const start = serverRestarts(t, dataDir, {
    SHARDS: '1',
    PASSIVATE_AFTER_MS: '3600000',
    SWEEP_INTERVAL_MS: '50',
    CHECKPOINT_ROWS: String(ROWS),
    CHECKPOINT_INTERVAL_MS: '3600000',
  });
  const a = await start();
  const token = await adminToken(a.url);
  // The demo seed wrote more than ROWS rows: a checkpoint followed on its own during the seed.
  await until(async () => (await summary(a.url, token))[0].watermark > ROWS, { timeoutMs: 10_000, what: 'the checkpoint during the demo seed' });
  // The seed's last rows may sit below the threshold: POST /snapshot checkpoints them now.
  const forced = await fetch(`${a.url}/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(forced.status, 200);
  const s0 = (await summary(a.url, token))[0];
  assert.equal(s0.journalRows, 0);
  assert.equal(s0.watermark, s0.journalPosition);
  assert.ok(s0.watermark > ROWS, `seeded rows ${s0.watermark}`);

  // Below the threshold: the rows stay in the journal, exactly one per change.
  const first = await shop(a.url, 5, 6, SKUS);
  const s1 = (await summary(a.url, token))[0];
  assert.equal(s1.journalPosition, s0.journalPosition + 30);
  assert.equal(s1.journalRows, 30);
  assert.equal(s1.watermark, s0.watermark);

  // 30 + 20 rows reach CHECKPOINT_ROWS with the last change: the next sweep checkpoints and truncates every row.
  const second = await shop(a.url, 4, 5, SKUS);
  await until(async () => (await summary(a.url, token))[0].journalRows === 0, { timeoutMs: 10_000, what: 'the journal to be truncated' });
  const s2 = (await summary(a.url, token))[0];
  assert.equal(s2.journalPosition, s1.journalPosition + 20);
  assert.equal(s2.watermark, s2.journalPosition);
  assert.ok(s2.snapshots >= s1.snapshots + first.length + second.length, `${s2.snapshots} snapshots`);
  assert.ok(s2.lastSnapshotAt !== null && s2.lastSnapshotAt >= Date.now() - 60_000);
  // The covered rows leave the file too, in small chunks after the checkpoint.
  await until(() => rowsOnDisk(dataDir, 0) === 0, { timeoutMs: 10_000, what: 'covered journal rows deleted from the file' });
  // Automatic checkpoints (during the seed and this one) show in /metrics.
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  const done = Number(/^cartwire_checkpoint_duration_seconds_count (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(done >= 2, `checkpoints in /metrics: ${done}`);
  assert.ok(Number(/^cartwire_checkpoint_snapshots_total (\d+)$/m.exec(metrics)?.[1]) >= first.length + second.length);

  // A tail after the checkpoint, and stock changes too.
  const third = await shop(a.url, 2, 3, SKUS);
  const admin = await connectAdmin(a.url);
  const kite = await admin.call('inventory.adjust', { sku: 'kite', type: 'damage', qty: 2, reason: 'water damage', referenceId: 'incident-7' });
  const soap = await admin.call('inventory.adjust', { sku: 'soap-bar', type: 'transfer', qty: 10, toWarehouse: 'east', reason: 'rebalance' });
  await admin.close();
  assert.equal((await summary(a.url, token))[0].journalRows, 8);
  await a.kill9();

  // Recovery = snapshots + the 8-row tail.
  const b = await start();
  const sb = (await summary(b.url, token))[0];
  assert.equal(sb.journalRows, 8);
  assert.equal(sb.watermark, s2.watermark);
  for (const s of [...first, ...second, ...third]) assert.deepEqual(await cartOf(b.url, s.token), s.cart);
  const g: CartwireClient = await connect(b.url);
  await g.call('auth.guest', {});
  assert.deepEqual(await g.call('inventory.get', { sku: 'kite' }), kite);
  assert.deepEqual(await g.call('inventory.get', { sku: 'soap-bar' }), soap);
  await g.close();
});
