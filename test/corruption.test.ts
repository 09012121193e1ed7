// Damaged records on disk, over the real server binary: write data, stop the server (SIGTERM, or
// kill -9 for journal rows no checkpoint covered), change a byte of one stored row inside the
// stopped server's shard-N.db, start it again. A damaged cart is quarantined: it answers
// UNAVAILABLE (reason corrupt), /snapshot lists it, the log names shard, actor and row once, and
// the rest of its shard serves on without a worker restart. A damaged catalog row or snapshot is
// reported and the shop still starts and serves the other products.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { CATALOG_KEY, cartKey, stableHash } from '../src/protocol/keys.js';
import { shardDbPath } from '../src/persistence/shard-db.js';
import { adminToken, connect, connectAdmin, serverRestarts, shardSummaries, tmpDataDir, type ChildServer } from './helpers/server.js';
import { stockedSku } from './helpers/commerce.js';
import { flipInFile, settleWal, storedBlob } from './helpers/corrupt.js';

const SHARDS = 2;
const shardOf = (key: string): number => stableHash(key) % SHARDS;
const unique = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`;

interface Guest {
  c: CartwireClient;
  userId: string;
  token: string;
}

/** A guest whose cart lives on `shard` (any shard when undefined). */
async function guestOn(t: TestContext, url: string, shard?: number): Promise<Guest> {
  for (let i = 0; i < 200; i++) {
    const c = await connect(url);
    const { userId, token } = await c.call('auth.guest', {});
    if (shard === undefined || shardOf(cartKey(userId)) === shard) {
      t.after(() => c.close());
      return { c, userId, token };
    }
    await c.close();
  }
  throw new Error(`no guest landed on shard ${shard}`);
}

/** The same guest on a new connection (after a restart). */
async function resume(t: TestContext, url: string, g: Guest): Promise<CartwireClient> {
  const c = await connect(url);
  t.after(() => c.close());
  await c.call('auth.resume', { token: g.token });
  return c;
}

async function refusal(p: Promise<unknown>): Promise<CartwireError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CartwireError) return err;
    throw err;
  }
  assert.fail('expected an error answer');
}

async function metric(url: string, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m === undefined ? undefined : Number(m.slice(line.length + 1));
}

const occurrences = (text: string, what: string): number => text.split(what).length - 1;

/** Changes one byte inside `marker` within the stored BLOB that `sql` selects, in the stopped server's shard file. */
function damage(dataDir: string, shard: number, marker: string, sql: string, ...params: unknown[]): void {
  const file = shardDbPath(dataDir, shard);
  settleWal(file);
  const blob = storedBlob(file, sql, ...params);
  const at = blob.indexOf(marker);
  assert.ok(at >= 0, `${marker} is in the stored BLOB`);
  assert.ok(flipInFile(file, blob, at + Math.floor(marker.length / 2)) >= 1, 'the BLOB is found in the .db file');
}

/** The shard answered normally, and neither it nor the process restarted. */
async function noRestart(srv: ChildServer, shard: number): Promise<void> {
  assert.equal(srv.proc.exitCode, null, 'the server runs');
  assert.equal(await metric(srv.url, `cartwire_shard_restarts_total{shard="${shard}"}`), 0, `shard ${shard} did not restart`);
}

test('a corrupt cart snapshot (clean stop): that cart answers UNAVAILABLE corrupt, its shard serves on, /snapshot lists it, the log names it once', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: String(SHARDS) });
  let srv = await start();
  const sku = unique('crcsnap');
  const admin = await connectAdmin(srv.url);
  await stockedSku(admin, sku, 50);
  await admin.close();
  const victim = await guestOn(t, srv.url);
  const shard = shardOf(cartKey(victim.userId));
  const bystander = await guestOn(t, srv.url, shard);
  await victim.c.call('cart.add', { sku, qty: 2 });
  await bystander.c.call('cart.add', { sku, qty: 1 });
  assert.equal(await srv.term(), 0);

  // SIGTERM checkpoints every actor: the cart is in its snapshot row.
  damage(dataDir, shard, sku, 'SELECT state FROM snapshots WHERE actor = ?', cartKey(victim.userId));
  srv = await start();

  const v = await resume(t, srv.url, victim);
  for (let i = 0; i < 3; i++) {
    const e = await refusal(v.call('cart.get', {}));
    assert.equal(e.code, 'UNAVAILABLE', e.message);
    assert.equal(e.details?.reason, 'corrupt');
    assert.ok(Number(e.details?.retryAfterMs) > 0, 'retryAfterMs');
  }
  assert.equal((await refusal(v.call('cart.add', { sku, qty: 1 }))).code, 'UNAVAILABLE', 'writes are refused too');
  // The rest of the shard: the bystander's cart, a new cart, the sku's stock.
  const b = await resume(t, srv.url, bystander);
  assert.deepEqual(
    (await b.call('cart.get', {})).items.map((l) => [l.sku, l.qty]),
    [[sku, 1]],
  );
  await b.call('cart.add', { sku, qty: 1 });
  const fresh = await guestOn(t, srv.url, shard);
  assert.equal((await fresh.c.call('cart.add', { sku, qty: 1 })).items.length, 1);
  const adminAfter = await connectAdmin(srv.url);
  t.after(() => adminAfter.close());
  assert.ok((await adminAfter.call('inventory.get', { sku })).available > 0);

  const token = await adminToken(srv.url);
  const summaries = await shardSummaries(srv.url, token);
  assert.deepEqual(summaries[shard].quarantined, [cartKey(victim.userId)]);
  assert.deepEqual(summaries[1 - shard].quarantined, []);
  const inspect = await fetch(`${srv.url}/snapshot/carts/${victim.userId}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(inspect.status, 200);
  const body = (await inspect.json()) as { quarantined?: { reason: string; table: string } };
  assert.deepEqual([body.quarantined?.reason, body.quarantined?.table], ['corrupt', 'snapshots']);

  const log = srv.output();
  const line = `shard ${shard}: actor ${cartKey(victim.userId)} quarantined: its snapshots row (seq `;
  assert.equal(occurrences(log, line), 1, `one log line names shard, actor and row:\n${log}`);
  assert.match(log, /quarantined: its snapshots row \(seq \d+\) is corrupt: checksum mismatch/);
  assert.doesNotMatch(log, /cannot recover/);
  await noRestart(srv, shard);
});

test('a corrupt journal row (kill -9): the cart is quarantined with its rows kept through a checkpoint and a restart', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: String(SHARDS) });
  let srv = await start();
  const sku = unique('crcrow');
  const admin = await connectAdmin(srv.url);
  await stockedSku(admin, sku, 50);
  await admin.close();
  const victim = await guestOn(t, srv.url);
  const key = cartKey(victim.userId);
  const shard = shardOf(key);
  const bystander = await guestOn(t, srv.url, shard);
  await victim.c.call('cart.add', { sku: 'soap-bar', qty: 1 });
  await victim.c.call('cart.add', { sku, qty: 3 });
  await bystander.c.call('cart.add', { sku, qty: 1 });
  await srv.kill9();

  // No checkpoint ran: the cart is its journal rows. Damage the second one (it holds the sku).
  const file = shardDbPath(dataDir, shard);
  settleWal(file);
  const row = new Database(file, { readonly: true })
    .prepare<[string], { g: number; seq: number }>('SELECT g, seq FROM journal WHERE actor = ? AND seq = 2')
    .get(key);
  assert.ok(row, 'the cart has a second journal row');
  damage(dataDir, shard, sku, 'SELECT events FROM journal WHERE g = ?', row.g);
  srv = await start();

  const v = await resume(t, srv.url, victim);
  const e = await refusal(v.call('cart.get', {}));
  assert.deepEqual([e.code, e.details?.reason], ['UNAVAILABLE', 'corrupt']);
  const b = await resume(t, srv.url, bystander);
  assert.deepEqual(
    (await b.call('cart.get', {})).items.map((l) => [l.sku, l.qty]),
    [[sku, 1]],
  );
  const token = await adminToken(srv.url);
  assert.deepEqual((await shardSummaries(srv.url, token))[shard].quarantined, [key]);
  const where = `shard ${shard}: actor ${key} quarantined: its journal row g=${row.g} (seq 2) is corrupt: checksum mismatch`;
  assert.equal(occurrences(srv.output(), where), 1, srv.output());

  // A checkpoint covers the rest of the shard but stops below the damaged cart's rows.
  const post = await fetch(`${srv.url}/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(post.status, 200);
  const after = (await shardSummaries(srv.url, token))[shard];
  assert.ok(after.watermark < row.g, `watermark ${after.watermark} stays below row ${row.g}`);
  await noRestart(srv, shard);
  assert.equal(await srv.term(), 0);

  // The rows are still there: after a restart the damage is found again, the same way.
  const check = new Database(file, { readonly: true });
  assert.equal(check.prepare('SELECT count(*) AS n FROM journal WHERE actor = ?').pluck().get(key), 2, 'journal rows untouched');
  check.close();
  srv = await start();
  const again = await resume(t, srv.url, victim);
  assert.equal((await refusal(again.call('cart.get', {}))).details?.reason, 'corrupt');
  assert.equal(occurrences(srv.output(), where), 1);
});

test('a corrupt catalog journal row (kill -9): the server starts, reports the row, serves the other products', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: String(SHARDS) });
  let srv = await start();
  const ids = [unique('crcprod'), unique('crcprod'), unique('crcprod')];
  const admin = await connectAdmin(srv.url);
  for (const id of ids) await stockedSku(admin, `${id}-sku`, 5, 1000, id);
  await admin.close();
  await srv.kill9();

  const shard = shardOf(CATALOG_KEY);
  const file = shardDbPath(dataDir, shard);
  settleWal(file);
  const db = new Database(file, { readonly: true });
  const rows = db.prepare<[], { g: number; seq: number; events: Buffer }>("SELECT g, seq, events FROM journal WHERE actor = 'catalog' ORDER BY g").all();
  const snapSeq = (db.prepare("SELECT seq FROM snapshots WHERE actor = 'catalog'").pluck().get() as number | undefined) ?? 0;
  db.close();
  const victim = rows.find((r) => r.events.includes(ids[1]));
  assert.ok(victim && victim.seq > snapSeq, 'the product is a catalog journal row no snapshot covers');
  damage(dataDir, shard, ids[1], 'SELECT events FROM journal WHERE g = ?', victim.g);
  srv = await start();

  const c = await connect(srv.url);
  t.after(() => c.close());
  for (const id of [ids[0], ids[2]]) assert.equal((await c.call('catalog.get', { productId: id })).productId, id);
  assert.equal((await refusal(c.call('catalog.get', { productId: ids[1] }))).code, 'NOT_FOUND', 'the damaged row is lost');
  assert.equal((await c.call('catalog.get', { productId: 'soap-bar' })).productId, 'soap-bar', 'demo products load');
  const log = srv.output();
  assert.equal(occurrences(log, `shard ${shard}: catalog journal row g=${victim.g} (seq ${victim.seq}) is corrupt: checksum mismatch`), 1, log);
  assert.match(log, /skipped, the rest of the catalog loaded \(\d+ products\)/);
  const token = await adminToken(srv.url);
  assert.deepEqual((await shardSummaries(srv.url, token))[shard].quarantined, [], 'the catalog is not quarantined');
  await noRestart(srv, shard);

  // The product can be written again; a checkpoint then replaces the damaged row for good.
  const a2 = await connectAdmin(srv.url);
  t.after(() => a2.close());
  await stockedSku(a2, `${ids[1]}-sku`, 5, 1000, ids[1]);
  assert.equal((await fetch(`${srv.url}/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 200);
  assert.equal(await srv.term(), 0);
  srv = await start();
  const c2 = await connect(srv.url);
  t.after(() => c2.close());
  for (const id of ids) assert.equal((await c2.call('catalog.get', { productId: id })).productId, id);
  assert.doesNotMatch(srv.output(), /is corrupt/);
});

test('a corrupt catalog snapshot (clean stop): the catalog is rebuilt from its journal rows and the log says what was lost', async (t) => {
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir, { SHARDS: String(SHARDS) });
  let srv = await start();
  const ids = [unique('crccat'), unique('crccat')];
  const admin = await connectAdmin(srv.url);
  for (const id of ids) await stockedSku(admin, `${id}-sku`, 5, 1000, id);
  await admin.close();
  assert.equal(await srv.term(), 0);

  const shard = shardOf(CATALOG_KEY);
  damage(dataDir, shard, ids[0], "SELECT state FROM snapshots WHERE actor = 'catalog'");
  srv = await start();
  const c = await connect(srv.url);
  t.after(() => c.close());
  // No checkpoint deleted the rows the snapshot covered yet: the rebuild finds every product.
  for (const id of [...ids, 'soap-bar']) assert.equal((await c.call('catalog.get', { productId: id })).productId, id);
  const log = srv.output();
  assert.match(
    log,
    new RegExp(
      `shard ${shard}: catalog snapshots row \\(seq \\d+\\) is corrupt: checksum mismatch \\(stored \\w+, computed \\w+\\); rebuilt from the journal, \\d+ products loaded; \\d+ journal rows are left \\(seq 1\\.\\.\\d+\\), every change since the catalog began: nothing is lost`,
    ),
    log,
  );
  await noRestart(srv, shard);
});
