// The checkout saga as data: its steps, what an order's durable state says is left to do, and the
// prices of the order. The order actor (order-actor.ts) records every step; the driver
// (src/app/commerce/checkout-driver.ts) runs them. Four durable hops, each one group commit per
// shard it touches, each waited for before the next:
//
//   1 freeze cart -> 2 create order + reserve every line + (coupon held just before) -> fraud score
//   -> 3 charge -> 4 commit every hold and the coupon + confirm the order (`committing`)
//   -> answer; then, not waited for: empty the cart + settle the order
//
// Hop 4 holds two steps whose order does not matter (commit the holds, confirm the order): the
// shards commit its parts in parallel, so a crash can leave any subset of them durable. The order is confirmed with
// `committing` set and stays open until `settle`, which is sent only once every commit of hop 4
// answered. What a restart (or the order's timer) finds, and does:
//
// - crash before hop 2 is durable: the cart's timer or a retry of the key thaws the cart and
//   releases any hold (the order does not exist); nothing was charged.
// - after hop 2, before the charge captured: `abandon`: void at the gateway (a late charge can
//   no longer capture), release the holds, cancel with INTERNAL.
// - after the capture, before the confirm of hop 4 is durable (the order is `pending`, some of
//   the commits may be durable): `complete`: hop 4 again. A commit that finds no hold means it
//   was committed before the crash, unless the sku says the hold expired.
// - after the confirm of hop 4, some commits maybe not (the order is `confirmed`, `committing`):
//   `finish`: the commits again (idempotent as above), then the cart and `settle`.
// - a hold expired before its commit (down longer than the hold TTL): that commit never
//   happened, so hop 4 was never answered: the capture is unwound (refunded in full, units
//   already taken put back) and the order cancelled with CONFLICT, also from `committing`.
// - after the answer: every part of hop 4 was durable, so no hold of the order can have expired
//   uncommitted: a resume only empties the cart and settles; an acknowledged order is never undone.
//
// Stock: a unit leaves a sku only by its hold's commit, once (a hold is committed or released,
// never both). Money: the gateway charges once per orderId; every unwind voids it.
// order_paid is logged when the order settles, so a confirmation later unwound never reports a sale.
import type { Order } from './order-actor.js';
import type { CheckoutStart } from './cart-actor.js';
import { totalsFor, type PricingConfig } from './pricing.js';
import type { OrderTotals, ShippingAddress } from '../protocol/types.js';

/**
 * Points after which FAULT_EXIT_AFTER can kill the process (tests of every step with kill -9).
 * `confirming` is the fold's worst case: the order's confirm durable, none of the holds' commits
 * sent; `confirmed`: all of hop 4 durable, the cart and the settle not sent.
 */
export const FAULT_STEPS = ['frozen', 'reserved', 'charged', 'confirming', 'confirmed'] as const;
export type FaultStep = (typeof FAULT_STEPS)[number];

/** What a driver does with an order it finds unfinished (after a restart, or when its timer fires). */
export type ResumeAction =
  /** Pending and the gateway captured: commit the holds and confirm (hop 4). */
  | 'complete'
  /** Pending and nothing captured: void at the gateway, release, cancel. */
  | 'abandon'
  /** Failed or cancelled at checkout, compensation may be unfinished: release again (idempotent), thaw the cart. */
  | 'compensate'
  /** Confirmed: its holds' commits may be unfinished (`committing`), the cart may still be frozen. */
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
