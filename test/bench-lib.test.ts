// The harness's own building blocks: tokens the server accepts, /proc readers, histogram merging.
// (The scenarios themselves are measurements, not tests: no timing is asserted anywhere.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Auth } from '../src/transport/auth.js';
import type { UserStore } from '../src/persistence/user-store.js';
import { TokenMinter, benchUserId } from '../bench/lib/jwt.js';
import { cpuMicros, memStatus } from '../bench/lib/procfs.js';
import { newHistogram, encodeHistogram, mergeHistograms, summarize } from '../bench/lib/histogram.js';
import { promValues } from '../bench/lib/server.js';
import { stockedSkus } from '../bench/lib/catalog.js';

const SECRET = 'a-bench-secret-of-at-least-32-characters';

test('minted tokens verify with the server auth, with their user and role', async () => {
  const auth = new Auth(SECRET, 3600, {} as UserStore);
  const minter = new TokenMinter(SECRET);
  assert.deepEqual(await auth.verifyToken(minter.mint(benchUserId('r1', 7))), { userId: 'br1-7', role: 'guest' });
  assert.deepEqual(await auth.verifyToken(minter.mint('boss', 'admin')), { userId: 'boss', role: 'admin' });
  assert.equal(await auth.verifyToken(new TokenMinter('another-secret-of-at-least-32-characters!').mint('x')), undefined);
});

test('/proc readers see this process', () => {
  const before = cpuMicros(process.pid);
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i % 7;
  assert.ok(x > 0);
  assert.ok(cpuMicros(process.pid) >= before);
  const m = memStatus(process.pid);
  assert.ok(m.vmRssKiB > 1000 && m.rssAnonKiB > 0 && m.vmHwmKiB >= m.vmRssKiB && m.threads >= 1);
});

test('histograms merge across encodings', () => {
  const a = newHistogram();
  const b = newHistogram();
  for (let i = 1; i <= 1000; i++) a.recordValue(i);
  b.recordValue(5_000_000);
  const merged = mergeHistograms([encodeHistogram(a), encodeHistogram(b)]);
  const s = summarize(merged);
  assert.equal(s.count, 1001);
  assert.ok(Math.abs(s.p50 - 500) <= 1);
  assert.ok(Math.abs(s.max - 5_000_000) / 5_000_000 < 0.001);
});

test('prometheus text sums series over labels', () => {
  const text = '# HELP x\nfoo_sum{shard="0"} 2.5\nfoo_sum{shard="1"} 1.5\nfoo_count 3\nfoo_bucket{le="1"} 9\n';
  assert.deepEqual(promValues(text, ['foo_sum', 'foo_count']), { foo_sum: 4, foo_count: 3 });
});

test('the cart load has stocked skus from the demo catalog', () => {
  const skus = stockedSkus();
  assert.ok(skus.length >= 8);
  assert.equal(new Set(skus).size, skus.length);
});
