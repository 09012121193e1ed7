// The built-in gateway simulator's durable ledger: one actor per order (`payment:<orderId>`).
// It plays the payment provider's side. The provider remembers every charge by its idempotency
// key (the orderId), so a charge retried after a crash is answered from the ledger and never
// charges twice; refunds are idempotent by refundId and never exceed what was captured. Card data
// is never stored: only the token's name and transaction ids (which come in, like time).
//
// Lifecycle of one ledger:
//   (none) --charge--> approved | declined          (a retry returns the recorded charge)
//   (none) --void----> voided --charge--> declined 'voided'   (a late charge never captures)
//   approved --refund*--> approved, refunded grows up to amount
//   approved --void--> approved, refunded = amount  (refund `void` of what remained)
import { accept, reject, unchanged, type ActorType, type Decision, type FreshHint } from './actor.js';

/** Tokens the simulator knows and what each does (docs/protocol.md "Checkout and orders"). */
export const TEST_TOKENS = {
  tok_visa: 'approve',
  tok_mastercard: 'approve',
  tok_chargeDeclined: 'card_declined',
  tok_insufficientFunds: 'insufficient_funds',
  tok_timeout: 'timeout',
} as const;
export type TestToken = keyof typeof TEST_TOKENS;

export type DeclineReason = 'card_declined' | 'insufficient_funds' | 'timeout' | 'invalid_token' | 'voided';

/** Reserved refundId of the refund a `void` makes; a `refund` command may not use it. */
export const VOID_REFUND_ID = 'void';

/**
 * What the simulator does for a token: 'approve', a decline reason, or 'timeout' (the caller's
 * side delays the answer past its timeout). Unknown tokens decline with 'invalid_token'.
 */
export function tokenBehaviour(token: string): 'approve' | 'timeout' | Exclude<DeclineReason, 'timeout' | 'voided'> {
  // hasOwn, not `in`: `constructor` or `toString` are not tokens.
  return Object.hasOwn(TEST_TOKENS, token) ? TEST_TOKENS[token as TestToken] : 'invalid_token';
}

export interface PaymentRefund {
  refundId: string;
  amount: number;
  at: number;
  reason?: string;
}

/** The ledger's record of one order; also the reply of every command. */
export interface PaymentCharge {
  orderId: string;
  /** 'voided' only when the saga gave up before any charge reached the ledger. */
  status: 'approved' | 'declined' | 'voided';
  /** Minor units asked for (0 on a ledger voided before any charge). */
  amount: number;
  currency: string;
  /** The token's name ('' on a ledger voided before any charge). */
  token: string;
  /** Only on approved charges: declined ones moved no money. */
  transactionId?: string;
  declineReason?: DeclineReason;
  /** Sum of `refunds`; never above `amount`. */
  refunded: number;
  refunds: PaymentRefund[];
  createdAt: number;
  updatedAt: number;
  version: number;
}

export interface PaymentLedger {
  orderId: string;
  /** Undefined until the ledger first sees the order (charge or void). */
  charge: PaymentCharge | undefined;
}

export type PaymentCommand =
  | ({ type: 'charge'; amount: number; currency: string; token: string; transactionId: string } & FreshHint)
  | { type: 'refund'; refundId: string; amount: number; reason?: string }
  | { type: 'void' }
  | { type: 'get' };

export type PaymentEvent =
  | { type: 'charged'; amount: number; currency: string; token: string; transactionId: string; at: number }
  | { type: 'declined'; amount: number; currency: string; token: string; reason: DeclineReason; at: number }
  | { type: 'voided'; at: number }
  | { type: 'refunded'; refundId: string; amount: number; reason?: string; at: number };

const CURRENCY = /^[A-Z]{3}$/;

const isMinor = (n: number, min: number): boolean => Number.isSafeInteger(n) && n >= min;

function decideCharge(s: PaymentLedger, c: Extract<PaymentCommand, { type: 'charge' }>, now: number): Decision<PaymentEvent> {
  if (!isMinor(c.amount, 0)) return reject('BAD_REQUEST', `amount must be a non-negative integer of minor units, got ${c.amount}`);
  if (!CURRENCY.test(c.currency)) return reject('BAD_REQUEST', `currency must be three capital letters, got "${c.currency}"`);
  const ch = s.charge;
  if (ch && ch.status !== 'voided') {
    // The idempotency key is the orderId: a retry gets the recorded answer, never a second charge.
    if (ch.amount === c.amount && ch.currency === c.currency && ch.token === c.token) return unchanged();
    return reject('CONFLICT', `order ${s.orderId} was already charged with other terms`, {
      orderId: s.orderId,
      status: ch.status,
      amount: ch.amount,
      currency: ch.currency,
    });
  }
  const terms = { amount: c.amount, currency: c.currency, token: c.token, at: now };
  // The saga gave up on this order: a charge arriving late must never capture.
  if (ch) return accept([{ type: 'declined', ...terms, reason: 'voided' }]);
  const b = tokenBehaviour(c.token);
  if (b === 'approve') return accept([{ type: 'charged', ...terms, transactionId: c.transactionId }]);
  // 'timeout': the simulator's caller delays the answer; the ledger shows that no money moved.
  return accept([{ type: 'declined', ...terms, reason: b }]);
}

function decideRefund(s: PaymentLedger, c: Extract<PaymentCommand, { type: 'refund' }>, now: number): Decision<PaymentEvent> {
  const ch = s.charge;
  if (!ch || ch.status !== 'approved') {
    return reject('CONFLICT', `order ${s.orderId} has no approved charge to refund`, { orderId: s.orderId, status: ch ? ch.status : 'none' });
  }
  if (c.refundId === VOID_REFUND_ID) return reject('BAD_REQUEST', `refundId "${VOID_REFUND_ID}" is reserved for void`);
  if (!isMinor(c.amount, 1)) return reject('BAD_REQUEST', `refund amount must be an integer of at least 1 minor unit, got ${c.amount}`);
  const prior = ch.refunds.find((r) => r.refundId === c.refundId);
  if (prior) {
    // Idempotent by refundId, checked before the sum: a retry after the last refund still answers.
    if (prior.amount === c.amount) return unchanged();
    return reject('CONFLICT', `refund ${c.refundId} was already made with amount ${prior.amount}`, {
      refundId: c.refundId,
      amount: prior.amount,
      requested: c.amount,
    });
  }
  if (ch.refunded + c.amount > ch.amount) {
    return reject('CONFLICT', `refunds would exceed the captured ${ch.amount} (${ch.refunded} already refunded)`, {
      captured: ch.amount,
      refunded: ch.refunded,
      requested: c.amount,
    });
  }
  const reason = c.reason === undefined ? {} : { reason: c.reason };
  return accept([{ type: 'refunded', refundId: c.refundId, amount: c.amount, ...reason, at: now }]);
}

function decideVoid(s: PaymentLedger, now: number): Decision<PaymentEvent> {
  const ch = s.charge;
  if (!ch) return accept([{ type: 'voided', at: now }]);
  // Declined or already voided: no money moved, and every later charge gets the recorded answer.
  if (ch.status !== 'approved') return unchanged();
  const remaining = ch.amount - ch.refunded;
  if (remaining === 0) return unchanged();
  return accept([{ type: 'refunded', refundId: VOID_REFUND_ID, amount: remaining, reason: 'void', at: now }]);
}

export function decide(s: PaymentLedger, c: PaymentCommand, now: number): Decision<PaymentEvent> {
  switch (c.type) {
    case 'charge':
      return decideCharge(s, c, now);
    case 'refund':
      return decideRefund(s, c, now);
    case 'void':
      return decideVoid(s, now);
    case 'get':
      return s.charge ? unchanged() : reject('NOT_FOUND', `no payment for order ${s.orderId}`, { orderId: s.orderId });
  }
}

function fresh(orderId: string, at: number): PaymentCharge {
  return { orderId, status: 'voided', amount: 0, currency: '', token: '', refunded: 0, refunds: [], createdAt: at, updatedAt: at, version: 0 };
}

/** Events are facts: no checks here. Mutates and returns the ledger. */
export function apply(s: PaymentLedger, e: PaymentEvent): PaymentLedger {
  const ch = (s.charge ??= fresh(s.orderId, e.at));
  switch (e.type) {
    case 'charged':
      ch.status = 'approved';
      ch.amount = e.amount;
      ch.currency = e.currency;
      ch.token = e.token;
      ch.transactionId = e.transactionId;
      break;
    case 'declined':
      ch.status = 'declined';
      ch.amount = e.amount;
      ch.currency = e.currency;
      ch.token = e.token;
      ch.declineReason = e.reason;
      break;
    case 'voided':
      ch.status = 'voided';
      break;
    case 'refunded':
      ch.refunds.push(
        e.reason === undefined ? { refundId: e.refundId, amount: e.amount, at: e.at } : { refundId: e.refundId, amount: e.amount, at: e.at, reason: e.reason },
      );
      ch.refunded += e.amount;
      break;
  }
  ch.version++;
  ch.updatedAt = e.at;
  return s;
}

/** The full charge record, or null for a ledger that never saw its order (no command replies with that). */
export function view(s: PaymentLedger): PaymentCharge | null {
  return s.charge ? copyCharge(s.charge) : null;
}

export function create(orderId: string): PaymentLedger {
  return { orderId, charge: undefined };
}

function copyCharge(ch: PaymentCharge): PaymentCharge {
  return { ...ch, refunds: ch.refunds.map((r) => ({ ...r })) };
}

/** The charge record after each command (null only for `get` of a ledger that never saw its order). */
export type PaymentResults = { readonly [T in PaymentCommand['type']]: PaymentCharge | null };

export const PaymentActor: ActorType<PaymentLedger, PaymentCommand, PaymentEvent, PaymentResults> = {
  kind: 'payment',
  // One ledger per order: out of memory a minute after its last use (see ActorType.idleMs).
  idleMs: 60_000,
  create,
  decide,
  apply,
  view,
  snapshot: (s): PaymentCharge | null => (s.charge ? copyCharge(s.charge) : null),
  restore(orderId, data) {
    const d = data as PaymentCharge | null;
    return { orderId, charge: d ? copyCharge(d) : undefined };
  },
};
