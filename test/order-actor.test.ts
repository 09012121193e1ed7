// The order actor as pure functions: every (status x command) pair of its status machine against
// the table of docs/protocol.md "Orders", the refund arithmetic (never more than was captured,
// `refunded` exactly when nothing remains), the work outbox (a change is recorded first, finished
// by workDone, idempotent by work id), the domain events each fact logs, and a property over
// random command sequences that replay rebuilds the live state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OrderActor, apply, create, decide, refundable, view, type Order, type OrderCommand, type OrderEvent } from '../src/actors/order-actor.js';
import { decodeRow, encodeRow } from '../src/persistence/row-codec.js';
import type { OrderStatus } from '../src/protocol/types.js';

const T0 = 1_700_000_000_000;
const OWNER = 'u_owner';
const OTHER = 'u_other';
const TOTAL = 3979;

const CREATE: OrderCommand = {
  type: 'create',
  orderNumber: 'CW-2311-ABCDEF',
  userId: OWNER,
  items: [{ sku: 'sku-a', productId: 'p-a', name: 'A', qty: 2, unitPrice: 1450, lineTotal: 2900 }],
  totals: { subtotal: 2900, discount: 0, tax: 580, shipping: 499, total: TOTAL },
  currency: 'USD',
  shippingAddress: { name: 'Ada', line1: '1 St', city: 'London', postalCode: 'SW1', country: 'GB' },
  paymentToken: 'tok_visa',
  idempotencyKey: 'k1',
  deadlineMs: 30_000,
};

type Decision = ReturnType<typeof decide>;

/** Runs one command like the shard runtime: decide, then apply every event; returns the decision. */
function run(o: Order, c: OrderCommand, now = T0, log?: OrderEvent[]): Decision {
  const d = decide(o, c, now);
  if (!d.error)
    for (const e of d.events) {
      apply(o, e);
      log?.push(e);
    }
  return d;
}

function ok(o: Order, c: OrderCommand, now = T0, log?: OrderEvent[]): void {
  const d = run(o, c, now, log);
  assert.equal(d.error, undefined, `${c.type} on a ${o.status} order: ${JSON.stringify(d.error)}`);
}

/** Finishes the recorded work as the driver would (refund and restock done). */
function finishWork(o: Order, now = T0, log?: OrderEvent[]): void {
  if (o.work) ok(o, { type: 'workDone', workId: o.work.id }, now, log);
}

let workSeq = 0;
const wid = (kind: string) => `${kind}_${++workSeq}`;
const cmd = {
  cancel: (as?: string): OrderCommand => ({ type: 'cancel', workId: wid('cancel'), deadlineMs: 30_000, ...(as === undefined ? {} : { as }) }),
  refund: (amount?: number): OrderCommand => ({ type: 'refund', workId: wid('refund'), deadlineMs: 30_000, ...(amount === undefined ? {} : { amount }) }),
  ret: (): OrderCommand => ({ type: 'return', workId: wid('return'), deadlineMs: 30_000 }),
};

/** The states an order can be in, each reached through the commands that lead there. */
const STATES = {
  pending: () => [],
  confirmed: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }],
  // No v1 op sets `processing` (it is for fulfilment integrations): put there by hand.
  processing: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, 'processing'],
  shipped: () => [
    { type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 },
    { type: 'ship', carrier: 'DHL' },
  ],
  delivered: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, { type: 'ship' }, { type: 'deliver' }],
  cancelled: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, cmd.cancel(OWNER), 'work'],
  'cancelled at checkout': () => [{ type: 'fail', code: 'PAYMENT_DECLINED', message: 'declined', details: { reason: 'card_declined' }, payment: 'declined' }],
  refunded: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, cmd.refund(), 'work'],
  returned: () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, { type: 'ship' }, { type: 'deliver' }, cmd.ret(), 'work'],
  'confirmed, partial refund running': () => [{ type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 }, cmd.refund(100)],
} satisfies Record<string, () => (OrderCommand | 'processing' | 'work')[]>;
type StateName = keyof typeof STATES;

function orderIn(state: StateName): Order {
  const o = create('ord_1');
  ok(o, CREATE);
  for (const step of STATES[state]()) {
    if (step === 'processing') o.status = 'processing';
    else if (step === 'work') finishWork(o);
    else ok(o, step);
  }
  return o;
}

/**
 * What a command does in each state: the status once its work is done, `=` (accepted, nothing
 * changes), or the error code. C = CONFLICT, N = NOT_FOUND.
 */
type Outcome = OrderStatus | '=' | 'C' | 'N';
const COMMANDS = {
  'cancel (owner)': () => cmd.cancel(OWNER),
  'cancel (admin)': () => cmd.cancel(),
  'cancel (another user)': () => cmd.cancel(OTHER),
  ship: (): OrderCommand => ({ type: 'ship', carrier: 'UPS', trackingNumber: '1Z' }),
  deliver: (): OrderCommand => ({ type: 'deliver' }),
  'refund (all)': () => cmd.refund(),
  'refund (1 unit)': () => cmd.refund(1),
  return: () => cmd.ret(),
  'confirm (same txn)': (): OrderCommand => ({ type: 'confirm', transactionId: 'txn_1', riskScore: null }),
  'confirm (other txn)': (): OrderCommand => ({ type: 'confirm', transactionId: 'txn_2', riskScore: null }),
  fail: (): OrderCommand => ({ type: 'fail', code: 'INTERNAL', message: 'x', payment: 'voided' }),
  'get (owner)': (): OrderCommand => ({ type: 'get', as: OWNER }),
  'get (another user)': (): OrderCommand => ({ type: 'get', as: OTHER }),
} satisfies Record<string, () => OrderCommand>;
type CommandName = keyof typeof COMMANDS;
const CMD_NAMES = Object.keys(COMMANDS) as CommandName[];

//                                 cancel   cancel   cancel  ship       deliver      refund      refund        return      confirm      confirm   fail        get  get
//                                 owner    admin    other                           all         1 unit                    same txn     other txn             own  other
const TABLE: Record<StateName, Outcome[]> = {
  pending: ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', 'confirmed', 'confirmed', 'cancelled', '=', 'N'],
  confirmed: ['cancelled', 'cancelled', 'N', 'shipped', 'C', 'refunded', 'confirmed', 'C', '=', '=', 'C', '=', 'N'],
  processing: ['cancelled', 'cancelled', 'N', 'shipped', 'C', 'refunded', 'processing', 'C', '=', 'C', 'C', '=', 'N'],
  shipped: ['C', 'C', 'N', 'C', 'delivered', 'refunded', 'shipped', 'C', '=', 'C', 'C', '=', 'N'],
  delivered: ['C', 'C', 'N', 'C', 'C', 'refunded', 'delivered', 'returned', '=', 'C', 'C', '=', 'N'],
  cancelled: ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', '=', 'C', 'C', '=', 'N'],
  'cancelled at checkout': ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', 'C', 'C', '=', '=', 'N'],
  refunded: ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', '=', 'C', 'C', '=', 'N'],
  returned: ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', '=', 'C', 'C', '=', 'N'],
  'confirmed, partial refund running': ['C', 'C', 'N', 'C', 'C', 'C', 'C', 'C', '=', '=', 'C', '=', 'N'],
};

test('every (status x command) pair answers as the status table says', () => {
  const failures: string[] = [];
  for (const state of Object.keys(STATES) as StateName[]) {
    CMD_NAMES.forEach((name, i) => {
      const o = orderIn(state);
      const before = structuredClone(o);
      const expected = TABLE[state][i];
      const d = run(o, COMMANDS[name]());
      let got: string;
      if (d.error) {
        got = d.error.code === 'CONFLICT' ? 'C' : d.error.code === 'NOT_FOUND' ? 'N' : d.error.code;
        // A refused command changes nothing, and says why.
        assert.deepEqual(o, before, `${state} x ${name}: a refusal changed the order`);
        if (got === 'C' && !('work' in (d.error.details ?? {})) && !('captured' in (d.error.details ?? {}))) {
          assert.deepEqual(d.error.details, { orderId: 'ord_1', status: before.status }, `${state} x ${name}: CONFLICT details`);
        }
        if (got === 'N') assert.deepEqual(d.error.details, { orderId: 'ord_1' });
      } else if (d.events.length === 0) {
        got = '=';
        assert.deepEqual(o, before, `${state} x ${name}: an unchanged answer changed the order`);
      } else {
        finishWork(o);
        got = o.status;
      }
      if (got !== expected) failures.push(`${state} x ${name}: expected ${expected}, got ${got}${d.error ? ` (${d.error.message})` : ''}`);
    });
  }
  assert.deepEqual(failures, []);
});

test('every command on an order that does not exist is NOT_FOUND; create twice creates once', () => {
  for (const name of CMD_NAMES) {
    const d = decide(create('ord_x'), COMMANDS[name](), T0);
    assert.equal(d.error?.code, 'NOT_FOUND', name);
  }
  for (const c of [{ type: 'settle' }, { type: 'deliver' }, { type: 'workDone', workId: 'w' }, { type: 'timer' }] as OrderCommand[]) {
    assert.equal(decide(create('ord_x'), c, T0).error?.code, 'NOT_FOUND', c.type);
  }
  const o = orderIn('pending');
  assert.deepEqual(decide(o, CREATE, T0 + 1), { events: [] });
  assert.deepEqual([o.status, o.version, o.open, o.checkAt], ['pending', 1, true, T0 + 30_000]);
});

test('cancel and return record restocking work with a refund of what remains; the status moves at once, the money once done', () => {
  const o = orderIn('confirmed');
  const c = cmd.cancel(OWNER);
  ok(o, c, T0 + 10);
  assert.equal(o.status, 'cancelled', 'decided at once: nothing can ship it meanwhile');
  assert.deepEqual(o.work, { id: (c as { workId: string }).workId, kind: 'cancel', amount: TOTAL, restock: true, then: 'cancelled' });
  assert.deepEqual([o.open, o.checkAt, o.payment.refunded, o.payment.status], [true, T0 + 10 + 30_000, 0, 'approved']);
  assert.deepEqual(decide(o, c, T0 + 11), { events: [] }, 'the same work id again: unchanged (a retried request)');
  assert.deepEqual(decide(o, { type: 'workDone', workId: 'another' }, T0 + 11), { events: [] }, 'workDone of another work: unchanged');
  finishWork(o, T0 + 20);
  assert.deepEqual([o.status, o.work, o.open, o.payment.refunded, o.payment.status], ['cancelled', undefined, false, TOTAL, 'refunded']);
  assert.deepEqual(o.refunds, [{ refundId: (c as { workId: string }).workId, amount: TOTAL, at: T0 + 20 }]);

  const r = orderIn('delivered');
  ok(r, cmd.refund(979));
  finishWork(r);
  const ret = cmd.ret();
  ok(r, ret);
  assert.deepEqual(r.work, { id: (ret as { workId: string }).workId, kind: 'return', amount: TOTAL - 979, restock: true, then: 'returned' });
  finishWork(r);
  assert.deepEqual([r.status, r.payment.refunded, r.payment.status, r.refunds.map((x) => x.amount)], ['returned', TOTAL, 'refunded', [979, TOTAL - 979]]);

  // Refunds that take everything leave nothing to return: `refunded` is final.
  const full = orderIn('delivered');
  ok(full, cmd.refund(TOTAL - 1));
  finishWork(full);
  ok(full, cmd.refund(1));
  finishWork(full);
  assert.equal(full.status, 'refunded');
  assert.equal(decide(full, cmd.ret(), T0).error?.code, 'CONFLICT');
});

test('refunds: partials summing to exactly the capture make it refunded; one unit more is CONFLICT with captured/refunded/requested', () => {
  const o = orderIn('shipped');
  for (const [amount, status, pay] of [
    [1000, 'shipped', 'partially_refunded'],
    [2000, 'shipped', 'partially_refunded'],
  ] as const) {
    ok(o, cmd.refund(amount));
    assert.equal(o.payment.refunded, amount === 1000 ? 0 : 1000, 'the refund counts once the gateway confirmed it');
    finishWork(o);
    assert.deepEqual([o.status, o.payment.status], [status, pay]);
  }
  assert.equal(refundable(o), TOTAL - 3000);
  const over = decide(o, cmd.refund(TOTAL - 3000 + 1), T0);
  assert.equal(over.error?.code, 'CONFLICT');
  assert.deepEqual(over.error?.details, { orderId: 'ord_1', captured: TOTAL, refunded: 3000, requested: TOTAL - 3000 + 1 });
  ok(o, cmd.refund(TOTAL - 3000));
  finishWork(o);
  assert.deepEqual([o.status, o.payment.status, o.payment.refunded], ['refunded', 'refunded', TOTAL]);
  const more = decide(o, cmd.refund(1), T0);
  assert.equal(more.error?.code, 'CONFLICT', 'refunded is final');
  assert.ok(more.error?.details?.status === 'refunded');

  // No amount: all that remains.
  const p = orderIn('confirmed');
  ok(p, cmd.refund(1));
  finishWork(p);
  ok(p, cmd.refund());
  assert.equal(p.work?.amount, TOTAL - 1);
  finishWork(p);
  assert.deepEqual([p.status, p.payment.refunded, p.payment.status], ['refunded', TOTAL, 'refunded']);

  // More than the capture at once.
  const q = orderIn('confirmed');
  const d = decide(q, cmd.refund(TOTAL + 1), T0);
  assert.deepEqual(d.error?.details, { orderId: 'ord_1', captured: TOTAL, refunded: 0, requested: TOTAL + 1 });
});

test('a change while a previous one runs is CONFLICT naming the running work; after it, the order moves on', () => {
  const o = orderIn('confirmed');
  ok(o, cmd.refund(500));
  for (const c of [cmd.refund(1), cmd.cancel(OWNER), { type: 'ship' } as OrderCommand]) {
    const d = decide(o, c, T0);
    assert.equal(d.error?.code, 'CONFLICT', c.type);
    assert.deepEqual(d.error?.details, { orderId: 'ord_1', work: 'refund' });
  }
  finishWork(o);
  ok(o, { type: 'ship' });
  assert.equal(o.status, 'shipped');
});

test('the domain events of each fact: created, confirmed (payment + paid), failed, shipped, delivered; none for work', () => {
  const names = (o: Order, c: OrderCommand): string[] => {
    const d = decide(o, c, T0 + 5);
    assert.equal(d.error, undefined);
    const out: string[] = [];
    for (const e of d.events) {
      const got = OrderActor.domain!(o, e);
      for (const x of got === undefined ? [] : [got].flat()) out.push(x.name);
      apply(o, e);
    }
    return out;
  };
  const o = create('ord_1');
  assert.deepEqual(names(o, CREATE), ['order_created']);
  assert.deepEqual(names(o, { type: 'confirm', transactionId: 'txn_1', riskScore: 0.2, reviewReasons: ['new account'] }), ['payment_processed', 'order_paid']);
  assert.deepEqual(names(o, { type: 'settle' }), []);
  assert.deepEqual(names(o, cmd.refund(10)), []);
  assert.deepEqual(names(o, { type: 'workDone', workId: o.work!.id }), []);
  assert.deepEqual(names(o, { type: 'ship' }), ['order_shipped']);
  assert.deepEqual(names(o, { type: 'deliver' }), ['order_delivered']);
  assert.deepEqual(names(o, cmd.ret()), []);
  const f = create('ord_2');
  names(f, CREATE);
  assert.deepEqual(names(f, { type: 'fail', code: 'PAYMENT_DECLINED', message: 'no', details: { reason: 'card_declined' }, payment: 'declined' }), [
    'payment_failed',
  ]);

  const paid = create('ord_3');
  ok(paid, CREATE);
  const [processed, orderPaid] = OrderActor.domain!(paid, { type: 'confirmed', transactionId: 'txn_9', riskScore: 0.55, reviewReasons: ['x'], at: T0 }) as {
    name: string;
    data: Record<string, unknown>;
  }[];
  assert.deepEqual(processed.data, { orderId: 'ord_3', userId: OWNER, at: T0, amount: TOTAL, currency: 'USD', transactionId: 'txn_9', riskScore: 0.55 });
  assert.deepEqual(orderPaid.data, {
    orderId: 'ord_3',
    userId: OWNER,
    at: T0,
    orderNumber: 'CW-2311-ABCDEF',
    total: TOTAL,
    currency: 'USD',
    flagged: true,
    reviewReasons: ['x'],
    items: [{ sku: 'sku-a', productId: 'p-a', qty: 2 }],
  });
});

test("confirmed beside its holds' commits: open and busy until settle, which logs the sale; or unwound by fail", () => {
  const names = (o: Order, c: OrderCommand): string[] => {
    const d = decide(o, c, T0 + 5);
    assert.equal(d.error, undefined, JSON.stringify(d.error));
    const out: string[] = [];
    for (const e of d.events) {
      const got = OrderActor.domain!(o, e);
      for (const x of got === undefined ? [] : [got].flat()) out.push(x.name);
      apply(o, e);
    }
    return out;
  };
  const confirm: OrderCommand = { type: 'confirm', transactionId: 'txn_1', riskScore: 0.6, reviewReasons: ['new account'], committing: true };
  const o = create('ord_c');
  ok(o, CREATE);
  assert.deepEqual(names(o, confirm), [], 'no sale logged before the commits are known');
  assert.deepEqual([o.status, o.open, o.committing, OrderActor.nextTimer!(o)], ['confirmed', true, true, o.checkAt]);
  assert.deepEqual(names(o, confirm), [], 'a resumed hop 4 confirms once');
  assert.equal(o.version, 2);
  for (const c of [cmd.cancel(OWNER), cmd.refund(), { type: 'ship' } as OrderCommand]) assert.equal(decide(o, c, T0).error?.code, 'CONFLICT', c.type);
  const settled = decide(o, { type: 'settle' }, T0 + 9);
  const logged = settled.error ? [] : settled.events.flatMap((e) => [OrderActor.domain!(o, e) ?? []].flat());
  assert.deepEqual(
    logged.map((e) => e.name),
    ['payment_processed', 'order_paid'],
  );
  assert.deepEqual([logged[0].data.transactionId, logged[1].data.flagged, logged[1].data.reviewReasons], ['txn_1', true, ['new account']]);
  for (const e of settled.error ? [] : settled.events) apply(o, e);
  assert.deepEqual([o.status, o.open, o.committing], ['confirmed', false, undefined]);
  assert.equal(o.version, 2, 'settling is no new version: the owner is not pushed the same order again');
  assert.equal(
    decide(o, { type: 'fail', code: 'CONFLICT', message: 'expired', payment: 'voided' }, T0).error?.code,
    'CONFLICT',
    'a settled order is never unwound',
  );
  ok(o, cmd.cancel(OWNER));

  // A hold expired before its commit: the confirmation was never answered, and is unwound.
  const u = create('ord_u');
  ok(u, CREATE);
  ok(u, confirm);
  assert.deepEqual(names(u, { type: 'fail', code: 'CONFLICT', message: 'the reservation expired', payment: 'voided' }), []);
  assert.deepEqual([u.status, u.payment.status, u.open, u.committing], ['cancelled', 'voided', true, undefined]);
  assert.deepEqual(names(u, { type: 'settle' }), [], 'an unwound order logs no sale');
  assert.equal(u.open, false);
});

test('the timer asks for a resume only when the order is open and due, backing off', () => {
  const o = orderIn('pending');
  assert.deepEqual(decide(o, { type: 'timer' }, T0 + 29_999), { events: [] });
  ok(o, { type: 'timer' }, T0 + 30_000);
  assert.deepEqual([o.stalls, o.checkAt], [1, T0 + 30_000 + 1000]);
  ok(o, { type: 'timer' }, T0 + 31_000);
  assert.deepEqual([o.stalls, o.checkAt], [2, T0 + 31_000 + 2000]);
  // A confirmed order is finished: no settle step, no timer.
  ok(o, { type: 'confirm', transactionId: 'txn_1', riskScore: null });
  assert.deepEqual(decide(o, { type: 'settle' }, T0 + 40_000), { events: [] });
  assert.deepEqual([o.open, o.stalls, OrderActor.nextTimer!(o)], [false, 0, undefined]);
  assert.deepEqual(decide(o, { type: 'timer' }, T0 + 10_000_000), { events: [] });
});

test('property: random command sequences never refund more than was captured, and replay rebuilds the order', () => {
  const command = fc.oneof(
    fc.constant<OrderCommand>({ type: 'confirm', transactionId: 'txn_1', riskScore: 0.1 }),
    fc.constant<OrderCommand>({ type: 'ship' }),
    fc.constant<OrderCommand>({ type: 'deliver' }),
    fc.constant<OrderCommand>({ type: 'settle' }),
    fc.constant<OrderCommand>({ type: 'timer' }),
    fc.constant('cancel' as const),
    fc.constant('return' as const),
    fc.constant('done' as const),
    // Exactly what remains, and one unit more: the edges of the arithmetic.
    fc.constant('rest' as const),
    fc.constant('over' as const),
    fc.option(fc.integer({ min: 1, max: TOTAL + 2 }), { nil: undefined }).map((amount) => ({ refund: amount })),
  );
  fc.assert(
    fc.property(fc.array(command, { maxLength: 40 }), (steps) => {
      const o = create('ord_p');
      const log: OrderEvent[] = [];
      run(o, CREATE, T0, log);
      let now = T0;
      for (const s of steps) {
        now += 1000;
        const c: OrderCommand =
          s === 'cancel'
            ? cmd.cancel(OWNER)
            : s === 'return'
              ? cmd.ret()
              : s === 'done'
                ? { type: 'workDone', workId: o.work?.id ?? 'none' }
                : s === 'rest'
                  ? cmd.refund(Math.max(1, refundable(o)))
                  : s === 'over'
                    ? cmd.refund(refundable(o) + 1)
                    : 'refund' in s
                      ? cmd.refund(s.refund)
                      : s;
        const d = run(o, c, now, log);
        // Invariants after every step.
        assert.ok(o.payment.refunded <= o.totals.total, 'never refunds more than the total');
        assert.equal(
          o.payment.refunded,
          o.refunds.reduce((n, r) => n + r.amount, 0),
        );
        if (o.status === 'refunded') assert.equal(o.payment.refunded + (o.work?.amount ?? 0), TOTAL);
        if (o.payment.refunded === TOTAL) assert.equal(o.payment.status, 'refunded');
        else if (o.payment.refunded > 0) assert.equal(o.payment.status, 'partially_refunded');
        if (o.work) assert.ok(o.work.amount <= refundable(o), 'recorded work never owes more than remains');
        if (d.error) assert.ok(['CONFLICT', 'NOT_FOUND'].includes(d.error.code), d.error.code);
      }
      const replayed = (decodeRow(encodeRow(log)) as OrderEvent[]).reduce(apply, create('ord_p'));
      assert.deepEqual(view(replayed), view(o));
      assert.deepEqual(replayed, OrderActor.restore('ord_p', decodeRow(encodeRow(OrderActor.snapshot(o)))));
    }),
    { numRuns: 300, seed: 20240611 },
  );
});
