// Ops whose answer needs several actors: checkout and order changes (through the checkout
// driver), order.list (every shard's page, merged), cart.applyCoupon (the coupon's terms, then
// the cart). Each returns the reply object or a coded error; the edge sends it.
import { couponTermsOf } from '../actors/coupon-actor.js';
import type { CouponView, OpName } from '../protocol/ops.js';
import type { OpArgs } from '../protocol/schemas.js';
import type { OrderView } from '../protocol/types.js';
import type { ActorAnswer, ShardPool } from './shard-pool.js';
import type { CheckoutDriver, SagaResult } from './checkout-driver.js';
import { randomId } from '../protocol/ids.js';
import type { Identity } from './auth.js';
import { cartKey, couponKey, normalizeCouponCode, ordersTopic } from '../protocol/keys.js';

/** An op's answer: its reply object or a coded error (the shape of a committed actor answer). */
export type OpOutcome = ActorAnswer;

const DEFAULT_ORDER_PAGE = 20;

export class CommerceOps {
  constructor(
    private readonly pool: ShardPool,
    private readonly driver: CheckoutDriver,
    /** How long a cancel, refund or return may run before its order's timer resumes it. */
    private readonly deadlineMs: number,
  ) {}

  ordersTopic(userId: string): string {
    return ordersTopic(userId);
  }

  run(op: OpName, args: unknown, who: Identity): Promise<OpOutcome> {
    switch (op) {
      case 'checkout':
        return this.driver.checkout({ userId: who.userId, guest: who.role === 'guest' }, args as OpArgs<'checkout'>).then(sagaOutcome);
      case 'order.cancel': {
        const a = args as OpArgs<'order.cancel'>;
        return this.driver.change(a.orderId, { type: 'cancel', workId: workId('cancel'), deadlineMs: this.deadlineMs, ...(who.role === 'admin' ? {} : { as: who.userId }) }).then(sagaOutcome);
      }
      case 'order.refund': {
        const a = args as OpArgs<'order.refund'>;
        const cmd = { type: 'refund' as const, workId: workId('refund'), deadlineMs: this.deadlineMs, ...(a.amount === undefined ? {} : { amount: a.amount }), ...(a.reason === undefined ? {} : { reason: a.reason }) };
        return this.driver.change(a.orderId, cmd).then(sagaOutcome);
      }
      case 'order.return': {
        const a = args as OpArgs<'order.return'>;
        return this.driver.change(a.orderId, { type: 'return', workId: workId('return'), deadlineMs: this.deadlineMs }).then(sagaOutcome);
      }
      case 'order.list':
        return this.listOrders(args as OpArgs<'order.list'>, who);
      case 'cart.applyCoupon':
        return this.applyCoupon((args as OpArgs<'cart.applyCoupon'>).code, who);
      default:
        return Promise.resolve({ ok: false, error: { code: 'INTERNAL', message: `no commerce handler for ${op}` } });
    }
  }

  /** Newest first over every shard: each returns its best page, the merge keeps the best `limit`. */
  private async listOrders(args: OpArgs<'order.list'>, who: Identity): Promise<OpOutcome> {
    const limit = args.limit ?? DEFAULT_ORDER_PAGE;
    let before: [number, string] | undefined;
    if (args.cursor !== undefined) {
      before = decodeCursor(args.cursor);
      if (!before) return { ok: false, error: { code: 'BAD_REQUEST', message: 'args.cursor is not a cursor of order.list' } };
    }
    const userId = who.role === 'admin' ? undefined : who.userId;
    const pages = await this.pool.askAll<{ at: number; order: OrderView }[]>((ask) => ({ t: 'orders-page', ask, limit: limit + 1, ...(userId === undefined ? {} : { userId }), ...(before ? { before } : {}) }));
    const all = pages.flat().sort((a, b) => b.at - a.at || (a.order.orderId < b.order.orderId ? 1 : -1));
    const items = all.slice(0, limit);
    const last = items[items.length - 1];
    const nextCursor = all.length > limit ? encodeCursor(last.at, last.order.orderId) : null;
    return { ok: true, result: { items: items.map((i) => i.order), nextCursor } };
  }

  /** The coupon's current terms from its actor, then the cart checks they apply and records them. */
  private async applyCoupon(rawCode: string, who: Identity): Promise<OpOutcome> {
    const code = normalizeCouponCode(rawCode);
    const c = await this.pool.call(couponKey(code), { type: 'get' });
    if (!c.ok) return c.error.code === 'NOT_FOUND' ? { ok: false, error: { code: 'NOT_FOUND', message: `unknown coupon ${code}`, details: { code } } } : c;
    const v = c.result as CouponView;
    if (v.maxRedemptions !== undefined && v.redeemed >= v.maxRedemptions) {
      return { ok: false, error: { code: 'CONFLICT', message: `coupon ${code} is used up`, details: { code, reason: 'exhausted' } } };
    }
    return this.pool.call(cartKey(who.userId), { type: 'applyCoupon', terms: couponTermsOf(v) });
  }


}

const sagaOutcome = (r: SagaResult): OpOutcome => (r.ok ? { ok: true, result: r.order } : r);

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
