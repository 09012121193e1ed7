// The built-in payment gateway: a simulator behind the PaymentGateway interface, for demos, tests
// and benchmarks. Its ledger is an actor per order (src/actors/payment-actor.ts) on the shards, so
// it remembers charges across crashes the way a real provider does: a retried charge with the
// same order id never charges twice. `tok_timeout` answers only after the caller's timeout.
import { randomId } from '../../protocol/ids.js';
import type { ChargeOutcome, ChargeRequest, PaymentGateway } from '../../actors/payment-gateway.js';
import { tokenBehaviour, type PaymentCharge, type PaymentCommand } from '../../actors/payment-actor.js';
import type { ShardPool } from '../shard-pool.js';
import { paymentKey } from '../../protocol/keys.js';

export class GatewayError extends Error {}

export class SimulatedGateway implements PaymentGateway {
  constructor(
    private readonly pool: ShardPool,
    /** How long a `tok_timeout` charge keeps its caller waiting. */
    private readonly hangMs: number,
  ) {}

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    const transactionId = randomId('txn', 12);
    // The saga charges an order once, right after minting its id: the ledger is new (FreshHint).
    const charge = await this.call(req.orderId, { type: 'charge', amount: req.amount, currency: req.currency, token: req.token, transactionId, fresh: true });
    if (tokenBehaviour(req.token) === 'timeout') await new Promise((resolve) => setTimeout(resolve, this.hangMs).unref());
    return outcome(charge!);
  }

  async lookup(orderId: string): Promise<ChargeOutcome | undefined> {
    const charge = await this.call(orderId, { type: 'get' }, true);
    return charge ? outcome(charge) : undefined;
  }

  async void(orderId: string): Promise<void> {
    await this.call(orderId, { type: 'void' });
  }

  async refund(orderId: string, refundId: string, amount: number, reason?: string): Promise<void> {
    await this.call(orderId, reason === undefined ? { type: 'refund', refundId, amount } : { type: 'refund', refundId, amount, reason });
  }

  /** The ledger's charge after `cmd` (null: a ledger that never saw its order, for `get`). */
  private async call(orderId: string, cmd: PaymentCommand, missingOk = false): Promise<PaymentCharge | null | undefined> {
    const r = await this.pool.call(paymentKey(orderId), cmd);
    if (r.ok) return r.result;
    if (missingOk && r.error.code === 'NOT_FOUND') return undefined;
    throw new GatewayError(`payment gateway refused ${cmd.type} for ${orderId}: ${r.error.code} ${r.error.message}`);
  }
}

function outcome(c: PaymentCharge): ChargeOutcome {
  return c.status === 'approved' && c.refunded < c.amount
    ? { status: 'approved', transactionId: c.transactionId! }
    : { status: 'declined', reason: c.declineReason ?? (c.status === 'approved' ? 'refunded' : c.status) };
}
