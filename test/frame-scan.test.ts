// The structural pre-scan and decodeFrame against docs/protocol.md "Transport", byte by byte. Frames
// are built by hand where no encoder would produce them, so every msgpack type byte is covered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import fc from 'fast-check';
import { scanFrame } from '../src/transport/frame-scan.js';
import { decodeFrame, ForbiddenRequest } from '../src/transport/frame-codec.js';
import { Edge, type EdgeDeps } from '../src/transport/edge.js';
import { Connection } from '../src/transport/connection.js';
import { CloseCode, ErrorCode, Limits } from '../src/protocol/errors.js';
import { pack } from './helpers/raw-socket.js';
import type { ServerSocket } from '../src/transport/transport.js';

const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];
const be16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** The shortest msgpack str encoding, as any encoder writes it. */
const str = (s: string): number[] => {
  const b = utf8(s);
  return b.length < 32 ? [0xa0 | b.length, ...b] : [0xd9, b.length, ...b];
};
/** `{ id, op: "ping", args: { v: <value> } }` around the raw bytes of one value. */
const withArg = (value: number[], id = 1): number[] => [0x83, ...str('id'), id, ...str('op'), ...str('ping'), ...str('args'), 0x81, ...str('v'), ...value];
const frame = (bytes: number[]): Buffer => Buffer.from(bytes);
const PING = [0x82, ...str('id'), 0x01, ...str('op'), ...str('ping')];

function assertBad(bytes: number[] | Buffer, reason: RegExp, what: string): void {
  const b = Buffer.isBuffer(bytes) ? bytes : frame(bytes);
  const scan = scanFrame(b);
  assert.equal(scan.ok, false, `${what}: the scan accepted it`);
  assert.match((scan as { reason: string }).reason, reason, what);
  assert.deepEqual(decodeFrame(b), { kind: 'bad', reason: (scan as { reason: string }).reason }, what);
}

/** The decoded `args.v` of a frame built by `withArg`. */
function decodedArg(bytes: number[]): unknown {
  const d = decodeFrame(frame(bytes));
  assert.equal(d.kind, 'requests', JSON.stringify(d));
  const r = (d as { requests: Record<string, unknown>[] }).requests;
  assert.equal(r.length, 1);
  assert.equal(r[0].id, 1);
  assert.equal(r[0].op, 'ping');
  return (r[0].args as { v: unknown }).v;
}

test('every standard msgpack type is accepted as a value and decodes to what it says', () => {
  const cases: [string, number[], unknown][] = [
    ['positive fixint 0', [0x00], 0],
    ['positive fixint 127', [0x7f], 127],
    ['negative fixint -32', [0xe0], -32],
    ['negative fixint -1', [0xff], -1],
    ['nil', [0xc0], null],
    ['false', [0xc2], false],
    ['true', [0xc3], true],
    ['uint8', [0xcc, 0xff], 255],
    ['uint16', [0xcd, 0xff, 0xff], 65535],
    ['uint32', [0xce, 0xff, 0xff, 0xff, 0xff], 4294967295],
    ['uint64', [0xcf, 0, 0, 0, 1, 0, 0, 0, 0], 2 ** 32],
    ['int8', [0xd0, 0x80], -128],
    ['int16', [0xd1, 0x80, 0x00], -32768],
    ['int32', [0xd2, 0x80, 0, 0, 0], -2147483648],
    ['int64', [0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], -1],
    ['float32', [0xca, 0x3f, 0xc0, 0, 0], 1.5],
    ['float64', [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], 1.5],
    ['fixstr empty', [0xa0], ''],
    ['fixstr', [0xa3, ...utf8('abc')], 'abc'],
    ['fixstr utf-8', str('tête'), 'tête'],
    ['str8', [0xd9, 3, ...utf8('abc')], 'abc'],
    ['str16', [0xda, ...be16(3), ...utf8('abc')], 'abc'],
    ['str32', [0xdb, ...be32(3), ...utf8('abc')], 'abc'],
    ['fixarray empty', [0x90], []],
    ['fixarray', [0x92, 0x01, 0xc3], [1, true]],
    ['array16', [0xdc, ...be16(2), 0x01, 0x02], [1, 2]],
    ['array32', [0xdd, ...be32(2), 0x01, 0x02], [1, 2]],
    ['fixmap empty', [0x80], {}],
    ['fixmap', [0x81, ...str('k'), 0x01], { k: 1 }],
    ['map16', [0xde, ...be16(1), ...str('k'), 0x01], { k: 1 }],
    ['map32', [0xdf, ...be32(1), ...str('k'), 0x01], { k: 1 }],
  ];
  for (const [name, bytes, expected] of cases) {
    assert.deepEqual(scanFrame(frame(withArg(bytes))), { ok: true, batch: false, count: 1, forbidden: [] }, name);
    assert.deepEqual(decodedArg(withArg(bytes)), expected, name);
  }
  // bin decodes to bytes; compared as bytes, whatever Uint8Array subclass the decoder picks.
  for (const [name, bytes] of [
    ['bin8', [0xc4, 2, 7, 8]],
    ['bin16', [0xc5, ...be16(2), 7, 8]],
    ['bin32', [0xc6, ...be32(2), 7, 8]],
  ] as [string, number[]][]) {
    assert.equal(scanFrame(frame(withArg(bytes))).ok, true, name);
    const v = decodedArg(withArg(bytes));
    assert.ok(v instanceof Uint8Array, name);
    assert.deepEqual([...v], [7, 8], name);
  }
});

test('the request map itself may use any map header, and a batch any array header', () => {
  const body = [...str('id'), 0x05, ...str('op'), ...str('ping')];
  for (const header of [[0x82], [0xde, ...be16(2)], [0xdf, ...be32(2)]]) {
    assert.deepEqual(decodeFrame(frame([...header, ...body])), { kind: 'requests', batch: false, requests: [{ id: 5, op: 'ping' }] });
  }
  for (const header of [[0x91], [0xdc, ...be16(1)], [0xdd, ...be32(1)]]) {
    assert.deepEqual(decodeFrame(frame([...header, 0x82, ...body])), { kind: 'requests', batch: true, requests: [{ id: 5, op: 'ping' }] });
  }
});

test('byte 0xc1 and every extension type are refused, wherever they appear', () => {
  const refused: [string, number[]][] = [
    ['0xc1', [0xc1]],
    ['ext8', [0xc7, 1, 0x05, 0x00]],
    ['ext16', [0xc8, ...be16(1), 0x05, 0x00]],
    ['ext32', [0xc9, ...be32(1), 0x05, 0x00]],
    ['fixext1', [0xd4, 0x05, 0x00]],
    ['fixext2', [0xd5, 0x05, 0, 0]],
    ['fixext4', [0xd6, 0x05, 0, 0, 0, 0]],
    ['fixext8', [0xd7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['fixext16', [0xd8, 0x05, ...new Array<number>(16).fill(0)]],
    ['timestamp32', [0xd6, 0xff, 0, 0, 0, 0]],
  ];
  for (const [name, bytes] of refused) {
    const reason = name === '0xc1' ? /0xc1/ : /extension/;
    assertBad(withArg(bytes), reason, `${name} in args`);
    assertBad(withArg([0x91, 0x81, ...str('deep'), ...bytes]), reason, `${name} inside an array inside args`);
    assertBad(bytes, /request map/, `${name} as the whole frame`);
    assertBad([0x92, ...PING, ...bytes], /only request maps/, `${name} as a batch element`);
  }
});

test('what msgpackr writes with records, bundled strings or a Date is refused', () => {
  const id1ping = { id: 1, op: 'ping' };
  assertBad(new Packr({ useRecords: true }).pack(id1ping), /request map/, 'record (ext 0x72 up front)');
  assertBad(
    new Packr({ useRecords: false, bundleStrings: true }).pack({ ...id1ping, args: { s: 'a bundled string' } }),
    /extension/,
    'bundled strings (ext 0x62)',
  );
  assertBad(pack({ ...id1ping, args: { at: new Date(0) } }), /extension/, 'Date (timestamp ext -1)');
  // The same request written as standard maps goes through.
  assert.deepEqual(decodeFrame(pack({ ...id1ping, args: { s: 'plain' } })), {
    kind: 'requests',
    batch: false,
    requests: [{ ...id1ping, args: { s: 'plain' } }],
  });
});

test('map keys must be strings, at the top and at any depth', () => {
  const keys: [string, number[]][] = [
    ['positive int', [0x01]],
    ['negative int', [0xff]],
    ['uint8', [0xcc, 0x01]],
    ['nil', [0xc0]],
    ['true', [0xc3]],
    ['float64', [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]],
    ['bin', [0xc4, 1, 0x61]],
    ['array', [0x91, 0x01]],
    ['map', [0x80]],
  ];
  for (const [name, key] of keys) {
    assertBad([0x83, ...str('id'), 1, ...str('op'), ...str('ping'), ...key, 0x01], /keys must be strings/, `${name} key in the request map`);
    assertBad(withArg([0x81, ...key, 0x01]), /keys must be strings/, `${name} key inside args`);
    assertBad(withArg([0x91, 0x91, 0x81, ...key, 0x01]), /keys must be strings/, `${name} key in a map inside arrays`);
  }
});

test('a frame must be a map or an array of maps', () => {
  for (const [name, bytes] of [
    ['nil', [0xc0]],
    ['int', [0x01]],
    ['true', [0xc3]],
    ['float', [0xca, 0, 0, 0, 0]],
    ['string', str('ping')],
    ['bin', [0xc4, 1, 0x80]],
  ] as [string, number[]][]) {
    assertBad(bytes, /request map or an array of request maps/, name);
  }
  assertBad([0x91, 0x01], /only request maps/, 'a batch of an int');
  assertBad([0x92, ...PING, ...str('x')], /only request maps/, 'a batch with a string after a map');
  assertBad([0x91, 0x91, ...PING], /only request maps/, 'a batch holding a batch');
  assertBad([], /empty/, 'zero bytes');
});

/** A request whose args nest `kinds` containers, outermost first: the last one sits at level `kinds.length + 1`. */
function nested(kinds: ('map' | 'array')[], id = 1): number[] {
  let inner: number[] = [];
  for (let i = kinds.length - 1; i >= 0; i--) {
    const isLast = i === kinds.length - 1;
    if (kinds[i] === 'map') inner = isLast ? [0x80] : [0x81, ...str('a'), ...inner];
    else inner = isLast ? [0x90] : [0x91, ...inner];
  }
  // args is level 2: the first of `kinds`.
  return [0x83, ...str('id'), id, ...str('op'), ...str('ping'), ...str('args'), ...inner];
}

test('nesting of 16 levels is accepted and 17 refused (the request map is level 1)', () => {
  const maps = (n: number) => new Array<'map'>(n).fill('map');
  const mixed = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'map' : 'array'));
  for (const [name, build] of [
    ['maps', maps],
    ['arrays and maps', mixed],
    ['arrays', (n: number) => ['map', ...new Array<'array'>(n - 1).fill('array')] as ('map' | 'array')[]],
  ] as const) {
    const ok16 = nested(build(Limits.MAX_DEPTH - 1));
    assert.deepEqual(scanFrame(frame(ok16)), { ok: true, batch: false, count: 1, forbidden: [] }, `${name}: 16 levels`);
    assert.equal(decodeFrame(frame(ok16)).kind, 'requests', `${name}: 16 levels decode`);
    assertBad(nested(build(Limits.MAX_DEPTH)), /nesting deeper than 16/, `${name}: 17 levels`);
    // The batch array is level 0: the same request inside a batch has the same limit.
    assert.equal(scanFrame(frame([0x91, ...ok16])).ok, true, `${name}: 16 levels in a batch`);
    assertBad([0x91, ...nested(build(Limits.MAX_DEPTH))], /nesting deeper than 16/, `${name}: 17 levels in a batch`);
  }
  // Non-fix headers nest the same way: args (level 2) holding 14 array16 reaches 16, 15 reach 17.
  const array16s = (n: number) => new Array<number>(n).fill(0).flatMap(() => [0xdc, ...be16(1)]);
  assert.equal(scanFrame(frame(withArg([...array16s(14), 0x01]))).ok, true, 'array16 x14 under args');
  assertBad(withArg([...array16s(15), 0x01]), /nesting deeper than 16/, 'array16 x15 under args');
  // Far deeper than any stack cares about: refused at level 17, not after recursing through it.
  assertBad(withArg(new Array<number>(100_000).fill(0x91)), /nesting deeper than 16/, '100,000 levels');
});

test('__proto__, constructor and prototype keys are found at any depth and in any str encoding', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const placements: [string, number[]][] = [
      ['in the request map', [0x83, ...str('id'), 9, ...str('op'), ...str('ping'), ...str(key), 0x80]],
      ['in args', [0x83, ...str('id'), 9, ...str('op'), ...str('ping'), ...str('args'), 0x81, ...str(key), 0x01]],
      ['as str8', [0x83, ...str('id'), 9, ...str('op'), ...str('ping'), ...str('args'), 0x81, 0xd9, key.length, ...utf8(key), 0x01]],
      ['as str32', [0x83, ...str('id'), 9, ...str('op'), ...str('ping'), ...str('args'), 0x81, 0xdb, ...be32(key.length), ...utf8(key), 0x01]],
      [
        'in a map inside an array',
        [0x83, ...str('id'), 9, ...str('op'), ...str('ping'), ...str('args'), 0x81, ...str('list'), 0x92, 0x80, 0x81, ...str(key), 0xc0],
      ],
      [
        'at level 16',
        nested(new Array<'map'>(15).fill('map'), 9)
          .slice(0, -1)
          .concat([0x81, ...str(key), 0x01]),
      ],
    ];
    for (const [where, bytes] of placements) {
      assert.deepEqual(scanFrame(frame(bytes)), { ok: true, batch: false, count: 1, forbidden: [0] }, `${key} ${where}`);
      const d = decodeFrame(frame(bytes));
      assert.equal(d.kind, 'requests', `${key} ${where}`);
      const [r] = (d as { requests: unknown[] }).requests;
      assert.ok(r instanceof ForbiddenRequest, `${key} ${where}: decoded as ${JSON.stringify(r)}`);
      assert.equal(r.id, 9, `${key} ${where}: the id is kept to answer it`);
    }
  }
});

test('a forbidden key marks only its own request of a batch; the others decode as plain objects', () => {
  const clean = { id: 3, op: 'cart.add', args: { sku: 'soap-bar', qty: 2, deep: [{ x: [1, { y: 'z' }] }] } };
  const bytes = Buffer.concat([
    Buffer.from([0x93]),
    pack({ id: 1, op: 'ping' }),
    pack(
      new Map<string, unknown>([
        ['id', 2],
        ['op', 'ping'],
        ['args', new Map([['__proto__', { polluted: true }]])],
      ]),
    ),
    pack(clean),
  ]);
  assert.deepEqual(scanFrame(bytes), { ok: true, batch: true, count: 3, forbidden: [1] });
  const d = decodeFrame(bytes) as { kind: string; requests: unknown[] };
  assert.equal(d.kind, 'requests');
  assert.deepEqual(d.requests[0], { id: 1, op: 'ping' });
  assert.ok(d.requests[1] instanceof ForbiddenRequest);
  assert.equal(d.requests[1].id, 2);
  assert.deepEqual(d.requests[2], clean);
  assert.equal(Object.getPrototypeOf(d.requests[2]), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
});

test('a forbidden request without a readable id is answered with id null', () => {
  for (const idBytes of [
    [],
    [...str('id'), ...str('7')],
    [...str('id'), 0xff],
    [...str('id'), 0xcf, 0, 0, 0, 1, 0, 0, 0, 0],
    [...str('id'), 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
  ]) {
    const entries = idBytes.length ? 3 : 2;
    const bytes = frame([0x80 | entries, ...idBytes, ...str('op'), ...str('ping'), ...str('constructor'), 0x01]);
    const [r] = (decodeFrame(bytes) as { requests: unknown[] }).requests;
    assert.ok(r instanceof ForbiddenRequest);
    assert.equal(r.id, null, `id bytes ${Buffer.from(idBytes).toString('hex')}`);
  }
});

test('names near the forbidden ones, and forbidden names as values, are ordinary', () => {
  for (const key of ['__proto_', '_proto__', 'Constructor', 'constructors', 'PROTOTYPE', 'prototyp', '__proto__ ']) {
    const bytes = frame(withArg([0x81, ...str(key), 0x01]));
    assert.deepEqual(scanFrame(bytes), { ok: true, batch: false, count: 1, forbidden: [] }, key);
    assert.deepEqual(decodedArg(withArg([0x81, ...str(key), 0x01])), { [key]: 1 }, key);
  }
  assert.deepEqual(decodedArg(withArg(str('__proto__'))), '__proto__');
});

test('every proper prefix of a valid frame is refused as truncated', () => {
  const frames = [
    pack({ id: 1, op: 'cart.add', args: { sku: 'tee-classic-m', qty: 2, note: 'x'.repeat(40), n: [1, 300, 70000, 2 ** 40, -5, 1.5, null, true] } }),
    pack([
      { id: 1, op: 'ping' },
      { id: 2, op: 'cart.get', args: {} },
    ]),
    frame(withArg([0xc6, ...be32(3), 1, 2, 3])),
  ];
  for (const f of frames) {
    for (let n = 1; n < f.length; n++) {
      const scan = scanFrame(f.subarray(0, n));
      assert.equal(scan.ok, false, `prefix ${n}/${f.length} of ${f.toString('hex')}`);
      assert.match((scan as { reason: string }).reason, /truncated/, `prefix ${n}/${f.length}`);
    }
    assert.equal(scanFrame(f).ok, true);
  }
});

test('bytes after the one msgpack value are refused', () => {
  assertBad([...PING, 0x00], /trailing bytes/, 'one extra byte');
  assertBad([...PING, ...PING], /trailing bytes/, 'two maps back to back');
  assertBad([0x91, ...PING, 0xc0], /trailing bytes/, 'a batch and a nil');
});

test('declared lengths beyond the bytes present are refused', () => {
  const huge = 0xffffffff;
  const cases: [string, number[]][] = [
    ['map32 request', [0xdf, ...be32(huge), ...str('id'), 0x01]],
    ['array32 batch', [0xdd, ...be32(huge), ...PING]],
    ['str32 key', [0x81, 0xdb, ...be32(huge), 0x61]],
    ['str32 value', withArg([0xdb, ...be32(huge), 0x61])],
    ['bin32 value', withArg([0xc6, ...be32(huge), 0x61])],
    ['array32 value', withArg([0xdd, ...be32(huge), 0x01])],
    ['map32 value', withArg([0xdf, ...be32(huge), ...str('k'), 0x01])],
    ['map16 value', withArg([0xde, ...be16(0xffff), ...str('k'), 0x01])],
    ['str16 value', withArg([0xda, ...be16(0xffff), 0x61])],
    ['str8 value', withArg([0xd9, 0xff, 0x61])],
  ];
  for (const [name, bytes] of cases) assertBad(bytes, /truncated or oversized length/, name);
});

test('a batch holds up to 256 requests; 257 is an oversized batch; an empty one runs nothing', () => {
  const batch = (n: number, header: number[]) => frame([...header, ...Array.from({ length: n }, () => PING).flat()]);
  for (const [n, header] of [
    [1, [0x91]],
    [15, [0x9f]],
    [16, [0xdc, ...be16(16)]],
    [256, [0xdc, ...be16(256)]],
    [256, [0xdd, ...be32(256)]],
  ] as [number, number[]][]) {
    assert.deepEqual(scanFrame(batch(n, header)), { ok: true, batch: true, count: n, forbidden: [] }, `${n} requests`);
    const d = decodeFrame(batch(n, header)) as { kind: string; requests: unknown[] };
    assert.equal(d.kind, 'requests');
    assert.equal(d.requests.length, n);
  }
  assert.deepEqual(decodeFrame(batch(257, [0xdc, ...be16(257)])), { kind: 'oversized-batch', count: 257 });
  assert.deepEqual(decodeFrame(batch(257, [0xdd, ...be32(257)])), { kind: 'oversized-batch', count: 257 });
  // Even with a forbidden key inside, the batch as a whole is refused first.
  const withForbidden = Buffer.concat([
    Buffer.from([0xdc, ...be16(257)]),
    pack(
      new Map([
        ['id', 1],
        ['constructor', 1],
      ]),
    ),
    batch(256, []),
  ]);
  assert.deepEqual(decodeFrame(withForbidden), { kind: 'oversized-batch', count: 257 });
  assert.deepEqual(decodeFrame(frame([0x90])), { kind: 'requests', batch: true, requests: [] });
});

// Plain JSON-like values with string keys, small enough to stay within 16 levels.
const safeKey = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
const { value: plainValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { maxDepth: 5, depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(safeKey, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

test('property: any plain value inside a request decodes to itself', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.dictionary(safeKey, plainValue, { maxKeys: 6, noNullPrototype: true }), (id, args) => {
      const request = { id, op: 'x', args };
      const d = decodeFrame(pack(request));
      assert.deepEqual(d, { kind: 'requests', batch: false, requests: [request] });
    }),
    { numRuns: 500 },
  );
});

test('property: neither the scan nor the decoder throws on arbitrary or mutated bytes', () => {
  const valid = pack([
    { id: 1, op: 'cart.add', args: { sku: 'tee-classic-m', qty: 2 } },
    { id: 2, op: 'ping' },
  ]);
  const mutated = fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
    const b = Buffer.from(valid);
    for (const [at, byte] of edits) b[at] = byte;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated), (bytes) => {
      const scan = scanFrame(bytes);
      const d = decodeFrame(bytes);
      if (!scan.ok) assert.equal(d.kind, 'bad');
      if (d.kind === 'requests') {
        for (const r of d.requests) assert.ok(r instanceof ForbiddenRequest || (typeof r === 'object' && r !== null && !Array.isArray(r)));
      }
    }),
    { numRuns: 3000 },
  );
});

/** An edge with no shards behind it: enough for frames that never reach an actor. */
function bareEdge(): { edge: Edge; conn: Connection; sent: unknown[] } {
  const noop = () => {};
  // Every op answers like ping: this test is about frames, not ops.
  const handlers = new Proxy({}, { get: () => () => ({ ok: true, result: { now: 0 } }) });
  const deps = { handlers, shards: {}, maxInflight: 16, metrics: { badFrame: noop, rejected: noop, done: noop, userConnection: noop } } as unknown as EdgeDeps;
  const sent: unknown[] = [];
  const conn = new Connection('127.0.0.1');
  const socket = { cork: (f: () => void) => f(), send: (bytes: Uint8Array) => sent.push(new Packr({ useRecords: false }).unpack(bytes)) };
  conn.ws = socket as unknown as ServerSocket<{ conn: Connection }>;
  return { edge: new Edge(deps), conn, sent };
}
/** A copy of the bytes at offset 0, as the uWS transport hands a message over. */
const arrayBufferOf = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

test('a text frame is a bad frame even when its bytes are a valid request; the 10th bad frame closes with 1008', () => {
  const { edge, conn, sent } = bareEdge();
  const ping = arrayBufferOf(pack({ id: 1, op: 'ping' }));
  assert.equal(edge.onMessage(conn, ping, false), undefined);
  assert.equal(sent.length, 1);
  assert.deepEqual(Object.keys(sent[0] as object), ['id', 'ok', 'error']);
  const first = sent[0] as { id: null; ok: false; error: { code: string; message: string } };
  assert.equal(first.id, null);
  assert.equal(first.ok, false);
  assert.equal(first.error.code, ErrorCode.BAD_FRAME);
  assert.match(first.error.message, /text frames/);
  // The same bytes as a binary frame are a request.
  assert.equal(edge.onMessage(conn, ping, true), undefined);
  assert.equal((sent[1] as { id: number; ok: boolean }).ok, true);
  for (let i = 2; i <= 9; i++) assert.equal(edge.onMessage(conn, i % 2 ? ping : arrayBufferOf(Buffer.from([0xc1])), i % 2 === 0), undefined, `bad frame ${i}`);
  assert.equal(edge.onMessage(conn, ping, false), CloseCode.POLICY_VIOLATION, 'the 10th bad frame');
  assert.equal(sent.length, 11, 'the 10th bad frame is answered before the close');
  assert.equal((sent[10] as { error: { code: string } }).error.code, ErrorCode.BAD_FRAME);
});
