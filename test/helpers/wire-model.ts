// The in-test model of test/model-wire.test.ts: what two guest shoppers and one admin may expect
// from the server over the wire, on a small catalog the test creates itself. Plain data (so a
// candidate state is a structuredClone away) and pure functions: `predict` says which answers a
// write may get and what each does to the model; `stateDiff` compares the model with what the
// server shows. The rules are those of docs/protocol.md, written here independently of src/
// (the model must not share the server's bugs): cart lines and totals, stock checks against
// committed availability, coupons and their redemptions, the checkout saga's outcomes (empty cart,
// coupon refused, a line short of stock, fraud, a declined card, success) and idempotency keys.
import assert from 'node:assert/strict';
import type { CartView, InventoryView, OrderView } from '../../src/protocol/types.js';
import type { OpName } from '../../src/protocol/ops.js';

export const SKUS = ['mw-tee', 'mw-mug', 'mw-cap'] as const;
/** A well-formed sku that is in no product: NOT_FOUND for adds and adjustments. */
export const GHOST_SKU = 'mw-ghost';
/** A sku never in any cart: `cart.remove` of it changes nothing, or answers CONFLICT while the cart is frozen. */
export const PROBE_SKU = 'mw-probe';
export const PRICE: Readonly<Record<string, number>> = { 'mw-tee': 1250, 'mw-mug': 799, 'mw-cap': 2400 };
export const productName = (sku: string): string => `Model ${sku}`;
export const CURRENCY = 'USD';
export const SHIP_TO = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
/** docs/protocol.md "Totals": GB 20% on orders; carts use DEFAULT_COUNTRY (US, 0%). */
const ORDER_TAX_BP = 2000;
const SHIPPING_FLAT = 499;
const FREE_SHIPPING_MIN = 5000;
const LINE_MAX_QTY = 999;

export interface Terms {
  percentOff?: number;
  amountOff?: number;
  minSubtotal?: number;
  expiresAt?: number;
  maxRedemptions?: number;
}

/** Coupon codes and the terms an upsert may give each (variant index). */
export const COUPONS: Readonly<Record<string, readonly Terms[]>> = {
  MW10: [{ percentOff: 10 }, { percentOff: 15, minSubtotal: 2000 }],
  MWBIG: [{ amountOff: 700, minSubtotal: 3000 }, { amountOff: 300 }],
  MWONE: [
    { percentOff: 30, maxRedemptions: 1 },
    { percentOff: 30, maxRedemptions: 2 },
  ],
  // Expired since 1970, or not at all.
  MWOLD: [{ percentOff: 50, expiresAt: 1 }, { percentOff: 20 }],
};
export const COUPON_CODES = Object.keys(COUPONS);
/** Never upserted: applyCoupon answers NOT_FOUND. */
export const UNKNOWN_COUPON = 'MWNOPE';

export type Card = 'tok_visa' | 'tok_chargeDeclined';

export interface Line {
  sku: string;
  qty: number;
  unitPrice: number;
}

export interface CartModel {
  version: number;
  lines: Line[];
  coupon?: { code: string; terms: Terms };
}

export interface SkuModel {
  onHand: number;
  /** Units the acknowledged inventory transactions brought in (adjustments count their delta). */
  received: number;
  /** Units of confirmed orders. */
  sold: number;
  /** The highest version the server has shown: it may only grow. */
  seenVersion: number;
}

export interface CouponModel {
  terms?: Terms;
  redeemed: number;
}

export interface Totals {
  subtotal: number;
  discount: number;
  tax: number;
  shipping: number;
  total: number;
}

export interface OrderModel {
  orderId: string;
  user: number;
  status: 'confirmed' | 'cancelled';
  items: Line[];
  coupon?: string;
  totals: Totals;
  /** The failure code of a cancelled checkout. */
  failure?: string;
  /** Whether the fraud score flagged it for review (undefined: the model cannot tell). */
  flagged?: boolean;
}

/** An idempotency key the cart remembers: the checkout it names and the cart versions a retry may come at. */
export interface KeyModel {
  key: string;
  card: string;
  orderId: string;
  versions: number[];
  /** 'ok' or an error code. */
  outcome: string;
}

export interface UserModel {
  cart: CartModel;
  keys: KeyModel[];
  /** Earlier checkout attempts (fraud velocity), as a range once a crash made one uncertain. */
  attempts: [number, number];
  orders: number;
  spent: number;
}

export interface Model {
  users: UserModel[];
  skus: Record<string, SkuModel>;
  coupons: Record<string, CouponModel>;
  orders: Record<string, OrderModel>;
}

export function initialModel(users: number, stock: readonly number[], skuVersions: readonly number[]): Model {
  const skus: Record<string, SkuModel> = {};
  SKUS.forEach((sku, i) => (skus[sku] = { onHand: stock[i], received: stock[i], sold: 0, seenVersion: skuVersions[i] }));
  const coupons: Record<string, CouponModel> = {};
  for (const code of COUPON_CODES) coupons[code] = { terms: { ...COUPONS[code][0] }, redeemed: 0 };
  return {
    users: Array.from({ length: users }, () => ({ cart: { version: 0, lines: [] }, keys: [], attempts: [0, 0], orders: 0, spent: 0 })),
    skus,
    coupons,
    orders: {},
  };
}

// ---- steps ----

export type WriteStep =
  | { kind: 'add'; u: number; sku: string; qty: number }
  | { kind: 'setQty'; u: number; sku: string; qty: number }
  | { kind: 'remove'; u: number; sku: string }
  | { kind: 'clear'; u: number }
  | { kind: 'adjust'; sku: string; type: 'purchase' | 'sale' | 'adjustment'; qty: number }
  | { kind: 'couponUpsert'; code: string; variant: number }
  | { kind: 'applyCoupon'; u: number; code: string }
  | { kind: 'removeCoupon'; u: number }
  | { kind: 'checkout'; u: number; card: Card }
  /** The user's last checkout again: same key, same card. */
  | { kind: 'retryCheckout'; u: number };

export type Who = number | 'admin';

export interface Request {
  who: Who;
  op: OpName;
  args: Record<string, unknown>;
}

/** One answer as the test sees it: a result or a server error (the SDK's own failures are not answers). */
export type Answer = { ok: true; result: unknown } | { ok: false; code: string; message: string; details: Record<string, unknown> };

/** A possible answer to a request and what it does to the model. */
export interface Expect {
  /** 'ok' or the error code. */
  outcome: string;
  /**
   * Checks the answer against the prediction (throws) and returns the model after it. `observed`:
   * the answer was not received but rebuilt from what the server shows after a crash (no reply
   * body to check beyond it).
   */
  accept(m: Model, a: Answer, observed?: boolean): Model;
  /** Whether this outcome changes the carts or the stock. */
  changes: boolean;
  /** Only after a crash: a checkout the restarted server found unfinished and cancelled. */
  crashOnly?: true;
}

export interface Prediction {
  req: Request;
  expects: Expect[];
}

// ---- pricing (docs/protocol.md "Totals") ----

const halfUp = (a: number, b: number, d: number): number => Math.floor((2 * a * b + d) / (2 * d));

/** Why terms do not apply to a subtotal now, or undefined when they do (expiry, then minSubtotal; everything is USD). */
export function refusal(t: Terms, subtotal: number): 'expired' | 'min_subtotal' | undefined {
  if (t.expiresAt !== undefined && Date.now() >= t.expiresAt) return 'expired';
  if (t.minSubtotal !== undefined && subtotal < t.minSubtotal) return 'min_subtotal';
  return undefined;
}

function discountOf(t: Terms | undefined, subtotal: number): number {
  if (!t || subtotal <= 0 || refusal(t, subtotal)) return 0;
  return t.percentOff !== undefined ? halfUp(subtotal, t.percentOff, 100) : Math.min(t.amountOff!, subtotal);
}

export function totalsOf(lines: readonly Line[], terms: Terms | undefined, taxBp: number): Totals {
  const subtotal = lines.reduce((s, l) => s + l.qty * l.unitPrice, 0);
  if (subtotal === 0) return { subtotal: 0, discount: 0, tax: 0, shipping: 0, total: 0 };
  const discount = discountOf(terms, subtotal);
  const taxable = subtotal - discount;
  const tax = halfUp(taxable, taxBp, 10_000);
  const shipping = taxable >= FREE_SHIPPING_MIN ? 0 : SHIPPING_FLAT;
  return { subtotal, discount, tax, shipping, total: taxable + tax + shipping };
}

// ---- fraud (the rules of src/actors/fraud.ts as docs/protocol.md names them; a guest, always GB) ----

const ramp = (x: number, start: number, full: number): number => (x <= start ? 0 : x >= full ? 1 : (x - start) / (full - start));

/** The risk score of a guest's checkout with `earlier` attempts in the last 10 minutes. */
export function riskScore(u: UserModel, amount: number, earlier: number): number {
  const parts: number[] = [];
  const add = (weight: number, factor: number) => {
    if (factor > 0) parts.push(weight * factor);
  };
  if (u.orders > 0) add(0.45, ramp(amount / Math.max(u.spent / u.orders, 5000), 3, 10));
  else add(0.45, ramp(amount, 50_000, 200_000));
  // The cart keeps the last 20 attempts, this one included.
  const n = Math.min(earlier, 19);
  add(0.35, Math.max(ramp(n, 3, 6), ramp(n, 5, 10)));
  add(0.2, 1); // guest
  // Always shipped to GB: never an address mismatch.
  const sum = parts.reduce((s, p) => s + p, 0);
  return Math.round(Math.min(1, Math.max(0, sum)) * 1000) / 1000;
}

const decision = (score: number): 'approve' | 'review' | 'reject' => (score > 0.8 ? 'reject' : score >= 0.5 ? 'review' : 'approve');

// ---- predictions ----

const clone = <T>(x: T): T => structuredClone(x);
const lineOf = (c: CartModel, sku: string): Line | undefined => c.lines.find((l) => l.sku === sku);

function fail(outcome: string, check?: (details: Record<string, unknown>, m: Model) => void, then?: (m: Model, a: Answer) => void): Expect {
  return {
    outcome,
    changes: false,
    accept(m, a) {
      assert.ok(!a.ok);
      check?.(a.details, m);
      if (!then) return m;
      const next = clone(m);
      then(next, a);
      return next;
    },
  };
}

/** A change of user u's cart: `edit` applies it to a copy; the reply must be that cart. */
function cartChange(u: number, changed: boolean, edit: (c: CartModel) => void): Expect {
  return {
    outcome: 'ok',
    changes: changed,
    accept(m, a, observed) {
      const next = clone(m);
      const cart = next.users[u].cart;
      if (changed) {
        edit(cart);
        cart.version++;
      }
      if (!observed) assertCart(a.ok ? (a.result as CartView) : undefined, cart, `reply to user ${u}`);
      return next;
    },
  };
}

function setLine(c: CartModel, sku: string, qty: number): void {
  const l = lineOf(c, sku);
  if (l) l.qty = qty;
  else c.lines.push({ sku, qty, unitPrice: PRICE[sku] });
}

const removeLine = (c: CartModel, sku: string): void => void (c.lines = c.lines.filter((l) => l.sku !== sku));

const outOfStock = (sku: string, available: number) =>
  fail('OUT_OF_STOCK', (d) => assert.deepEqual({ sku: d.sku, available: d.available }, { sku, available }, 'OUT_OF_STOCK details'));

/** The request of a step and every answer the model allows for it. `key`: the idempotency key of a checkout. */
export function predict(m: Model, s: WriteStep, key: { key: string; card: Card }): Prediction {
  switch (s.kind) {
    case 'add': {
      const req: Request = { who: s.u, op: 'cart.add', args: { sku: s.sku, qty: s.qty } };
      if (!(s.sku in PRICE)) return { req, expects: [fail('NOT_FOUND')] };
      const qty = (lineOf(m.users[s.u].cart, s.sku)?.qty ?? 0) + s.qty;
      if (qty > LINE_MAX_QTY) return { req, expects: [fail('LIMIT_EXCEEDED')] };
      const available = m.skus[s.sku].onHand;
      if (qty > available) return { req, expects: [outOfStock(s.sku, available)] };
      return { req, expects: [cartChange(s.u, true, (c) => setLine(c, s.sku, qty))] };
    }
    case 'setQty': {
      const req: Request = { who: s.u, op: 'cart.setQty', args: { sku: s.sku, qty: s.qty } };
      const line = lineOf(m.users[s.u].cart, s.sku);
      if (s.qty === 0) return { req, expects: [cartChange(s.u, line !== undefined, (c) => removeLine(c, s.sku))] };
      if (!(s.sku in PRICE)) return { req, expects: [fail('NOT_FOUND')] };
      const available = m.skus[s.sku].onHand;
      // The stock check comes before "same quantity, nothing to do".
      if (s.qty > available) return { req, expects: [outOfStock(s.sku, available)] };
      return { req, expects: [cartChange(s.u, line?.qty !== s.qty, (c) => setLine(c, s.sku, s.qty))] };
    }
    case 'remove': {
      const req: Request = { who: s.u, op: 'cart.remove', args: { sku: s.sku } };
      return { req, expects: [cartChange(s.u, lineOf(m.users[s.u].cart, s.sku) !== undefined, (c) => removeLine(c, s.sku))] };
    }
    case 'clear': {
      const req: Request = { who: s.u, op: 'cart.clear', args: {} };
      return { req, expects: [cartChange(s.u, m.users[s.u].cart.lines.length > 0, (c) => (c.lines = []))] };
    }
    case 'removeCoupon': {
      const req: Request = { who: s.u, op: 'cart.removeCoupon', args: {} };
      return { req, expects: [cartChange(s.u, m.users[s.u].cart.coupon !== undefined, (c) => delete c.coupon)] };
    }
    case 'applyCoupon': {
      const req: Request = { who: s.u, op: 'cart.applyCoupon', args: { code: s.code } };
      const coupon = m.coupons[s.code] as CouponModel | undefined;
      const terms = coupon?.terms;
      if (!coupon || !terms) return { req, expects: [fail('NOT_FOUND')] };
      const reason = (want: string) => fail('CONFLICT', (d) => assert.equal(d.reason, want, 'applyCoupon CONFLICT reason'));
      if (terms.maxRedemptions !== undefined && coupon.redeemed >= terms.maxRedemptions) return { req, expects: [reason('exhausted')] };
      const why = refusal(terms, totalsOf(m.users[s.u].cart.lines, undefined, 0).subtotal);
      if (why) return { req, expects: [reason(why)] };
      // Applying always makes a new version, also with the same coupon.
      return { req, expects: [cartChange(s.u, true, (c) => (c.coupon = { code: s.code, terms: { ...terms } }))] };
    }
    case 'adjust':
      return predictAdjust(m, s);
    case 'couponUpsert': {
      const terms = COUPONS[s.code][s.variant];
      const req: Request = { who: 'admin', op: 'coupon.upsert', args: { code: s.code, ...terms } };
      const c = m.coupons[s.code];
      if (terms.maxRedemptions !== undefined && terms.maxRedemptions < c.redeemed) return { req, expects: [fail('CONFLICT')] };
      return {
        req,
        expects: [
          {
            outcome: 'ok',
            changes: true,
            accept(model, a, observed) {
              const next = clone(model);
              next.coupons[s.code].terms = { ...terms };
              if (!observed && a.ok) {
                const v = a.result as Record<string, unknown>;
                assert.deepEqual(
                  {
                    code: v.code,
                    percentOff: v.percentOff,
                    amountOff: v.amountOff,
                    minSubtotal: v.minSubtotal,
                    expiresAt: v.expiresAt,
                    maxRedemptions: v.maxRedemptions,
                    redeemed: v.redeemed,
                    held: v.held,
                  },
                  {
                    code: s.code,
                    percentOff: undefined,
                    amountOff: undefined,
                    minSubtotal: undefined,
                    expiresAt: undefined,
                    maxRedemptions: undefined,
                    ...terms,
                    redeemed: c.redeemed,
                    held: 0,
                  },
                  'coupon.upsert reply',
                );
              }
              return next;
            },
          },
        ],
      };
    }
    case 'checkout':
    case 'retryCheckout':
      return predictCheckout(m, s.u, key.key, key.card);
  }
}

function predictAdjust(m: Model, s: Extract<WriteStep, { kind: 'adjust' }>): Prediction {
  const req: Request = { who: 'admin', op: 'inventory.adjust', args: { sku: s.sku, type: s.type, qty: s.qty, reason: `model ${s.type}` } };
  if (!(s.sku in PRICE)) return { req, expects: [fail('NOT_FOUND')] };
  const k = m.skus[s.sku];
  let onHand: number;
  if (s.type === 'purchase') onHand = k.onHand + s.qty;
  else if (s.type === 'sale') {
    // Nothing is reserved between steps: a sale may take all on hand, not more.
    if (s.qty > k.onHand) return { req, expects: [fail('CONFLICT', (d) => assert.equal(d.onHand, k.onHand, 'CONFLICT details.onHand'))] };
    onHand = k.onHand - s.qty;
  } else onHand = s.qty;
  const changed = onHand !== k.onHand;
  return {
    req,
    expects: [
      {
        outcome: 'ok',
        changes: changed,
        accept(model, a, observed) {
          const next = clone(model);
          const n = next.skus[s.sku];
          n.received += onHand - n.onHand;
          n.onHand = onHand;
          if (!observed && a.ok) {
            const v = a.result as InventoryView;
            assert.deepEqual(
              { onHand: v.onHand, reserved: v.reserved, available: v.available },
              { onHand, reserved: 0, available: onHand },
              `inventory.adjust ${s.sku} reply`,
            );
            assert.ok(
              changed ? v.version > n.seenVersion : v.version >= n.seenVersion,
              `inventory.adjust ${s.sku}: version ${v.version} after ${n.seenVersion} (${changed ? 'a change' : 'no change'})`,
            );
            n.seenVersion = v.version;
          }
          return next;
        },
      },
    ],
  };
}

function predictCheckout(m: Model, u: number, key: string, card: Card): Prediction {
  const req: Request = { who: u, op: 'checkout', args: { idempotencyKey: key, payment: { token: card }, shippingAddress: SHIP_TO } };
  const user = m.users[u];
  const cart = user.cart;
  const known = user.keys.find((k) => k.key === key);
  if (known) {
    if (known.card !== card || !known.versions.includes(cart.version)) {
      return { req, expects: [fail('CONFLICT', (d) => assert.deepEqual(d, { idempotencyKey: key, orderId: known.orderId }, 'key reuse CONFLICT details'))] };
    }
    // The same checkout: its outcome again, nothing changes.
    if (known.outcome !== 'ok') return { req, expects: [fail(known.outcome, (d) => assert.equal(d.orderId, known.orderId, 'retried checkout: orderId'))] };
    return {
      req,
      expects: [
        {
          outcome: 'ok',
          changes: false,
          accept(model, a) {
            assert.ok(a.ok);
            const o = a.result as OrderView;
            assert.equal(o.orderId, known.orderId, 'retried checkout: the same order');
            assertOrder(o, model.orders[known.orderId], u, 'retried checkout');
            return model;
          },
        },
      ],
    };
  }
  if (cart.lines.length === 0) return { req, expects: [fail('CART_EMPTY')] };

  // From here the cart was frozen under the key: the attempt counts for the fraud velocity.
  const attempted = (next: Model) => {
    const a = next.users[u].attempts;
    next.users[u].attempts = [a[0] + 1, a[1] + 1];
  };
  const subtotal = totalsOf(cart.lines, undefined, 0).subtotal;
  let terms: Terms | undefined;
  if (cart.coupon) {
    const c = m.coupons[cart.coupon.code];
    terms = c.terms!;
    const why = refusal(terms, subtotal) ?? (terms.maxRedemptions !== undefined && c.redeemed >= terms.maxRedemptions ? 'exhausted' : undefined);
    if (why) {
      const code = cart.coupon.code;
      // Refused before the order exists: no order, the key is forgotten.
      return {
        req,
        expects: [
          fail(
            'CONFLICT',
            (d) =>
              assert.deepEqual({ code: d.code, reason: d.reason, orderId: d.orderId }, { code, reason: why, orderId: undefined }, 'coupon CONFLICT details'),
            attempted,
          ),
        ],
      };
    }
  }
  const items = clone(cart.lines);
  const totals = totalsOf(items, terms, ORDER_TAX_BP);
  const failedOrder = (code: string) => (next: Model, a: Answer) => {
    assert.ok(!a.ok);
    const orderId = a.details.orderId;
    assert.equal(typeof orderId, 'string', `${code}: details.orderId`);
    attempted(next);
    next.orders[orderId as string] = {
      orderId: orderId as string,
      user: u,
      status: 'cancelled',
      items,
      ...(cart.coupon ? { coupon: cart.coupon.code } : {}),
      totals,
      failure: code,
    };
    next.users[u].keys.push({ key, card, orderId: orderId as string, versions: [cart.version], outcome: code });
  };
  // Killed after its order existed and before the charge captured: the restarted server cancels it.
  const expects: Expect[] = [{ ...fail('INTERNAL', undefined, failedOrder('INTERNAL')), crashOnly: true }];
  const short = items.find((l) => l.qty > m.skus[l.sku].onHand);
  if (short) {
    const available = m.skus[short.sku].onHand;
    expects.push(
      fail(
        'OUT_OF_STOCK',
        (d) => assert.deepEqual({ sku: d.sku, available: d.available }, { sku: short.sku, available }, 'checkout OUT_OF_STOCK details'),
        failedOrder('OUT_OF_STOCK'),
      ),
    );
    return { req, expects };
  }
  // The score for each number of earlier attempts the model thinks possible (a crash may have
  // recorded one or not); the answer tells which it was.
  const byAttempts: { n: number; score: number }[] = [];
  for (let n = user.attempts[0]; n <= user.attempts[1]; n++) byAttempts.push({ n, score: riskScore(user, totals.total, n) });
  const passing = byAttempts.filter((x) => decision(x.score) !== 'reject');
  if (passing.length < byAttempts.length) expects.push(fail('FRAUD_SUSPECTED', undefined, failedOrder('FRAUD_SUSPECTED')));
  if (passing.length > 0) {
    if (card === 'tok_chargeDeclined') {
      expects.push(fail('PAYMENT_DECLINED', (d) => assert.equal(d.reason, 'card_declined', 'PAYMENT_DECLINED reason'), failedOrder('PAYMENT_DECLINED')));
    } else {
      expects.push({
        outcome: 'ok',
        changes: true,
        accept(model, a, observed) {
          assert.ok(a.ok);
          const o = a.result as OrderView;
          // A saga resumed after a crash confirms without scoring (riskScore null).
          const fits = observed ? passing : passing.filter((x) => x.score === o.payment.riskScore);
          assert.ok(fits.length > 0, `checkout riskScore ${o.payment.riskScore}, the model allows ${passing.map((x) => x.score).join(' or ')}`);
          const flags = new Set(fits.map((x) => decision(x.score) === 'review'));
          const next = clone(model);
          next.users[u].attempts = [fits[0].n + 1, fits[fits.length - 1].n + 1];
          const order: OrderModel = {
            orderId: o.orderId,
            user: u,
            status: 'confirmed',
            items,
            ...(cart.coupon ? { coupon: cart.coupon.code } : {}),
            totals,
            ...(flags.size === 1 ? { flagged: [...flags][0] } : {}),
          };
          assertOrder(o, order, u, observed ? 'the order a crashed checkout confirmed' : 'checkout reply');
          next.orders[o.orderId] = order;
          const nu = next.users[u];
          nu.keys.push({ key, card, orderId: o.orderId, versions: [cart.version, cart.version + 1], outcome: 'ok' });
          nu.orders++;
          nu.spent += totals.total;
          nu.cart = { version: cart.version + 1, lines: [] };
          for (const l of items) {
            next.skus[l.sku].onHand -= l.qty;
            next.skus[l.sku].sold += l.qty;
          }
          if (cart.coupon) next.coupons[cart.coupon.code].redeemed++;
          return next;
        },
      });
    }
  }
  return { req, expects };
}

// ---- comparing with the server ----

export function assertCart(v: CartView | undefined, c: CartModel, what: string): void {
  assert.ok(v, `${what}: no cart`);
  const diffs = cartDiff(v, c);
  assert.equal(diffs.length, 0, `${what}: ${diffs.join('; ')}`);
}

const linesText = (ls: readonly { sku: string; qty: number; unitPrice: number }[]) => ls.map((l) => `${l.sku}x${l.qty}@${l.unitPrice}`).join(',') || '(empty)';

export function cartDiff(v: CartView, c: CartModel): string[] {
  const out: string[] = [];
  if (v.version !== c.version) out.push(`version ${v.version} != model ${c.version}`);
  if (linesText(v.items) !== linesText(c.lines)) out.push(`lines ${linesText(v.items)} != model ${linesText(c.lines)}`);
  for (const l of v.items) {
    if (l.productId !== l.sku || l.name !== productName(l.sku) || l.lineTotal !== l.qty * l.unitPrice)
      out.push(`line ${JSON.stringify(l)} is not what the catalog says`);
  }
  if ((v.coupon ?? null) !== (c.coupon?.code ?? null)) out.push(`coupon ${v.coupon} != model ${c.coupon?.code}`);
  if (v.currency !== CURRENCY) out.push(`currency ${v.currency}`);
  const t = totalsOf(c.lines, c.coupon?.terms, 0);
  const got = { subtotal: v.subtotal, discount: v.discount, tax: v.tax, shipping: v.shipping, total: v.total };
  if (JSON.stringify(got) !== JSON.stringify(t)) out.push(`totals ${JSON.stringify(got)} != model ${JSON.stringify(t)}`);
  return out;
}

export function orderDiff(o: OrderView, m: OrderModel, userId: string): string[] {
  const out: string[] = [];
  if (o.orderId !== m.orderId) out.push(`orderId ${o.orderId} != ${m.orderId}`);
  if (o.userId !== userId) out.push(`userId ${o.userId} != ${userId}`);
  if (o.status !== m.status) out.push(`status ${o.status} != model ${m.status}`);
  if (linesText(o.items) !== linesText(m.items)) out.push(`items ${linesText(o.items)} != model ${linesText(m.items)}`);
  if ((o.coupon ?? null) !== (m.coupon ?? null)) out.push(`coupon ${o.coupon} != model ${m.coupon}`);
  if (JSON.stringify(o.totals) !== JSON.stringify(m.totals)) out.push(`totals ${JSON.stringify(o.totals)} != model ${JSON.stringify(m.totals)}`);
  if (o.currency !== CURRENCY) out.push(`currency ${o.currency}`);
  if (m.status === 'confirmed') {
    if (o.payment.status !== 'approved') out.push(`payment ${o.payment.status}, not approved`);
    // A crash-resumed saga confirms without scoring again (riskScore null, no review).
    if (m.flagged !== undefined && o.payment.riskScore !== null && Boolean(o.review?.flagged) !== m.flagged)
      out.push(`review ${JSON.stringify(o.review)}, model flagged ${m.flagged}`);
  } else {
    if (o.failure?.code !== m.failure) out.push(`failure ${o.failure?.code} != model ${m.failure}`);
    if (o.payment.status !== (m.failure === 'PAYMENT_DECLINED' ? 'declined' : 'voided')) out.push(`payment ${o.payment.status} after ${m.failure}`);
  }
  return out;
}

function assertOrder(o: OrderView, m: OrderModel | undefined, u: number, what: string): void {
  assert.ok(m, `${what}: the model has no order ${o.orderId}`);
  const diffs = orderDiff(o, m, o.userId);
  assert.equal(diffs.length, 0, `${what} (user ${u}): ${diffs.join('; ')}`);
}

/** What the server shows, read after a restart or at the end. */
export interface Observed {
  carts: CartView[];
  userIds: string[];
  stock: Record<string, InventoryView>;
  orders: Record<string, OrderView | string>;
}

/** Every difference between the model and the server's state, and every broken stock invariant. */
export function stateDiff(m: Model, o: Observed): string[] {
  const out: string[] = [];
  m.users.forEach((u, i) => out.push(...cartDiff(o.carts[i], u.cart).map((d) => `cart of user ${i}: ${d}`)));
  for (const sku of SKUS) {
    const k = m.skus[sku];
    const v = o.stock[sku];
    if (v.onHand !== k.onHand || v.reserved !== 0 || v.available !== k.onHand) {
      out.push(`${sku}: onHand/reserved/available ${v.onHand}/${v.reserved}/${v.available} != model ${k.onHand}/0/${k.onHand}`);
    }
    if (k.sold + v.available + v.reserved !== k.received)
      out.push(`${sku}: sold ${k.sold} + available ${v.available} + reserved ${v.reserved} != received ${k.received}`);
    if (v.version < k.seenVersion) out.push(`${sku}: version ${v.version} went back from ${k.seenVersion}`);
  }
  for (const [orderId, om] of Object.entries(m.orders)) {
    const v = o.orders[orderId];
    if (typeof v === 'string') out.push(`order ${orderId}: ${v}`);
    else out.push(...orderDiff(v, om, o.userIds[om.user]).map((d) => `order ${orderId}: ${d}`));
  }
  return out;
}
