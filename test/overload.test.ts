// Backpressure: a shard whose backlog (queued + in flight) reaches MAX_SHARD_BACKLOG answers
// OVERLOADED at once instead of queueing without bound. Checked on the wire with a raw msgpack
// client, so a missing or duplicated reply cannot hide behind the SDK's id matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';
import { startTestServer, connectGuest, connectAdmin, until, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { ErrorCode } from '../src/protocol/errors.js';
import type { CartView, InventoryView } from '../src/protocol/types.js';
import { demoCatalog } from '../src/app/catalog/demo-catalog.js';

const BACKLOG = 8;
const BATCH = 250; // one frame, under the protocol's 256
const SINGLES = 100; // then one frame per request
const TOTAL = BATCH + SINGLES;
const GUESTS = 4;
/** Demo skus with stock well above what the accepted adds can reach. */
const BURST_SKUS = ['soap-bar', 'charger-65w', 'lip-balm-plain', 'wool-socks-m', 'mug-stoneware-sand'];
const ADMIN_SKU = 'kite';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

interface Reply {
  id: number | null;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}
interface Req {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

/** A bare WebSocket + msgpack client: every reply frame is logged as it arrives. */
class RawConn {
  readonly log: Reply[] = [];
  private readonly waiters = new Map<number, (r: Reply) => void>();
  private nextId = 1_000_000;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const v = unpackr.unpack(data) as Reply | Reply[];
      for (const m of Array.isArray(v) ? v : [v]) {
        if ('push' in m) continue;
        this.log.push(m);
        const w = typeof m.id === 'number' ? this.waiters.get(m.id) : undefined;
        if (w) {
          this.waiters.delete(m.id as number);
          w(m);
        }
      }
    });
  }

  static async open(url: string): Promise<RawConn> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawConn(ws);
  }

  send(reqs: Req[]): void {
    this.ws.send(packr.pack(reqs.length === 1 ? reqs[0] : reqs));
  }

  /** One request with a fresh id; resolves with its reply. */
  async call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve) => this.waiters.set(id, resolve));
    this.send([{ id, op, args }]);
    let got: Reply | undefined;
    void reply.then((r) => (got = r));
    await until(() => got !== undefined, { timeoutMs: 10_000, what: `reply to ${op}` });
    return got!;
  }

  /** Like call, but the reply must be ok. */
  async ok<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const r = await this.call(op, args);
    assert.equal(r.ok, true, `${op}: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  answered(ids: Iterable<number>): boolean {
    const seen = new Set(this.log.map((r) => r.id));
    for (const id of ids) if (!seen.has(id)) return false;
    return true;
  }

  close(): void {
    this.ws.close();
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Replies to ids 1..TOTAL: exactly one per id, nothing else but the given extra ids. */
function checkOneReplyEach(name: string, log: Reply[], extra: number[]): Map<number, Reply> {
  const byId = new Map<number, Reply>();
  const allowed = new Set([...range(1, TOTAL), ...extra]);
  for (const r of log) {
    assert.ok(typeof r.id === 'number' && allowed.has(r.id), `${name}: reply with unexpected id ${r.id}: ${JSON.stringify(r.error)}`);
    assert.ok(!byId.has(r.id), `${name}: request ${r.id} answered twice`);
    byId.set(r.id, r);
  }
  for (const id of allowed) assert.ok(byId.has(id), `${name}: request ${id} never answered`);
  for (const [id, r] of byId) {
    if (!r.ok) assert.equal(r.error?.code, ErrorCode.OVERLOADED, `${name}: request ${id} failed with ${JSON.stringify(r.error)}`);
  }
  return byId;
}

test('a server with a small MAX_SHARD_BACKLOG starts and seeds the whole demo catalog', async (t) => {
  const srv = await startTestServer(t, { MAX_SHARD_BACKLOG: String(BACKLOG) });
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  for (const { stock } of demoCatalog()) {
    for (const { sku, qty } of stock) assert.equal((await admin.call('inventory.get', { sku })).onHand, qty, sku);
  }
});

test('past MAX_SHARD_BACKLOG: OVERLOADED, one reply per request, nothing applied, then normal service', async (t) => {
  const srv = await startTestServer(t, { MAX_SHARD_BACKLOG: String(BACKLOG) });
  const guests: RawConn[] = [];
  for (let i = 0; i < GUESTS; i++) {
    const c = await RawConn.open(srv.url);
    t.after(() => c.close());
    await c.ok('auth.guest');
    guests.push(c);
  }
  const admin = await RawConn.open(srv.url);
  t.after(() => admin.close());
  await admin.ok('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  const base = await admin.ok<InventoryView>('inventory.get', { sku: ADMIN_SKU });
  for (const c of [...guests, admin]) c.log.length = 0;

  // The burst: from every connection in the same tick, one frame of BATCH requests, then SINGLES
  // frames of one request each. Guests add one unit of a sku; the admin buys `id` units (all
  // distinct, so the stock tells exactly which purchases ran).
  const guestReq = (id: number): Req => ({ id, op: 'cart.add', args: { sku: BURST_SKUS[id % BURST_SKUS.length], qty: 1 } });
  const adminReq = (id: number): Req => ({
    id,
    op: 'inventory.adjust',
    args: { sku: ADMIN_SKU, type: 'purchase', qty: id, reason: 'overload test', referenceId: `burst-${id}` },
  });
  for (const [c, make] of [...guests.map((g) => [g, guestReq] as const), [admin, adminReq] as const]) {
    c.send(range(1, BATCH).map(make));
    for (const id of range(BATCH + 1, TOTAL)) c.send([make(id)]);
  }
  for (const c of [...guests, admin]) await until(() => c.answered(range(1, TOTAL)), { timeoutMs: 20_000, what: 'a reply to every request of the burst' });

  // Normal requests right after the burst; as they queue behind whatever the shard still had,
  // any late duplicate reply of the burst would have arrived before them.
  const carts = await Promise.all(guests.map((g) => g.call('cart.get')));
  const stock = await admin.call('inventory.get', { sku: ADMIN_SKU });
  let overloaded = 0;
  let accepted = 0;
  const perOpOverloaded = { 'cart.add': 0, 'inventory.adjust': 0 };

  guests.forEach((g, i) => {
    const cartReply = carts[i];
    assert.equal(cartReply.ok, true, `cart.get after the burst: ${JSON.stringify(cartReply.error)}`);
    const byId = checkOneReplyEach(`guest ${i}`, g.log, [cartReply.id as number]);
    byId.delete(cartReply.id as number);
    const okIds = range(1, TOTAL).filter((id) => byId.get(id)!.ok);
    const batchOk = okIds.filter((id) => id <= BATCH).length;
    assert.ok(batchOk <= BACKLOG, `guest ${i}: ${batchOk} requests of one frame were accepted past a backlog of ${BACKLOG}`);
    overloaded += TOTAL - okIds.length;
    perOpOverloaded['cart.add'] += TOTAL - okIds.length;
    accepted += okIds.length;
    // Every accepted add is in the cart, once; no refused one is.
    const cart = cartReply.result as CartView;
    assert.equal(cart.version, okIds.length, `guest ${i}: cart version`);
    assert.deepEqual(
      okIds.map((id) => (byId.get(id)!.result as CartView).version).sort((a, b) => a - b),
      range(1, okIds.length),
      `guest ${i}: the accepted adds made versions 1..${okIds.length}`,
    );
    const want = new Map<string, number>();
    for (const id of okIds) want.set(guestReq(id).args.sku as string, (want.get(guestReq(id).args.sku as string) ?? 0) + 1);
    assert.deepEqual(new Map(cart.items.map((l) => [l.sku, l.qty])), want, `guest ${i}: cart lines`);
  });

  assert.equal(stock.ok, true, `inventory.get after the burst: ${JSON.stringify(stock.error)}`);
  const byId = checkOneReplyEach('admin', admin.log, [stock.id as number]);
  byId.delete(stock.id as number);
  const okIds = range(1, TOTAL).filter((id) => byId.get(id)!.ok);
  assert.ok(okIds.filter((id) => id <= BATCH).length <= BACKLOG, 'admin: one frame accepted past the backlog');
  overloaded += TOTAL - okIds.length;
  perOpOverloaded['inventory.adjust'] += TOTAL - okIds.length;
  accepted += okIds.length;
  const inv = stock.result as InventoryView;
  assert.equal(inv.version, base.version + okIds.length, 'one inventory version per accepted purchase');
  assert.equal(inv.onHand, base.onHand + okIds.reduce((s, id) => s + id, 0), 'exactly the accepted purchases are in stock');

  assert.ok(overloaded > 0, 'the burst met OVERLOADED');
  assert.ok(accepted > 0, 'the burst was partly served');
  t.diagnostic(`${(GUESTS + 1) * TOTAL} requests: ${accepted} accepted, ${overloaded} OVERLOADED`);

  // The refusals are counted as such.
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  for (const [op, n] of Object.entries(perOpOverloaded)) {
    assert.match(
      metrics,
      new RegExp(`^cartwire_requests_total\\{op="${op.replace('.', '\\.')}",outcome="OVERLOADED"\\} ${n}$`, 'm'),
      `metrics count ${n} OVERLOADED ${op}`,
    );
  }

  // After the burst: the ids are free again, a batch within the limit is served whole, and a
  // fresh client works as usual.
  for (const g of guests) {
    g.log.length = 0;
    g.send(range(1, 4).map((id) => ({ id, op: 'cart.add', args: { sku: 'soap-bar', qty: 1 } })));
    await until(() => g.answered(range(1, 4)), { what: 'the batch after the burst' });
    assert.deepEqual(
      g.log.map((r) => [r.id, r.ok, r.error?.code]).sort(),
      range(1, 4).map((id) => [id, true, undefined]),
    );
  }
  admin.log.length = 0;
  admin.send(
    range(1, 4).map((id) => ({
      id,
      op: 'inventory.adjust',
      args: { sku: ADMIN_SKU, type: 'sale', qty: 1, reason: 'after burst', referenceId: `after-${id}` },
    })),
  );
  await until(() => admin.answered(range(1, 4)), { what: 'the admin batch after the burst' });
  assert.ok(
    admin.log.every((r) => r.ok),
    JSON.stringify(admin.log.map((r) => r.error)),
  );
  assert.equal((await admin.ok<InventoryView>('inventory.get', { sku: ADMIN_SKU })).onHand, inv.onHand - 4);

  const fresh = await connectGuest(srv.url);
  t.after(() => fresh.close());
  const cart = await fresh.call('cart.add', { sku: 'kite', qty: 2 });
  assert.equal(cart.version, 1);
  assert.equal(cart.items[0].qty, 2);
  assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
});
