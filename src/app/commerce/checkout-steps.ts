// The durable steps of a checkout that both its first run and a resume take (checkout-driver.ts):
// completing a captured order (commit the holds and confirm it in one hop, then empty the cart),
// unwinding a capture that came too late, and failing an order (cancel it, release its holds,
// thaw the cart).
// Each step is a command to an actor whose reply comes after its group commit, and each is
// idempotent, so a resume may take it again.
import { view as orderView, type Order, type OrderCommand } from '../../actors/order-actor.js';
import type { FaultStep } from '../../actors/checkout-saga.js';
import type { SealedOpener } from '../../actors/actor.js';
import type { FraudAssessment } from '../../actors/fraud.js';
import type { PaymentGateway } from '../../actors/payment-gateway.js';
import type { WireError } from '../../protocol/errors.js';
import type { CartLineView, OrderView, ShippingAddress } from '../../protocol/types.js';
import { cartKey, couponKey, orderKey, skuKey } from '../../protocol/keys.js';
import type { ShardPool } from '../shard-pool.js';
import type { Answer } from '../../transport/dispatch.js';
import { log } from '../../log/log.js';

export type SagaResult = Answer<OrderView>;

/** What hop 4 needs of an order: known to the saga's first run, read from the order on a resume. */
export type Placed = Pick<Order, 'orderId' | 'userId' | 'items' | 'coupon' | 'totals' | 'shippingAddress' | 'createdAt' | 'status'>;

export class CheckoutSteps {
  constructor(
    private readonly pool: ShardPool,
    private readonly gateway: PaymentGateway,
    private readonly config: { holdTtlMs: number; faultExitAfter?: FaultStep },
  ) {}

  /**
   * Captured: hop 4 of the saga (checkout-saga.ts): every hold's commit and the order's confirm
   * (`committing`) in one hop, one group commit per shard. Once all of it answered, the answer
   * goes out and the cart end and the settle follow, not waited for. `o` is what the first run
   * knows of the order, or its state on a resume. `knownAddress`: the address a first run was
   * sent; the answer shows it, so the order's shard need not open its sealed copy.
   */
  async complete(o: Placed, transactionId: string, fraud: FraudAssessment | undefined, knownAddress?: ShippingAddress): Promise<SagaResult> {
    const review = fraud && fraud.decision === 'review' ? { reviewReasons: fraud.reasons.map((r) => r.detail) } : {};
    const confirm = this.pool.call(orderKey(o.orderId), {
      type: 'confirm',
      transactionId,
      riskScore: fraud?.score ?? null,
      ...review,
      committing: true,
      ...(knownAddress === undefined ? {} : { addressKnown: true }),
    });
    if (this.config.faultExitAfter === 'confirming') {
      await confirm;
      this.fault('confirming');
    }
    const [confirmed, ...commits] = await Promise.all([
      confirm,
      ...o.items.map((l) => this.pool.tell(skuKey(l.sku), { type: 'commit', holdId: o.orderId })),
      ...(o.coupon === undefined ? [] : [this.pool.tell(couponKey(o.coupon), { type: 'commit', orderId: o.orderId })]),
    ]);
    // A sku keeps no memory of committed holds, only of expired ones: "no such hold" without
    // `expired` means this commit already happened (a resumed saga). Skus whose expired holds
    // predate that memory are trusted only while the holds cannot have expired yet. An expired
    // hold means this hop was never answered, so the capture is unwound.
    const trusted = o.status === 'confirmed' || Date.now() < o.createdAt + this.config.holdTtlMs - HOLD_EXPIRY_MARGIN_MS;
    const done = commits.map(
      (r, i) => r.ok || (trusted && i < o.items.length && r.error.code === 'CONFLICT' && (r.error.details as { expired?: true } | undefined)?.expired !== true),
    );
    if (done.some((ok) => !ok)) return this.unwindCapture(o, done.slice(0, o.items.length));
    // The order's confirm failed (its shard restarting): the order's timer resumes hop 4.
    if (!confirmed.ok) return confirmed;
    this.fault('confirmed');
    void Promise.all([
      this.pool.tell(cartKey(o.userId), { type: 'checkoutEnded', orderId: o.orderId, placed: true, total: o.totals.total, country: o.shippingAddress.country }),
      this.pool.tell(orderKey(o.orderId), { type: 'settle' }),
    ]).catch((err) => log.error({ err }, `end of checkout ${o.orderId} failed`));
    return { ok: true, result: knownAddress === undefined ? confirmed.result : { ...confirmed.result, shippingAddress: knownAddress } };
  }

  /**
   * A hold expired before its commit (the process was down longer than the hold TTL): the charge
   * is voided (refunded in full), what was committed goes back on the shelf, the rest is released.
   */
  private async unwindCapture(o: Placed, committed: boolean[]): Promise<SagaResult> {
    await this.gateway.void(o.orderId);
    await Promise.all(
      o.items
        .filter((_, i) => committed[i])
        .map((l) =>
          this.pool.call(skuKey(l.sku), {
            type: 'restock',
            ref: `unwind:${o.orderId}`,
            qty: l.qty,
            txType: 'return',
            reason: `order ${o.orderId} unwound (reservation expired)`,
          }),
        ),
    );
    return this.fail(
      o.orderId,
      { code: 'CONFLICT', message: 'the reservation expired before the order could be confirmed; the payment was refunded' },
      'voided',
    );
  }

  /**
   * Cancels the pending order and undoes its holds; the answer goes out once all of it is durable.
   * `known`: what the saga's first run knows of the order (a resume reads it from the order).
   */
  async fail(
    orderId: string,
    error: WireError,
    payment: 'declined' | 'voided',
    riskScore?: number,
    known?: Pick<Placed, 'items' | 'coupon' | 'userId' | 'shippingAddress'>,
  ): Promise<SagaResult> {
    let o = known;
    if (!o) {
      const st = await this.state(orderId);
      if (!st.ok) return st;
      o = st.result;
    }
    const failCmd: OrderCommand = {
      type: 'fail',
      code: error.code,
      message: error.message,
      payment,
      ...(error.details ? { details: error.details } : {}),
      ...(riskScore === undefined ? {} : { riskScore }),
    };
    // Only the outcome is used (the answer is the error): `tell` spares the shard the order's view.
    const [failed] = await Promise.all([
      this.pool.tell(orderKey(orderId), failCmd),
      this.release(orderId, o.items, o.coupon, o.userId, { placed: false, total: 0, country: o.shippingAddress.country }),
    ]);
    if (!failed.ok) return failed;
    void this.pool.tell(orderKey(orderId), { type: 'settle' }).catch((err) => log.error({ err }, `settle of ${orderId} failed`));
    return { ok: false, error: { ...error, details: { ...error.details, orderId } } };
  }

  /** Releases the holds of a checkout and thaws the cart (all idempotent). */
  async release(
    orderId: string,
    items: readonly CartLineView[],
    coupon: string | undefined,
    userId: string,
    end: { placed: false; total: number; country: string; forget?: boolean },
  ): Promise<void> {
    await Promise.all([...this.holdReleases(orderId, items, coupon), this.pool.tell(cartKey(userId), { type: 'checkoutEnded', orderId, ...end })]);
  }

  /** Releases the stock and coupon holds of a checkout (idempotent): one command per hold, to await together. */
  holdReleases(orderId: string, items: readonly { sku: string }[], coupon: string | undefined): Promise<Answer<null>>[] {
    return [
      ...items.map((l) => this.pool.tell(skuKey(l.sku), { type: 'release', holdId: orderId })),
      coupon === undefined ? Promise.resolve(OK) : this.pool.tell(couponKey(coupon), { type: 'release', orderId }),
    ];
  }

  /** The order's whole state: what a step (or a resume) has left to do is read from it. */
  state(orderId: string): Promise<Answer<Order>> {
    return this.pool.call(orderKey(orderId), { type: 'state' });
  }

  /** Test hook (FAULT_EXIT_AFTER): the process dies right after `step` is durable. */
  fault(step: FaultStep): void {
    if (this.config.faultExitAfter === step) {
      log.warn(`FAULT_EXIT_AFTER=${step}: killing the process`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
}

const OK: Answer<null> = { ok: true, result: null };

/** Clock skew and slowness allowance when judging whether a hold may have expired. */
const HOLD_EXPIRY_MARGIN_MS = 30_000;

/** The answer a finished order gives to a retry of its key. */
export function outcome(o: Order, openSealed?: SealedOpener): SagaResult {
  if (!o.failure) return { ok: true, result: orderView(o, openSealed) };
  const f = o.failure;
  return { ok: false, error: { code: f.code as WireError['code'], message: f.message, details: { ...f.details, orderId: o.orderId } } };
}
