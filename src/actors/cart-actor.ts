// The cart actor: one per user, single writer. Prices and stock come in with the command (the
// edge reads them from the committed catalog view), so decide stays pure.
import { accept, reject, unchanged, type ActorType, type Decision } from './actor.js';
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
  | { type: 'merge'; guestId: string; guestVersion: number; lines: MergeLine[] };

type LineFacts = Pick<CartLine, 'sku' | 'productId' | 'name' | 'qty' | 'unitPrice'>;

export type CartEvent =
  | { type: 'line_set'; sku: string; productId: string; name: string; qty: number; unitPrice: number; currency: string; at: number }
  | { type: 'line_removed'; sku: string; at: number }
  | { type: 'cleared'; at: number; mergedInto?: string }
  | ({ type: 'merged'; lines: LineFacts[]; currency: string; at: number } & MergeRecord);

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

export function decide(cart: Cart, c: CartCommand, now: number): Decision<CartEvent> {
  switch (c.type) {
    case 'get':
      return unchanged();
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
  }
  cart.version++;
  cart.updatedAt = e.at;
  return cart;
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
  // Coupons, tax and shipping arrive with the commerce issue; the totals formula is already final.
  const discount = 0;
  const tax = 0;
  const shipping = 0;
  return {
    cartId: `cart_${cart.userId}`,
    userId: cart.userId,
    version: cart.version,
    currency: cart.currency,
    items,
    subtotal,
    discount,
    tax,
    shipping,
    total: subtotal - discount + tax + shipping,
    updatedAt: cart.updatedAt,
  };
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
  view,
  snapshot: (cart) => cart,
  restore(_id, data) {
    // Replayed as events so the shared strings apply to restored lines too.
    const d = data as Cart;
    const cart = create(d.userId);
    for (const l of d.items) apply(cart, { type: 'line_set', ...l, currency: d.currency, at: d.updatedAt });
    cart.version = d.version;
    cart.updatedAt = d.updatedAt;
    if (d.merges) cart.merges = d.merges;
    return cart;
  },
};
