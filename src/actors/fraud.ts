// Fraud risk score in [0, 1] from the seed's four rules: pure, deterministic and explainable
// (every point of the score is a reason with its weight and a sentence). Time comes in as `now`.
//
// Rules (weights of DEFAULT_FRAUD; each rule contributes weight x a factor in [0, 1]):
// - amount_vs_history (0.45). No confirmed orders: the amount against an absolute limit; nothing
//   up to 50,000 minor units, rising linearly to the full weight at 200,000. With history: the
//   ratio of the amount to the user's average order, where the average counts as at least 5,000
//   (a history of tiny orders does not make a normal basket suspicious); nothing up to 3x, full
//   weight at 10x.
// - velocity (0.35). Earlier checkout attempts (any outcome; the current one is NOT in the list)
//   in the last 10 minutes: nothing up to 3, full at 6; in the last hour: nothing up to 5, full
//   at 10. The larger of the two factors counts.
// - new_account (0.2). A guest, or an account younger than 24 h. All or nothing.
// - address_mismatch (0.25). The user has confirmed orders, knows at least one shipping country,
//   and this order ships to a country not among them (compared case-insensitively).
// score = min(1, sum of the contributions), rounded to 3 decimals; the decision is taken on the
// rounded score: score > 0.8 reject (FRAUD_SUSPECTED), 0.5 <= score <= 0.8 review (the order is
// confirmed but flagged), else approve. No single rule can reach review on its own (the largest
// weight is 0.45) and no two can reject (the two largest sum to 0.8): review needs two signals,
// reject at least three.
//
// Example scores with DEFAULT_FRAUD (pinned by test/fraud.test.ts):
//   guest, first order of 3 demo lines plus tax and shipping (29,700)  new 0.2                        = 0.2   approve
//   account 1 min old, flash sale, one checkout (no earlier attempts)  new 0.2                        = 0.2   approve
//   guest, the 3 dearest demo items (62,700)                           amount 0.038 + new 0.2         = 0.238 approve
//   customer of 2 years, 12 orders averaging 8,000, 9,900 shipped home                                = 0     approve
//   same customer, 40,000 (5x the average) to a new country            amount 0.129 + address 0.25    = 0.379 approve
//   guest, 6 earlier attempts in 10 minutes, normal amount             velocity 0.35 + new 0.2        = 0.55  review
//   guest, 250,000, no history                                         amount 0.45 + new 0.2          = 0.65  review
//   new account with one order, new country, 6 attempts in 10 min      velocity 0.35 + new 0.2 + address 0.25 = 0.8 review
//   account 20 min old, 300,000, 5 attempts in the last 10 minutes     amount 0.45 + velocity 0.233 + new 0.2 = 0.883 reject
//
// Amounts are minor units of `currency`; the history must be in the same currency. The absolute
// limits are in minor units whatever the currency (50,000 is $500 in USD but about $330 in JPY,
// which has no minor unit); `currency` is not read: pass a config per currency if that matters.

export type FraudRule = 'amount_vs_history' | 'velocity' | 'new_account' | 'address_mismatch';

export interface FraudInput {
  /** Order total, minor units. */
  amount: number;
  currency: string;
  /**
   * The user's history of confirmed orders: count and sum of totals (same currency), and epoch ms
   * of their earlier checkout attempts in the last 24 h (any outcome; not the current one).
   */
  history: { orders: number; spent: number; recentAttempts: number[] };
  /** Account age in ms (guests: 0), and whether the user is a guest. */
  accountAgeMs: number;
  guest: boolean;
  /** Shipping country of this order and the countries this user shipped to before (confirmed orders). */
  shippingCountry: string;
  knownCountries: string[];
  now: number;
}

export interface FraudConfig {
  /** Scores at or above this (and not above rejectAbove) are confirmed but flagged: 0.5. */
  reviewAt: number;
  /** Scores strictly above this are rejected with FRAUD_SUSPECTED: 0.8. */
  rejectAbove: number;
  amount: {
    weight: number;
    /** Without history: no contribution up to this amount (minor units), full at `limitFullAt`. */
    limit: number;
    limitFullAt: number;
    /** With history: no contribution up to `ratioStart` x the average order, full at `ratioFull` x. */
    ratioStart: number;
    ratioFull: number;
    /** The average order counts as at least this many minor units. */
    minReferenceAverage: number;
  };
  velocity: {
    weight: number;
    /** Attempts in the short window: none up to `shortStart`, full at `shortFull`. */
    shortWindowMs: number;
    shortStart: number;
    shortFull: number;
    /** Attempts in the long window: none up to `longStart`, full at `longFull`. */
    longWindowMs: number;
    longStart: number;
    longFull: number;
  };
  newAccount: {
    weight: number;
    /** Accounts younger than this count as new (guests always do). */
    maxAgeMs: number;
  };
  addressMismatch: { weight: number };
}

export const DEFAULT_FRAUD: FraudConfig = Object.freeze({
  reviewAt: 0.5,
  rejectAbove: 0.8,
  amount: Object.freeze({ weight: 0.45, limit: 50_000, limitFullAt: 200_000, ratioStart: 3, ratioFull: 10, minReferenceAverage: 5_000 }),
  velocity: Object.freeze({
    weight: 0.35,
    shortWindowMs: 10 * 60_000,
    shortStart: 3,
    shortFull: 6,
    longWindowMs: 60 * 60_000,
    longStart: 5,
    longFull: 10,
  }),
  newAccount: Object.freeze({ weight: 0.2, maxAgeMs: 24 * 60 * 60_000 }),
  addressMismatch: Object.freeze({ weight: 0.25 }),
});

export interface FraudReason {
  rule: FraudRule;
  /** This rule's contribution to the score (rounded to 3 decimals). */
  weight: number;
  detail: string;
}

export interface FraudAssessment {
  /** In [0, 1], rounded to 3 decimals. */
  score: number;
  decision: 'approve' | 'review' | 'reject';
  /** The rules that contributed, in the order above; empty for a score of 0. */
  reasons: FraudReason[];
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** 0 at or below `start`, 1 at or above `full`, linear between. */
function ramp(x: number, start: number, full: number): number {
  if (x <= start) return 0;
  if (x >= full) return 1;
  return (x - start) / (full - start);
}

/** The decision for a score (already rounded), by the thresholds of `cfg`. */
export function fraudDecision(score: number, cfg: FraudConfig = DEFAULT_FRAUD): FraudAssessment['decision'] {
  if (score > cfg.rejectAbove) return 'reject';
  return score >= cfg.reviewAt ? 'review' : 'approve';
}

/** Scores one checkout by the four rules; see the header for the rules and example scores. */
export function assessFraud(input: FraudInput, cfg: FraudConfig = DEFAULT_FRAUD): FraudAssessment {
  const parts: { rule: FraudRule; value: number; detail: string }[] = [];
  const add = (rule: FraudRule, weight: number, factor: number, detail: string): void => {
    if (factor > 0 && weight > 0) parts.push({ rule, value: weight * factor, detail });
  };
  const { history: h, amount } = input;

  const a = cfg.amount;
  if (h.orders > 0) {
    const average = h.spent / h.orders;
    const reference = Math.max(average, a.minReferenceAverage);
    const ratio = amount / reference;
    add(
      'amount_vs_history',
      a.weight,
      ramp(ratio, a.ratioStart, a.ratioFull),
      `amount ${amount} is ${ratio.toFixed(1)}x the reference order ${Math.round(reference)} (average ${Math.round(average)} over ${h.orders} orders)`,
    );
  } else {
    add('amount_vs_history', a.weight, ramp(amount, a.limit, a.limitFullAt), `amount ${amount} above ${a.limit} with no order history`);
  }

  const v = cfg.velocity;
  let short = 0;
  let long = 0;
  for (const t of h.recentAttempts) {
    if (t > input.now - v.shortWindowMs) short++;
    if (t > input.now - v.longWindowMs) long++;
  }
  const fShort = ramp(short, v.shortStart, v.shortFull);
  const fLong = ramp(long, v.longStart, v.longFull);
  add(
    'velocity',
    v.weight,
    Math.max(fShort, fLong),
    `${short} earlier attempts in ${v.shortWindowMs / 60_000} min (over ${v.shortStart}), ${long} in ${v.longWindowMs / 60_000} min (over ${v.longStart})`,
  );

  const n = cfg.newAccount;
  if (input.guest) add('new_account', n.weight, 1, 'guest checkout');
  else if (input.accountAgeMs < n.maxAgeMs) add('new_account', n.weight, 1, `account is ${Math.floor(input.accountAgeMs / 60_000)} min old`);

  if (h.orders > 0 && input.knownCountries.length > 0) {
    const country = input.shippingCountry.toUpperCase();
    if (!input.knownCountries.some((k) => k.toUpperCase() === country)) {
      add(
        'address_mismatch',
        cfg.addressMismatch.weight,
        1,
        `ships to ${input.shippingCountry}, never used before (known: ${input.knownCountries.join(', ')})`,
      );
    }
  }

  let sum = 0;
  for (const p of parts) sum += p.value;
  const score = round3(Math.min(1, Math.max(0, sum)));
  return {
    score,
    decision: fraudDecision(score, cfg),
    // A contribution that rounds to 0 (an amount just past a ramp's start) explains nothing.
    reasons: parts.map((p) => ({ rule: p.rule, weight: round3(p.value), detail: p.detail })).filter((r) => r.weight > 0),
  };
}
