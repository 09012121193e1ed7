// Token buckets: burst, refill, the wait they report, and the bound on keyed families.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedLimiter, TokenBucket, ipKey } from '../src/transport/rate-limit.js';

test('a bucket allows its burst, then reports the wait until the next token, and refills at its rate', () => {
  const b = new TokenBucket(3, 10, 0); // 3 tokens, 10 per second: one per 100 ms
  assert.deepEqual([b.take(0), b.take(0), b.take(0)], [0, 0, 0]);
  assert.equal(b.take(0), 100);
  assert.equal(b.take(40), 60, 'the wait shrinks as time passes');
  assert.equal(b.take(100), 0, 'one token after 100 ms');
  assert.equal(b.take(100), 100);
  assert.equal(b.isFull(100 + 300), true, 'never above the capacity');
  assert.deepEqual([b.take(1000), b.take(1000), b.take(1000), b.take(1000)], [0, 0, 0, 100]);
  b.give();
  assert.equal(b.take(1000), 0, 'a token given back can be taken');
});

test('a keyed limiter keeps one bucket per key and is off at rate 0', () => {
  const l = new KeyedLimiter({ capacity: 2, ratePerSec: 1 });
  assert.deepEqual([l.take('a', 0), l.take('a', 0), l.take('a', 0) > 0], [0, 0, true]);
  assert.equal(l.take('b', 0), 0, 'another key has its own bucket');
  l.give('a');
  assert.equal(l.take('a', 0), 0);
  const off = new KeyedLimiter({ capacity: 0, ratePerSec: 0 });
  for (let i = 0; i < 1000; i++) assert.equal(off.take('x', 0), 0);
  assert.equal(off.size, 0, 'a disabled limiter keeps nothing');
});

test('a keyed limiter never holds more than its bound: full buckets go first, then the oldest', () => {
  const l = new KeyedLimiter({ capacity: 1, ratePerSec: 1 }, 100);
  for (let i = 0; i < 1000; i++) l.take(`k${i}`, 0); // every bucket drained: none is full
  assert.ok(l.size <= 100, `size ${l.size}`);
  assert.ok(l.take('k999', 0) > 0, 'the newest keys keep their debt');
  for (let i = 0; i < 50; i++) l.take(`late${i}`, 10_000); // by now every old bucket is full again
  assert.ok(l.size <= 100);
});

test('ipKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by /64', () => {
  assert.equal(ipKey(new Uint8Array([127, 0, 0, 1]).buffer), '127.0.0.1');
  const mapped = new Uint8Array(16);
  mapped.set([0xff, 0xff, 10, 1, 2, 3], 10);
  assert.equal(ipKey(mapped.buffer), '10.1.2.3');
  const v6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9]);
  const sibling = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(ipKey(v6.buffer), '20010db800000001/64');
  assert.equal(ipKey(sibling.buffer), ipKey(v6.buffer), 'one /64, one key');
});
