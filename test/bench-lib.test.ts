// The harness's own building blocks: tokens the server accepts, /proc readers, histogram merging,
// the scenario registry and the cart-mix workload.
// (The scenarios themselves are measurements, not tests: no timing is asserted anywhere.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Auth } from '../src/app/accounts/auth.js';
import type { UserVault } from '../src/app/accounts/user-vault.js';
import { TokenMinter, benchUserId } from '../bench/lib/jwt.js';
import { cpuMicros, memStatus } from '../bench/lib/procfs.js';
import { newHistogram, encodeHistogram, mergeHistograms, summarize } from '../bench/lib/histogram.js';
import { promValues } from '../bench/lib/server.js';
import { stockedSkus, productIds } from '../bench/lib/catalog.js';
import { loadScenarios } from '../bench/lib/registry.js';
import { DEFAULT_MIX, opSource, parseMix, userSkus } from '../bench/lib/workloads.js';

const SECRET = 'a-bench-secret-of-at-least-32-characters';

test('minted tokens verify with the server auth, with their user and role', async () => {
  // No account rows: minted tokens are of the first generation, which holds until a revocation.
  const auth = new Auth(SECRET, 3600, { store: { get: () => Promise.resolve(undefined) } } as unknown as UserVault);
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

test('every scenario module is found, each name once', async () => {
  const names = (await loadScenarios()).map((s) => s.name);
  for (const n of ['cart', 'cart-mix', 'memory', 'ping', 'push-fanout', 'restart']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
  assert.equal(new Set(names).size, names.length);
});

test('cart-mix sends its ops in the weighted proportions and never takes a line past the cap', () => {
  const spec = { workload: 'cart-mix' as const, skus: stockedSkus(), products: productIds(), skusPerUser: 4, mix: DEFAULT_MIX };
  const counts: Record<string, number> = {};
  const lines = new Map<string, number>();
  const next = opSource(spec, 3);
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const o = next();
    counts[o.op] = (counts[o.op] ?? 0) + 1;
    const a = o.args as { sku?: string; qty?: number; productId?: string } | undefined;
    if (o.op === 'cart.add') lines.set(a!.sku!, (lines.get(a!.sku!) ?? 0) + a!.qty!);
    if (o.op === 'cart.setQty') lines.set(a!.sku!, a!.qty!);
    if (o.op === 'catalog.get') assert.ok(spec.products.includes(a!.productId!));
    for (const q of lines.values()) assert.ok(q <= 8, `a line reached ${q}`);
  }
  // add turns into setQty only at the cap (rare), so adds stay near 25%.
  for (const [op, w] of [
    ['catalog.get', 40],
    ['cart.get', 15],
  ] as const)
    assert.ok(Math.abs(counts[op] / n - w / 100) < 0.02, `${op}: ${counts[op]}`);
  assert.ok(Math.abs((counts['cart.add'] + counts['cart.setQty']) / n - 0.45) < 0.02);
  assert.ok(counts['cart.add'] / n > 0.2, `cart.add ${counts['cart.add']}`);
  assert.equal(lines.size, 4);
  // Same connection, same sequence; another connection, another user and other skus.
  assert.deepEqual(opSource(spec, 3)(), opSource(spec, 3)());
  assert.notDeepEqual(userSkus(spec, 3), userSkus(spec, 4));
  assert.equal(counts['inventory.get'], undefined, 'inventory.get weighs 0 in the default mix');
});

test("cart-mix with inventory.get weighed reads the user's own skus in that proportion", () => {
  const spec = { workload: 'cart-mix' as const, skus: stockedSkus(), products: productIds(), skusPerUser: 4, mix: parseMix('cart.add=50,inventory.get=50') };
  const next = opSource(spec, 5);
  const mine = userSkus(spec, 5);
  let reads = 0;
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const o = next();
    if (o.op !== 'inventory.get') continue;
    reads++;
    assert.ok(mine.includes((o.args as { sku: string }).sku));
  }
  assert.ok(Math.abs(reads / n - 0.5) < 0.02, `inventory.get ${reads}`);
});

test('--mix parses weights and rejects unknown ops', () => {
  assert.deepEqual(parseMix('catalog.get=1,cart.get=3'), { 'catalog.get': 1, 'cart.add': 0, 'cart.setQty': 0, 'cart.get': 3, 'inventory.get': 0 });
  assert.equal(parseMix('inventory.get=2')['inventory.get'], 2);
  assert.throws(() => parseMix('cart.checkout=1'), /unknown op "cart.checkout"/);
  assert.throws(() => parseMix('cart.get=0'), /every weight is 0/);
});
