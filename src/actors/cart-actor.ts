// The cart actor: one per user, single writer. Prices and stock come in with the command (the
// edge reads them from the committed catalog view), so decide stays pure.
import { accept, reject, unchanged, type ActorType, type Decision, type DomainEvent, type ShardContext } from './actor.js';
import { couponApplies, totalsFor, type PricingConfig } from './pricing.js';
import { Limits } from '../protocol/errors.js';
import type { CartLineView, CartView } from '../protocol/types.js';
import { DEFAULT_CURRENCY } from './money.js';
import { shared } from './shared-strings.js';
import { checkout, merge } from './cart-checkout.js';
import {
  ATTEMPTS_KEPT,
  COUNTRIES_KEPT,
  KEYS_KEPT,
  MERGES_KEPT,
  lineIndex,
  subtotalOf,
  type Cart,
  type CartCommand,
  type CartEvent,
  type CartLine,
  type CartResults,
  type CheckoutStart,
  type ItemInfo,
  type LineFacts,
} from './cart.js';

export type { Cart, CartCommand, CartEvent, CartLine, CartResults, CheckoutStart, ItemInfo, MergeLine } from './cart.js';

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
  return accept([{ type: 'line_set', sku, productId: item.productId, name: item.name, qty, unitPrice: item.unitPrice, currency: item.currency, at: now }]);
}

const FROZEN_OK: ReadonlySet<string> = new Set(['get', 'checkout', 'checkoutEnded', 'reprice', 'timer']);
/** Longest wait between two resume requests of a stalled checkout. */
const MAX_STALL_BACKOFF_MS = 60_000;

export function decide(cart: Cart, c: CartCommand, now: number, ctx: ShardContext): Decision<CartEvent> {
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
    (out ??= []).push({
      type: 'line_set',
      sku: l.sku,
      productId: live.productId,
      name: live.name,
      qty: l.qty,
      unitPrice: live.unitPrice,
      currency: live.currency,
      at: now,
    });
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
      return accept([
        { type: 'checkout_ended', orderId: c.orderId, placed: c.placed, total: c.total, country: c.country, ...(c.forget ? { forget: true } : {}), at: now },
      ]);
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

function setLineFacts(cart: Cart, l: LineFacts): void {
  const i = lineIndex(cart, l.sku);
  const line: CartLine = { sku: shared(l.sku), productId: shared(l.productId), name: shared(l.name), qty: l.qty, unitPrice: l.unitPrice };
  if (i < 0) cart.items = withLine(cart.items, line);
  else cart.items[i] = line;
}

/**
 * A copy of `items` with `line` added, exactly as long as it needs to be: a push would grow the
 * array's store to 17 slots at once, ~130 bytes per cart that a node holding a million carts pays
 * for nothing.
 */
function withLine(items: readonly CartLine[], line: CartLine): CartLine[] {
  const out = new Array<CartLine>(items.length + 1);
  for (let i = 0; i < items.length; i++) out[i] = items[i];
  out[items.length] = line;
  return out;
}

export function apply(cart: Cart, e: CartEvent): Cart {
  switch (e.type) {
    case 'line_set':
      setLineFacts(cart, e);
      cart.currency = shared(e.currency);
      break;
    case 'line_removed': {
      const i = lineIndex(cart, e.sku);
      if (i >= 0) cart.items = cart.items.filter((_, j) => j !== i); // exact size, as withLine
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
function replyView(cart: Cart, c: CartCommand, ctx: ShardContext): CartView | CheckoutStart {
  const v = view(cart, ctx.pricing);
  if (c.type !== 'checkout') return v;
  const key = cart.keys!.find((k) => k.key === c.key)!;
  const start: CheckoutStart = { orderId: key.orderId, existing: key.orderId !== c.orderId, cart: v, history: cart.history! };
  if (cart.coupon) start.coupon = cart.coupon;
  return start;
}

export function view(cart: Cart, pricing: PricingConfig): CartView {
  let subtotal = 0;
  const items = new Array<CartLineView>(cart.items.length);
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

export const CartActor: ActorType<Cart, CartCommand, CartEvent, CartResults> = {
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
