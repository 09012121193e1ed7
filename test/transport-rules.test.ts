// docs/protocol.md "Transport" and "Messages" against a live server, over raw sockets that send what
// no SDK would: text frames, oversized frames, bad msgpack, duplicate ids, forbidden keys.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startEdgeTestServer, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { RawSocket, pack, type WireResponse } from './helpers/raw-socket.js';
import { CloseCode, ErrorCode, Limits } from '../src/protocol/errors.js';

async function open(t: TestContext, url: string): Promise<RawSocket> {
  const s = await RawSocket.open(url);
  t.after(() => s.close());
  return s;
}

/** A raw socket signed in as a fresh guest. */
async function openGuest(t: TestContext, url: string): Promise<RawSocket> {
  const s = await open(t, url);
  const r = await s.answer(s.request('auth.guest', {}));
  assert.equal(r.ok, true, JSON.stringify(r));
  return s;
}

/** The error shape of docs/protocol.md "Messages": `{ id, ok: false, error: { code, message, details? } }`. */
function assertError(r: WireResponse, id: number | null, code: ErrorCode, message?: RegExp): void {
  assert.deepEqual(Object.keys(r).sort(), ['error', 'id', 'ok'], JSON.stringify(r));
  assert.equal(r.id, id, JSON.stringify(r));
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.equal(r.error!.code, code, JSON.stringify(r));
  assert.equal(typeof r.error!.message, 'string');
  assert.ok(r.error!.message.length > 0);
  assert.doesNotMatch(r.error!.message, /\n\s+at /, 'a stack trace on the wire');
  if (message) assert.match(r.error!.message, message);
}

/** The connection is open and still answers: no error closes it except those under Transport. */
async function assertStillServing(s: RawSocket): Promise<void> {
  const r = await s.ping();
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(typeof (r.result as { now: number }).now, 'number');
  assert.equal(s.closed, undefined);
}

/** The next `n` responses with `id: null`, counted from `from`. */
async function nullIdAnswers(s: RawSocket, from: number, n: number): Promise<WireResponse[]> {
  const after = () => s.responses.slice(from).filter((r) => r.id === null);
  await s.waitFor(() => after().length >= n, `${n} answers with id null`);
  return after();
}

test('a text frame is BAD_FRAME with id null, even when it holds a valid request, and the connection stays', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  s.send('hello');
  s.send(pack({ id: 1, op: 'ping' }).toString('latin1'));
  const [a, b] = await nullIdAnswers(s, 0, 2);
  assertError(a, null, ErrorCode.BAD_FRAME);
  assertError(b, null, ErrorCode.BAD_FRAME);
  await assertStillServing(s);
  assert.equal(s.responses.filter((r) => r.id === 1).length, 0, 'the text frame must not run as a request');
});

/** A ping padded with an ignored top-level field to exactly `size` bytes. */
function paddedPing(id: number, size: number): Buffer {
  const bare = pack({ id, op: 'ping', pad: '' }).length;
  // The pad's str header is 1, 2, 3 or 5 bytes (fixstr, str8, str16, str32); try each.
  for (const extra of [0, 1, 2, 4]) {
    const f = pack({ id, op: 'ping', pad: 'x'.repeat(size - bare - extra) });
    if (f.length === size) return f;
  }
  throw new Error(`cannot pad a ping to ${size} bytes`);
}

test('a frame of exactly 64 KiB is read; anything from 64 KiB + 1 to 1 MiB closes with 1009 unanswered', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  s.send(paddedPing(1, Limits.MAX_FRAME_BYTES));
  const r = await s.answer(1);
  assert.equal(r.ok, true, JSON.stringify(r));
  await assertStillServing(s);

  for (const size of [Limits.MAX_FRAME_BYTES + 1, 256 * 1024, 1024 * 1024]) {
    const big = await open(t, srv.url);
    big.send(paddedPing(1, size));
    const closed = await big.whenClosed();
    assert.equal(closed.code, CloseCode.MESSAGE_TOO_BIG, `${size} bytes`);
    assert.deepEqual(big.responses, [], `${size} bytes: nothing of the frame ran`);
  }
  const text = await open(t, srv.url);
  text.send('x'.repeat(Limits.MAX_FRAME_BYTES + 1));
  assert.equal((await text.whenClosed()).code, CloseCode.MESSAGE_TOO_BIG, 'a text frame over 64 KiB');
  // Over 1 MiB uWS drops the socket (1006) before we see the frame: the deviation in docs/protocol.md "Limits".
});

test('a message sent in fragments is one frame to the protocol: answered whole, and limited to 64 KiB in total', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  const ping = pack({ id: 1, op: 'ping' });
  s.sendFragments([ping.subarray(0, 3), ping.subarray(3, 4), ping.subarray(4)]);
  assert.equal((await s.answer(1)).ok, true);
  assert.equal(s.responses.length, 1, 'the fragments were read as one message');

  const big = await open(t, srv.url);
  const frame = paddedPing(2, Limits.MAX_FRAME_BYTES + 1);
  const half = frame.length >> 1;
  big.sendFragments([frame.subarray(0, half), frame.subarray(half)]);
  assert.equal((await big.whenClosed()).code, CloseCode.MESSAGE_TOO_BIG);
  assert.deepEqual(big.responses, []);
});

test('9 bad frames leave the connection open; the 10th is answered, then the close 1008 follows', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  const bad: (Uint8Array | string)[] = [
    'a text frame',
    Buffer.from([0xc1]),
    pack({ id: 1, op: 'ping' }).subarray(0, 5), // truncated
    Buffer.from([0x01]), // not a map
    Buffer.from([0x81, 0xa1, 0x76, 0xd4, 0x05, 0x00]), // an extension type
    Buffer.concat([pack({ id: 2, op: 'ping' }), Buffer.from([0x00])]), // trailing byte
    Buffer.from([0x81, 0x01, 0x01]), // an int key
    Buffer.from([0x92, 0x80, 0x01]), // a batch holding a non-map
    Buffer.from([
      0x83,
      0xa2,
      0x69,
      0x64,
      0x03,
      0xa2,
      0x6f,
      0x70,
      0xa4,
      0x70,
      0x69,
      0x6e,
      0x67,
      0xa4,
      0x61,
      0x72,
      0x67,
      0x73,
      ...new Array<number>(16).fill(0x91),
      0x90,
    ]), // 17 levels
  ];
  assert.equal(bad.length, Limits.BAD_FRAMES_BEFORE_CLOSE - 1);
  for (const f of bad) s.send(f);
  // Request-level errors are not bad frames and do not count towards the close.
  s.request('no.such.op', {});
  s.send(pack({ op: 'ping' }));
  s.send(pack([]));
  const answers = await nullIdAnswers(s, 0, bad.length + 2);
  assert.deepEqual(
    answers.map((r) => r.error!.code),
    [...new Array<string>(bad.length).fill(ErrorCode.BAD_FRAME), ErrorCode.BAD_REQUEST, ErrorCode.BAD_REQUEST],
  );
  for (const r of answers) assertError(r, null, r.error!.code as ErrorCode);
  await assertStillServing(s);

  const before = s.responses.length;
  s.send(Buffer.from([0xc1]));
  const closed = await s.whenClosed();
  assert.equal(closed.code, CloseCode.POLICY_VIOLATION);
  assert.equal(s.responses.length, before + 1, 'the 10th bad frame is answered before the close');
  assertError(s.responses[before], null, ErrorCode.BAD_FRAME);
});

test('an unknown op, or an op that is not a string, is BAD_REQUEST with the request id', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  // Names that exist on every JS object must not find a handler either.
  const ops: unknown[] = ['no.such.op', '', 'PING', 'ping ', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'.repeat(1000)];
  ops.forEach((op, i) => s.send(pack({ id: 100 + i, op, args: {} })));
  for (let i = 0; i < ops.length; i++) assertError(await s.answer(100 + i), 100 + i, ErrorCode.BAD_REQUEST, /unknown op/);
  for (const [i, op] of [5, null, true, ['ping'], { op: 'ping' }].entries()) {
    s.send(pack({ id: 200 + i, op }));
    assertError(await s.answer(200 + i), 200 + i, ErrorCode.BAD_REQUEST, /op must be a string/);
  }
  s.send(pack({ id: 300 }));
  assertError(await s.answer(300), 300, ErrorCode.BAD_REQUEST, /op must be a string/);
  await assertStillServing(s);
});

test('an id that is missing or not a uint32 is BAD_REQUEST with id null', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  const ids: unknown[] = [undefined, null, -1, 2 ** 32, 1.5, '7', true, [1], { id: 1 }];
  for (const id of ids) s.send(pack(id === undefined ? { op: 'ping' } : { id, op: 'ping' }));
  const answers = await nullIdAnswers(s, 0, ids.length);
  assert.equal(answers.length, ids.length);
  for (const r of answers) assertError(r, null, ErrorCode.BAD_REQUEST, /id must be an integer 0\.\.4294967295/);
  // Both ends of the uint32 range are fine.
  for (const id of [0, 2 ** 32 - 1]) assert.equal((await s.answer(s.request('ping', {}, id))).ok, true, `id ${id}`);
  // Any msgpack library may write a small id in a wider int type, or as an integral float64.
  const op = [0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67]; // "op": "ping"
  const idKey = [0xa2, 0x69, 0x64];
  for (const [id, bytes] of [
    [21, [0xcc, 21]],
    [22, [0xcd, 0, 22]],
    [23, [0xce, 0, 0, 0, 23]],
    [24, [0xcf, 0, 0, 0, 0, 0, 0, 0, 24]],
    [25, [0xd3, 0, 0, 0, 0, 0, 0, 0, 25]],
    [26, [0xcb, 0x40, 0x3a, 0, 0, 0, 0, 0, 0]],
  ] as [number, number[]][]) {
    s.send(Buffer.from([0x82, ...idKey, ...bytes, ...op]));
    assert.equal((await s.answer(id)).ok, true, `id ${id} as ${Buffer.from(bytes).toString('hex')}`);
  }
  await assertStillServing(s);
});

test('a second request with an id in flight is BAD_REQUEST; the first still answers and frees the id', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  // auth.login verifies an argon2id hash (tens of ms): the id is surely in flight when the second frame lands.
  s.send(pack({ id: 7, op: 'auth.login', args: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }));
  s.send(pack({ id: 7, op: 'ping' }));
  const [dup, login] = await s.answers(7, 2);
  assertError(dup, 7, ErrorCode.BAD_REQUEST, /already in flight/);
  assert.equal(login.ok, true, JSON.stringify(login));
  assert.equal((login.result as { role: string }).role, 'admin');
  // Answered: the id may be used again.
  s.send(pack({ id: 7, op: 'ping' }));
  const again = await s.answers(7, 3);
  assert.equal(again[2].ok, true, JSON.stringify(again[2]));

  // Inside one batch too: a shard op whose reply waits for the group commit, then the same id.
  s.send(
    pack([
      { id: 8, op: 'cart.add', args: { sku: 'soap-bar', qty: 1 } },
      { id: 8, op: 'ping' },
      { id: 9, op: 'ping' },
      { id: 9, op: 'ping' },
    ]),
  );
  const eights = await s.answers(8, 2);
  const nines = await s.answers(9, 2);
  assertError(
    eights.find((r) => !r.ok)!,
    8,
    ErrorCode.BAD_REQUEST,
    /already in flight/,
  );
  assert.equal((eights.find((r) => r.ok)!.result as { version: number }).version, 1);
  assert.deepEqual(
    nines.map((r) => r.ok),
    [true, false],
    'the first ping answers, the second is the duplicate',
  );
  assertError(nines[1], 9, ErrorCode.BAD_REQUEST, /already in flight/);
  const cart = await s.answer(s.request('cart.get', {}));
  assert.equal((cart.result as { items: { qty: number }[] }).items[0].qty, 1, 'the duplicate did not run');
  await assertStillServing(s);
});

test('a batch of 256 requests runs every one; 257 get one BAD_REQUEST and none runs; an empty batch is BAD_REQUEST', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await openGuest(t, srv.url);
  const adds = 56;
  const batch = Array.from({ length: Limits.MAX_BATCH }, (_, i) =>
    i < adds ? { id: i + 1, op: 'cart.add', args: { sku: 'soap-bar', qty: 1 } } : { id: i + 1, op: 'ping', args: {} },
  );
  const from = s.responses.length;
  s.send(pack(batch));
  await s.waitFor(() => s.responses.length - from >= Limits.MAX_BATCH, '256 answers');
  const answered = s.responses.slice(from);
  assert.deepEqual(
    answered.map((r) => r.id).sort((a, b) => a! - b!),
    batch.map((r) => r.id),
  );
  assert.ok(
    answered.every((r) => r.ok),
    JSON.stringify(answered.find((r) => !r.ok)),
  );
  const versions = answered.filter((r) => r.id! <= adds).map((r) => (r.result as { version: number }).version);
  assert.deepEqual(
    versions.sort((a, b) => a - b),
    Array.from({ length: adds }, (_, i) => i + 1),
  );

  const tooMany = Array.from({ length: Limits.MAX_BATCH + 1 }, (_, i) => ({ id: 1000 + i, op: 'cart.add', args: { sku: 'soap-bar', qty: 1 } }));
  const before = s.responses.length;
  s.send(pack(tooMany));
  const [refused] = await nullIdAnswers(s, before, 1);
  assertError(refused, null, ErrorCode.BAD_REQUEST, /at most 256 requests, got 257/);
  const cart = await s.answer(s.request('cart.get', {}));
  assert.equal((cart.result as { version: number }).version, adds, 'a request of the oversized batch ran');
  assert.equal(s.responses.filter((r) => typeof r.id === 'number' && r.id >= 1000 && r.id < 2000).length, 0);
  // Exactly once: 256 answers, the one refusal, the cart.get, and nothing else since.
  assert.equal(s.responses.length - from, Limits.MAX_BATCH + 2);

  const beforeEmpty = s.responses.length;
  s.send(Buffer.from([0x90]));
  const [empty] = await nullIdAnswers(s, beforeEmpty, 1);
  assertError(empty, null, ErrorCode.BAD_REQUEST, /empty batch/);
  await assertStillServing(s);
});

test('args that do not match the op schema are BAD_REQUEST naming the field; nothing runs', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await openGuest(t, srv.url);
  const cases: [string, unknown, RegExp][] = [
    ['cart.add', { sku: 'soap-bar', qty: 1000 }, /^args\.qty must be <= 999$/],
    ['cart.add', { sku: 'soap-bar', qty: 0 }, /^args\.qty .*1/],
    ['cart.add', { sku: 'soap-bar', qty: 1.5 }, /^args\.qty .*integer/],
    ['cart.add', { sku: 'soap-bar', qty: '2' }, /^args\.qty /],
    ['cart.add', { sku: 'soap bar!', qty: 1 }, /^args\.sku /],
    ['cart.add', { sku: 'x'.repeat(65), qty: 1 }, /^args\.sku /],
    ['cart.add', { qty: 1 }, /sku/],
    ['cart.add', { sku: 'soap-bar', qty: 1, extra: true }, /^args has unknown field extra$/],
    ['cart.setQty', { sku: 'soap-bar', qty: -1 }, /^args\.qty /],
    ['ping', { x: 1 }, /^args has unknown field x$/],
    ['checkout', { idempotencyKey: 'k', payment: { token: 'tok_visa', pin: 1 }, shippingAddress: {} }, /^args\.payment has unknown field pin$/],
    ['cart.add', [1, 2], /args must be a map/],
    ['cart.add', 'soap-bar', /args must be a map/],
    ['cart.add', 5, /args must be a map/],
    ['cart.add', null, /args must be a map/],
    ['cart.add', Buffer.from('soap-bar'), /args must be a map/],
  ];
  cases.forEach(([op, args], i) => s.send(pack({ id: 10 + i, op, args })));
  for (const [i, [, , message]] of cases.entries()) assertError(await s.answer(10 + i), 10 + i, ErrorCode.BAD_REQUEST, message);
  const cart = await s.answer(s.request('cart.get', {}));
  assert.equal((cart.result as { version: number }).version, 0, 'an invalid request changed the cart');
  await assertStillServing(s);
});

test('the role is checked before the args: a guest sending a malformed admin op gets FORBIDDEN, not a schema message', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await openGuest(t, srv.url);
  const bad = { productId: 'p-1', name: 'P', category: 'c', variants: [{ sku: 'p-1-a', price: 100, colour: 'red' }] };
  const a = s.request('catalog.upsert', bad);
  assertError(await s.answer(a), a, ErrorCode.FORBIDDEN, /for admins/);
  const b = s.request('inventory.adjust', 'not a map');
  assertError(await s.answer(b), b, ErrorCode.FORBIDDEN);
  await assertStillServing(s);
});

test('roles: anonymous gets UNAUTHENTICATED, a guest gets FORBIDDEN for admin ops, an admin passes', async (t) => {
  const srv = await startEdgeTestServer(t);
  const anon = await open(t, srv.url);
  for (const [op, args] of [
    ['cart.get', {}],
    ['cart.add', { sku: 'soap-bar', qty: 1 }],
    ['inventory.get', { sku: 'soap-bar' }],
    ['inventory.adjust', { sku: 'soap-bar', type: 'purchase', qty: 1, reason: 'x' }],
  ] as const) {
    const id = anon.request(op, args);
    assertError(await anon.answer(id), id, ErrorCode.UNAUTHENTICATED, new RegExp(`^${op.replace('.', '\\.')} needs a signed-in connection`));
  }
  assert.equal((await anon.answer(anon.request('catalog.get', { productId: 'soap-bar' }))).ok, true, 'catalog.get is open to anyone');
  // catalog.* is open to anonymous connections (docs/protocol.md), so its admin op is FORBIDDEN, not UNAUTHENTICATED.
  const upsertId = anon.request('catalog.upsert', { productId: 'p-0', name: 'P', category: 'c', variants: [{ sku: 'p-0-a', price: 100 }] });
  assertError(await anon.answer(upsertId), upsertId, ErrorCode.FORBIDDEN, /^catalog\.upsert is for admins$/);
  await assertStillServing(anon);

  const guest = await openGuest(t, srv.url);
  const adjust = { sku: 'soap-bar', type: 'purchase', qty: 5, reason: 'restock' };
  const upsert = { productId: 'p-1', name: 'P', category: 'c', variants: [{ sku: 'p-1-a', price: 100 }] };
  for (const [op, args] of [
    ['inventory.adjust', adjust],
    ['catalog.upsert', upsert],
  ] as const) {
    const id = guest.request(op, args);
    assertError(await guest.answer(id), id, ErrorCode.FORBIDDEN, /admins/);
  }
  const seen = await guest.answer(guest.request('inventory.get', { sku: 'soap-bar' }));
  assert.equal((seen.result as { onHand: number }).onHand, 250, 'the guest adjust must not have run');
  await assertStillServing(guest);

  const admin = await open(t, srv.url);
  assert.equal((await admin.answer(admin.request('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }))).ok, true);
  const adjusted = await admin.answer(admin.request('inventory.adjust', adjust));
  assert.equal((adjusted.result as { onHand: number }).onHand, 255);
});

/** A request map with `key` inside args, written as a Map so the encoder keeps the key as it is. */
const withKeyInArgs = (id: number, op: string, key: string, args: Record<string, unknown> = {}) =>
  new Map<string, unknown>([
    ['id', id],
    ['op', op],
    ['args', new Map<string, unknown>([...Object.entries(args), [key, new Map([['polluted', 'yes']])]])],
  ]);

test('__proto__, constructor and prototype keys are BAD_REQUEST with the id; the rest of the batch runs; nothing is polluted', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await openGuest(t, srv.url);
  let id = 50;
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    // At the top of the request, inside args, and deep inside a nested value.
    const top = new Map<string, unknown>([
      ['id', ++id],
      ['op', 'ping'],
      [key, new Map([['polluted', 'yes']])],
    ]);
    s.send(pack(top));
    assertError(await s.answer(id), id, ErrorCode.BAD_REQUEST, /__proto__, constructor or prototype/);
    s.send(pack(withKeyInArgs(++id, 'cart.add', key, { sku: 'soap-bar', qty: 1 })));
    assertError(await s.answer(id), id, ErrorCode.BAD_REQUEST, /__proto__, constructor or prototype/);
    const deep = new Map<string, unknown>([
      ['id', ++id],
      ['op', 'cart.add'],
      ['args', { sku: 'soap-bar', qty: 1, list: [{ a: [new Map([[key, 1]])] }] }],
    ]);
    s.send(pack(deep));
    assertError(await s.answer(id), id, ErrorCode.BAD_REQUEST, /__proto__, constructor or prototype/);
    await assertStillServing(s);
  }
  // The server runs in this process: its Object.prototype is ours.
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);

  s.send(
    pack([
      { id: 90, op: 'cart.add', args: { sku: 'soap-bar', qty: 2 } },
      withKeyInArgs(91, 'cart.add', '__proto__', { sku: 'soap-bar', qty: 5 }),
      { id: 92, op: 'ping' },
    ]),
  );
  const [ok90, bad91, ok92] = [await s.answer(90), await s.answer(91), await s.answer(92)];
  assert.equal(ok90.ok, true, JSON.stringify(ok90));
  assertError(bad91, 91, ErrorCode.BAD_REQUEST, /__proto__/);
  assert.equal(ok92.ok, true);
  const cart = await s.answer(s.request('cart.get', {}));
  assert.deepEqual(
    (cart.result as { items: { sku: string; qty: number }[] }).items.map((l) => [l.sku, l.qty]),
    [['soap-bar', 2]],
  );
  assert.equal((cart.result as { version: number }).version, 1, 'only the clean request of the batch changed the cart');
});

test('16 levels of nesting reach the op; 17 are BAD_FRAME', async (t) => {
  const srv = await startEdgeTestServer(t);
  const s = await open(t, srv.url);
  const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });
  // args is level 2: 15 maps from args down reach level 16, 16 maps reach 17.
  s.send(pack({ id: 1, op: 'ping', args: nest(15) }));
  assertError(await s.answer(1), 1, ErrorCode.BAD_REQUEST, /^args has unknown field a$/);
  s.send(pack({ id: 2, op: 'ping', args: nest(16) }));
  assertError((await nullIdAnswers(s, 0, 1))[0], null, ErrorCode.BAD_FRAME, /nesting deeper than 16/);
  assert.equal(s.responses.filter((r) => r.id === 2).length, 0);
  await assertStillServing(s);
});
