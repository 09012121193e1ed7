// The payment ledger (gateway simulator) as pure functions: every test token's outcome, charge
// idempotency by orderId, void before and after a charge, refund arithmetic and idempotency, and
// properties over random command sequences (refunded <= captured, replay == live, snapshot exact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PaymentActor,
  TEST_TOKENS,
  VOID_REFUND_ID,
  tokenBehaviour,
  view,
  type PaymentCharge,
  type PaymentCommand,
  type PaymentEvent,
  type PaymentLedger,
} from '../src/actors/payment-actor.js';
import type { Decision } from '../src/actors/actor.js';
import type { ErrorCode } from '../src/protocol/errors.js';
import { decodeRow, encodeRow } from '../src/persistence/row-codec.js';
import { paymentKey } from '../src/protocol/keys.js';
import { NO_PRICES } from './helpers/actor-context.js';

const T0 = 1_700_000_000_000;
const ORDER = 'ord_1';

/** Decides and applies like the shard runtime does, and checks that decide left the state alone. */
function step(s: PaymentLedger, cmd: PaymentCommand, now: number): Decision<PaymentEvent> {
  const before = structuredClone(PaymentActor.snapshot(s));
  const d = PaymentActor.decide(s, cmd, now, NO_PRICES);
  assert.deepEqual(PaymentActor.snapshot(s), before, 'decide must not change the state');
  if (!d.error) for (const e of d.events) PaymentActor.apply(s, e);
  return d;
}

function accepted(d: Decision<PaymentEvent>): readonly PaymentEvent[] {
  if (d.error) assert.fail(`expected acceptance, got ${JSON.stringify(d.error)}`);
  return d.events;
}

function rejected(d: Decision<PaymentEvent>, code: ErrorCode): Record<string, unknown> | undefined {
  if (!d.error) return assert.fail(`expected ${code}, got events ${JSON.stringify(d.events)}`);
  assert.equal(d.error.code, code);
  assert.ok(d.error.message.length > 0);
  return d.error.details;
}

const charge = (token: string, amount = 10_000, currency = 'USD', transactionId = 'txn_1'): PaymentCommand => ({
  type: 'charge',
  amount,
  currency,
  token,
  transactionId,
});
const refund = (refundId: string, amount: number, reason?: string): PaymentCommand =>
  reason === undefined ? { type: 'refund', refundId, amount } : { type: 'refund', refundId, amount, reason };

function current(s: PaymentLedger): PaymentCharge {
  const v = view(s);
  assert.ok(v, 'the ledger has a record');
  return v;
}

function approvedLedger(amount = 10_000): PaymentLedger {
  const s = PaymentActor.create(ORDER);
  accepted(step(s, charge('tok_visa', amount), T0));
  return s;
}

test('kind, key and token table', () => {
  assert.equal(PaymentActor.kind, 'payment');
  assert.equal(paymentKey('ord_9'), 'payment:ord_9');
  assert.equal(tokenBehaviour('tok_visa'), 'approve');
  assert.equal(tokenBehaviour('tok_mastercard'), 'approve');
  assert.equal(tokenBehaviour('tok_chargeDeclined'), 'card_declined');
  assert.equal(tokenBehaviour('tok_insufficientFunds'), 'insufficient_funds');
  assert.equal(tokenBehaviour('tok_timeout'), 'timeout');
  for (const t of ['tok_unknown', '', 'constructor', 'toString', '__proto__', 'TOK_VISA']) assert.equal(tokenBehaviour(t), 'invalid_token', t);
});

test('every token: approve records the transaction id, the others decline with their reason and no transaction', () => {
  const expected: Record<string, { status: PaymentCharge['status']; reason?: string }> = {
    tok_visa: { status: 'approved' },
    tok_mastercard: { status: 'approved' },
    tok_chargeDeclined: { status: 'declined', reason: 'card_declined' },
    tok_insufficientFunds: { status: 'declined', reason: 'insufficient_funds' },
    tok_timeout: { status: 'declined', reason: 'timeout' },
    tok_made_up: { status: 'declined', reason: 'invalid_token' },
  };
  assert.deepEqual(
    Object.keys(TEST_TOKENS).sort(),
    Object.keys(expected)
      .filter((t) => t !== 'tok_made_up')
      .sort(),
  );
  for (const [token, want] of Object.entries(expected)) {
    const s = PaymentActor.create(ORDER);
    const events = accepted(step(s, charge(token, 12_345, 'EUR', 'txn_x'), T0 + 5));
    assert.equal(events.length, 1, token);
    const c = current(s);
    assert.equal(c.status, want.status, token);
    assert.equal(c.declineReason, want.reason, token);
    assert.equal(c.transactionId, want.status === 'approved' ? 'txn_x' : undefined, token);
    assert.deepEqual(
      {
        orderId: c.orderId,
        amount: c.amount,
        currency: c.currency,
        token: c.token,
        refunded: c.refunded,
        refunds: c.refunds,
        createdAt: c.createdAt,
        updatedAt: c.updatedAt,
        version: c.version,
      },
      { orderId: ORDER, amount: 12_345, currency: 'EUR', token, refunded: 0, refunds: [], createdAt: T0 + 5, updatedAt: T0 + 5, version: 1 },
      token,
    );
  }
});

test('charge is idempotent by orderId: a retry gets the recorded answer, other terms are CONFLICT', () => {
  for (const token of ['tok_visa', 'tok_chargeDeclined', 'tok_timeout']) {
    const s = PaymentActor.create(ORDER);
    assert.equal(accepted(step(s, charge(token, 5000, 'USD', 'txn_a'), T0)).length, 1);
    const first = current(s);
    // The retry carries a fresh transaction id (ids come in); the ledger keeps the first one.
    assert.equal(accepted(step(s, charge(token, 5000, 'USD', 'txn_b'), T0 + 1000)).length, 0, `${token}: a retry records nothing`);
    assert.deepEqual(current(s), first, `${token}: a retry changes nothing`);
    rejected(step(s, charge(token, 5001, 'USD', 'txn_c'), T0 + 2000), 'CONFLICT');
    rejected(step(s, charge(token, 5000, 'EUR', 'txn_c'), T0 + 2000), 'CONFLICT');
    rejected(step(s, charge(token === 'tok_visa' ? 'tok_mastercard' : 'tok_visa', 5000, 'USD', 'txn_c'), T0 + 2000), 'CONFLICT');
    assert.deepEqual(current(s), first);
  }
});

test('charge validates amount and currency', () => {
  const s = PaymentActor.create(ORDER);
  for (const amount of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) rejected(step(s, charge('tok_visa', amount), T0), 'BAD_REQUEST');
  for (const currency of ['usd', 'US', 'USDT', '']) rejected(step(s, charge('tok_visa', 100, currency), T0), 'BAD_REQUEST');
  assert.equal(view(s), null, 'nothing recorded');
  // A zero total (a 100% coupon) is a valid charge that moves no money.
  accepted(step(s, charge('tok_visa', 0), T0));
  assert.equal(current(s).status, 'approved');
});

test('get: NOT_FOUND for a ledger that never saw the order, else the full record', () => {
  const s = PaymentActor.create(ORDER);
  assert.deepEqual(rejected(step(s, { type: 'get' }, T0), 'NOT_FOUND'), { orderId: ORDER });
  accepted(step(s, charge('tok_visa'), T0));
  assert.equal(accepted(step(s, { type: 'get' }, T0 + 1)).length, 0);
  assert.equal(current(s).status, 'approved');
});

test('void before any charge: a late charge is declined "voided", even with an approving token', () => {
  const s = PaymentActor.create(ORDER);
  assert.equal(accepted(step(s, { type: 'void' }, T0)).length, 1);
  const voided = current(s);
  assert.equal(voided.status, 'voided');
  assert.equal(voided.amount, 0);
  assert.equal(accepted(step(s, { type: 'void' }, T0 + 1)).length, 0, 'void is idempotent');
  assert.equal(accepted(step(s, { type: 'get' }, T0 + 1)).length, 0, 'a voided ledger has seen the order');
  rejected(step(s, refund('r1', 1), T0 + 2), 'CONFLICT');

  assert.equal(accepted(step(s, charge('tok_visa', 7000, 'USD', 'txn_late'), T0 + 3)).length, 1);
  const late = current(s);
  assert.equal(late.status, 'declined');
  assert.equal(late.declineReason, 'voided');
  assert.equal(late.transactionId, undefined, 'nothing captured');
  assert.equal(late.amount, 7000);
  assert.equal(late.createdAt, T0, 'created when the ledger first saw the order');
  assert.equal(late.updatedAt, T0 + 3);
  // The late charge's retry gets the same answer, and the ledger stays declined.
  assert.equal(accepted(step(s, charge('tok_visa', 7000, 'USD', 'txn_late2'), T0 + 4)).length, 0);
  assert.equal(accepted(step(s, { type: 'void' }, T0 + 5)).length, 0);
  assert.deepEqual(current(s), late);
});

test('void after a declined charge changes nothing', () => {
  const s = PaymentActor.create(ORDER);
  accepted(step(s, charge('tok_timeout'), T0));
  const declined = current(s);
  assert.equal(accepted(step(s, { type: 'void' }, T0 + 1)).length, 0);
  assert.deepEqual(current(s), declined);
});

test('void after an approved charge refunds what remains with refundId "void", once', () => {
  const s = approvedLedger(10_000);
  accepted(step(s, refund('r1', 3000, 'damaged'), T0 + 1));
  const events = accepted(step(s, { type: 'void' }, T0 + 2));
  assert.deepEqual(events, [{ type: 'refunded', refundId: VOID_REFUND_ID, amount: 7000, reason: 'void', at: T0 + 2 }]);
  const c = current(s);
  assert.equal(c.status, 'approved', 'money was captured, then given back');
  assert.equal(c.refunded, 10_000);
  assert.equal(accepted(step(s, { type: 'void' }, T0 + 3)).length, 0, 'void is idempotent');
  rejected(step(s, refund('r2', 1), T0 + 4), 'CONFLICT');
  // A charge retried after the void still gets the recorded (fully refunded) answer.
  assert.equal(accepted(step(s, charge('tok_visa', 10_000, 'USD', 'txn_9'), T0 + 5)).length, 0);
  assert.equal(current(s).refunded, 10_000);

  const full = approvedLedger(500);
  accepted(step(full, refund('all', 500), T0 + 1));
  assert.equal(accepted(step(full, { type: 'void' }, T0 + 2)).length, 0, 'nothing remains to void');
});

test('refund arithmetic: partials summing exactly to the capture pass, one unit more is CONFLICT with details', () => {
  const s = approvedLedger(10_000);
  accepted(step(s, refund('r1', 2500), T0 + 1));
  accepted(step(s, refund('r2', 2500, 'late delivery'), T0 + 2));
  accepted(step(s, refund('r3', 4999), T0 + 3));
  assert.deepEqual(rejected(step(s, refund('r4', 2), T0 + 4), 'CONFLICT'), { captured: 10_000, refunded: 9999, requested: 2 });
  accepted(step(s, refund('r4', 1), T0 + 5));
  assert.deepEqual(rejected(step(s, refund('r5', 1), T0 + 6), 'CONFLICT'), { captured: 10_000, refunded: 10_000, requested: 1 });
  const c = current(s);
  assert.equal(c.refunded, 10_000);
  assert.deepEqual(c.refunds, [
    { refundId: 'r1', amount: 2500, at: T0 + 1 },
    { refundId: 'r2', amount: 2500, at: T0 + 2, reason: 'late delivery' },
    { refundId: 'r3', amount: 4999, at: T0 + 3 },
    { refundId: 'r4', amount: 1, at: T0 + 5 },
  ]);
  assert.equal(c.version, 5);
  assert.equal(c.updatedAt, T0 + 5);
});

test('refund is idempotent by refundId, validated, and only on approved charges', () => {
  const s = approvedLedger(1000);
  assert.equal(accepted(step(s, refund('r1', 600), T0 + 1)).length, 1);
  assert.equal(accepted(step(s, refund('r1', 600), T0 + 2)).length, 0, 'same refundId twice counts once');
  assert.equal(current(s).refunded, 600);
  // Answered from the record even though a second 600 would not fit any more.
  assert.deepEqual(rejected(step(s, refund('r1', 300), T0 + 3), 'CONFLICT'), { refundId: 'r1', amount: 600, requested: 300 });
  for (const amount of [0, -5, 1.5, Number.NaN]) rejected(step(s, refund('r2', amount), T0 + 4), 'BAD_REQUEST');
  rejected(step(s, refund(VOID_REFUND_ID, 1), T0 + 4), 'BAD_REQUEST');
  assert.equal(current(s).refunded, 600);

  for (const token of ['tok_chargeDeclined', 'tok_insufficientFunds', 'tok_timeout', 'tok_bogus']) {
    const d = PaymentActor.create(ORDER);
    accepted(step(d, charge(token), T0));
    assert.deepEqual(rejected(step(d, refund('r1', 1), T0 + 1), 'CONFLICT'), { orderId: ORDER, status: 'declined' }, token);
  }
  assert.deepEqual(rejected(step(PaymentActor.create(ORDER), refund('r1', 1), T0), 'CONFLICT'), { orderId: ORDER, status: 'none' });
});

test('the reply is a copy: mutating it does not touch the ledger', () => {
  const s = approvedLedger();
  accepted(step(s, refund('r1', 10), T0 + 1));
  const v = current(s);
  v.refunds[0].amount = 999;
  v.refunded = 999;
  assert.equal(current(s).refunds[0].amount, 10);
  assert.equal(current(s).refunded, 10);
});

// ---------------------------------------------------------------------------------------------
// Properties over random command sequences.

const TOKENS = [...Object.keys(TEST_TOKENS), 'tok_bogus'];
const cmdArb: fc.Arbitrary<PaymentCommand> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant('charge' as const),
      // Few distinct terms, so that retries with the same terms (and with other ones) are common.
      amount: fc.oneof(
        { arbitrary: fc.constant(1000), weight: 4 },
        { arbitrary: fc.constantFrom(0, 1), weight: 1 },
        { arbitrary: fc.integer({ min: 0, max: 3000 }), weight: 1 },
      ),
      currency: fc.oneof({ arbitrary: fc.constant('USD'), weight: 5 }, { arbitrary: fc.constant('EUR'), weight: 1 }),
      token: fc.oneof({ arbitrary: fc.constantFrom('tok_visa', 'tok_mastercard'), weight: 3 }, { arbitrary: fc.constantFrom(...TOKENS), weight: 2 }),
      transactionId: fc.constantFrom('txn_a', 'txn_b', 'txn_c'),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record(
      {
        type: fc.constant('refund' as const),
        refundId: fc.constantFrom('r1', 'r2', 'r3', 'r4', VOID_REFUND_ID),
        amount: fc.oneof(fc.integer({ min: -1, max: 400 }), fc.integer({ min: 1, max: 3000 })),
        reason: fc.constantFrom('damaged', 'goodwill'),
      },
      { requiredKeys: ['type', 'refundId', 'amount'] },
    ),
    weight: 4,
  },
  { arbitrary: fc.constant({ type: 'void' as const }), weight: 1 },
  { arbitrary: fc.constant({ type: 'get' as const }), weight: 1 },
);

function checkInvariants(s: PaymentLedger): void {
  const c = s.charge;
  if (!c) return;
  assert.ok(c.refunded >= 0 && c.refunded <= c.amount, `0 <= refunded ${c.refunded} <= captured ${c.amount}`);
  assert.equal(
    c.refunded,
    c.refunds.reduce((n, r) => n + r.amount, 0),
    'refunded is the sum of the refunds',
  );
  assert.equal(new Set(c.refunds.map((r) => r.refundId)).size, c.refunds.length, 'refund ids are unique');
  if (c.status !== 'approved') assert.equal(c.refunded, 0, 'only approved charges have refunds');
  assert.equal(c.transactionId !== undefined, c.status === 'approved', 'a transaction id exactly on approved charges');
  assert.equal(c.declineReason !== undefined, c.status === 'declined', 'a decline reason exactly on declined charges');
}

test('property: refunded <= captured always, the charge never changes once made, replay == live, snapshot -> restore exact', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 40 }), (cmds) => {
      const live = PaymentActor.create(ORDER);
      const journal: PaymentEvent[] = [];
      let now = T0;
      let charged: { status: string; amount: number; transactionId?: string } | undefined;
      let voidedFirst = false;
      for (const cmd of cmds) {
        now += 7;
        const before = live.charge ? { ...live.charge } : undefined;
        const d = step(live, cmd, now);
        if (!d.error) journal.push(...d.events);
        checkInvariants(live);
        const after = live.charge;
        // Oracle: the first charge decides the record for good; a void before it forbids approval.
        if (!before && cmd.type === 'void') voidedFirst = true;
        if (after && after.status !== 'voided') {
          if (charged) assert.deepEqual({ status: after.status, amount: after.amount, transactionId: after.transactionId }, charged);
          else charged = { status: after.status, amount: after.amount, transactionId: after.transactionId };
          if (voidedFirst) assert.equal(after.declineReason, 'voided');
        }
        if (before && d.error) assert.deepEqual(live.charge, before, 'a rejected command changes nothing');
        if (cmd.type === 'get' || (cmd.type === 'void' && before?.status === 'voided')) assert.equal(d.error ? 0 : d.events.length, 0);
        if (d.error === undefined && d.events.length > 0) assert.equal(after?.version, (before?.version ?? 0) + d.events.length);
      }
      // Replay of the journal (through the msgpack row codec, as on disk) equals the live state.
      const replayed = (decodeRow(encodeRow(journal)) as PaymentEvent[]).reduce((state, e) => PaymentActor.apply(state, e), PaymentActor.create(ORDER));
      assert.deepEqual(replayed, live);
      const restored = PaymentActor.restore(ORDER, decodeRow(encodeRow(PaymentActor.snapshot(live))));
      assert.deepEqual(restored, live);
      assert.deepEqual(view(restored), view(live));
      // The restored ledger carries on exactly as the live one.
      for (const cmd of cmds.slice(0, 5)) {
        const a = PaymentActor.decide(live, cmd, now + 1, NO_PRICES);
        const b = PaymentActor.decide(restored, cmd, now + 1, NO_PRICES);
        assert.deepEqual(b, a);
        if (!a.error)
          for (const e of a.events) {
            PaymentActor.apply(live, e);
            PaymentActor.apply(restored, e);
          }
      }
      assert.deepEqual(restored, live);
    }),
    { numRuns: 400 },
  );
});
