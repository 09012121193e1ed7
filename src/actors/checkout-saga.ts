// The checkout saga as data: its steps, what an order's durable state says is left to do, and the
// prices of the order. The order actor (order-actor.ts) records every step; the driver
// (src/workers/checkout-driver.ts) runs them:
//
//   freeze cart -> create order + reserve every line + hold the coupon -> fraud score -> charge
//   -> commit the holds and the coupon -> confirm the order + empty the cart -> settle
//
// Any failure before the charge captured releases what was reserved; a capture that cannot be
// committed is voided (refunded) and restocked. Holds carry an expiry enforced by each SKU's own
// timer, so a coordinator that disappears strands nothing.
import type { Order } from './order-actor.js';
import type { CheckoutStart } from './cart-actor.js';
import { totalsFor, type PricingConfig } from './pricing.js';
import type { OrderTotals, ShippingAddress } from '../protocol/types.js';

/** Points after which FAULT_EXIT_AFTER can kill the process (tests of every step with kill -9). */
export const FAULT_STEPS = ['frozen', 'reserved', 'charged', 'committed', 'confirmed'] as const;
export type FaultStep = (typeof FAULT_STEPS)[number];

/** What a driver does with an order it finds unfinished (after a restart, or when its timer fires). */
export type ResumeAction =
  /** Pending and the gateway captured: commit the holds and confirm. */
  | 'complete'
  /** Pending and nothing captured: void at the gateway, release, cancel. */
  | 'abandon'
  /** Failed or cancelled at checkout, compensation may be unfinished: release again (idempotent), thaw the cart. */
  | 'compensate'
  /** Confirmed: the cart may still be frozen. */
  | 'finish'
  /** A cancel, refund or return whose gateway and stock effects may be unfinished. */
  | 'work'
  | 'none';

export function resumeAction(o: Order, captured: boolean | undefined): ResumeAction {
  if (!o.open) return 'none';
  if (o.work) return 'work';
  if (o.status === 'pending') return captured ? 'complete' : 'abandon';
  if (o.failure) return 'compensate';
  return 'finish';
}

/** The order's totals: the cart's, with tax for the shipping country. */
export function orderTotals(start: CheckoutStart, address: ShippingAddress, now: number, cfg: PricingConfig): OrderTotals {
  return totalsFor(start.cart.subtotal, start.coupon, start.cart.currency, address.country, now, cfg);
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `CW-2611-4F7K2Q`: year and month, then six random characters (given: actors draw no randomness). */
export function orderNumber(now: number, random: Uint8Array): string {
  const d = new Date(now);
  const ym = `${String(d.getUTCFullYear() % 100).padStart(2, '0')}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  let tail = '';
  for (let i = 0; i < 6; i++) tail += CROCKFORD[random[i] & 31];
  return `CW-${ym}-${tail}`;
}

/** The request facts an idempotency key is bound to (besides the cart): payment and address. */
export function fingerprintSource(token: string, a: ShippingAddress): string {
  return JSON.stringify([token, a.name, a.line1, a.city, a.postalCode, a.country]);
}
