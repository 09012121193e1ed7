// The coupon actor: one per code, the single writer of the coupon's terms and its redemption
// count, so maxRedemptions is never exceeded however many checkouts race for the last one.
// Redemptions are reserved like stock: a checkout holds one for its orderId (the hold expires by
// the actor's own timer, so a lost saga strands nothing), then commits it once the order is
// confirmed or releases it on failure. Always: redeemed + holds.size <= maxRedemptions.
import type { CouponView } from '../protocol/ops.js';
import { accept, reject, unchanged, type ActorType, type Decision } from './actor.js';
import { couponApplies, type CouponTerms } from './pricing.js';
import { normalizeCouponCode } from '../protocol/keys.js';

/**
 * The most recent committed orderIds a coupon remembers, with or without maxRedemptions: the
 * redemption record is the count (`redeemed`, which enforces maxRedemptions) plus these ids, so a
 * coupon redeemed millions of times stays small in memory and in its snapshot. The ids only make a
 * retried commit idempotent, and a retried commit comes right after a crash or a lost reply, not
 * 10,000 redemptions later; past that, a stray commit without a hold is a CONFLICT, never a count.
 */
export const COMMITTED_KEPT = 10_000;

export interface Coupon {
  /** The normalized code, the id of `coupon:<CODE>`. */
  code: string;
  /** Undefined until the first upsert. */
  terms?: CouponTerms;
  redeemed: number;
  /** orderId -> expiresAt of the redemption it holds; insertion-ordered. */
  holds: Map<string, number>;
  /** The most recent orderIds whose redemption is committed, oldest first (at most COMMITTED_KEPT). */
  committed: Set<string>;
  version: number;
  updatedAt: number;
}

export type CouponCommand =
  | { type: 'get' }
  | { type: 'upsert'; terms: CouponTerms }
  | { type: 'hold'; orderId: string; ttlMs: number; subtotal: number; currency: string }
  | { type: 'commit'; orderId: string }
  | { type: 'release'; orderId: string }
  | { type: 'timer' };

export type CouponEvent =
  | { type: 'upserted'; terms: CouponTerms; at: number }
  | { type: 'held'; orderId: string; expiresAt: number; at: number }
  | { type: 'committed'; orderId: string; at: number }
  | { type: 'released'; orderId: string; expired: boolean; at: number };

/** Why a hold was refused: CONFLICT details `{ code, reason, ... }`. */
export type HoldRefusal = 'expired' | 'exhausted' | 'min_subtotal' | 'currency' | 'unknown';

/** The coupon object of docs/protocol.md (`coupon.upsert` returns it); declared with the protocol. */
export type { CouponView };

const OPTIONAL_KEYS = ['percentOff', 'amountOff', 'currency', 'minSubtotal', 'expiresAt', 'maxRedemptions'] as const;

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/**
 * Validates upsert terms and returns them in canonical form (the actor's code, only the keys
 * that are set, so events and snapshots carry no `undefined`), or the BAD_REQUEST message.
 * Upsert replaces the terms: a key left out is cleared (no maxRedemptions: no limit).
 */
function canonicalTerms(code: string, t: CouponTerms): CouponTerms | string {
  if (typeof t.code !== 'string' || normalizeCouponCode(t.code) !== code) return `terms.code must be ${code}`;
  if ((t.percentOff === undefined) === (t.amountOff === undefined)) return 'exactly one of percentOff and amountOff must be set';
  if (t.percentOff !== undefined && !(Number.isInteger(t.percentOff) && t.percentOff >= 1 && t.percentOff <= 100)) {
    return `percentOff must be an integer 1..100, got ${t.percentOff}`;
  }
  if (t.amountOff !== undefined && !(isCount(t.amountOff) && t.amountOff >= 1)) return `amountOff must be a positive integer, got ${t.amountOff}`;
  if (t.currency !== undefined && !(typeof t.currency === 'string' && /^[A-Z]{3}$/.test(t.currency))) {
    return `currency must be a three-letter code, got ${String(t.currency)}`;
  }
  for (const k of ['minSubtotal', 'expiresAt', 'maxRedemptions'] as const) {
    if (t[k] !== undefined && !isCount(t[k])) return `${k} must be a non-negative integer, got ${String(t[k])}`;
  }
  const out: CouponTerms = { code };
  for (const k of OPTIONAL_KEYS) if (t[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = t[k];
  return out;
}

/** The terms in a coupon's view: what a cart applies and a checkout prices with. */
export function couponTermsOf(v: CouponView): CouponTerms {
  const t: CouponTerms = { code: v.code };
  for (const k of OPTIONAL_KEYS) if (v[k] !== undefined) (t as unknown as Record<string, unknown>)[k] = v[k];
  return t;
}

function sameTerms(a: CouponTerms, b: CouponTerms): boolean {
  return OPTIONAL_KEYS.every((k) => a[k] === b[k]);
}

function refuseHold(s: Coupon, reason: HoldRefusal, message: string, extra?: Record<string, unknown>): Decision<CouponEvent> {
  return reject('CONFLICT', message, { ...extra, code: s.code, reason });
}

function decideHold(s: Coupon, c: Extract<CouponCommand, { type: 'hold' }>, now: number): Decision<CouponEvent> {
  // Idempotent by orderId: a retried hold, or one for an order already committed, holds nothing new.
  if (s.holds.has(c.orderId) || s.committed.has(c.orderId)) return unchanged();
  const t = s.terms;
  if (t === undefined) return refuseHold(s, 'unknown', `no coupon ${s.code}`);
  const check = couponApplies(t, c.subtotal, c.currency, now);
  if (!check.ok) return refuseHold(s, check.reason, `coupon ${s.code} does not apply: ${check.reason}`, check.details);
  if (t.maxRedemptions !== undefined && s.redeemed + s.holds.size >= t.maxRedemptions) {
    return refuseHold(s, 'exhausted', `coupon ${s.code} has no redemptions left`, { maxRedemptions: t.maxRedemptions });
  }
  return accept([{ type: 'held', orderId: c.orderId, expiresAt: now + c.ttlMs, at: now }]);
}

export function decide(s: Coupon, c: CouponCommand, now: number): Decision<CouponEvent> {
  switch (c.type) {
    case 'get':
      return s.terms === undefined ? reject('NOT_FOUND', `no coupon ${s.code}`, { code: s.code }) : unchanged();
    case 'upsert': {
      const terms = canonicalTerms(s.code, c.terms);
      if (typeof terms === 'string') return reject('BAD_REQUEST', terms, { code: s.code });
      const inUse = s.redeemed + s.holds.size;
      if (terms.maxRedemptions !== undefined && terms.maxRedemptions < inUse) {
        return reject('CONFLICT', `maxRedemptions cannot go below the ${inUse} redeemed or held`, {
          code: s.code,
          redeemed: s.redeemed,
          held: s.holds.size,
        });
      }
      if (s.terms !== undefined && sameTerms(s.terms, terms)) return unchanged();
      return accept([{ type: 'upserted', terms, at: now }]);
    }
    case 'hold':
      return decideHold(s, c, now);
    case 'commit':
      if (s.committed.has(c.orderId)) return unchanged(); // committed twice counts once
      if (!s.holds.has(c.orderId)) return reject('CONFLICT', `no hold for order ${c.orderId} on coupon ${s.code}`, { code: s.code, orderId: c.orderId });
      return accept([{ type: 'committed', orderId: c.orderId, at: now }]);
    case 'release':
      return s.holds.has(c.orderId) ? accept([{ type: 'released', orderId: c.orderId, expired: false, at: now }]) : unchanged();
    case 'timer': {
      const events: CouponEvent[] = [];
      for (const [orderId, expiresAt] of s.holds) if (expiresAt <= now) events.push({ type: 'released', orderId, expired: true, at: now });
      return accept(events);
    }
  }
}

/** Forgets the oldest committed orderIds beyond COMMITTED_KEPT (the count stays in `redeemed`). */
function trimCommitted(s: Coupon): void {
  for (const orderId of s.committed) {
    if (s.committed.size <= COMMITTED_KEPT) break;
    s.committed.delete(orderId);
  }
}

export function apply(s: Coupon, e: CouponEvent): Coupon {
  switch (e.type) {
    case 'upserted':
      s.terms = e.terms;
      break;
    case 'held':
      s.holds.set(e.orderId, e.expiresAt);
      break;
    case 'committed':
      if (s.holds.delete(e.orderId)) {
        s.redeemed++;
        s.committed.add(e.orderId);
        trimCommitted(s);
      }
      break;
    case 'released':
      s.holds.delete(e.orderId);
      break;
  }
  s.version++;
  s.updatedAt = e.at;
  return s;
}

export function view(s: Coupon): CouponView {
  return { ...s.terms, code: s.code, redeemed: s.redeemed, held: s.holds.size, version: s.version, updatedAt: s.updatedAt };
}

export function nextTimer(s: Coupon): number | undefined {
  let due: number | undefined;
  for (const expiresAt of s.holds.values()) if (due === undefined || expiresAt < due) due = expiresAt;
  return due;
}

export function create(code: string): Coupon {
  return { code, redeemed: 0, holds: new Map(), committed: new Set(), version: 0, updatedAt: 0 };
}

interface CouponSnapshot {
  terms?: CouponTerms;
  redeemed: number;
  holds: [string, number][];
  /** The most recent COMMITTED_KEPT, oldest first (snapshots of older versions: every one). */
  committed: string[];
  version: number;
  updatedAt: number;
}

/** Every coupon command answers the coupon as it is after it. */
export type CouponResults = { readonly [T in CouponCommand['type']]: CouponView };

export const CouponActor: ActorType<Coupon, CouponCommand, CouponEvent, CouponResults> = {
  kind: 'coupon',
  create,
  decide,
  apply,
  view,
  nextTimer,
  snapshot: (s): CouponSnapshot => ({
    ...(s.terms === undefined ? {} : { terms: { ...s.terms } }),
    redeemed: s.redeemed,
    holds: [...s.holds],
    committed: [...s.committed],
    version: s.version,
    updatedAt: s.updatedAt,
  }),
  restore(code, data) {
    const d = data as CouponSnapshot;
    const s = create(code);
    if (d.terms !== undefined && d.terms !== null) s.terms = { ...d.terms };
    s.redeemed = d.redeemed;
    s.holds = new Map(d.holds);
    // Snapshots written before the record was bounded carry every committed orderId: keep the newest.
    s.committed = new Set(d.committed.length > COMMITTED_KEPT ? d.committed.slice(-COMMITTED_KEPT) : d.committed);
    s.version = d.version;
    s.updatedAt = d.updatedAt;
    return s;
  },
};
