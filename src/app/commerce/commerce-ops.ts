// Ops whose answer needs several actors: checkout and order changes (through the checkout
// driver), order.list (every shard's page, merged), cart.applyCoupon (the coupon's terms, then
// the cart). Each resolves with the reply object or a coded error; the edge sends it.
import { couponTermsOf } from '../../actors/coupon-actor.js';
import type { OpArgs, Page } from '../../protocol/ops.js';
import type { CartView, Identity, OrderView, ShippingAddress } from '../../protocol/types.js';
import { cartKey, couponKey, normalizeCouponCode } from '../../protocol/keys.js';
import { randomId } from '../../protocol/ids.js';
import { UnavailableError, fail, type Answer } from '../../transport/dispatch.js';
import type { ShardPool } from '../shard-pool.js';
import type { CheckoutDriver } from './checkout-driver.js';

const DEFAULT_ORDER_PAGE = 20;

/** A page request of order.list: one user's orders (all for admins), before a position. */
export interface OrdersQuery {
  limit: number;
  userId?: string;
  before?: [number, string];
}
export type OrderPageItem = { at: number; order: OrderView };

/** Cluster mode: the other nodes' pages for the partitions they serve. */
export interface OrderPeers {
  orderPages(q: OrdersQuery): Promise<OrderPageItem[][]>;
}

/** Seals an order's copy of an address for its buyer; absent where orders keep it in the clear. */
export type AddressSealer = (who: Identity, address: ShippingAddress) => Promise<Answer<string>>;

export class CommerceOps {
  constructor(
    private readonly pool: ShardPool,
    private readonly driver: CheckoutDriver,
    /** How long a cancel, refund or return may run before its order's timer resumes it. */
    private readonly deadlineMs: number,
    private readonly peers?: OrderPeers,
    private readonly sealAddress?: AddressSealer,
  ) {}

  /** `refs`: the saved payment method's token and the saved address, when the request named them by id. */
  async checkout(args: OpArgs<'checkout'>, who: Identity, refs: { token?: string; address?: ShippingAddress }): Promise<Answer<OrderView>> {
    const address = refs.address ?? args.shippingAddress!;
    const paymentRef = 'token' in args.payment ? args.payment.token : args.payment.paymentMethodId;
    const token = refs.token ?? paymentRef;
    let sealedAddress: string | undefined;
    if (this.sealAddress) {
      const sealed = await this.sealAddress(who, address);
      if (!sealed.ok) return sealed;
      sealedAddress = sealed.result;
    }
    return this.driver.checkout(
      { userId: who.userId, guest: who.role === 'guest' },
      { idempotencyKey: args.idempotencyKey, token, paymentRef, address, ...(sealedAddress === undefined ? {} : { sealedAddress }) },
    );
  }

  /** The owner (or an admin) cancels: refund and restock are durable before the answer. */
  cancel(args: OpArgs<'order.cancel'>, who: Identity): Promise<Answer<OrderView>> {
    const as = who.role === 'admin' ? {} : { as: who.userId };
    return this.driver.change(args.orderId, { type: 'cancel', workId: workId('cancel'), deadlineMs: this.deadlineMs, ...as });
  }

  refund(args: OpArgs<'order.refund'>): Promise<Answer<OrderView>> {
    const amount = args.amount === undefined ? {} : { amount: args.amount };
    const reason = args.reason === undefined ? {} : { reason: args.reason };
    return this.driver.change(args.orderId, { type: 'refund', workId: workId('refund'), deadlineMs: this.deadlineMs, ...amount, ...reason });
  }

  return(args: OpArgs<'order.return'>): Promise<Answer<OrderView>> {
    return this.driver.change(args.orderId, { type: 'return', workId: workId('return'), deadlineMs: this.deadlineMs });
  }

  /** Newest first over every shard: each returns its best page, the merge keeps the best `limit`. */
  async listOrders(args: OpArgs<'order.list'>, who: Identity): Promise<Answer<Page<OrderView>>> {
    const limit = args.limit ?? DEFAULT_ORDER_PAGE;
    let before: [number, string] | undefined;
    if (args.cursor !== undefined) {
      before = decodeCursor(args.cursor);
      if (!before) return fail('BAD_REQUEST', 'args.cursor is not a cursor of order.list');
    }
    const userId = who.role === 'admin' ? undefined : who.userId;
    let pages: OrderPageItem[][];
    try {
      const query: OrdersQuery = { limit: limit + 1, ...(userId === undefined ? {} : { userId }), ...(before ? { before } : {}) };
      // In a cluster each node answers for the partitions it serves.
      const [local, remote] = await Promise.all([this.localOrderPages(query), this.peers ? this.peers.orderPages(query) : []]);
      pages = [...local, ...remote];
    } catch (err) {
      // A page without some shard's or node's orders would be wrong, and its cursor would skip them for good.
      if (err instanceof UnavailableError)
        return fail('UNAVAILABLE', `the orders could not be listed: ${err.message}; retry`, { retryAfterMs: err.retryAfterMs });
      throw err;
    }
    const all = pages.flat().sort((a, b) => b.at - a.at || (a.order.orderId < b.order.orderId ? 1 : -1));
    const items = all.slice(0, limit);
    const last = items[items.length - 1];
    const nextCursor = all.length > limit ? encodeCursor(last.at, last.order.orderId) : null;
    return { ok: true, result: { items: items.map((i) => i.order), nextCursor } };
  }

  /** Every local shard's best page of orders for `q`. */
  localOrderPages(q: OrdersQuery): Promise<OrderPageItem[][]> {
    return this.pool.askAll((ask) => ({ t: 'orders-page', ask, ...q }));
  }

  /** The coupon's current terms from its actor, then the cart checks they apply and records them. */
  async applyCoupon(args: OpArgs<'cart.applyCoupon'>, who: Identity): Promise<Answer<CartView>> {
    const code = normalizeCouponCode(args.code);
    const c = await this.pool.call(couponKey(code), { type: 'get' });
    if (!c.ok) return c.error.code === 'NOT_FOUND' ? fail('NOT_FOUND', `unknown coupon ${code}`, { code }) : c;
    const v = c.result;
    if (v.maxRedemptions !== undefined && v.redeemed >= v.maxRedemptions) return fail('CONFLICT', `coupon ${code} is used up`, { code, reason: 'exhausted' });
    return this.pool.call(cartKey(who.userId), { type: 'applyCoupon', terms: couponTermsOf(v) });
  }
}

const workId = (kind: string): string => randomId(kind, 9);

function encodeCursor(at: number, orderId: string): string {
  return Buffer.from(JSON.stringify([at, orderId])).toString('base64url');
}

function decodeCursor(cursor: string): [number, string] | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string' && v[1].length <= 64) return [v[0], v[1]];
  } catch {
    // not JSON: a bad cursor
  }
  return undefined;
}
