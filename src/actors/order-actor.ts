// The order actor: one per order, the single writer of its status machine and the durable state
// of the checkout saga that created it (src/actors/checkout-saga.ts says what happens next from
// this state; src/workers/checkout-driver.ts does it). Work that touches other actors after the
// order is confirmed (refunds, restocking) is recorded here first as `work` and acknowledged when
// done: an outbox, so a crash in between resumes instead of forgetting.
import { accept, reject, unchanged, type ActorType, type Decision } from './actor.js';
import type { DomainEvent, FreshHint, SealedOpener } from './actor.js';
import { ordersTopic } from '../protocol/keys.js';
import type { CartLineView, OrderStatus, OrderTotals, OrderView, PaymentStatus, ShippingAddress } from '../protocol/types.js';

/** External effects an order change still owes: a refund at the gateway, stock back on the shelf. */
export interface OrderWork {
  id: string;
  kind: 'cancel' | 'refund' | 'return';
  /** Refund at the gateway (refundId = work id); 0: nothing to refund. */
  amount: number;
  reason?: string;
  restock: boolean;
  /** Status once the work is done. */
  then: OrderStatus;
}

export interface Order {
  orderId: string;
  orderNumber: string;
  userId: string;
  status: OrderStatus;
  items: CartLineView[];
  coupon?: string;
  totals: OrderTotals;
  currency: string;
  /** With `sealedAddress`, only the country (kept for the books); else the whole address. */
  shippingAddress: ShippingAddress;
  /** The address as it was, sealed under the owner's data key (unreadable once they are erased). */
  sealedAddress?: string;
  paymentToken: string;
  idempotencyKey: string;
  payment: OrderView['payment'];
  /** Risk rules that flagged the order (admins read them in order_paid: admin feed, event log). */
  review?: { flagged: true; reasons: string[] };
  failure?: OrderView['failure'];
  shipment?: OrderView['shipment'];
  refunds: OrderView['refunds'];
  /** The saga or a piece of work is unfinished: the actor's timer wakes a driver at `checkAt`. */
  open: boolean;
  /**
   * Confirmed in the same hop as its holds' commits (checkout-saga.ts): until `settle` says they
   * are all durable, a resume commits them again, and the order may still be unwound.
   */
  committing?: true;
  checkAt: number;
  stalls: number;
  work?: OrderWork;
  createdAt: number;
  updatedAt: number;
  version: number;
}

/** Who asks: a customer or guest may act on their own orders only; undefined = admin or the server. */
export interface Caller {
  as?: string;
}

export type OrderCommand =
  | ({ type: 'get' } & Caller)
  /** The whole internal state, for the checkout driver (never routed from a client). */
  | { type: 'state' }
  | ({
      type: 'create';
      orderNumber: string;
      userId: string;
      items: CartLineView[];
      coupon?: string;
      totals: OrderTotals;
      currency: string;
      shippingAddress: ShippingAddress;
      sealedAddress?: string;
      paymentToken: string;
      idempotencyKey: string;
      /** How long the saga may run before the order's timer asks for it to be resumed. */
      deadlineMs: number;
    } & FreshHint)
  /**
   * riskScore null: confirmed by a resumed saga that did not score it again. `committing`: sent
   * beside the holds' commits, whose outcome is not known yet (the order stays open until `settle`).
   */
  // addressKnown: the caller has the plain address (the checkout that sealed it): the answer
  // leaves the sealed copy unopened (a read of the buyer's key on this shard saved).
  | { type: 'confirm'; transactionId: string; riskScore: number | null; reviewReasons?: string[]; committing?: true; addressKnown?: true }
  | { type: 'fail'; code: string; message: string; details?: Record<string, unknown>; payment: 'declined' | 'voided'; riskScore?: number }
  | { type: 'settle' }
  | ({ type: 'cancel'; workId: string; deadlineMs: number } & Caller)
  | { type: 'ship'; carrier?: string; trackingNumber?: string }
  | { type: 'deliver' }
  | { type: 'refund'; workId: string; amount?: number; reason?: string; deadlineMs: number }
  | { type: 'return'; workId: string; deadlineMs: number }
  | { type: 'workDone'; workId: string }
  | { type: 'timer' };

export type OrderEvent =
  | ({ type: 'created'; at: number; checkAt: number } & Omit<Extract<OrderCommand, { type: 'create' }>, 'type' | 'deadlineMs' | 'fresh'>)
  | { type: 'confirmed'; transactionId: string; riskScore: number | null; reviewReasons?: string[]; committing?: true; at: number }
  | { type: 'failed'; code: string; message: string; details?: Record<string, unknown>; payment: 'declined' | 'voided'; riskScore?: number; at: number }
  | { type: 'settled'; at: number }
  | { type: 'work_started'; work: OrderWork; checkAt: number; at: number }
  | { type: 'work_done'; workId: string; at: number }
  | { type: 'shipped'; carrier?: string; trackingNumber?: string; at: number }
  | { type: 'delivered'; at: number }
  | { type: 'stalled'; checkAt: number; at: number };

/** Statuses from which each admin or owner transition may start (docs/protocol.md "Checkout and orders"). */
const CAN_CANCEL: ReadonlySet<OrderStatus> = new Set(['confirmed', 'processing']);
const CAN_SHIP: ReadonlySet<OrderStatus> = new Set(['confirmed', 'processing']);
const CAN_REFUND: ReadonlySet<OrderStatus> = new Set(['confirmed', 'processing', 'shipped', 'delivered']);
/** Longest wait between two resume attempts of a stalled order. */
const MAX_STALL_BACKOFF_MS = 60_000;

const captured = (o: Order): number =>
  o.payment.status === 'pending' || o.payment.status === 'declined' || o.payment.status === 'voided' ? 0 : o.totals.total;
export const refundable = (o: Order): number => captured(o) - o.payment.refunded;

function illegal(o: Order, what: string): Decision<OrderEvent> {
  return reject('CONFLICT', `cannot ${what} an order that is ${o.status}`, { orderId: o.orderId, status: o.status });
}

function notFound(o: Order): Decision<OrderEvent> {
  return reject('NOT_FOUND', `unknown order ${o.orderId}`, { orderId: o.orderId });
}

function busy(o: Order): Decision<OrderEvent> | undefined {
  if (o.status === 'pending' || o.committing)
    return reject('CONFLICT', 'the checkout of this order is still running', { orderId: o.orderId, status: o.status });
  if (o.work) return reject('CONFLICT', `a ${o.work.kind} of this order is still running`, { orderId: o.orderId, work: o.work.kind });
  return undefined;
}

export function decide(o: Order, c: OrderCommand, now: number): Decision<OrderEvent> {
  const exists = o.version > 0;
  if (c.type === 'create') {
    if (exists) return unchanged(); // a resumed saga creating again
    const { type: _t, deadlineMs, quiet: _q, fresh: _f, ...facts } = c as typeof c & { quiet?: boolean };
    return accept([{ type: 'created', ...facts, at: now, checkAt: now + deadlineMs }]);
  }
  if (!exists) return notFound(o);
  switch (c.type) {
    case 'get':
      return c.as !== undefined && c.as !== o.userId ? notFound(o) : unchanged();
    case 'state':
      return unchanged();
    case 'confirm':
      if (o.status !== 'pending') return o.status === 'confirmed' || o.payment.transactionId === c.transactionId ? unchanged() : illegal(o, 'confirm');
      return accept([
        {
          type: 'confirmed',
          transactionId: c.transactionId,
          riskScore: c.riskScore,
          ...(c.reviewReasons ? { reviewReasons: c.reviewReasons } : {}),
          ...(c.committing ? { committing: true as const } : {}),
          at: now,
        },
      ]);
    case 'fail': {
      // A committing order may still be unwound: a hold of it expired before its commit, so the
      // confirmation it was sent with was never answered to anyone.
      if (o.status !== 'pending' && !o.committing) return o.failure ? unchanged() : illegal(o, 'fail');
      const { type: _t, ...facts } = c;
      return accept([{ type: 'failed', ...facts, at: now }]);
    }
    case 'settle':
      return o.open && o.status !== 'pending' && !o.work ? accept([{ type: 'settled', at: now }]) : unchanged();
    case 'cancel': {
      if (c.as !== undefined && c.as !== o.userId) return notFound(o);
      if (o.work?.id === c.workId) return unchanged();
      if (!CAN_CANCEL.has(o.status)) return o.status === 'pending' ? busy(o)! : illegal(o, 'cancel');
      const b = busy(o);
      if (b) return b;
      return startWork(o, { id: c.workId, kind: 'cancel', amount: refundable(o), restock: true, then: 'cancelled' }, c.deadlineMs, now);
    }
    case 'ship':
      if (!CAN_SHIP.has(o.status)) return illegal(o, 'ship');
      return (
        busy(o) ??
        accept([{ type: 'shipped', ...(c.carrier ? { carrier: c.carrier } : {}), ...(c.trackingNumber ? { trackingNumber: c.trackingNumber } : {}), at: now }])
      );
    case 'deliver':
      if (o.status !== 'shipped') return illegal(o, 'deliver');
      return busy(o) ?? accept([{ type: 'delivered', at: now }]);
    case 'refund': {
      if (o.work?.id === c.workId) return unchanged();
      if (!CAN_REFUND.has(o.status)) return o.status === 'pending' ? busy(o)! : illegal(o, 'refund');
      const b = busy(o);
      if (b) return b;
      const left = refundable(o);
      const amount = c.amount ?? left;
      if (left === 0 || amount > left) {
        return reject('CONFLICT', left === 0 ? 'nothing is left to refund' : `at most ${left} can be refunded`, {
          orderId: o.orderId,
          captured: captured(o),
          refunded: o.payment.refunded,
          requested: amount,
        });
      }
      const then = amount === left ? 'refunded' : o.status;
      return startWork(o, { id: c.workId, kind: 'refund', amount, ...(c.reason ? { reason: c.reason } : {}), restock: false, then }, c.deadlineMs, now);
    }
    case 'return': {
      if (o.work?.id === c.workId) return unchanged();
      if (o.status !== 'delivered') return illegal(o, 'return');
      return busy(o) ?? startWork(o, { id: c.workId, kind: 'return', amount: refundable(o), restock: true, then: 'returned' }, c.deadlineMs, now);
    }
    case 'workDone':
      return o.work?.id === c.workId ? accept([{ type: 'work_done', workId: c.workId, at: now }]) : unchanged();
    case 'timer': {
      if (!o.open || o.checkAt > now) return unchanged();
      // Nobody finished the saga or the work in time (a crash, a lost driver): ask for a resume,
      // backing off so a failing dependency is not hammered.
      const backoff = Math.min(MAX_STALL_BACKOFF_MS, 1000 * 2 ** Math.min(o.stalls, 6));
      return accept([{ type: 'stalled', checkAt: now + backoff, at: now }]);
    }
  }
}

function startWork(o: Order, work: OrderWork, deadlineMs: number, now: number): Decision<OrderEvent> {
  return accept([{ type: 'work_started', work, checkAt: now + deadlineMs, at: now }]);
}

function paymentStatus(o: Order): PaymentStatus {
  if (o.payment.refunded === 0) return 'approved';
  return o.payment.refunded >= o.totals.total ? 'refunded' : 'partially_refunded';
}

export function apply(o: Order, e: OrderEvent): Order {
  switch (e.type) {
    case 'created': {
      const { type: _t, at, checkAt, ...facts } = e;
      Object.assign(o, facts);
      o.status = 'pending';
      o.open = true;
      o.checkAt = checkAt;
      o.createdAt = at;
      break;
    }
    case 'confirmed':
      // Done, unless the holds' commits went out with it (then `settle` closes it). The cart is
      // emptied right after; if that is lost the cart's own timer ends it.
      if (e.committing) o.committing = true;
      else {
        o.open = false;
        o.stalls = 0;
      }
      o.status = 'confirmed';
      o.payment = { status: 'approved', transactionId: e.transactionId, riskScore: e.riskScore, refunded: 0 };
      if (e.reviewReasons) o.review = { flagged: true, reasons: e.reviewReasons };
      break;
    case 'failed':
      o.committing = undefined;
      o.status = 'cancelled';
      o.failure = e.details ? { code: e.code, message: e.message, details: e.details } : { code: e.code, message: e.message };
      o.payment = { status: e.payment, transactionId: null, riskScore: e.riskScore ?? null, refunded: 0 };
      break;
    case 'settled':
      o.open = false;
      o.committing = undefined;
      o.stalls = 0;
      break;
    case 'work_started':
      o.work = e.work;
      o.open = true;
      o.checkAt = e.checkAt;
      // A cancel or return is decided here; the refund amount shows once the gateway confirmed it.
      if (e.work.kind !== 'refund') o.status = e.work.then;
      break;
    case 'work_done': {
      const w = o.work!;
      if (w.amount > 0) {
        o.refunds.push({ refundId: w.id, amount: w.amount, ...(w.reason ? { reason: w.reason } : {}), at: e.at });
        o.payment.refunded += w.amount;
        o.payment.status = paymentStatus(o);
      }
      o.status = w.then;
      o.work = undefined;
      o.open = false;
      o.stalls = 0;
      break;
    }
    case 'shipped':
      o.status = 'shipped';
      o.shipment = { ...(e.carrier ? { carrier: e.carrier } : {}), ...(e.trackingNumber ? { trackingNumber: e.trackingNumber } : {}), shippedAt: e.at };
      break;
    case 'delivered':
      o.status = 'delivered';
      o.shipment = { ...o.shipment!, deliveredAt: e.at };
      break;
    case 'stalled':
      o.stalls++;
      o.checkAt = e.checkAt;
      break;
  }
  // Settling is bookkeeping (open, committing): nothing an owner sees changes, so no new version
  // and no push of the same order again.
  if (e.type === 'settled') return o;
  o.version++;
  o.updatedAt = e.at;
  return o;
}

/** The address an order shows: opened from its sealed copy when there is one, or (`keepSealed`) the copy's clear part alone. */
function addressOf(o: Order, openSealed: SealedOpener | undefined, keepSealed: boolean): ShippingAddress {
  if (o.sealedAddress === undefined || keepSealed) return o.shippingAddress;
  const plain = openSealed?.(o.userId, o.sealedAddress);
  return plain === undefined ? { ...o.shippingAddress, erased: true } : (JSON.parse(plain) as ShippingAddress);
}

export function view(o: Order, openSealed?: SealedOpener, keepSealed = false): OrderView {
  const v: OrderView = {
    orderId: o.orderId,
    orderNumber: o.orderNumber,
    userId: o.userId,
    status: o.status,
    items: o.items,
    totals: o.totals,
    currency: o.currency,
    payment: { ...o.payment },
    refunds: o.refunds,
    shippingAddress: addressOf(o, openSealed, keepSealed),
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    version: o.version,
  };
  if (o.coupon !== undefined) v.coupon = o.coupon;
  // The owner sees the flag only; the reasons (what tripped the risk rules) go to admins through
  // the order_paid event of the admin feed and the event log.
  if (o.review) v.review = { flagged: true };
  if (o.failure) v.failure = o.failure;
  if (o.shipment) v.shipment = o.shipment;
  return v;
}

export function create(orderId: string): Order {
  return {
    orderId,
    orderNumber: '',
    userId: '',
    status: 'pending',
    items: [],
    totals: { subtotal: 0, discount: 0, tax: 0, shipping: 0, total: 0 },
    currency: '',
    shippingAddress: { name: '', line1: '', city: '', postalCode: '', country: '' },
    paymentToken: '',
    idempotencyKey: '',
    payment: { status: 'pending', transactionId: null, riskScore: null, refunded: 0 },
    refunds: [],
    open: false,
    checkAt: 0,
    stalls: 0,
    createdAt: 0,
    updatedAt: 0,
    version: 0,
  };
}

/** Commands from the driver get the internal state back (it needs `work` and `open`). */
/** Commands of the server itself: their reply is the whole state (the driver reads saga and work). */
const INTERNAL: ReadonlySet<string> = new Set<InternalOrderCommand>(['state', 'cancel', 'refund', 'return']);
type InternalOrderCommand = 'state' | 'cancel' | 'refund' | 'return';
export type OrderResults = { readonly [T in OrderCommand['type']]: T extends InternalOrderCommand ? Order : OrderView };

function paidEvents(
  o: Order,
  base: { orderId: string; userId: string; at: number },
  transactionId: string,
  riskScore: number | null,
  reviewReasons: string[] | undefined,
): DomainEvent[] {
  return [
    { name: 'payment_processed', data: { ...base, amount: o.totals.total, currency: o.currency, transactionId, riskScore } },
    {
      name: 'order_paid',
      data: {
        ...base,
        orderNumber: o.orderNumber,
        total: o.totals.total,
        currency: o.currency,
        flagged: reviewReasons !== undefined,
        ...(reviewReasons ? { reviewReasons } : {}),
        items: o.items.map((l) => ({ sku: l.sku, productId: l.productId, qty: l.qty })),
      },
    },
  ];
}

/** The domain events an order produces (state before the event). */
function orderDomainEvents(o: Order, e: OrderEvent): DomainEvent[] | undefined {
  const base = { orderId: o.orderId, userId: e.type === 'created' ? e.userId : o.userId, at: e.at };
  switch (e.type) {
    case 'created':
      return [
        {
          name: 'order_created',
          data: {
            ...base,
            orderNumber: e.orderNumber,
            total: e.totals.total,
            currency: e.currency,
            items: e.items.map((l) => ({ sku: l.sku, productId: l.productId, qty: l.qty })),
          },
        },
      ];
    case 'confirmed':
      // Confirmed beside its holds' commits: paid once `settle` knows they all held.
      return e.committing ? undefined : paidEvents(o, base, e.transactionId, e.riskScore, e.reviewReasons);
    case 'settled':
      return o.committing && o.status === 'confirmed' ? paidEvents(o, base, o.payment.transactionId!, o.payment.riskScore, o.review?.reasons) : undefined;
    case 'failed':
      // Only a charge the gateway or the risk rules refused; a stock-out never reached payment.
      if (e.code !== 'PAYMENT_DECLINED' && e.code !== 'FRAUD_SUSPECTED') return undefined;
      return [{ name: 'payment_failed', data: { ...base, amount: o.totals.total, currency: o.currency, code: e.code, reason: e.details?.reason ?? e.code } }];
    case 'shipped':
      return [{ name: 'order_shipped', data: { ...base, carrier: e.carrier, trackingNumber: e.trackingNumber } }];
    case 'delivered':
      return [{ name: 'order_delivered', data: base }];
    case 'stalled':
      // Not a business fact: the signal a driver listens for to resume this order.
      return [{ name: 'order_stalled', data: { ...base, stalls: o.stalls + 1 } }];
    default:
      return undefined;
  }
}

export const OrderActor: ActorType<Order, OrderCommand, OrderEvent, OrderResults> = {
  kind: 'order',
  pushName: 'order.updated',
  // A finished order is rarely read again soon; its snapshot brings it back when it is.
  idleMs: 60_000,
  // Pushed while a connection of the user follows `orders:<userId>` (counted on every shard).
  pushTopic: (o) => ordersTopic(o.userId),
  domain: orderDomainEvents,
  create,
  decide,
  apply,
  view: (o, c, ctx) => (INTERNAL.has(c.type) ? o : view(o, ctx.openSealed, c.type === 'confirm' && c.addressKnown === true)),
  version: (o) => o.version,
  nextTimer: (o) => (o.open ? o.checkAt : undefined),
  snapshot: (o) => o,
  restore: (_id, data) => data as Order,
};
