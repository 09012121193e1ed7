// The fraud score: the calibration scenarios the checkout saga relies on (and the example scores
// of the header of src/actors/fraud.ts), each rule on its own, the decision thresholds at exactly
// 0.5 and 0.8, and properties: bounds, monotonicity in velocity and amount, determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_FRAUD, assessFraud, fraudDecision, type FraudAssessment, type FraudConfig, type FraudInput } from '../src/actors/fraud.js';

const NOW = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A first purchase by a guest: no history, no earlier attempts. */
function guest(more: Partial<FraudInput> = {}): FraudInput {
  return {
    amount: 10_000,
    currency: 'USD',
    history: { orders: 0, spent: 0, recentAttempts: [] },
    accountAgeMs: 0,
    guest: true,
    shippingCountry: 'US',
    knownCountries: [],
    now: NOW,
    ...more,
  };
}

/** A customer of two years: 12 confirmed orders averaging 8,000, always shipped to the US or CA. */
function trusted(more: Partial<FraudInput> = {}): FraudInput {
  return {
    amount: 9_900,
    currency: 'USD',
    history: { orders: 12, spent: 96_000, recentAttempts: [] },
    accountAgeMs: 730 * DAY,
    guest: false,
    shippingCountry: 'US',
    knownCountries: ['US', 'CA'],
    now: NOW,
    ...more,
  };
}

const attempts = (n: number, spacingMs: number): number[] => Array.from({ length: n }, (_, i) => NOW - (i + 1) * spacingMs);

function rules(a: FraudAssessment): Record<string, number> {
  return Object.fromEntries(a.reasons.map((r) => [r.rule, r.weight]));
}

test('calibration: ordinary first purchases approve (guest, brand-new account, flash-sale buyer)', () => {
  // Three demo lines: Runner One shoe 11,900 + Zip Hoodie 5,400 + Mechanical Keyboard 9,900 = 27,200; tax and shipping on top.
  const g = assessFraud(guest({ amount: 27_200 + 2_500 }));
  assert.equal(g.score, 0.2);
  assert.equal(g.decision, 'approve');
  assert.deepEqual(rules(g), { new_account: 0.2 });

  const justUnder = assessFraud(guest({ amount: 49_999 }));
  assert.equal(justUnder.score, 0.2);
  assert.equal(justUnder.decision, 'approve');

  // Registered a minute ago, one checkout in a flash sale (no earlier attempts).
  const flash = assessFraud(guest({ guest: false, accountAgeMs: MIN, amount: 4_900 }));
  assert.equal(flash.score, 0.2);
  assert.equal(flash.decision, 'approve');
  // Even after three retries within the minute (OUT_OF_STOCK races), still nothing from velocity.
  const retried = assessFraud(guest({ amount: 4_900, history: { orders: 0, spent: 0, recentAttempts: attempts(3, 10_000) } }));
  assert.deepEqual(rules(retried), { new_account: 0.2 });

  // The three dearest demo items (tent 24,900 + sleeping bag 19,900 + derby 17,900) by a guest.
  const dear = assessFraud(guest({ amount: 62_700 }));
  assert.equal(dear.score, 0.238);
  assert.equal(dear.decision, 'approve');
});

test('calibration: a trusted customer ordering a normal amount at home scores 0', () => {
  const a = assessFraud(trusted());
  assert.deepEqual(a, { score: 0, decision: 'approve', reasons: [] });
  assert.equal(assessFraud(trusted({ shippingCountry: 'ca' })).score, 0, 'countries compare case-insensitively');
  // Up to 3x the average is not unusual.
  assert.equal(assessFraud(trusted({ amount: 24_000 })).score, 0);
  // 5x the average to a new country: still approved, with both reasons given.
  const away = assessFraud(trusted({ amount: 40_000, shippingCountry: 'FR' }));
  assert.equal(away.score, 0.379);
  assert.equal(away.decision, 'approve');
  assert.deepEqual(rules(away), { amount_vs_history: 0.129, address_mismatch: 0.25 });
  assert.match(away.reasons[0].detail, /5\.0x/);
});

test('calibration: a new account far above the limit with velocity is rejected; far above alone is review', () => {
  const fraud = assessFraud(
    guest({ guest: false, accountAgeMs: 20 * MIN, amount: 300_000, history: { orders: 0, spent: 0, recentAttempts: attempts(5, MIN) } }),
  );
  assert.equal(fraud.score, 0.883);
  assert.equal(fraud.decision, 'reject');
  assert.deepEqual(rules(fraud), { amount_vs_history: 0.45, velocity: 0.233, new_account: 0.2 });
  for (const r of fraud.reasons) assert.ok(r.detail.length > 0);

  const hammering = assessFraud(guest({ history: { orders: 0, spent: 0, recentAttempts: attempts(6, MIN) } }));
  assert.equal(hammering.score, 0.55);
  assert.equal(hammering.decision, 'review');

  const big = assessFraud(guest({ amount: 250_000 }));
  assert.equal(big.score, 0.65);
  assert.equal(big.decision, 'review');

  // Every rule at full weight sums to 1.25: clamped to 1.
  const worst = assessFraud(
    trusted({ accountAgeMs: HOUR, amount: 1_000_000, shippingCountry: 'BR', history: { orders: 1, spent: 8_000, recentAttempts: attempts(20, MIN) } }),
  );
  assert.equal(worst.reasons.length, 4);
  assert.equal(worst.score, 1);
  assert.equal(worst.decision, 'reject');
});

test('amount_vs_history: absolute limit without history, ratio to the (floored) average with it', () => {
  const none = (amount: number) => rules(assessFraud(guest({ amount, guest: false, accountAgeMs: 30 * DAY }))).amount_vs_history ?? 0;
  assert.equal(none(50_000), 0);
  assert.equal(none(125_000), 0.225);
  assert.equal(none(200_000), 0.45);
  assert.equal(none(5_000_000), 0.45);

  const hist = (amount: number, orders: number, spent: number) =>
    rules(assessFraud(trusted({ amount, history: { orders, spent, recentAttempts: [] } }))).amount_vs_history ?? 0;
  assert.equal(hist(30_000, 3, 30_000), 0, '3x the average');
  assert.equal(hist(65_000, 3, 30_000), 0.225, '6.5x: half way');
  assert.equal(hist(100_000, 3, 30_000), 0.45, '10x');
  // A history of lip balms (600 each) counts as an average of 5,000: a 15,000 basket is fine.
  assert.equal(hist(15_000, 4, 2_400), 0);
  assert.equal(hist(50_000, 4, 2_400), 0.45);
  // With history the absolute limit no longer applies: a big spender's usual order is fine.
  assert.equal(hist(300_000, 10, 2_000_000), 0);
});

test('velocity: attempts in the last 10 minutes and the last hour; older attempts do not count', () => {
  const vel = (recentAttempts: number[]) => rules(assessFraud(trusted({ history: { orders: 12, spent: 96_000, recentAttempts } }))).velocity ?? 0;
  assert.equal(vel(attempts(3, MIN)), 0);
  assert.equal(vel(attempts(4, MIN)), 0.117);
  assert.equal(vel(attempts(6, MIN)), 0.35);
  // Spread over the hour (one every 11 minutes): only the hourly rule.
  assert.equal(vel(attempts(5, 11 * MIN)), 0);
  assert.equal(vel([NOW - 2 * MIN, NOW - 20 * MIN, NOW - 30 * MIN, NOW - 40 * MIN, NOW - 50 * MIN, NOW - 55 * MIN, NOW - 59 * MIN]), 0.14);
  // Twenty attempts, all older than an hour: nothing.
  assert.equal(vel(Array.from({ length: 20 }, (_, i) => NOW - HOUR - i * MIN)), 0);
  // Window edges: exactly 10 minutes / 1 hour old is outside.
  assert.equal(vel([...attempts(3, MIN), NOW - 10 * MIN]), 0);
  assert.equal(vel([...attempts(3, MIN), NOW - 10 * MIN + 1]), 0.117);
});

test('new_account: guests and accounts younger than 24 h, all or nothing', () => {
  const na = (more: Partial<FraudInput>) => rules(assessFraud(trusted(more))).new_account ?? 0;
  assert.equal(na({ guest: true, accountAgeMs: 0 }), 0.2);
  assert.equal(na({ accountAgeMs: DAY - 1 }), 0.2);
  assert.equal(na({ accountAgeMs: DAY }), 0);
  assert.match(assessFraud(trusted({ accountAgeMs: 90 * MIN })).reasons[0].detail, /90 min/);
});

test('address_mismatch: only with confirmed orders and known countries', () => {
  const am = (more: Partial<FraudInput>) => rules(assessFraud(trusted(more))).address_mismatch ?? 0;
  assert.equal(am({ shippingCountry: 'DE' }), 0.25);
  assert.equal(am({ shippingCountry: 'US' }), 0);
  assert.equal(am({ shippingCountry: 'DE', history: { orders: 0, spent: 0, recentAttempts: [] } }), 0, 'no orders: nothing to mismatch');
  assert.equal(am({ shippingCountry: 'DE', knownCountries: [] }), 0, 'no known country: no information');
  assert.equal(assessFraud(guest({ shippingCountry: 'DE', knownCountries: ['US'] })).reasons.length, 1, 'a guest without orders: only new_account');
});

test('decision thresholds: exactly 0.5 is review, exactly 0.8 is review, above 0.8 reject', () => {
  assert.equal(fraudDecision(0), 'approve');
  assert.equal(fraudDecision(0.499), 'approve');
  assert.equal(fraudDecision(0.5), 'review');
  assert.equal(fraudDecision(0.8), 'review');
  assert.equal(fraudDecision(0.801), 'reject');
  assert.equal(fraudDecision(1), 'reject');

  // Through assessFraud with the default weights: new account + new country + full velocity =
  // 0.2 + 0.25 + 0.35, which sums to 0.7999999999999999 in floating point and scores exactly 0.8.
  const edge = trusted({ accountAgeMs: 12 * HOUR, history: { orders: 1, spent: 8_000, recentAttempts: attempts(6, MIN) }, shippingCountry: 'BR' });
  const atEight = assessFraud(edge);
  assert.equal(atEight.score, 0.8);
  assert.equal(atEight.decision, 'review');
  // One step more of amount (above 3x the reference) tips it over.
  const over = assessFraud({ ...edge, amount: 25_000 });
  assert.ok(over.score > 0.8);
  assert.equal(over.decision, 'reject');

  // Exactly 0.5 with a config: new account weighted 0.3 plus a new country at 0.2.
  const cfg: FraudConfig = { ...DEFAULT_FRAUD, newAccount: { ...DEFAULT_FRAUD.newAccount, weight: 0.3 }, addressMismatch: { weight: 0.2 } };
  const half = assessFraud(trusted({ accountAgeMs: HOUR, shippingCountry: 'BR' }), cfg);
  assert.equal(half.score, 0.5);
  assert.equal(half.decision, 'review');
  const under = assessFraud(trusted({ accountAgeMs: HOUR }), cfg);
  assert.equal(under.score, 0.3);
  assert.equal(under.decision, 'approve');
  // The thresholds are configurable too.
  assert.equal(assessFraud(trusted({ accountAgeMs: HOUR, shippingCountry: 'BR' }), { ...cfg, rejectAbove: 0.45 }).decision, 'reject');
});

// ---------------------------------------------------------------------------------------------
// Properties.

const COUNTRIES = ['US', 'CA', 'DE', 'FR', 'BR', 'JP'];
const inputArb: fc.Arbitrary<FraudInput> = fc
  .record({
    amount: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 5_000_000 })),
    orders: fc.integer({ min: 0, max: 50 }),
    avg: fc.integer({ min: 0, max: 100_000 }),
    // Some spread over the day, some in the last hour, some in the last 10 minutes (bursts).
    recentAttempts: fc
      .tuple(
        ...[DAY, HOUR, 10 * MIN].map((w) =>
          fc.array(
            fc.integer({ min: -w, max: 0 }).map((d) => NOW + d),
            { maxLength: 12 },
          ),
        ),
      )
      .map((lists) => lists.flat()),
    accountAgeMs: fc.integer({ min: 0, max: 3 * DAY }),
    guest: fc.boolean(),
    shippingCountry: fc.constantFrom(...COUNTRIES),
    knownCountries: fc.subarray(COUNTRIES),
  })
  .map((r) => ({
    amount: r.amount,
    currency: 'USD',
    history: { orders: r.orders, spent: r.orders * r.avg, recentAttempts: r.recentAttempts },
    accountAgeMs: r.guest ? 0 : r.accountAgeMs,
    guest: r.guest,
    shippingCountry: r.shippingCountry,
    knownCountries: r.knownCountries,
    now: NOW,
  }));

test('property: score in [0, 1] with 3 decimals, decision follows the thresholds, reasons explain the score', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const a = assessFraud(input);
      assert.ok(a.score >= 0 && a.score <= 1, `score ${a.score}`);
      assert.equal(a.score, Math.round(a.score * 1000) / 1000);
      assert.equal(a.decision, a.score > 0.8 ? 'reject' : a.score >= 0.5 ? 'review' : 'approve');
      const sum = a.reasons.reduce((n, r) => n + r.weight, 0);
      assert.ok(Math.abs(Math.min(1, sum) - a.score) <= 0.0025, `reasons ${sum} explain score ${a.score}`);
      for (const r of a.reasons) assert.ok(r.weight > 0 && r.detail.length > 0);
      assert.equal(new Set(a.reasons.map((r) => r.rule)).size, a.reasons.length, 'each rule at most once');
      assert.deepEqual(assessFraud(structuredClone(input)), a, 'deterministic');
    }),
    { numRuns: 2000 },
  );
});

test('property: more velocity never lowers the score', () => {
  fc.assert(
    fc.property(
      inputArb,
      fc.array(
        fc.integer({ min: -2 * HOUR, max: 0 }).map((d) => NOW + d),
        { minLength: 1, maxLength: 10 },
      ),
      (input, extra) => {
        const more = { ...input, history: { ...input.history, recentAttempts: [...input.history.recentAttempts, ...extra] } };
        assert.ok(assessFraud(more).score >= assessFraud(input).score);
      },
    ),
    { numRuns: 2000 },
  );
});

test('property: a larger amount never lowers the score', () => {
  fc.assert(
    fc.property(inputArb, fc.integer({ min: 1, max: 2_000_000 }), (input, extra) => {
      assert.ok(assessFraud({ ...input, amount: input.amount + extra }).score >= assessFraud(input).score);
    }),
    { numRuns: 2000 },
  );
});
