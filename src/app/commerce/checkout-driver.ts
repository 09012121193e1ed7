// Runs the checkout saga (src/actors/checkout-saga.ts) across shards, on the main thread: every
// step is a command to an actor whose reply comes after its group commit, so each step the
// driver has seen is durable. The driver holds nothing that matters: after a crash the orders'
// own state says what is left (resumeAction), and their timers ask for a resume if nobody does.
// The steps a first run and a resume share (complete, fail, release) are in checkout-steps.ts.
import { randomId, randomView } from '../../protocol/ids.js';
import { createHash } from 'node:crypto';
import { couponTermsOf } from '../../actors/coupon-actor.js';
import { view as orderView, type OrderCommand } from '../../actors/order-actor.js';
import type { CheckoutStart } from '../../actors/cart-actor.js';
import { fingerprintSource, orderNumber, orderTotals, resumeAction, type FaultStep } from '../../actors/checkout-saga.js';
import { assessFraud } from '../../actors/fraud.js';
import type { PricingConfig } from '../../actors/pricing.js';
import type { PaymentGateway } from '../../actors/payment-gateway.js';
import type { DomainEvent } from '../../actors/actor.js';
import type { SealedOpener } from '../../actors/actor.js';
import type { ShippingAddress } from '../../protocol/types.js';
import type { ShardPool } from '../shard-pool.js';
import { runOrderWork } from './order-work.js';
import { CheckoutSteps, outcome, type SagaResult } from './checkout-steps.js';
import { cartKey, couponKey, orderKey, skuKey } from '../../protocol/keys.js';
import { log } from '../../log/log.js';
import type { CheckoutGate } from '../drops/drop-ops.js';

export type { SagaResult };

export interface CheckoutConfig {
  pricing: PricingConfig;
  /** Expiry of the stock and coupon holds of a checkout (the SKU's timer releases them). */
  holdTtlMs: number;
  /** After this long an unfinished order's timer asks for a resume. */
  deadlineMs: number;
  /** How long the saga waits for the gateway before voiding the charge (docs/protocol.md: 2 s). */
  gatewayTimeoutMs: number;
  /** Test hook: the process dies (SIGKILL) right after this step is durable. */
  faultExitAfter?: FaultStep;
}

export interface CheckoutDeps {
  pool: ShardPool;
  gateway: PaymentGateway;
  /** Opens orders' sealed address copies for the answers made here (absent: none are sealed). */
  openSealed?: SealedOpener;
  /** Age of a customer's account in ms (0 for guests and unknown users). */
  accountAgeMs(userId: string, now: number): Promise<number>;
  config: CheckoutConfig;
  /** Refuses a checkout of a product drop's sku to anyone not admitted (drop-ops.ts). */
  gate?: CheckoutGate;
}

interface Buyer {
  userId: string;
  guest: boolean;
}

/** A checkout with its saved ids resolved: the gateway token and the address to ship to. */
export interface CheckoutOrder {
  idempotencyKey: string;
  token: string;
  /** What the key's fingerprint names as the payment: the token, or the saved method's id. */
  paymentRef: string;
  address: ShippingAddress;
  /** The address sealed under the buyer's data key: the order stores this and only the country. */
  sealedAddress?: string;
}

class Timeout extends Error {}

export class CheckoutDriver {
  /** Sagas and resumes running in this process, by order id: a second caller waits for the same one. */
  private readonly running = new Map<string, Promise<SagaResult>>();
  private readonly steps: CheckoutSteps;

  constructor(private readonly d: CheckoutDeps) {
    this.steps = new CheckoutSteps(d.pool, d.gateway, d.config);
  }

  /** `checkout`: freezes the cart under the idempotency key, then runs the saga (or joins the key's). */
  async checkout(who: Buyer, args: CheckoutOrder): Promise<SagaResult> {
    const orderId = randomId('ord', 15);
    const fingerprint = createHash('sha256').update(fingerprintSource(args.paymentRef, args.address)).digest('base64url');
    const frozen = await this.d.pool.call(cartKey(who.userId), {
      type: 'checkout',
      key: args.idempotencyKey,
      fingerprint,
      orderId,
      deadlineMs: this.d.config.deadlineMs,
    });
    if (!frozen.ok) return frozen;
    const start = frozen.result;
    if (start.existing) {
      const joined = await this.join(start.orderId);
      // The key's checkout died before its order existed: its cart is thawed and the key
      // forgotten now, so this request starts it afresh.
      if (!joined.ok && joined.error.code === 'NOT_FOUND' && (await this.unfreeze(who.userId, start.orderId))) return this.checkout(who, args);
      // A finished order whose cart may still be frozen (its end was lost in a crash): end it now.
      if (!this.running.has(start.orderId)) void this.unfreeze(who.userId, start.orderId).catch(() => undefined);
      return joined;
    }
    this.steps.fault('frozen');
    return this.track(orderId, this.d.gate ? this.gated(this.d.gate, orderId, who, args, start) : this.run(orderId, who, args, start));
  }

  /**
   * The saga behind the drop gate: a cart holding a drop's sku goes on only for an admitted buyer
   * (its units then count against the buyer's limit); refused, the cart thaws and the key is forgotten.
   * Tracked like the saga itself, so a second request with the key waits for the same answer.
   */
  private async gated(gate: CheckoutGate, orderId: string, who: Buyer, args: CheckoutOrder, start: CheckoutStart): Promise<SagaResult> {
    const items = start.cart.items;
    const thaw = () => this.steps.release(orderId, [], undefined, who.userId, { placed: false, total: 0, country: args.address.country, forget: true });
    let refused: SagaResult | undefined;
    try {
      refused = await gate.refuse(who.userId, orderId, items);
    } catch (err) {
      await thaw(); // the gate could not tell (a shard restarting): nothing was started
      throw err;
    }
    if (refused) {
      await thaw();
      return refused;
    }
    let confirmed = false;
    try {
      const r = await this.run(orderId, who, args, start);
      confirmed = r.ok;
      return r;
    } finally {
      await gate.settled(who.userId, orderId, items, confirmed);
    }
  }

  /** An order found unfinished (at start, or its timer fired): finish or compensate it. */
  resume(orderId: string): Promise<SagaResult> {
    return this.running.get(orderId) ?? this.track(orderId, this.resumeNow(orderId));
  }

  /** Domain events of every commit: an order or a frozen cart whose timer fired is resumed here. */
  onDomain(events: readonly DomainEvent[]): void {
    for (const e of events) {
      if (e.name === 'order_stalled') void this.resume(e.data.orderId as string).catch((err) => log.error({ err }, 'resume failed'));
      else if (e.name === 'checkout_stalled')
        void this.unfreeze(e.data.userId as string, e.data.orderId as string).catch((err) => log.error({ err }, 'cart resume failed'));
    }
  }

  /**
   * A cart frozen for a checkout nobody runs: when its order exists, the order's resume ends the
   * checkout; when it was never created (a crash right after the freeze), the cart thaws and
   * forgets the key. Returns true when it thawed the cart.
   */
  private async unfreeze(userId: string, orderId: string): Promise<boolean> {
    if (this.running.has(orderId)) return false;
    const st = await this.steps.state(orderId);
    if (st.ok) {
      const o = st.result;
      if (o.open) await this.resume(orderId);
      // A finished order whose cart end was lost (a crash right after the confirm).
      else
        await this.d.pool.call(cartKey(userId), {
          type: 'checkoutEnded',
          orderId,
          placed: o.status !== 'cancelled' || !o.failure,
          total: o.totals.total,
          country: o.shippingAddress.country,
        });
      return false;
    }
    if (st.error.code !== 'NOT_FOUND' || this.running.has(orderId)) return false;
    // The order was never created, but its stock and coupon holds may have been (they are made in
    // the same hop, on other shards): release them for the frozen cart's lines before it thaws.
    const cart = await this.d.pool.call(cartKey(userId), { type: 'get' });
    if (!cart.ok || this.running.has(orderId)) return false;
    const { items, coupon } = cart.result;
    await Promise.all(this.steps.holdReleases(orderId, items, coupon));
    const r = await this.d.pool.call(cartKey(userId), { type: 'checkoutEnded', orderId, placed: false, total: 0, country: '', forget: true });
    return r.ok;
  }

  /** Owner cancel, admin refund and return: record the work on the order, then do it. */
  async change(orderId: string, cmd: Extract<OrderCommand, { type: 'cancel' | 'refund' | 'return' }>): Promise<SagaResult> {
    const r = await this.d.pool.call(orderKey(orderId), cmd);
    if (!r.ok) return r;
    const o = r.result;
    if (!o.work) return { ok: true, result: orderView(o, this.d.openSealed) };
    return this.track(orderId, runOrderWork(o, this.d.gateway, this.d.pool));
  }

  get inFlight(): number {
    return this.running.size;
  }

  private track(orderId: string, p: Promise<SagaResult>): Promise<SagaResult> {
    const tracked = p
      .catch((err): SagaResult => {
        // A bug or an unreachable shard: the order keeps its state; its timer resumes it later.
        log.error({ err }, `checkout ${orderId} stopped`);
        return { ok: false, error: { code: 'INTERNAL', message: 'the checkout could not finish; it resumes automatically', details: { orderId } } };
      })
      .finally(() => this.running.delete(orderId));
    this.running.set(orderId, tracked);
    return tracked;
  }

  /** The same key again: the answer is that order's outcome, waiting for it if it still runs. */
  private async join(orderId: string): Promise<SagaResult> {
    const running = this.running.get(orderId);
    if (running) return running;
    const r = await this.steps.state(orderId);
    if (!r.ok) return r;
    const o = r.result;
    return o.open ? this.resume(orderId) : outcome(o, this.d.openSealed);
  }

  private async run(orderId: string, who: Buyer, args: CheckoutOrder, start: CheckoutStart): Promise<SagaResult> {
    const cfg = this.d.config;
    const now = Date.now();
    const address = args.address;
    const items = start.cart.items;
    const coupon = start.coupon?.code;
    const currency = start.cart.currency;
    let terms = start.coupon;
    if (coupon !== undefined) {
      // The coupon first: its redemption is held, and the order is priced with its terms as they
      // are now (an admin may have changed them since the cart took them).
      const held = await this.d.pool.call(couponKey(coupon), { type: 'hold', orderId, ttlMs: cfg.holdTtlMs, subtotal: start.cart.subtotal, currency });
      if (!held.ok) {
        await this.steps.release(orderId, [], coupon, who.userId, { placed: false, total: 0, country: address.country, forget: true });
        return held;
      }
      terms = couponTermsOf(held.result);
    }
    const totals = orderTotals({ ...start, coupon: terms }, address, now, cfg.pricing);
    const create: OrderCommand = {
      type: 'create',
      orderNumber: orderNumber(now, randomView(6)),
      userId: who.userId,
      items,
      totals,
      currency,
      // Sealed: the order keeps the country in the clear (tax and fraud rules, the books).
      ...(args.sealedAddress === undefined
        ? { shippingAddress: address }
        : { shippingAddress: { name: '', line1: '', city: '', postalCode: '', country: address.country }, sealedAddress: args.sealedAddress }),
      paymentToken: args.token,
      idempotencyKey: args.idempotencyKey,
      deadlineMs: cfg.deadlineMs,
      ...(coupon === undefined ? {} : { coupon }),
      // The id was minted by this checkout: the order's shard skips looking for stored records.
      fresh: true,
    };
    // One hop for the order and every stock hold: the shards commit them in parallel.
    const [created, ...held] = await Promise.all([
      this.d.pool.tell(orderKey(orderId), create),
      ...items.map((l) => this.d.pool.tell(skuKey(l.sku), { type: 'reserve', holdId: orderId, qty: l.qty, ttlMs: cfg.holdTtlMs })),
    ]);
    if (!created.ok) {
      // No order exists: release, and let a retry of the key start afresh.
      await this.steps.release(orderId, items, coupon, who.userId, { placed: false, total: 0, country: address.country, forget: true });
      return created;
    }
    this.steps.fault('reserved');
    // What a failure needs of the order is known here: no read of the order first.
    const known = { items, coupon, userId: who.userId, shippingAddress: address };
    const refused = held.find((r) => !r.ok);
    if (refused && !refused.ok) return this.steps.fail(orderId, refused.error, 'voided', undefined, known);

    const fraud = assessFraud({
      amount: totals.total,
      currency,
      // The last attempt is this one.
      history: { orders: start.history.orders, spent: start.history.spent, recentAttempts: start.history.attempts.slice(0, -1) },
      accountAgeMs: who.guest ? 0 : await this.d.accountAgeMs(who.userId, now),
      guest: who.guest,
      shippingCountry: address.country,
      knownCountries: start.history.countries,
      now,
    });
    if (fraud.decision === 'reject') {
      return this.steps.fail(
        orderId,
        { code: 'FRAUD_SUSPECTED', message: 'the payment was refused by risk checks', details: { riskScore: fraud.score } },
        'voided',
        fraud.score,
        known,
      );
    }
    const charge = await this.charge(orderId, totals.total, currency, args.token);
    if (charge.status !== 'approved') {
      return this.steps.fail(
        orderId,
        { code: 'PAYMENT_DECLINED', message: `the payment was declined (${charge.reason})`, details: { reason: charge.reason } },
        charge.reason === 'timeout' ? 'voided' : 'declined',
        fraud.score,
        known,
      );
    }
    this.steps.fault('charged');
    // What hop 4 needs is known here: no read of the order first. `now` is before the order's
    // own createdAt, so the holds are judged younger than they are not.
    const placed = { ...known, orderId, totals, createdAt: now, status: 'pending' as const };
    return this.steps.complete(placed, charge.transactionId, fraud, address);
  }

  /** Charges, giving up after the gateway timeout: then the charge is voided so it can never capture. */
  private async charge(
    orderId: string,
    amount: number,
    currency: string,
    token: string,
  ): Promise<{ status: 'approved'; transactionId: string } | { status: 'declined'; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Timeout()), this.d.config.gatewayTimeoutMs)));
    try {
      return await Promise.race([this.d.gateway.charge({ orderId, amount, currency, token }), timeout]);
    } catch (err) {
      const reason = err instanceof Timeout ? 'timeout' : 'gateway_unavailable';
      if (!(err instanceof Timeout)) log.error({ err }, `charge of ${orderId} failed`);
      await this.d.gateway.void(orderId);
      return { status: 'declined', reason };
    } finally {
      clearTimeout(timer);
    }
  }

  private async resumeNow(orderId: string): Promise<SagaResult> {
    const st = await this.steps.state(orderId);
    if (!st.ok) return st;
    const o = st.result;
    const charge = o.status === 'pending' ? await this.d.gateway.lookup(orderId) : undefined;
    switch (resumeAction(o, charge?.status === 'approved')) {
      case 'none':
        return outcome(o, this.d.openSealed);
      case 'complete':
        return this.steps.complete(o, (charge as { transactionId: string }).transactionId, undefined);
      case 'abandon':
        // Nothing was captured: make sure nothing can be, then undo the holds.
        await this.d.gateway.void(orderId);
        return this.steps.fail(orderId, { code: 'INTERNAL', message: 'the checkout was interrupted before payment; nothing was charged' }, 'voided');
      case 'compensate':
        await this.steps.release(orderId, o.items, o.coupon, o.userId, { placed: false, total: 0, country: o.shippingAddress.country });
        await this.d.pool.call(orderKey(orderId), { type: 'settle' });
        return outcome(o, this.d.openSealed);
      case 'finish': {
        // Confirmed in hop 4 before the crash: its commits again (each answers once), then the end.
        if (o.committing) return this.steps.complete(o, o.payment.transactionId!, undefined);
        await this.d.pool.call(cartKey(o.userId), { type: 'checkoutEnded', orderId, placed: true, total: o.totals.total, country: o.shippingAddress.country });
        const settled = await this.d.pool.call(orderKey(orderId), { type: 'settle' });
        return settled.ok ? { ok: true, result: settled.result } : settled;
      }
      case 'work':
        return runOrderWork(o, this.d.gateway, this.d.pool);
    }
  }
}
