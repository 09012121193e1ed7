// What the checkout saga needs from a payment provider. The built-in simulator
// (src/workers/simulated-gateway.ts) implements it over a durable ledger actor; a real provider's
// adapter would implement the same four calls with the order id as the idempotency key.

export type ChargeOutcome = { status: 'approved'; transactionId: string } | { status: 'declined'; reason: string };

export interface ChargeRequest {
  /** The idempotency key at the provider: a charge retried with it never charges twice. */
  orderId: string;
  amount: number;
  currency: string;
  /** The gateway token the client got from the provider (never card data). */
  token: string;
}

export interface PaymentGateway {
  /** Authorizes and captures `amount`; may take longer than the caller wants to wait (see void). */
  charge(req: ChargeRequest): Promise<ChargeOutcome>;
  /** What the provider knows of this order's charge, if anything. */
  lookup(orderId: string): Promise<ChargeOutcome | undefined>;
  /**
   * The caller gave up on the charge (a timeout, a crash): no later charge with this order id may
   * capture, and one that already did is refunded in full.
   */
  void(orderId: string): Promise<void>;
  /** Refunds part of a captured charge, once per refundId. */
  refund(orderId: string, refundId: string, amount: number, reason?: string): Promise<void>;
}
