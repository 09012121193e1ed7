// Random and mutated frames against the real server process. Seeded, so a failure reproduces:
// FUZZ_SEED=<seed printed below> node --test dist/test/fuzz.test.js
// The server may close a connection only as docs/protocol.md "Transport" says (1008 after the 10th
// bad frame, 1009 for a frame over 64 KiB); it must never answer INTERNAL, never log an error,
// and must still serve a fresh client afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { spawnServer, tmpDataDir, connect, connectGuest, connectAdmin, ADMIN_EMAIL, ADMIN_PASSWORD, logLines } from './helpers/server.js';
import { RawSocket, type WireResponse } from './helpers/raw-socket.js';
import { CloseCode, ErrorCode, Limits } from '../src/protocol/errors.js';
import { prng } from './helpers/proc.js';

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000);
const LANES = 4;
/** The lane whose connections sign in as the admin. */
const ADMIN_LANE = LANES - 1;
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));

// useRecords off: every frame is standard msgpack. Maps keep keys such as __proto__ as written.
const packr = new Packr({ useRecords: false });
const pack = (v: unknown): Buffer => packr.pack(v);

class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  u32(): number {
    return this.int(2 ** 32);
  }
}

// Guest lanes buy soap-bar; only the admin lane changes stock and catalog, and never soap-bar's,
// so the final check can still add it to a cart.
const SKUS = ['soap-bar', 'kite', 'tee-classic-m', 'tent-2p', 'fuzz-1-a', 'no-such-sku', ''];
const ADMIN_SKUS = ['kite', 'tent-2p', 'tee-classic-m', 'fuzz-1-a', 'fuzz-2-a', 'no-such-sku'];
const OPS = [
  'ping',
  'cart.get',
  'cart.add',
  'cart.setQty',
  'cart.remove',
  'cart.clear',
  'inventory.get',
  'catalog.get',
  'auth.guest',
  'auth.resume',
  'inventory.adjust',
  'catalog.upsert',
  'no.such.op',
  // Commerce and recommendations: several actors and hops per request.
  'checkout',
  'checkout',
  'order.get',
  'order.list',
  'order.cancel',
  'order.refund',
  'order.ship',
  'order.return',
  'order.subscribe',
  'coupon.upsert',
  'cart.applyCoupon',
  'cart.removeCoupon',
  'event.view',
  'recs.forUser',
  'recs.similar',
];
const TOKENS = ['tok_visa', 'tok_mastercard', 'tok_chargeDeclined', 'tok_insufficientFunds', 'tok_unknown', 'tok_timeout'];
const KEYS = ['id', 'op', 'args', 'sku', 'qty', 'productId', 'token', '__proto__', 'constructor', 'prototype', 'toString', '', 'x'];
const TX_TYPES = ['purchase', 'return', 'sale', 'damage', 'expiry', 'adjustment', 'transfer', 'bogus'];

/** Args an admin might send to change stock or the catalog: valid, or now and then wrong in one field. */
function adminArgs(g: Gen, op: string): Record<string, unknown> | undefined {
  const spoil = (a: Record<string, unknown>, wrong: Record<string, unknown[]>) => {
    if (g.chance(0.3)) {
      const field = g.pick(Object.keys(wrong));
      a[field] = g.pick(wrong[field]);
    }
    return a;
  };
  if (op === 'inventory.adjust') {
    const a: Record<string, unknown> = { sku: g.pick(ADMIN_SKUS), type: g.pick(TX_TYPES.slice(0, -1)), qty: 1 + g.int(20), reason: 'fuzz' };
    if (g.chance(0.4)) a.warehouse = g.pick(['main', 'w2', 'w3']);
    if (a.type === 'transfer' || g.chance(0.1)) a.toWarehouse = g.pick(['main', 'w2', 'w3']);
    if (g.chance(0.2)) a.referenceId = 'r-1';
    return spoil(a, { type: ['bogus'], qty: [0, 1e9, 1e9 + 1, -1], reason: ['', 'x'.repeat(201)], warehouse: ['bad id!', ''], toWarehouse: [''] });
  }
  if (op === 'catalog.upsert') {
    const productId = g.pick(['fuzz-1', 'fuzz-2']);
    const variants = Array.from({ length: 1 + g.int(3) }, (_, i) => {
      const v: Record<string, unknown> = { sku: `${productId}-${'abc'[i]}`, price: g.pick([0, 100, 1e9]) };
      if (g.chance(0.3)) v.currency = g.pick(['USD', 'EUR']);
      if (g.chance(0.2)) v.attributes = { size: g.pick(['m', 'l']) };
      return spoil(v, { sku: ['fuzz-1-a', 'kite', ''], price: [1e9 + 1, -1, 1.5], currency: ['usd'], attributes: [{ size: 'x'.repeat(300) }] });
    });
    const a: Record<string, unknown> = { productId, name: 'Fuzz', category: 'fuzz', variants };
    if (g.chance(0.3)) a.status = g.pick(['active', 'draft', 'archived']);
    return spoil(a, { status: ['bogus'], brand: ['b'.repeat(65)], name: [''], variants: [[]] });
  }
  return undefined;
}

/** A request a real client could send (valid or merely wrong for its op). */
function request(g: Gen, admin: boolean): Record<string, unknown> {
  const id = g.chance(0.9) ? g.int(1000) : g.u32();
  const op = admin && g.chance(0.6) ? g.pick(['inventory.adjust', 'catalog.upsert', 'inventory.get']) : g.pick(OPS);
  const sku = g.pick(admin ? ADMIN_SKUS : SKUS);
  const qty = g.pick([0, 1, 2, 999, 1000, -1, 1.5]);
  const args: Record<string, Record<string, unknown>> = {
    'cart.add': { sku, qty },
    'cart.setQty': { sku, qty },
    'cart.remove': { sku },
    'inventory.get': { sku },
    'catalog.get': { productId: g.pick(['kite', 'soap-bar', 'fuzz-1', 'nope']) },
    'auth.resume': { token: g.pick(['not-a-jwt', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.']) },
    checkout: {
      idempotencyKey: g.pick(['k1', 'k2', `k${g.int(50)}`, '']),
      payment: { token: g.pick(TOKENS) },
      shippingAddress: { name: 'F', line1: 'L', city: 'C', postalCode: 'P', country: g.pick(['US', 'DE', 'GB', 'XX', 'us', 'constructor']) },
    },
    'order.get': { orderId: g.pick(['ord_nope', 'x', '']) },
    'order.list': g.pick([{}, { limit: 5 }, { cursor: 'AAAA' }, { cursor: 'WzEsIngiXQ' }, { limit: 0 }]),
    'order.cancel': { orderId: 'ord_nope' },
    'order.refund': { orderId: 'ord_nope', amount: g.pick([1, 0, -5]) },
    'order.ship': { orderId: 'ord_nope' },
    'order.return': { orderId: 'ord_nope' },
    'coupon.upsert': g.pick([
      { code: 'FUZZ', percentOff: g.pick([1, 50, 100, 101]) },
      { code: 'FUZZ2', amountOff: 100, percentOff: 5 },
      { code: 'fuzz', maxRedemptions: 0, percentOff: 10 },
    ]),
    'cart.applyCoupon': { code: g.pick(['FUZZ', 'fuzz', 'NOPE', 'x'.repeat(40)]) },
    'event.view': { productId: g.pick(['kite', 'soap-bar', 'nope']) },
    'recs.forUser': g.pick([{}, { limit: 3 }, { context: { category: 'kitchen' } }, { context: { priceRange: { min: 10, max: 1 } } }]),
    'recs.similar': { productId: g.pick(['kite', 'nope']), limit: g.pick([1, 10, 101]) },
  };
  return { id, op, args: adminArgs(g, op) ?? args[op] ?? {} };
}

/** Any msgpack value, nested up to `depth`. */
function value(g: Gen, depth: number): unknown {
  switch (g.int(depth > 0 ? 12 : 8)) {
    case 0:
      return null;
    case 1:
      return g.chance(0.5);
    case 2:
      return g.int(256) - 128;
    case 3:
      return g.pick([2 ** 31, 2 ** 32, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, 2 ** 63, 1.5, NaN, Infinity, -0]);
    case 4:
      return g.bytes(g.int(8)).toString('latin1');
    case 5:
      return 'x'.repeat(g.pick([0, 31, 32, 255, 256, 4000]));
    case 6:
      return g.bytes(g.int(16));
    case 7:
      return g.pick(KEYS);
    case 8:
    case 9:
      return Array.from({ length: g.int(5) }, () => value(g, depth - 1));
    default:
      return new Map(Array.from({ length: g.int(5) }, () => [g.pick(KEYS), value(g, depth - 1)]));
  }
}

/** Raw bytes that claim far more than the frame holds. */
function hugeHeader(g: Gen): Buffer {
  const n = g.pick([0xffffffff, 0x7fffffff, 0x10000, g.u32()]);
  const b32 = Buffer.alloc(4);
  b32.writeUInt32BE(n >>> 0);
  const tag = g.pick([0xdd, 0xdf, 0xdb, 0xc6, 0xc9]);
  return Buffer.concat([Buffer.from([tag]), b32, g.chance(0.5) ? Buffer.from([0x01]) : Buffer.alloc(0)]);
}

function nestedRequest(g: Gen): Buffer {
  const depth = 10 + g.int(30);
  if (g.chance(0.3)) {
    // Thousands of one-element arrays: refused at level 17 without recursing through the rest.
    const head = Buffer.from([
      0x83,
      0xa2,
      ...Buffer.from('id'),
      g.int(128),
      0xa2,
      ...Buffer.from('op'),
      0xa4,
      ...Buffer.from('ping'),
      0xa4,
      ...Buffer.from('args'),
    ]);
    return Buffer.concat([head, Buffer.alloc(depth * 50, 0x91), Buffer.from([0xc0])]);
  }
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = g.chance(0.5) ? [v] : { a: v };
  return pack({ id: g.int(1000), op: g.pick(OPS), args: v });
}

type Frame = Uint8Array | string;

/** One fuzz frame: a mutation of a valid request frame, or something built from nothing. */
function frame(g: Gen, admin: boolean): Frame {
  const valid = () => (g.chance(0.7) ? pack(request(g, admin)) : pack(Array.from({ length: 1 + g.int(8) }, () => request(g, admin))));
  const base = valid();
  switch (g.int(14)) {
    case 0: {
      // bit flips
      const b = Buffer.from(base);
      for (let i = 1 + g.int(8); i > 0; i--) b[g.int(b.length)] ^= 1 << g.int(8);
      return b;
    }
    case 1: {
      // bytes set to values that mean something to a msgpack reader
      const b = Buffer.from(base);
      for (let i = 1 + g.int(4); i > 0; i--)
        b[g.int(b.length)] = g.chance(0.5)
          ? g.int(256)
          : g.pick([0xc1, 0xd4, 0xd6, 0xd8, 0xc7, 0xc9, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6, 0xff, 0x00, 0x80, 0x90, 0xa0]);
      return b;
    }
    case 2:
      return base.subarray(0, g.int(base.length)); // truncation (length 0 included)
    case 3: {
      // splice two frames at random points
      const other = valid();
      return Buffer.concat([base.subarray(0, g.int(base.length + 1)), other.subarray(g.int(other.length))]);
    }
    case 4: {
      // insert, delete or repeat a chunk
      const at = g.int(base.length);
      const len = 1 + g.int(8);
      const op = g.int(3);
      if (op === 0) return Buffer.concat([base.subarray(0, at), g.bytes(len), base.subarray(at)]);
      if (op === 1) return Buffer.concat([base.subarray(0, at), base.subarray(at + len)]);
      return Buffer.concat([base.subarray(0, at + len), base.subarray(at)]);
    }
    case 5: {
      // a huge declared length, in place of a header or inserted
      const at = g.int(base.length);
      return Buffer.concat([base.subarray(0, at), hugeHeader(g), base.subarray(at + (g.chance(0.5) ? 1 : 0))]);
    }
    case 6:
      return g.chance(0.5) ? hugeHeader(g) : Buffer.concat([Buffer.from([0x91]), hugeHeader(g)]);
    case 7:
      return pack(value(g, 5)); // any value at all
    case 8: {
      // a request whose fields are random values
      const m = new Map<string, unknown>([
        ['id', g.chance(0.5) ? g.int(1000) : value(g, 1)],
        ['op', g.chance(0.5) ? g.pick(OPS) : value(g, 1)],
        ['args', value(g, 4)],
      ]);
      if (g.chance(0.3)) m.set(g.pick(KEYS), value(g, 2));
      return pack(g.chance(0.8) ? m : [m, request(g, admin)]);
    }
    case 9:
      return nestedRequest(g);
    case 10:
      return g.bytes(g.int(200)); // noise
    case 11:
      return g.chance(0.5) ? base.toString('latin1') : g.bytes(g.int(40)).toString('latin1'); // text frames
    case 12: {
      // batches around the 256 limit
      const n = Limits.MAX_BATCH - 3 + g.int(8);
      return pack(Array.from({ length: n }, (_, i) => ({ id: i, op: g.chance(0.9) ? 'ping' : 'cart.get' })));
    }
    default: // now and then a frame over 64 KiB (up to 256 KiB: within what uWS reads)
      return g.chance(0.02) ? Buffer.alloc(Limits.MAX_FRAME_BYTES + 1 + g.int(192 * 1024), 0x90) : base;
  }
}

interface Tally {
  frames: number;
  connections: number;
  codes: Map<string, number>;
  closes: Map<number, number>;
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** Checks one response against docs/protocol.md "Messages"; returns its code ('ok' on success). */
function checkResponse(r: WireResponse, frameHex: () => string): string {
  assert.ok(r !== null && typeof r === 'object' && !Array.isArray(r), `not a response map: ${JSON.stringify(r)}`);
  // A lane that sent order.subscribe or cart.subscribe also gets pushes: named, with data, no id.
  const push = (r as unknown as { push?: unknown; data?: unknown }).push;
  if (push !== undefined) {
    assert.ok(typeof push === 'string' && 'data' in r && !('id' in r), `bad push: ${JSON.stringify(r)}`);
    return 'push';
  }
  assert.ok(r.id === null || (Number.isInteger(r.id) && r.id >= 0 && r.id <= 0xffffffff), `bad id in ${JSON.stringify(r)}`);
  if (r.ok === true) {
    assert.ok('result' in r, `ok without a result: ${JSON.stringify(r)}`);
    return 'ok';
  }
  assert.equal(r.ok, false, `ok is neither true nor false: ${JSON.stringify(r)}`);
  assert.ok(ERROR_CODES.has(r.error?.code ?? ''), `unknown error code in ${JSON.stringify(r)}`);
  assert.equal(typeof r.error!.message, 'string');
  assert.notEqual(r.error!.code, ErrorCode.INTERNAL, `INTERNAL after frame ${frameHex()}: ${r.error!.message}`);
  return r.error!.code;
}

/** A lane signs in with `adminToken`, or as a new guest: mutated ops then reach the actors too. */
async function openLane(url: string, adminToken: string | undefined, tally: Tally): Promise<RawSocket> {
  const s = await RawSocket.open(url);
  tally.connections++;
  const r = await s.answer(adminToken ? s.request('auth.resume', { token: adminToken }, 0xffffffff) : s.request('auth.guest', {}, 0xffffffff));
  assert.equal(r.ok, true, JSON.stringify(r));
  s.responses.length = 0;
  return s;
}

/** Sends `frames` one by one, each followed by a ping that paces the lane; reconnects after a close. */
async function runLane(url: string, frames: Frame[], firstIndex: number, adminToken: string | undefined, tally: Tally): Promise<void> {
  let s = await openLane(url, adminToken, tally);
  let badFrames = 0;
  let oversizedSent = false;
  let sentinel = 4_000_000_000;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    const hex = () =>
      `#${firstIndex + i * LANES} ${typeof f === 'string' ? `text ${JSON.stringify(f.slice(0, 80))}` : Buffer.from(f.subarray(0, 80)).toString('hex')}`;
    s.send(f);
    tally.frames++;
    if (typeof f !== 'string' && f.length > Limits.MAX_FRAME_BYTES) oversizedSent = true;
    const id = ++sentinel;
    s.request('ping', {}, id);
    // The ping's answer (or a duplicate-id refusal of it) means the server has processed the frame.
    await s.waitFor(() => s.closed !== undefined || s.responses.some((r) => r.id === id), `the server's answer to frame ${hex()}`, 10_000);
    for (const r of s.responses) {
      const code = checkResponse(r, hex);
      tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
      if (code === ErrorCode.BAD_FRAME) badFrames++;
    }
    s.responses.length = 0;
    if (s.closed) {
      const { code } = s.closed;
      tally.closes.set(code, (tally.closes.get(code) ?? 0) + 1);
      if (code === CloseCode.POLICY_VIOLATION) assert.equal(badFrames, Limits.BAD_FRAMES_BEFORE_CLOSE, `1008 after ${badFrames} bad frames, last ${hex()}`);
      else assert.ok(code === CloseCode.MESSAGE_TOO_BIG && oversizedSent, `close ${code} after frame ${hex()}`);
      s = await openLane(url, adminToken, tally);
      badFrames = 0;
      oversizedSent = false;
    }
  }
  s.close();
}

test(`the server survives ${FRAMES} random and mutated frames (FUZZ_SEED=${SEED})`, async (t) => {
  console.log(`fuzz seed ${SEED} (rerun with FUZZ_SEED=${SEED})`);
  const srv = await spawnServer(tmpDataDir(t));
  t.after(() => srv.kill9());
  const g = new Gen(prng(SEED));
  const frames = Array.from({ length: FRAMES }, (_, i) => frame(g, i % LANES === ADMIN_LANE));
  const tally: Tally = { frames: 0, connections: 0, codes: new Map(), closes: new Map() };
  const lanes = Array.from({ length: LANES }, (_, lane) => frames.filter((_, i) => i % LANES === lane));
  const admin = await connect(srv.url);
  const { token: adminToken } = await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await admin.close();
  await Promise.all(lanes.map((fs, lane) => runLane(srv.url, fs, lane, lane === ADMIN_LANE ? adminToken : undefined, tally)));
  t.diagnostic(
    `seed ${SEED}: ${tally.frames} frames over ${tally.connections} connections; answers ${JSON.stringify([...tally.codes])}; closes ${JSON.stringify([...tally.closes])}`,
  );
  assert.equal(tally.frames, FRAMES);
  // The mix must exercise both close rules and the main codes, or the fuzzer has gone blind.
  assert.ok((tally.closes.get(CloseCode.POLICY_VIOLATION) ?? 0) > 0, 'no connection reached 10 bad frames');
  for (const code of [ErrorCode.BAD_FRAME, ErrorCode.BAD_REQUEST, 'ok']) assert.ok((tally.codes.get(code) ?? 0) > 0, `no ${code} answers`);

  assert.equal(srv.proc.exitCode, null, 'the server process exited');
  assert.equal(srv.proc.signalCode, null, 'the server process was killed');
  const fresh = await connectGuest(srv.url);
  t.after(() => fresh.close());
  assert.equal(typeof (await fresh.call('ping', {})).now, 'number');
  const cart = await fresh.call('cart.add', { sku: 'soap-bar', qty: 2 });
  assert.equal(cart.version, 1);
  assert.deepEqual(
    cart.items.map((l) => [l.sku, l.qty]),
    [['soap-bar', 2]],
  );
  // The admin lane reached the sku actors, or the fuzzer has gone blind to them (each sku starts at version 1).
  const admin2 = await connectAdmin(srv.url);
  t.after(() => admin2.close());
  const versions = await Promise.all(['kite', 'tent-2p', 'tee-classic-m'].map(async (sku) => (await admin2.call('inventory.get', { sku })).version));
  assert.ok(
    versions.some((v) => v > 1),
    `no admin adjustment went through: versions ${versions.join(',')}`,
  );
  await admin2.close();
  await fresh.close();
  // Nothing but the start line: no "edge failed on a frame", no handler or shard errors.
  assert.deepEqual(logLines(srv), [`listening on ${srv.url}`]);
  assert.equal(await srv.term(), 0, srv.output());
});
