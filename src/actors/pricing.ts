// Cart and order pricing: coupon discount, tax and shipping from a subtotal. Pure: the time, the
// coupon's terms and the tax table come in as arguments. All amounts are integer minor units.
import { DEFAULT_CURRENCY, roundHalfUp } from './money.js';

/** A coupon's terms as set by `coupon.upsert`; redemption counting is the coupon actor's job. */
export interface CouponTerms {
  code: string;
  /** Integer 1..100. Exactly one of percentOff / amountOff is set. */
  percentOff?: number;
  /** Minor units of `currency`. */
  amountOff?: number;
  /** Currency of every amount in the terms (amountOff, minSubtotal); default USD. */
  currency?: string;
  /** Minor units of `currency`; the coupon applies from a subtotal equal to it. */
  minSubtotal?: number;
  /** Epoch ms; the coupon no longer applies at this instant (now >= expiresAt). */
  expiresAt?: number;
  maxRedemptions?: number;
}

export interface PricingConfig {
  /** Tax rate per ISO country code, in basis points (e.g. DE: 1900 = 19%). */
  taxRatesBp: Record<string, number>;
  /** Country whose rate applies before an address is known (cart totals). */
  defaultCountry: string;
  /** Rate of countries not in the table. */
  defaultTaxRateBp: number;
  /** Minor units. */
  shippingFlat: number;
  /** subtotal - discount >= this ships free. */
  freeShippingMin: number;
}

/**
 * Standard VAT rates of a few markets (2024), in basis points. US: 0, because US sales tax is set
 * by states, counties and cities and depends on the full address; we do not collect it until a
 * real tax service is wired in (set TAX_RATES to override). Countries not listed also pay 0:
 * guessing a foreign rate would be wrong either way, and an operator who ships there lists it.
 */
export const DEFAULT_TAX_RATES_BP: Readonly<Record<string, number>> = Object.freeze({
  US: 0,
  AT: 2000,
  BE: 2100,
  DE: 1900,
  ES: 2100,
  FR: 2000,
  GB: 2000,
  IE: 2300,
  IT: 2200,
  NL: 2100,
  PL: 2300,
  SE: 2500,
});

export const DEFAULT_PRICING: PricingConfig = Object.freeze({
  taxRatesBp: DEFAULT_TAX_RATES_BP,
  defaultCountry: 'US',
  defaultTaxRateBp: 0,
  shippingFlat: 499,
  freeShippingMin: 5000,
});

export interface Totals {
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
}

export type CouponRefusal = 'expired' | 'min_subtotal' | 'currency';
export type CouponCheck = { ok: true } | { ok: false; reason: CouponRefusal; details: Record<string, unknown> };

const OK: CouponCheck = Object.freeze({ ok: true });

/**
 * Whether a coupon applies to a subtotal now (redemption limits aside). Checked in this order:
 * expiry, then currency (only when the terms carry an amount: amountOff or minSubtotal, which are
 * in the coupon's currency; a bare percentage applies in any currency), then minSubtotal.
 */
export function couponApplies(c: CouponTerms, subtotal: number, currency: string, now: number): CouponCheck {
  if (c.expiresAt !== undefined && now >= c.expiresAt) {
    return { ok: false, reason: 'expired', details: { code: c.code, expiresAt: c.expiresAt } };
  }
  const couponCurrency = c.currency ?? DEFAULT_CURRENCY;
  if ((c.amountOff !== undefined || c.minSubtotal !== undefined) && couponCurrency !== currency) {
    return { ok: false, reason: 'currency', details: { code: c.code, currency: couponCurrency, cartCurrency: currency } };
  }
  if (c.minSubtotal !== undefined && subtotal < c.minSubtotal) {
    return { ok: false, reason: 'min_subtotal', details: { code: c.code, minSubtotal: c.minSubtotal, subtotal } };
  }
  return OK;
}

/** Discount in minor units: percent rounds half up to the minor unit; amountOff capped at the subtotal; 0 when the coupon does not apply. */
export function discountFor(c: CouponTerms | undefined, subtotal: number, currency: string, now: number): number {
  if (c === undefined || subtotal <= 0 || !couponApplies(c, subtotal, currency, now).ok) return 0;
  if (c.percentOff !== undefined) return mulDivHalfUp(subtotal, c.percentOff, 100);
  return Math.min(c.amountOff ?? 0, subtotal);
}

/** The tax rate in basis points of a country (case-insensitive); undefined: the default country's. */
export function taxRateBp(country: string | undefined, cfg: PricingConfig): number {
  const cc = (country ?? cfg.defaultCountry).trim().toUpperCase();
  // Own keys only: the country comes from a shipping address, and "constructor" is no country.
  return Object.hasOwn(cfg.taxRatesBp, cc) ? cfg.taxRatesBp[cc] : cfg.defaultTaxRateBp;
}

/**
 * Totals: tax on (subtotal - discount) at the country's rate, round half up; shipping flat unless
 * (subtotal - discount) >= freeShippingMin or the cart is empty (subtotal 0: all totals are 0).
 * total = subtotal - discount + tax + shipping. Integers only; subtotal is a safe integer.
 */
export function totalsFor(
  subtotal: number,
  coupon: CouponTerms | undefined,
  currency: string,
  country: string | undefined,
  now: number,
  cfg: PricingConfig,
): Totals {
  if (subtotal <= 0) return { subtotal, discount: 0, tax: 0, shipping: 0, total: subtotal };
  const discount = discountFor(coupon, subtotal, currency, now);
  const taxable = subtotal - discount;
  const tax = mulDivHalfUp(taxable, taxRateBp(country, cfg), 10_000);
  const shipping = taxable >= cfg.freeShippingMin ? 0 : cfg.shippingFlat;
  return { subtotal, discount, tax, shipping, total: taxable + tax + shipping };
}

/**
 * a * b / d rounded half up, exact for non-negative safe integers. A cart subtotal reaches ~1e14
 * (100 lines x 999 x 1e9), so `subtotal * 2100` is past 2^53 and would round before we do; split
 * a = q*d + r so that a*b/d = q*b + r*b/d, where both products stay small when b <= d.
 */
export function mulDivHalfUp(a: number, b: number, d: number): number {
  const r = a % d;
  const q = (a - r) / d; // exact: a - r is a multiple of d
  const whole = q * b;
  const part = r * b;
  if (Number.isSafeInteger(whole) && part <= 2 ** 50) {
    const result = whole + roundHalfUp(part, d);
    if (Number.isSafeInteger(result)) return result;
  }
  // Only for rates above 100% or amounts near 2^53: exact in BigInt, and the result must fit.
  const big = BigInt(a) * BigInt(b);
  const bd = BigInt(d);
  const result = Number((2n * big + bd) / (2n * bd));
  if (!Number.isSafeInteger(result)) throw new RangeError(`amount ${a} * ${b} / ${d} is past the safe integer range`);
  return result;
}

/**
 * Parses TAX_RATES text like "DE:1900,FR:2000" (ISO country code : basis points 0..10000) into a
 * table. Spaces around entries are ignored and codes are uppercased; "" is an empty table. Throws
 * an Error naming the bad entry.
 */
export function parseTaxRates(text: string): Record<string, number> {
  const table: Record<string, number> = {};
  if (text.trim() === '') return table;
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    const m = /^([A-Za-z]{2})\s*:\s*(\d{1,5})$/.exec(entry);
    if (!m) throw new Error(`TAX_RATES entry "${entry}" must be COUNTRY:BASIS_POINTS, e.g. "DE:1900"`);
    const cc = m[1].toUpperCase();
    const bp = Number(m[2]);
    if (bp > 10_000) throw new Error(`TAX_RATES entry "${entry}": the rate must be 0..10000 basis points, got ${bp}`);
    if (Object.hasOwn(table, cc)) throw new Error(`TAX_RATES entry "${entry}": ${cc} is listed twice`);
    table[cc] = bp;
  }
  return table;
}

/** The canonical form of a coupon code (trim + uppercase): what keys the coupon actor. */
