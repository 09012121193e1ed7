// The client SDK against a real server, seen through a WebSocket proxy that counts, holds,
// repeats and cuts frames: batching per tick, typed errors, timeouts and aborts, stale pushes,
// and what happens to calls when the socket drops.
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { Unpackr } from 'msgpackr';
import { CartwireClient, CartwireError, type ConnectionState } from '../src/client/index.js';
import { encodeRequests } from '../packages/client/src/wire.js';
import { startEdgeTestServer, until, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { ADDRESS_GB } from './helpers/commerce.js';
import type { CartView } from '../src/protocol/types.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
type Msg = { id?: number | null; op?: string; push?: string; data?: { version?: number }; result?: unknown };
const msgs = (raw: Buffer): Msg[] => {
  const v = unpackr.unpack(raw) as Msg | Msg[];
  return Array.isArray(v) ? v : [v];
};
const toBuffer = (d: RawData): Buffer => (Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer));

/** One client connection through the proxy and its upstream to the server. */
interface Pair {
  client: WebSocket;
  upstream: WebSocket;
  /** Client frames (decoded), in the order they reached the proxy. */
  up: Msg[][];
}

/** A WebSocket proxy in front of the server: counts frames up, and lets a test hold, replay or cut them. */
class Proxy {
  readonly pairs: Pair[] = [];
  /** Client->server frames are kept here instead of forwarded while set. */
  holdUp = false;
  heldUp: { pair: Pair; frame: Buffer }[] = [];
  /** Server->client frames for which this returns true are kept in `heldDown`. */
  holdDown: ((m: Msg[]) => boolean) | undefined;
  heldDown: { pair: Pair; frame: Buffer }[] = [];
  /** Every server->client frame, with its pair. */
  readonly down: { pair: Pair; frame: Buffer; msgs: Msg[] }[] = [];

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(t: TestContext, target: string): Promise<Proxy> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const proxy = new Proxy(wss, `ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    const ws = target.replace(/^http/, 'ws') + '/ws';
    wss.on('connection', (client) => {
      const upstream = new WebSocket(ws);
      const pair: Pair = { client, upstream, up: [] };
      proxy.pairs.push(pair);
      const early: Buffer[] = [];
      upstream.on('open', () => early.splice(0).forEach((f) => upstream.send(f)));
      client.on('message', (d) => {
        const frame = toBuffer(d);
        pair.up.push(msgs(frame));
        if (proxy.holdUp) proxy.heldUp.push({ pair, frame });
        else if (upstream.readyState === WebSocket.OPEN) upstream.send(frame);
        else early.push(frame);
      });
      upstream.on('message', (d) => {
        const frame = toBuffer(d);
        const m = msgs(frame);
        proxy.down.push({ pair, frame, msgs: m });
        if (proxy.holdDown?.(m)) proxy.heldDown.push({ pair, frame });
        else client.send(frame);
      });
      upstream.on('close', (code, reason) => (code === 1005 || code === 1006 ? client.terminate() : client.close(code, reason)));
      client.on('close', () => upstream.close());
      upstream.on('error', () => client.terminate());
    });
    t.after(() => {
      for (const p of proxy.pairs) p.client.terminate();
      wss.close();
    });
    return proxy;
  }

  /** Client frames that reached the proxy so far, over all connections. */
  get framesUp(): Msg[][] {
    return this.pairs.flatMap((p) => p.up);
  }

  releaseUp(): void {
    this.holdUp = false;
    for (const { pair, frame } of this.heldUp.splice(0)) pair.upstream.send(frame);
  }

  releaseDown(): void {
    this.holdDown = undefined;
    for (const { pair, frame } of this.heldDown.splice(0)) pair.client.send(frame);
  }

  /** Cuts every connection as a crash would (no close frame: the client sees 1006). */
  dropAll(): void {
    this.heldUp = [];
    for (const p of this.pairs) {
      p.client.terminate();
      p.upstream.terminate();
    }
  }
}

const skuA = 'tee-classic-m';
const skuB = 'mug-stoneware-sand';

test('1,000 calls made in one tick leave as ceil(1000/256) = 4 frames; calls in later ticks leave in frames of their own', async (t) => {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  const c = await CartwireClient.connect(proxy.url);
  t.after(() => c.close());
  const before = proxy.framesUp.length;
  const results = await Promise.all(Array.from({ length: 1000 }, () => c.call('ping', {})));
  assert.equal(results.length, 1000);
  assert.ok(results.every((r) => typeof r.now === 'number' && r.now > 0));
  const frames = proxy.framesUp.slice(before);
  assert.deepEqual(
    frames.map((f) => f.length),
    [256, 256, 256, 232],
  );
  const ids = new Set(frames.flat().map((m) => m.id));
  assert.equal(ids.size, 1000, 'every call has its own id');

  const mark = proxy.framesUp.length;
  await c.call('ping', {});
  await c.call('ping', {});
  assert.deepEqual(
    proxy.framesUp.slice(mark).map((f) => f.length),
    [1, 1],
    'awaited one by one: one frame each',
  );
});

test('a batch over 64 KiB is split by size, and a single request over 64 KiB fails locally with REQUEST_TOO_BIG', async (t) => {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  const admin = await CartwireClient.connect(proxy.url);
  t.after(() => admin.close());
  await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  const before = proxy.framesUp.length;
  const description = 'd'.repeat(2000);
  const upserts = Array.from({ length: 100 }, (_, i) =>
    admin.call('catalog.upsert', { productId: `big-${i}`, name: 'Big', category: 'test', description, variants: [{ sku: `big-${i}`, price: 100 }] }),
  );
  const products = await Promise.all(upserts); // ~200 KB in one tick
  assert.equal(products.length, 100);
  const frames = proxy.framesUp.slice(before);
  assert.ok(frames.length >= 4, `split into ${frames.length} frames`);
  assert.equal(
    frames.reduce((n, f) => n + f.length, 0),
    100,
  );
  assert.equal(admin.state, 'open', 'the server never saw a frame over 64 KiB');

  const attributes = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`a${i}`, 'x'.repeat(250)]));
  const variants = Array.from({ length: 20 }, (_, i) => ({ sku: `huge-${i}`, price: 1, attributes }));
  const mark = proxy.framesUp.length;
  const huge = admin.call('catalog.upsert', { productId: 'huge', name: 'Huge', category: 'test', variants });
  const small = admin.call('ping', {}); // same tick: still goes out
  await assert.rejects(huge, (err: CartwireError) => err instanceof CartwireError && err.code === 'REQUEST_TOO_BIG' && !err.fromServer);
  assert.ok((await small).now > 0);
  assert.deepEqual(
    proxy.framesUp.slice(mark).map((f) => f.map((m) => m.op)),
    [['ping']],
  );
  // The encoder itself: 1,000 small requests -> 4 frames of at most 256.
  const enc = encodeRequests(Array.from({ length: 1000 }, (_, i) => ({ msg: { id: i, op: 'ping', args: {} } })));
  assert.deepEqual(
    enc.parts.map((p) => p.length),
    [256, 256, 256, 232],
  );
});

test('server errors reject with a typed CartwireError carrying code, message and details', async (t) => {
  const server = await startEdgeTestServer(t);
  const c = await CartwireClient.connect(server.url);
  t.after(() => c.close());
  await assert.rejects(c.call('cart.get', {}), { code: 'UNAUTHENTICATED' });
  await c.call('auth.guest', {});
  const notFound = await c.call('cart.add', { sku: 'no-such-sku', qty: 1 }).catch((e: unknown) => e);
  assert.ok(notFound instanceof CartwireError);
  assert.equal(notFound.code, 'NOT_FOUND');
  assert.deepEqual(notFound.details, { sku: 'no-such-sku' });
  assert.equal(notFound.fromServer, true);
  assert.match(notFound.message, /^NOT_FOUND: /);
  await assert.rejects(
    c.call('cart.add', { sku: skuA, qty: 999 }),
    (e: CartwireError) => e.code === 'OUT_OF_STOCK' && e.details?.sku === skuA && typeof e.details?.available === 'number',
  );
  await assert.rejects(c.call('inventory.adjust', { sku: skuA, type: 'purchase', qty: 1, reason: 'x' }), { code: 'FORBIDDEN' });
  await assert.rejects(c.call('cart.add', { sku: skuA, qty: 1000 }), (e: CartwireError) => e.code === 'BAD_REQUEST' && /qty/.test(e.message));
  // Typed results: the compiler knows a cart.
  const cart: CartView = await c.call('cart.add', { sku: skuA, qty: 1 });
  assert.equal(cart.items[0].sku, skuA);
});

/** Never called: `tsc` fails the build when the op table's types stop constraining calls. */
export function typeChecks(c: CartwireClient): void {
  // @ts-expect-error unknown op
  void c.call('cart.explode', {});
  // @ts-expect-error qty must be a number
  void c.call('cart.add', { sku: 'x', qty: '1' });
  // @ts-expect-error missing sku
  void c.call('inventory.get', {});
  // @ts-expect-error the result of ping has no version
  // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- r.version is the deliberate type error the line above expects
  void c.call('ping', {}).then((r) => r.version);
  // @ts-expect-error a topic is 'cart', 'admin' or { inventory }
  c.subscribe({ orders: 'x' }, () => {});
  c.subscribe({ inventory: 'x' }, (inv) => inv.available satisfies number);
  c.subscribe('cart', (cart) => cart.total satisfies number);
}

test('per-call timeout and AbortSignal reject with TIMEOUT / ABORTED; late replies are ignored', async (t) => {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  const c = await CartwireClient.connect(proxy.url, { timeoutMs: 5000 });
  t.after(() => c.close());
  await c.call('auth.guest', {});

  proxy.holdUp = true; // the server sees nothing until released
  const slow = c.call('cart.add', { sku: skuA, qty: 1 }, { timeoutMs: 100 });
  await assert.rejects(slow, (e: CartwireError) => e.code === 'TIMEOUT' && e.details?.sent === true && !e.fromServer);
  const ac = new AbortController();
  const aborted = c.call('cart.add', { sku: skuA, qty: 1 }, { signal: ac.signal });
  await until(() => proxy.heldUp.length === 2, { what: 'the second call on the wire' });
  ac.abort(new Error('user left'));
  await assert.rejects(aborted, (e: CartwireError) => e.code === 'ABORTED' && (e.cause as Error).message === 'user left' && e.details?.sent === true);

  const framesBefore = proxy.framesUp.length;
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(c.call('ping', {}, { signal: pre.signal }), (e: CartwireError) => e.code === 'ABORTED' && e.details?.sent === false);
  assert.equal(proxy.framesUp.length, framesBefore, 'an already aborted call is never sent');

  proxy.releaseUp(); // both held adds run now; their replies arrive for calls that already failed
  const after = await c.call('cart.get', {});
  assert.equal(after.items[0].qty, 2, 'abort and timeout do not undo what reached the server');
  assert.equal(c.state, 'open');
});

/** One guest on two connections: `c` through the counting proxy, `other` directly. */
async function twoDevicesOneProxied(t: TestContext): Promise<{ proxy: Proxy; c: CartwireClient; other: CartwireClient }> {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  const c = await CartwireClient.connect(proxy.url);
  t.after(() => c.close());
  const { token } = await c.call('auth.guest', {});
  const other = await CartwireClient.connect(server.url);
  t.after(() => other.close());
  await other.call('auth.resume', { token });
  return { proxy, c, other };
}

test('subscribe: the handler gets the reply first, then each newer version once; repeated and stale pushes are dropped', async (t) => {
  const { proxy, c, other } = await twoDevicesOneProxied(t);

  const raw: number[] = [];
  c.onPush((push, data) => push === 'cart.updated' && raw.push((data as CartView).version));
  const seen: number[] = [];
  const sub = c.subscribe('cart', (cart) => seen.push(cart.version));
  await sub.ready;
  assert.deepEqual(seen, [0]);
  await other.call('cart.add', { sku: skuA, qty: 1 });
  await other.call('cart.add', { sku: skuA, qty: 1 });
  await until(() => seen.length === 3, { what: 'pushes v1 and v2' });
  // Replay every push frame the server sent so far (v1, v2), then make v3.
  for (const d of proxy.down.filter((d) => d.msgs.some((m) => m.push === 'cart.updated'))) d.pair.client.send(d.frame);
  await other.call('cart.add', { sku: skuA, qty: 1 });
  await until(() => raw.length === 5, { what: 'the replayed pushes and v3 at the socket' });
  assert.deepEqual(raw, [1, 2, 1, 2, 3]);
  assert.deepEqual(seen, [0, 1, 2, 3], 'the handler saw every version once, in order');

  // A second handler on the same topic starts from the last object; one wire subscription.
  const second: number[] = [];
  const sub2 = c.subscribe('cart', (cart) => second.push(cart.version));
  await sub2.ready;
  assert.deepEqual(second, [3]);
  assert.equal(proxy.framesUp.flat().filter((m) => m.op === 'cart.subscribe').length, 1);
  await sub();
  await other.call('cart.add', { sku: skuA, qty: 1 });
  await until(() => second.length === 2, { what: 'v4 to the remaining handler' });
  assert.deepEqual(seen, [0, 1, 2, 3], 'an unsubscribed handler hears nothing');
  await sub2();
  assert.deepEqual(proxy.framesUp.flat().filter((m) => m.op === 'cart.unsubscribe').length, 1, 'the last handler ends the wire subscription');
});

test('subscribe: pushes that overtake the subscribe reply are held and delivered after it', async (t) => {
  const { proxy, c, other } = await twoDevicesOneProxied(t);

  let rawPushes = 0;
  c.onPush(() => rawPushes++);
  const subscribeId = () => proxy.framesUp.flat().find((m) => m.op === 'cart.subscribe')?.id;
  proxy.holdDown = (m) => m.some((x) => x.id !== undefined && x.id === subscribeId());
  const seen: number[] = [];
  const sub = c.subscribe('cart', (cart) => seen.push(cart.version));
  await until(() => proxy.heldDown.length === 1, { what: 'the subscribe reply held at the proxy' });
  const pushed = await other.call('cart.add', { sku: skuB, qty: 1 });
  await until(() => rawPushes === 1, { what: 'the push reached the client' });
  assert.deepEqual(seen, [], 'nothing before the reply');
  proxy.releaseDown();
  await sub.ready;
  await until(() => seen.length === 2, { what: 'reply then push' });
  assert.deepEqual(seen, [0, pushed.version]);
});

test('subscribe refused: ready rejects with the server code and onError hears it', async (t) => {
  const server = await startEdgeTestServer(t);
  const c = await CartwireClient.connect(server.url);
  t.after(() => c.close());
  await c.call('auth.guest', {});
  const errors: string[] = [];
  const sku = c.subscribe({ inventory: 'no-such-sku' }, () => assert.fail('no object'), { onError: (e) => errors.push(e.code) });
  await assert.rejects(sku.ready, { code: 'NOT_FOUND' });
  await assert.rejects(c.subscribe('admin', () => {}).ready, { code: 'FORBIDDEN' });
  assert.deepEqual(errors, ['NOT_FOUND']);
  const stock: number[] = [];
  const ok = c.subscribe({ inventory: skuA }, (inv) => stock.push(inv.available));
  await ok.ready;
  assert.equal(stock.length, 1);
  assert.throws(() => c.subscribe({ nope: 1 } as never, () => {}), TypeError);
});

test('subscribe before signing in: the topic waits for the session and follows once auth.* succeeds', async (t) => {
  const server = await startEdgeTestServer(t);
  const c = await CartwireClient.connect(server.url);
  t.after(() => c.close());
  const versions: number[] = [];
  const errors: string[] = [];
  const cart = c.subscribe('cart', (v) => versions.push(v.version), { onError: (e) => errors.push(e.code) });
  let settled = false;
  void cart.ready.then(() => (settled = true));
  // Signed out: nothing is asked of the server (it would answer UNAUTHENTICATED), ready waits.
  assert.deepEqual((await c.call('catalog.search', { limit: 1 })).items.length, 1);
  assert.equal(settled, false);
  await c.call('auth.guest', {});
  await cart.ready;
  await c.call('cart.add', { sku: skuA, qty: 1 });
  await until(() => versions.length === 2, { what: 'the subscribe reply and the add' });
  assert.deepEqual(errors, []);
  assert.equal(versions[1], versions[0] + 1);
});

test("the admin feed's handler gets order.updated, also when the same client follows its own orders", async (t) => {
  const server = await startEdgeTestServer(t);
  const admin = await CartwireClient.connect(server.url);
  t.after(() => admin.close());
  await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  const feed: string[] = [];
  const own: string[] = [];
  await admin.subscribe('admin', (e) => feed.push(e.push)).ready;
  await admin.subscribe('orders', (o) => own.push(o.orderId)).ready;
  const shopper = await CartwireClient.connect(server.url);
  t.after(() => shopper.close());
  await shopper.call('auth.guest', {});
  await shopper.call('cart.add', { sku: skuA, qty: 1 });
  const order = await shopper.call('checkout', { idempotencyKey: 'feed-1', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });
  await until(() => feed.includes('order.updated'), { what: "the shopper's order on the admin feed" });
  assert.equal(order.status, 'confirmed');
  assert.deepEqual(own, [], "another user's order is not the admin's own");
});

test('a throwing handler is reported on the error event and does not stop later versions or other handlers', async (t) => {
  const server = await startEdgeTestServer(t);
  const c = await CartwireClient.connect(server.url);
  t.after(() => c.close());
  await c.call('auth.guest', {});
  const errors: unknown[] = [];
  c.on('error', (e) => errors.push(e));
  const seen: number[] = [];
  await c.subscribe('cart', (cart) => {
    seen.push(cart.version);
    if (cart.version === 1) throw new Error('render failed');
  }).ready;
  const others: number[] = [];
  await c.subscribe('cart', (cart) => others.push(cart.version)).ready;
  await c.call('cart.add', { sku: skuA, qty: 1 });
  await c.call('cart.add', { sku: skuA, qty: 1 });
  await until(() => seen.length === 3 && others.length === 3, { what: 'v1 and v2 to both handlers' });
  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(others, [0, 1, 2]);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /render failed/);
});

test('a drop fails in-flight calls with CLOSED (never re-sent); calls made while down wait and leave after auth.resume', async (t) => {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  const c = await CartwireClient.connect(proxy.url, { reconnect: { baseDelayMs: 20, maxDelayMs: 100 } });
  t.after(() => c.close());
  const states: ConnectionState[] = [];
  c.on('state', (s) => states.push(s));
  const me = await c.call('auth.guest', {});
  const carts: CartView[] = [];
  await c.subscribe('cart', (cart) => carts.push(cart)).ready;

  proxy.holdUp = true;
  const inFlight = c.call('cart.add', { sku: skuA, qty: 3 });
  await until(() => proxy.heldUp.length === 1, { what: 'the add on the wire' });
  proxy.dropAll(); // the add never reaches the server; the client cannot know that
  proxy.holdUp = false;
  await assert.rejects(inFlight, (e: CartwireError) => e.code === 'CLOSED' && e.details?.sent === true);
  const queued = c.call('cart.add', { sku: skuB, qty: 1 }); // made while the socket is down
  assert.equal(c.state === 'reconnecting' || c.state === 'connecting', true, c.state);

  const cart = await queued;
  assert.deepEqual(
    cart.items.map((i) => [i.sku, i.qty]),
    [[skuB, 1]],
    'the in-flight add was not re-sent',
  );
  assert.equal(c.session?.userId, me.userId);
  const second = proxy.pairs.at(-1)!.up;
  assert.deepEqual(
    second[0].map((m) => m.op),
    ['auth.resume'],
    'auth.resume goes first, alone',
  );
  assert.deepEqual(
    second[1].map((m) => m.op),
    ['cart.subscribe', 'cart.add'],
    'then the resubscription and the waiting call, in one batch',
  );
  assert.ok(!second.flat().some((m) => m.op === 'cart.add' && (m as { args?: { qty?: number } }).args?.qty === 3));
  await until(() => carts.at(-1)?.version === cart.version, { what: 'the handler caught up' });
  assert.deepEqual(states.slice(0, 3), ['reconnecting', 'connecting', 'open']);
});

test('calls waiting for a reconnect are bounded (QUEUE_FULL) and time out by their own timeout', async (t) => {
  const server = await startEdgeTestServer(t);
  const proxy = await Proxy.start(t, server.url);
  // A long backoff keeps the client offline for the whole test.
  const c = await CartwireClient.connect(proxy.url, { reconnect: { baseDelayMs: 60_000, maxDelayMs: 60_000 }, maxQueued: 2 });
  t.after(() => c.close());
  await c.call('auth.guest', {});
  proxy.dropAll();
  await until(() => c.state === 'reconnecting', { what: 'reconnecting' });
  const a = c.call('ping', {}, { timeoutMs: 50 });
  const b = c.call('ping', {}, { timeoutMs: 60_000 });
  await assert.rejects(c.call('ping', {}), { code: 'QUEUE_FULL' });
  await assert.rejects(a, (e: CartwireError) => e.code === 'TIMEOUT' && e.details?.sent === false);
  const d = c.call('ping', {}); // the timed-out one no longer counts
  await c.close();
  await assert.rejects(b, (e: CartwireError) => e.code === 'CLOSED' && e.details?.sent === false);
  await assert.rejects(d, { code: 'CLOSED' });
  await assert.rejects(c.call('ping', {}), { code: 'CLOSED' });
  assert.equal(c.state, 'closed');
});

test('the SDK imports its own files and msgpackr, nothing of the server, nothing Node-only (ws is a lazy fallback)', () => {
  const dir = new URL('../packages/client/src/', import.meta.url); // the compiled SDK: type-only imports are gone
  const allowed = /^(\.\/[a-z-]+\.js|\.\/protocol\/errors\.js|msgpackr)$/;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const js = readFileSync(new URL(file, dir), 'utf8');
    const specifiers = [...js.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map((m) => m[1] ?? m[2]);
    for (const spec of specifiers) assert.match(spec, allowed, `${file} imports ${spec}`);
    assert.doesNotMatch(js, /['"]node:|require\(/, `${file} uses a Node built-in`);
  }
});

test('in a browser-like global scope the SDK uses globalThis.WebSocket', async (t) => {
  const server = await startEdgeTestServer(t);
  let made = 0;
  const g = globalThis as { WebSocket?: unknown };
  const saved = g.WebSocket;
  g.WebSocket = class extends WebSocket {
    constructor(url: string) {
      super(url);
      made++;
    }
  };
  t.after(() => (g.WebSocket = saved));
  const c = await CartwireClient.connect(server.url);
  t.after(() => c.close());
  assert.ok((await c.call('ping', {})).now > 0);
  assert.equal(made, 1);
});
