// The cart actor: one per user, single writer. Prices and stock come in with the command (the
// edge reads them from the committed catalog view), so decide stays pure.
import { accept, reject, unchanged, NO_CONTEXT, type ActorType, type Decision, type DomainEvent, type ShardContext } from './actor.js';
import { DEFAULT_PRICING, couponApplies, totalsFor, type CouponTerms, type PricingConfig } from './pricing.js';
import { Limits } from '../protocol/errors.js';
import type { CartView } from '../protocol/types.js';
import { DEFAULT_CURRENCY } from './money.js';
import { shared } from './shared-strings.js';

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
const KEYS_KEPT = 50;
const ATTEMPTS_KEPT = 20;
const COUNTRIES_KEPT = 10;

let pricing: PricingConfig = DEFAULT_PRICING;
/** Tax and shipping rules of this process (config TAX_RATES, SHIPPING_*), set once at start. */
export function configurePricing(cfg: PricingConfig): void {
  pricing = cfg;
}

/** A guest cart merged into this one: its id, the version merged and its quantities then. */
export interface MergeRecord {
  guestId: string;
  guestVersion: number;
  /** [sku, qty] of the guest cart at that version (pairs, not an object: a sku may be "__proto__"). */
  guestQty: [string, number][];
}

/** Guest merges remembered per cart; a retry comes right after a crash, never 4 logins later. */
const MERGES_KEPT = 4;

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

type LineFacts = Pick<CartLine, 'sku' | 'productId' | 'name' | 'qty' | 'unitPrice'>;

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

function lineIndex(cart: Cart, sku: string): number {
  const items = cart.items;
  for (let i = 0; i < items.length; i++) if (items[i].sku === sku) return i;
  return -1;
}

function setLine(cart: Cart, sku: string, qty: number, item: ItemInfo, now: number): Decision<CartEvent> {
  const i = lineIndex(cart, sku);
  if (i < 0 && cart.items.length >= Limits.CART_MAX_LINES) {
    return reject('LIMIT_EXCEEDED', `a cart holds at most ${Limits.CART_MAX_LINES} lines`, { maxLines: Limits.CART_MAX_LINES });
  }
  if (cart.items.length > 0 && item.currency !== cart.currency) {
    return reject('CONFLICT', `cart is in ${cart.currency}, ${sku} is priced in ${item.currency}`, { currency: cart.currency });
  }
  if (qty > item.available) {
    return reject('OUT_OF_STOCK', `only ${item.available} of ${sku} available`, { sku, available: item.available });
  }
  const line = i < 0 ? undefined : cart.items[i];
  if (line && line.qty === qty && line.unitPrice === item.unitPrice && line.name === item.name) return unchanged();
  return accept([
    { type: 'line_set', sku, productId: item.productId, name: item.name, qty, unitPrice: item.unitPrice, currency: item.currency, at: now },
  ]);
}

const FROZEN_OK: ReadonlySet<string> = new Set(['get', 'checkout', 'checkoutEnded', 'reprice', 'timer']);
/** Longest wait between two resume requests of a stalled checkout. */
const MAX_STALL_BACKOFF_MS = 60_000;

export function decide(cart: Cart, c: CartCommand, now: number, ctx: ShardContext = NO_CONTEXT): Decision<CartEvent> {
  if (cart.checkout && !FROZEN_OK.has(c.type)) {
    return reject('CONFLICT', 'a checkout of this cart is in progress', { orderId: cart.checkout.orderId });
  }
  if (c.type === 'reprice') return accept(oneVersion(reprice(cart, ctx, now), false));
  const d = decideChange(cart, c, now, ctx);
  if (d.error || d.events.length === 0 || c.type === 'checkoutEnded' || c.type === 'timer') return d;
  // Live prices: a change also moves every other line to the sku's current price, in the same
  // version (one change, one version, one push).
  const skip = 'sku' in c ? c.sku : undefined;
  const repriced = reprice(cart, ctx, now, skip);
  if (repriced.length === 0) return d;
  const bookkeeping = d.events.length === 1 && d.events[0].type === 'checkout_started';
  return accept([...oneVersion(repriced, !bookkeeping), ...d.events]);
}

/** Marks repricing events quiet so that the change they belong to moves the version once. */
function oneVersion(events: CartEvent[], allQuiet: boolean): CartEvent[] {
  events.forEach((e, i) => {
    if (e.type === 'line_set' && (allQuiet || i < events.length - 1)) e.quiet = true;
  });
  return events;
}

/** line_set events for lines whose live price or name differs from what the cart holds. */
function reprice(cart: Cart, ctx: ShardContext, now: number, skip?: string): CartEvent[] {
  let out: CartEvent[] | undefined;
  for (const l of cart.items) {
    if (l.sku === skip) continue;
    const live = ctx.item(l.sku);
    if (!live || !live.active || live.currency !== cart.currency || (live.unitPrice === l.unitPrice && live.name === l.name)) continue;
    (out ??= []).push({ type: 'line_set', sku: l.sku, productId: live.productId, name: live.name, qty: l.qty, unitPrice: live.unitPrice, currency: live.currency, at: now });
  }
  return out ?? [];
}

function decideChange(cart: Cart, c: CartCommand, now: number, ctx: ShardContext): Decision<CartEvent> {
  switch (c.type) {
    case 'get':
    case 'reprice':
      return unchanged();
    case 'applyCoupon': {
      const subtotal = subtotalOf(cart);
      const ok = couponApplies(c.terms, subtotal, cart.currency, now);
      if (!ok.ok) return reject('CONFLICT', `coupon ${c.terms.code} does not apply: ${ok.reason}`, { code: c.terms.code, reason: ok.reason, ...ok.details });
      return accept([{ type: 'coupon_applied', terms: c.terms, at: now }]);
    }
    case 'removeCoupon':
      return cart.coupon ? accept([{ type: 'coupon_removed', at: now }]) : unchanged();
    case 'checkout':
      return checkout(cart, c, now, ctx);
    case 'timer': {
      const co = cart.checkout;
      if (!co || co.checkAt > now) return unchanged();
      const backoff = Math.min(MAX_STALL_BACKOFF_MS, 1000 * 2 ** Math.min(co.stalls, 6));
      return accept([{ type: 'checkout_stalled', orderId: co.orderId, checkAt: now + backoff, at: now }]);
    }
    case 'checkoutEnded':
      if (cart.checkout?.orderId !== c.orderId) return unchanged(); // ended before (a resumed saga)
      return accept([{ type: 'checkout_ended', orderId: c.orderId, placed: c.placed, total: c.total, country: c.country, ...(c.forget ? { forget: true } : {}), at: now }]);
    case 'add': {
      const i = lineIndex(cart, c.sku);
      const qty = (i < 0 ? 0 : cart.items[i].qty) + c.qty;
      if (qty > Limits.LINE_MAX_QTY) {
        return reject('LIMIT_EXCEEDED', `a line holds at most ${Limits.LINE_MAX_QTY}`, { sku: c.sku, maxQty: Limits.LINE_MAX_QTY });
      }
      return setLine(cart, c.sku, qty, c.item, now);
    }
    case 'setQty': {
      if (c.qty === 0) return lineIndex(cart, c.sku) < 0 ? unchanged() : accept([{ type: 'line_removed', sku: c.sku, at: now }]);
      if (!c.item) return reject('NOT_FOUND', `unknown sku ${c.sku}`, { sku: c.sku });
      return setLine(cart, c.sku, c.qty, c.item, now);
    }
    case 'remove':
      return lineIndex(cart, c.sku) < 0 ? unchanged() : accept([{ type: 'line_removed', sku: c.sku, at: now }]);
    case 'clear':
      if (cart.items.length === 0 || (c.ifVersion !== undefined && c.ifVersion !== cart.version)) return unchanged();
      return accept([c.mergedInto === undefined ? { type: 'cleared', at: now } : { type: 'cleared', at: now, mergedInto: c.mergedInto }]);
    case 'merge':
      return merge(cart, c, now);
  }
}

/**
 * A guest cart merges in: quantities of the same sku add up, within the limits (999 per line,
 * 100 lines, the available stock, the cart's currency), at today's catalog price. Lines that do
 * not fit are left out. The merge is one event that also records the guest id, version and
 * quantities, so the same merge sent twice (a retry after a crash) adds nothing, and a later
 * merge of the same guest adds only what its cart gained since.
 */
function merge(cart: Cart, c: Extract<CartCommand, { type: 'merge' }>, now: number): Decision<CartEvent> {
  const prior = cart.merges?.find((m) => m.guestId === c.guestId);
  if (prior && prior.guestVersion >= c.guestVersion) return unchanged();
  const before = new Map(prior?.guestQty);
  let currency = cart.items.length > 0 ? cart.currency : undefined;
  let lineCount = cart.items.length;
  const lines: LineFacts[] = [];
  for (const l of c.lines) {
    const add = l.qty - (before.get(l.sku) ?? 0);
    const item = l.item;
    if (add <= 0 || !item || (currency !== undefined && item.currency !== currency)) continue;
    const line = cart.items[lineIndex(cart, l.sku)] as CartLine | undefined;
    if (!line && lineCount >= Limits.CART_MAX_LINES) continue;
    const have = line ? line.qty : 0;
    // Never below what the account already holds; never above the line limit or the stock.
    const qty = Math.max(have, Math.min(have + add, Limits.LINE_MAX_QTY, item.available));
    if (qty === 0 || (line && line.qty === qty && line.unitPrice === item.unitPrice && line.name === item.name)) continue;
    if (!line) lineCount++;
    currency ??= item.currency;
    lines.push({ sku: l.sku, productId: item.productId, name: item.name, qty, unitPrice: item.unitPrice });
  }
  if (lines.length === 0) return unchanged();
  const guestQty = c.lines.map((l): [string, number] => [l.sku, l.qty]);
  return accept([{ type: 'merged', guestId: c.guestId, guestVersion: c.guestVersion, guestQty, lines, currency: currency!, at: now }]);
}

function checkout(cart: Cart, c: Extract<CartCommand, { type: 'checkout' }>, now: number, ctx: ShardContext): Decision<CartEvent> {
  const known = cart.keys?.find((k) => k.key === c.key);
  if (known) {
    if (known.fingerprint !== c.fingerprint || !known.versions.includes(cart.version)) {
      return reject('CONFLICT', 'this idempotencyKey was used for another checkout (a different cart or payment)', { idempotencyKey: c.key, orderId: known.orderId });
    }
    return unchanged(); // the view names the order of that key
  }
  if (cart.checkout) return reject('CONFLICT', 'a checkout of this cart is in progress', { orderId: cart.checkout.orderId });
  if (cart.items.length === 0) return reject('CART_EMPTY', 'the cart is empty');
  // Only what is still sold, as it is sold now (lines carry the price of their last change).
  for (const l of cart.items) {
    const live = ctx.item(l.sku);
    if (live && !live.active) return reject('NOT_FOUND', `${l.sku} is no longer sold; remove it from the cart`, { sku: l.sku });
    if (live && live.currency !== cart.currency) return reject('CONFLICT', `${l.sku} is now priced in ${live.currency}, the cart in ${cart.currency}`, { sku: l.sku, currency: live.currency });
  }
  return accept([{ type: 'checkout_started', key: c.key, fingerprint: c.fingerprint, orderId: c.orderId, checkAt: now + c.deadlineMs, at: now }]);
}

function subtotalOf(cart: Cart): number {
  let subtotal = 0;
  for (const l of cart.items) subtotal += l.qty * l.unitPrice;
  return subtotal;
}

function setLineFacts(cart: Cart, l: LineFacts): void {
  const i = lineIndex(cart, l.sku);
  const line: CartLine = { sku: shared(l.sku), productId: shared(l.productId), name: shared(l.name), qty: l.qty, unitPrice: l.unitPrice };
  if (i < 0) cart.items.push(line);
  else cart.items[i] = line;
}

export function apply(cart: Cart, e: CartEvent): Cart {
  switch (e.type) {
    case 'line_set':
      setLineFacts(cart, e);
      cart.currency = shared(e.currency);
      break;
    case 'line_removed': {
      const i = lineIndex(cart, e.sku);
      if (i >= 0) cart.items.splice(i, 1);
      break;
    }
    case 'cleared':
      cart.items = [];
      break;
    case 'merged': {
      for (const l of e.lines) setLineFacts(cart, l);
      cart.currency = shared(e.currency);
      const kept = (cart.merges ?? []).filter((m) => m.guestId !== e.guestId).slice(-(MERGES_KEPT - 1));
      kept.push({ guestId: e.guestId, guestVersion: e.guestVersion, guestQty: e.guestQty });
      cart.merges = kept;
      break;
    }
    case 'coupon_applied':
      cart.coupon = e.terms;
      break;
    case 'coupon_removed':
      cart.coupon = undefined;
      break;
    case 'checkout_started': {
      cart.checkout = { orderId: e.orderId, key: e.key, checkAt: e.checkAt, stalls: 0 };
      const keys = (cart.keys ??= []);
      keys.push({ key: e.key, fingerprint: e.fingerprint, orderId: e.orderId, versions: [cart.version] });
      if (keys.length > KEYS_KEPT) keys.shift();
      const h = (cart.history ??= { orders: 0, spent: 0, attempts: [], countries: [] });
      h.attempts.push(e.at);
      if (h.attempts.length > ATTEMPTS_KEPT) h.attempts.shift();
      return cart; // bookkeeping: the cart's content and version are unchanged
    }
    case 'checkout_stalled':
      if (cart.checkout) {
        cart.checkout.checkAt = e.checkAt;
        cart.checkout.stalls++;
      }
      return cart;
    case 'checkout_ended': {
      cart.checkout = undefined;
      if (e.forget && cart.keys) cart.keys = cart.keys.filter((k) => k.orderId !== e.orderId);
      if (!e.placed) return cart;
      const h = (cart.history ??= { orders: 0, spent: 0, attempts: [], countries: [] });
      h.orders++;
      h.spent += e.total;
      if (!h.countries.includes(e.country)) h.countries.push(e.country);
      if (h.countries.length > COUNTRIES_KEPT) h.countries.shift();
      cart.items = [];
      cart.coupon = undefined;
      cart.version++;
      cart.updatedAt = e.at;
      // A retry of this checkout's key after the cart emptied still names the same order.
      cart.keys?.find((k) => k.orderId === e.orderId)?.versions.push(cart.version);
      return cart;
    }
  }
  if (e.type !== 'line_set' || !e.quiet) cart.version++;
  cart.updatedAt = e.at;
  return cart;
}

/** The reply of a command: the cart, or for `checkout` what the saga needs. */
function replyView(cart: Cart, c?: CartCommand): CartView | CheckoutStart {
  const v = view(cart);
  if (c?.type !== 'checkout') return v;
  const key = cart.keys!.find((k) => k.key === c.key)!;
  const start: CheckoutStart = { orderId: key.orderId, existing: key.orderId !== c.orderId, cart: v, history: cart.history! };
  if (cart.coupon) start.coupon = cart.coupon;
  return start;
}

export function view(cart: Cart): CartView {
  let subtotal = 0;
  const items = new Array(cart.items.length);
  for (let i = 0; i < cart.items.length; i++) {
    const l = cart.items[i];
    const lineTotal = l.qty * l.unitPrice;
    subtotal += lineTotal;
    items[i] = { sku: l.sku, productId: l.productId, name: l.name, qty: l.qty, unitPrice: l.unitPrice, lineTotal };
  }
  // Before checkout there is no address: tax is the default country's (checkout recomputes it).
  // The coupon's expiry is judged at the cart's last change; checkout judges it again.
  const t = totalsFor(subtotal, cart.coupon, cart.currency, undefined, cart.updatedAt, pricing);
  const v: CartView = {
    cartId: `cart_${cart.userId}`,
    userId: cart.userId,
    version: cart.version,
    currency: cart.currency,
    items,
    subtotal,
    discount: t.discount,
    tax: t.tax,
    shipping: t.shipping,
    total: t.total,
    updatedAt: cart.updatedAt,
  };
  if (cart.coupon) v.coupon = cart.coupon.code;
  return v;
}

/** product_added_to_cart / product_removed_from_cart from a line change (the state is the one before it). */
function cartDomainEvent(before: Cart, e: CartEvent): DomainEvent | undefined {
  // Not a business fact: the signal a driver listens for to resume this cart's checkout.
  if (e.type === 'checkout_stalled') return { name: 'checkout_stalled', data: { userId: before.userId, orderId: e.orderId, at: e.at } };
  if (e.type !== 'line_set' && e.type !== 'line_removed') return undefined;
  const i = lineIndex(before, e.sku);
  const had = i < 0 ? 0 : before.items[i].qty;
  const qty = e.type === 'line_set' ? e.qty : 0;
  if (qty === had) return undefined;
  const productId = e.type === 'line_set' ? e.productId : before.items[i].productId;
  const name = qty > had ? 'product_added_to_cart' : 'product_removed_from_cart';
  return { name, data: { userId: before.userId, sku: e.sku, productId, qty: Math.abs(qty - had), at: e.at } };
}

export function create(userId: string): Cart {
  return { userId, version: 0, currency: DEFAULT_CURRENCY, items: [], updatedAt: 0 };
}

export const CartActor: ActorType<Cart, CartCommand, CartEvent> = {
  kind: 'cart',
  pushName: 'cart.updated',
  create,
  decide,
  apply,
  view: replyView,
  version: (cart) => cart.version,
  nextTimer: (cart) => cart.checkout?.checkAt,
  domain: cartDomainEvent,
  snapshot: (cart) => cart,
  restore(_id, data) {
    // Replayed as events so the shared strings apply to restored lines too.
    const d = data as Cart;
    const cart = create(d.userId);
    for (const l of d.items) apply(cart, { type: 'line_set', ...l, currency: d.currency, at: d.updatedAt });
    cart.version = d.version;
    cart.updatedAt = d.updatedAt;
    if (d.merges) cart.merges = d.merges;
    if (d.coupon) cart.coupon = d.coupon;
    if (d.checkout) cart.checkout = d.checkout;
    if (d.keys) cart.keys = d.keys;
    if (d.history) cart.history = d.history;
    return cart;
  },
};
