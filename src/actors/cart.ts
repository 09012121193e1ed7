// The cart's state, commands and events: one cart per user, a single writer (cart-actor.ts
// decides and applies; cart-checkout.ts holds the merge and checkout decisions).
import type { CartView } from '../protocol/types.js';
import type { CouponTerms } from './pricing.js';

export interface CartLine {
  sku: string;
  productId: string;
  name: string;
  qty: number;
  unitPrice: number;
}

export interface Cart {
  userId: string;
  version: number;
  currency: string;
  items: CartLine[];
  updatedAt: number;
  /** The last guest carts merged in (absent until the first merge): what makes a merge idempotent. */
  merges?: MergeRecord[];
  coupon?: CouponTerms;
  /**
   * The checkout running on this cart: no change until it ends (the cart is frozen). At `checkAt`
   * the cart's timer asks for the checkout to be resumed (a crash may have happened before its
   * order existed, and then only the cart knows about it).
   */
  checkout?: { orderId: string; key: string; checkAt: number; stalls: number };
  /** Idempotency keys of the latest checkouts (durable with the cart, per user). */
  keys?: CheckoutKey[];
  /** The user's order history, for fraud scoring. */
  history?: PurchaseHistory;
}

export interface CheckoutKey {
  key: string;
  /** Hash of the request's payment and address. */
  fingerprint: string;
  orderId: string;
  /** Cart versions at which a retry is the same checkout: when it began, and after it cleared the cart. */
  versions: number[];
}

export interface PurchaseHistory {
  orders: number;
  spent: number;
  /** Epoch ms of the latest checkout attempts (any outcome). */
  attempts: number[];
  countries: string[];
}

/** Keys remembered per user: a retry comes within minutes, not 50 checkouts later. */
export const KEYS_KEPT = 50;
export const ATTEMPTS_KEPT = 20;
export const COUNTRIES_KEPT = 10;

/** A guest cart merged into this one: its id, the version merged and its quantities then. */
export interface MergeRecord {
  guestId: string;
  guestVersion: number;
  /** [sku, qty] of the guest cart at that version (pairs, not an object: a sku may be "__proto__"). */
  guestQty: [string, number][];
}

/** Guest merges remembered per cart; a retry comes right after a crash, never 4 logins later. */
export const MERGES_KEPT = 4;

/** Catalog facts about a sku at the moment of the command. */
export interface ItemInfo {
  productId: string;
  name: string;
  unitPrice: number;
  currency: string;
  /** Committed onHand - reserved as last seen by the edge; checkout reserves for real. */
  available: number;
}

/** A line of a guest cart to merge, with fresh catalog facts (none: the sku left the catalog). */
export interface MergeLine {
  sku: string;
  qty: number;
  item?: ItemInfo;
}

export type CartCommand =
  | { type: 'get' }
  | { type: 'add'; sku: string; qty: number; item: ItemInfo }
  | { type: 'setQty'; sku: string; qty: number; item?: ItemInfo }
  | { type: 'remove'; sku: string }
  /** `ifVersion`: clear only at that version (the guest side of a merge). */
  | { type: 'clear'; ifVersion?: number; mergedInto?: string }
  /** The guest cart `guestId` at `guestVersion` merges into this one (login/register). */
  | { type: 'merge'; guestId: string; guestVersion: number; lines: MergeLine[] }
  | { type: 'applyCoupon'; terms: CouponTerms }
  /** A sku in this watched cart changed price: take the live prices now (the shard sends it). */
  | { type: 'reprice' }
  | { type: 'removeCoupon' }
  /** Freezes the cart for checkout `orderId` under the user's idempotency key. */
  | { type: 'checkout'; key: string; fingerprint: string; orderId: string; deadlineMs: number }
  | { type: 'timer' }
  /** The checkout ended: placed (the cart empties) or failed (the cart thaws unchanged). */
  | { type: 'checkoutEnded'; orderId: string; placed: boolean; total: number; country: string; forget?: boolean };

export type LineFacts = Pick<CartLine, 'sku' | 'productId' | 'name' | 'qty' | 'unitPrice'>;

export type CartEvent =
  /** `quiet`: one of several events of a single change; only the last of them moves the version. */
  | { type: 'line_set'; sku: string; productId: string; name: string; qty: number; unitPrice: number; currency: string; at: number; quiet?: true }
  | { type: 'line_removed'; sku: string; at: number }
  | { type: 'cleared'; at: number; mergedInto?: string }
  | ({ type: 'merged'; lines: LineFacts[]; currency: string; at: number } & MergeRecord)
  | { type: 'coupon_applied'; terms: CouponTerms; at: number }
  | { type: 'coupon_removed'; at: number }
  /** Bookkeeping (no new version): the cart is frozen for a checkout. */
  | { type: 'checkout_started'; key: string; fingerprint: string; orderId: string; checkAt: number; at: number }
  /** Bookkeeping: the checkout outlived its deadline; a driver is asked to resume it. */
  | { type: 'checkout_stalled'; orderId: string; checkAt: number; at: number }
  /** `forget`: the order was never created, so the key is dropped and a retry starts afresh. */
  | { type: 'checkout_ended'; orderId: string; placed: boolean; total: number; country: string; forget?: boolean; at: number };

/** What a `checkout` command answers: the frozen cart and what the saga needs to know. */
export interface CheckoutStart {
  orderId: string;
  /** True when the key was used before: the saga of `orderId` is the answer. */
  existing: boolean;
  cart: CartView;
  coupon?: CouponTerms;
  history: PurchaseHistory;
}

/** Reply type of each cart command: the cart, or for `checkout` what the saga needs. */
export type CartResults = { readonly [T in CartCommand['type']]: T extends 'checkout' ? CheckoutStart : CartView };

export function lineIndex(cart: Cart, sku: string): number {
  const items = cart.items;
  for (let i = 0; i < items.length; i++) if (items[i].sku === sku) return i;
  return -1;
}

export function subtotalOf(cart: Cart): number {
  let subtotal = 0;
  for (const l of cart.items) subtotal += l.qty * l.unitPrice;
  return subtotal;
}
