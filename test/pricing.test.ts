// Pricing: coupon discount, tax and shipping. Hand-computed cases at every rounding and threshold
// edge, exactness past 2^53 (against BigInt), and properties of totalsFor over random inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  couponApplies,
  DEFAULT_PRICING,
  discountFor,
  mulDivHalfUp,
  parseTaxRates,
  taxRateBp,
  totalsFor,
  type CouponTerms,
  type PricingConfig,
} from '../src/actors/pricing.js';
import { normalizeCouponCode } from '../src/protocol/keys.js';

const NOW = 1_700_000_000_000;
const CFG: PricingConfig = {
  taxRatesBp: { US: 0, DE: 1900, NL: 2100, XS: 825 },
  defaultCountry: 'US',
  defaultTaxRateBp: 1000,
  shippingFlat: 499,
  freeShippingMin: 5000,
};
const pct = (percentOff: number, more: Partial<CouponTerms> = {}): CouponTerms => ({ code: 'P', percentOff, ...more });
const amt = (amountOff: number, more: Partial<CouponTerms> = {}): CouponTerms => ({ code: 'A', amountOff, ...more });

/** round half up of a*b/d in BigInt: the reference the Number arithmetic must match. */
const exact = (a: number, b: number, d: number): number => Number((2n * BigInt(a) * BigInt(b) + BigInt(d)) / (2n * BigInt(d)));

test('percent discounts round half up to the minor unit', () => {
  const cases: [subtotal: number, percent: number, discount: number][] = [
    [50, 1, 1], // 0.5
    [49, 1, 0], // 0.49
    [150, 1, 2], // 1.5
    [149, 1, 1], // 1.49
    [1050, 5, 53], // 52.5
    [1049, 5, 52], // 52.45
    [30, 15, 5], // 4.5
    [10, 15, 2], // 1.5
    [12345, 10, 1235], // 1234.5
    [999, 33, 330], // 329.67
    [1, 50, 1], // 0.5
    [12345, 100, 12345],
  ];
  for (const [subtotal, p, want] of cases) assert.equal(discountFor(pct(p), subtotal, 'USD', NOW), want, `${p}% of ${subtotal}`);
});

test('amountOff is capped at the subtotal', () => {
  assert.equal(discountFor(amt(1000), 1500, 'USD', NOW), 1000);
  assert.equal(discountFor(amt(1000), 1000, 'USD', NOW), 1000);
  assert.equal(discountFor(amt(1000), 700, 'USD', NOW), 700);
  assert.equal(discountFor(amt(1000), 0, 'USD', NOW), 0);
  assert.equal(discountFor(undefined, 700, 'USD', NOW), 0);
});

test('minSubtotal applies from a subtotal equal to it', () => {
  assert.deepEqual(couponApplies(pct(10, { minSubtotal: 5000 }), 5000, 'USD', NOW), { ok: true });
  assert.equal(discountFor(pct(10, { minSubtotal: 5000 }), 5000, 'USD', NOW), 500);
  assert.deepEqual(couponApplies(pct(10, { minSubtotal: 5000 }), 4999, 'USD', NOW), {
    ok: false,
    reason: 'min_subtotal',
    details: { code: 'P', minSubtotal: 5000, subtotal: 4999 },
  });
  assert.equal(discountFor(pct(10, { minSubtotal: 5000 }), 4999, 'USD', NOW), 0);
});

test('a coupon is expired at now === expiresAt', () => {
  assert.deepEqual(couponApplies(pct(10, { expiresAt: NOW + 1 }), 100, 'USD', NOW), { ok: true });
  assert.deepEqual(couponApplies(pct(10, { expiresAt: NOW }), 100, 'USD', NOW), {
    ok: false,
    reason: 'expired',
    details: { code: 'P', expiresAt: NOW },
  });
  assert.equal(discountFor(amt(50, { expiresAt: NOW }), 100, 'USD', NOW), 0);
  assert.equal(discountFor(amt(50, { expiresAt: NOW }), 100, 'USD', NOW - 1), 50);
});

test('amounts in the terms are in the coupon currency (default USD); a bare percentage applies in any', () => {
  assert.deepEqual(couponApplies(amt(500), 1000, 'EUR', NOW), {
    ok: false,
    reason: 'currency',
    details: { code: 'A', currency: 'USD', cartCurrency: 'EUR' },
  });
  assert.equal(discountFor(amt(500), 1000, 'EUR', NOW), 0);
  assert.equal(discountFor(amt(500, { currency: 'EUR' }), 1000, 'EUR', NOW), 500);
  assert.equal(discountFor(amt(500, { currency: 'EUR' }), 1000, 'USD', NOW), 0);
  assert.equal(discountFor(pct(10), 1000, 'EUR', NOW), 100);
  assert.equal(couponApplies(pct(10, { minSubtotal: 100 }), 1000, 'EUR', NOW).ok, false);
  assert.equal(discountFor(pct(10, { minSubtotal: 100, currency: 'EUR' }), 1000, 'EUR', NOW), 100);
  // Expiry is checked first, then currency, then minSubtotal.
  const r = couponApplies(amt(5, { expiresAt: NOW, minSubtotal: 9999 }), 1, 'EUR', NOW);
  assert.equal(r.ok === false && r.reason, 'expired');
  const r2 = couponApplies(amt(5, { minSubtotal: 9999 }), 1, 'EUR', NOW);
  assert.equal(r2.ok === false && r2.reason, 'currency');
});

test('tax rounds half up on subtotal - discount at the country rate', () => {
  const cases: [taxable: number, country: string, tax: number][] = [
    [50, 'DE', 10], // 9.5
    [150, 'DE', 29], // 28.5
    [71, 'DE', 13], // 13.49
    [29, 'DE', 6], // 5.51
    [2, 'DE', 0], // 0.38
    [100, 'NL', 21],
    [10, 'XS', 1], // 0.825
    [6, 'XS', 0], // 0.495
  ];
  for (const [taxable, country, want] of cases) {
    assert.equal(totalsFor(taxable, undefined, 'USD', country, NOW, CFG).tax, want, `${country} tax on ${taxable}`);
  }
  // Worked example: 10% of 12345 = 1234.5 -> 1235; 19% of 11110 = 2110.9 -> 2111; ships free.
  assert.deepEqual(totalsFor(12345, pct(10), 'USD', 'DE', NOW, CFG), { subtotal: 12345, discount: 1235, tax: 2111, shipping: 0, total: 13221 });
});

test('the tax rate: country code case-insensitive, default country before an address, default rate for the rest', () => {
  assert.equal(taxRateBp('de', CFG), 1900);
  assert.equal(taxRateBp(' DE ', CFG), 1900);
  assert.equal(taxRateBp(undefined, CFG), 0); // defaultCountry US
  assert.equal(taxRateBp('JP', CFG), 1000);
  // Only own keys: an address cannot pick Object.prototype members as a "rate".
  for (const c of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(taxRateBp(c, CFG), 1000, c);
  assert.equal(totalsFor(1000, undefined, 'USD', 'constructor', NOW, CFG).tax, 100);
  assert.equal(taxRateBp(undefined, { ...CFG, defaultCountry: 'DE' }), 1900);
});

test('shipping is flat below freeShippingMin (after the discount) and free from it', () => {
  assert.equal(totalsFor(4999, undefined, 'USD', 'US', NOW, CFG).shipping, 499);
  assert.equal(totalsFor(5000, undefined, 'USD', 'US', NOW, CFG).shipping, 0);
  assert.deepEqual(totalsFor(5500, amt(501), 'USD', 'US', NOW, CFG), { subtotal: 5500, discount: 501, tax: 0, shipping: 499, total: 5498 });
  assert.deepEqual(totalsFor(5500, amt(500), 'USD', 'US', NOW, CFG), { subtotal: 5500, discount: 500, tax: 0, shipping: 0, total: 5000 });
  // A 100% coupon leaves nothing to tax but still ships at the flat rate (0 < freeShippingMin).
  assert.deepEqual(totalsFor(1000, pct(100), 'USD', 'DE', NOW, CFG), { subtotal: 1000, discount: 1000, tax: 0, shipping: 499, total: 499 });
});

test('an empty cart totals 0 everywhere, coupon or not', () => {
  const zero = { subtotal: 0, discount: 0, tax: 0, shipping: 0, total: 0 };
  assert.deepEqual(totalsFor(0, undefined, 'USD', undefined, NOW, DEFAULT_PRICING), zero);
  assert.deepEqual(totalsFor(0, amt(500), 'USD', 'DE', NOW, CFG), zero);
  assert.deepEqual(totalsFor(0, pct(10), 'USD', 'DE', NOW, CFG), zero);
});

test('exact past 2^53: the largest cart, and rates whose naive product rounds wrong', () => {
  const max = 100 * 999 * 1_000_000_000; // 100 lines x 999 x 1e9
  assert.ok(max * 2100 > Number.MAX_SAFE_INTEGER);
  assert.deepEqual(totalsFor(max, undefined, 'USD', 'DE', NOW, CFG), {
    subtotal: max,
    discount: 0,
    tax: 18_981_000_000_000,
    shipping: 0,
    total: 118_881_000_000_000,
  });
  assert.deepEqual(totalsFor(max, pct(15), 'USD', 'NL', NOW, CFG), {
    subtotal: max,
    discount: 14_985_000_000_000,
    tax: 17_832_150_000_000,
    shipping: 0,
    total: 102_747_150_000_000,
  });
  // 99,900,000,000,200 x 8.25% = 8,241,750,000,016.5 -> ...017. roundHalfUp(a * 825, 10000) in
  // plain Number arithmetic gives ...016 here: the product is past 2^53 and loses its half.
  assert.equal(totalsFor(99_900_000_000_200, undefined, 'USD', 'XS', NOW, CFG).tax, 8_241_750_000_017);
  assert.equal(mulDivHalfUp(Number.MAX_SAFE_INTEGER, 2100, 10000), exact(Number.MAX_SAFE_INTEGER, 2100, 10000));
  assert.equal(mulDivHalfUp(Number.MAX_SAFE_INTEGER, 100, 100), Number.MAX_SAFE_INTEGER);
  assert.throws(() => mulDivHalfUp(Number.MAX_SAFE_INTEGER, 3, 1), RangeError);
});

test('property: mulDivHalfUp equals the BigInt reference for every safe amount, percent and rate', () => {
  const amount = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 100_000_000_000_000 }), fc.maxSafeNat());
  fc.assert(
    fc.property(amount, fc.integer({ min: 0, max: 10_000 }), (a, bp) => mulDivHalfUp(a, bp, 10_000) === exact(a, bp, 10_000)),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(amount, fc.integer({ min: 1, max: 100 }), (a, p) => mulDivHalfUp(a, p, 100) === exact(a, p, 100)),
    { numRuns: 5000 },
  );
  // Half-way cases specifically: a*bp ≡ 5000 (mod 10000) with a large.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 450_000_000_000 }), (k) => {
      const a = 20_000 * k + 200; // 200 * 825 = 165,000: the product ends in 5000, an exact half
      return mulDivHalfUp(a, 825, 10_000) === exact(a, 825, 10_000);
    }),
  );
});

const termsArb: fc.Arbitrary<CouponTerms> = fc
  .record(
    {
      code: fc.constant('X'),
      kind: fc.oneof(
        fc.record({ percentOff: fc.integer({ min: 1, max: 100 }) }),
        fc.record({ amountOff: fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.maxSafeNat()) }),
      ),
      currency: fc.option(fc.constantFrom('USD', 'EUR'), { nil: undefined }),
      minSubtotal: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
      expiresAt: fc.option(fc.integer({ min: NOW - 10, max: NOW + 10 }), { nil: undefined }),
    },
    { requiredKeys: ['code', 'kind'] },
  )
  .map(({ kind, ...rest }) => ({ ...rest, ...kind }));

test('property: 0 <= discount <= subtotal, total = subtotal - discount + tax + shipping, all integers', () => {
  const subtotal = fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 100 * 999 * 1_000_000_000 }));
  const country = fc.option(fc.constantFrom('US', 'DE', 'nl', 'XS', 'JP', 'constructor'), { nil: undefined });
  const cfg = fc.constantFrom(CFG, DEFAULT_PRICING);
  fc.assert(
    fc.property(subtotal, fc.option(termsArb, { nil: undefined }), fc.constantFrom('USD', 'EUR'), country, cfg, (sub, c, cur, cc, conf) => {
      const t = totalsFor(sub, c, cur, cc, NOW, conf);
      for (const v of Object.values(t)) assert.ok(Number.isSafeInteger(v) && v >= 0, `integer >= 0: ${JSON.stringify(t)}`);
      assert.equal(t.subtotal, sub);
      assert.ok(t.discount <= sub);
      assert.equal(t.total, t.subtotal - t.discount + t.tax + t.shipping);
      assert.equal(t.discount, discountFor(c, sub, cur, NOW));
      assert.equal(t.tax, exact(sub - t.discount, taxRateBp(cc, conf), 10_000));
      assert.equal(t.shipping, sub === 0 || sub - t.discount >= conf.freeShippingMin ? 0 : conf.shippingFlat);
      if (c === undefined || !couponApplies(c, sub, cur, NOW).ok) assert.equal(t.discount, 0);
    }),
    { numRuns: 3000 },
  );
});

test('parseTaxRates reads COUNTRY:BP lists', () => {
  assert.deepEqual(parseTaxRates('DE:1900,FR:2000'), { DE: 1900, FR: 2000 });
  assert.deepEqual(parseTaxRates(' de : 1900 , fr:2000 ,US:0'), { DE: 1900, FR: 2000, US: 0 });
  assert.deepEqual(parseTaxRates('XX:10000'), { XX: 10000 });
  assert.deepEqual(parseTaxRates(''), {});
  assert.deepEqual(parseTaxRates('  '), {});
  const text = Object.entries(DEFAULT_PRICING.taxRatesBp)
    .map(([c, bp]) => `${c}:${bp}`)
    .join(',');
  assert.deepEqual(parseTaxRates(text), { ...DEFAULT_PRICING.taxRatesBp });
});

test('parseTaxRates names the bad entry', () => {
  const bad: [text: string, entry: string][] = [
    ['DE', 'DE'],
    ['DE:abc', 'DE:abc'],
    ['DE:19.5', 'DE:19.5'],
    ['DE:-1', 'DE:-1'],
    ['DEU:1900', 'DEU:1900'],
    ['FR:2000,DE:10001', 'DE:10001'],
    ['DE:1900,de:2000', 'de:2000'],
    ['DE:1900,,FR:2000', ''],
    ['DE:1900,', ''],
    ['__proto__:1', '__proto__:1'],
    ['D1:5', 'D1:5'],
    ['DE:', 'DE:'],
    ['DE:1900;FR:2000', 'DE:1900;FR:2000'],
  ];
  for (const [text, entry] of bad) {
    assert.throws(
      () => parseTaxRates(text),
      (e: Error) => e instanceof Error && e.message.includes(`"${entry}"`),
      text,
    );
  }
  assert.throws(() => parseTaxRates('DE:1900,de:2000'), /DE is listed twice/);
  assert.throws(() => parseTaxRates('DE:10001'), /0\.\.10000/);
});

test('the default table: standard rates in basis points, frozen', () => {
  for (const [cc, bp] of Object.entries(DEFAULT_PRICING.taxRatesBp)) {
    assert.match(cc, /^[A-Z]{2}$/);
    assert.ok(Number.isInteger(bp) && bp >= 0 && bp <= 10_000, cc);
  }
  assert.equal(DEFAULT_PRICING.taxRatesBp.DE, 1900);
  assert.equal(DEFAULT_PRICING.taxRatesBp.US, 0);
  assert.equal(DEFAULT_PRICING.defaultCountry, 'US');
  assert.equal(DEFAULT_PRICING.shippingFlat, 499);
  assert.equal(DEFAULT_PRICING.freeShippingMin, 5000);
  assert.ok(Object.isFrozen(DEFAULT_PRICING) && Object.isFrozen(DEFAULT_PRICING.taxRatesBp));
  assert.deepEqual(totalsFor(4000, undefined, 'EUR', 'DE', NOW, DEFAULT_PRICING), { subtotal: 4000, discount: 0, tax: 760, shipping: 499, total: 5259 });
});

test('normalizeCouponCode trims and uppercases', () => {
  assert.equal(normalizeCouponCode('  save10 '), 'SAVE10');
  assert.equal(normalizeCouponCode('Summer-24'), 'SUMMER-24');
});
