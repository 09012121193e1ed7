// Model-based test over the wire (fast-check): random sequences of operations from two guest
// shoppers and one admin against the real server binary (child process, real sockets, real SQLite
// files), checked step by step against the in-test model of test/helpers/wire-model.ts, with
// kill -9 and a restart on the same DATA_DIR at random points.
//
// - Each step is one request, awaited. The model predicts every answer it may get: the result
//   (checked field by field: cart lines, quantities, totals, coupon, version; stock; the order)
//   or the error code (and its details). It records only acknowledged effects; an error answer
//   leaves the carts and the stock as they were, and its code must be one the op table allows.
// - A kill between steps must lose nothing. A kill while one write is in flight (sent, answer not
//   received) leaves the server with or without that write, nothing else: the test adopts
//   whichever it shows (for a checkout: the order the restarted server finished or cancelled).
// - After every restart and at the end, with no checkout running: every cart (as its user, after
//   auth.resume with the user's token), every sku's onHand/reserved/available (as admin) and every
//   acknowledged order equal the model, and for every sku: units sold by confirmed orders +
//   available + reserved == units received. After every checkout answer nothing is reserved.
//
// Default (npm test): MODEL_RUNS=3 runs of ~25 steps with 2-3 kills each (at least one with a
// write in flight). MODEL_SOAK=1: 40 runs of ~60 steps with 2-6 kills (MODEL_RUNS and
// MODEL_STEPS override both). A failure prints the variables that replay it (MODEL_SEED,
// MODEL_PATH, ...); MODEL_SHRINK=1 lets fast-check shrink the failing run (each try starts servers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { spawnServer, until, ADMIN_EMAIL, ADMIN_PASSWORD, type ChildServer } from './helpers/server.js';
import { CartwireClient, CartwireError } from '../src/client/index.js';
import { opErrors, type OpName } from '../src/protocol/ops.js';
import type { InventoryView, OrderView } from '../src/protocol/types.js';
import {
  COUPONS,
  COUPON_CODES,
  GHOST_SKU,
  PRICE,
  PROBE_SKU,
  SKUS,
  UNKNOWN_COUPON,
  initialModel,
  predict,
  productName,
  stateDiff,
  type Answer,
  type Card,
  type Model,
  type Observed,
  type Prediction,
  type Who,
  type WriteStep,
} from './helpers/wire-model.js';

const SOAK = process.env.MODEL_SOAK === '1';
const SHRINK = process.env.MODEL_SHRINK === '1';
const RUNS = Number(process.env.MODEL_RUNS ?? (SOAK ? 40 : 3));
const STEPS = Number(process.env.MODEL_STEPS ?? (SOAK ? 60 : 25));
const KILLS = SOAK ? { min: 2, max: 6 } : { min: 2, max: 3 };
const GUESTS = 2;

const SERVER_ENV = {
  SEED_DEMO: '0',
  SHARDS: '2',
  // A cart frozen by a checkout that died before its order existed thaws after this.
  CHECKOUT_DEADLINE_MS: '2000',
  // Aggressive maintenance, so restarts recover from snapshots + journal tails and passivated actors.
  SNAPSHOT_EVERY: '4',
  SWEEP_INTERVAL_MS: '50',
  CHECKPOINT_INTERVAL_MS: '300',
  CHECKPOINT_ROWS: '50',
  PASSIVATE_AFTER_MS: '400',
};

/** Codes any op may answer when the server cannot take it now: nothing was stored (a checkout: resolved by looking). */
const TRANSIENT = new Set(['OVERLOADED', 'UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL']);

// ---- steps ----

type KillStep = { kind: 'kill' } | { kind: 'killInFlight'; write: WriteStep; delayMs: number };
type Step = WriteStep | KillStep;

const user = fc.integer({ min: 0, max: GUESTS - 1 });
const sku = fc.oneof({ arbitrary: fc.constantFrom(...SKUS), weight: 12 }, { arbitrary: fc.constant(GHOST_SKU), weight: 1 });
const card = fc.oneof({ arbitrary: fc.constant<Card>('tok_visa'), weight: 3 }, { arbitrary: fc.constant<Card>('tok_chargeDeclined'), weight: 1 });

const arbs = {
  add: fc.record({ kind: fc.constant('add' as const), u: user, sku, qty: fc.integer({ min: 1, max: 3 }) }),
  setQty: fc.record({ kind: fc.constant('setQty' as const), u: user, sku, qty: fc.integer({ min: 0, max: 4 }) }),
  remove: fc.record({ kind: fc.constant('remove' as const), u: user, sku }),
  clear: fc.record({ kind: fc.constant('clear' as const), u: user }),
  adjust: fc.oneof(
    fc.record({ kind: fc.constant('adjust' as const), sku, type: fc.constant('purchase' as const), qty: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ kind: fc.constant('adjust' as const), sku, type: fc.constant('sale' as const), qty: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('adjust' as const), sku, type: fc.constant('adjustment' as const), qty: fc.integer({ min: 0, max: 8 }) }),
  ),
  couponUpsert: fc.record({ kind: fc.constant('couponUpsert' as const), code: fc.constantFrom(...COUPON_CODES), variant: fc.integer({ min: 0, max: 1 }) }),
  applyCoupon: fc.record({ kind: fc.constant('applyCoupon' as const), u: user, code: fc.constantFrom(...COUPON_CODES, UNKNOWN_COUPON) }),
  removeCoupon: fc.record({ kind: fc.constant('removeCoupon' as const), u: user }),
  checkout: fc.record({ kind: fc.constant('checkout' as const), u: user, card }),
  retryCheckout: fc.record({ kind: fc.constant('retryCheckout' as const), u: user }),
};

const writeArb: fc.Arbitrary<WriteStep> = fc.oneof(
  { arbitrary: arbs.add, weight: 6 },
  { arbitrary: arbs.setQty, weight: 3 },
  { arbitrary: arbs.remove, weight: 2 },
  { arbitrary: arbs.clear, weight: 1 },
  { arbitrary: arbs.adjust, weight: 4 },
  { arbitrary: arbs.couponUpsert, weight: 1 },
  { arbitrary: arbs.applyCoupon, weight: 2 },
  { arbitrary: arbs.removeCoupon, weight: 1 },
  { arbitrary: arbs.checkout, weight: 4 },
  { arbitrary: arbs.retryCheckout, weight: 1 },
);

/**
 * The write a kill may catch in flight: mostly checkouts (a saga of several durable hops). Not
 * coupon.upsert: no op reads a coupon back, so "with or without" could not be decided.
 */
const inFlightWriteArb: fc.Arbitrary<WriteStep> = fc.oneof(
  { arbitrary: arbs.checkout, weight: 5 },
  { arbitrary: arbs.retryCheckout, weight: 1 },
  { arbitrary: arbs.add, weight: 2 },
  { arbitrary: arbs.setQty, weight: 1 },
  { arbitrary: arbs.remove, weight: 1 },
  { arbitrary: arbs.clear, weight: 1 },
  { arbitrary: arbs.adjust, weight: 2 },
  { arbitrary: arbs.applyCoupon, weight: 1 },
  { arbitrary: arbs.removeCoupon, weight: 1 },
);

/** How long after the request left the kill comes: at once, inside a commit, or somewhere in a checkout's hops. */
const delayArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 2 },
  { arbitrary: fc.integer({ min: 5, max: 30 }), weight: 1 },
);
const killAt = fc.integer({ min: 0, max: 1000 });
const inFlightKill = fc.record({ at: killAt, kill: fc.record({ kind: fc.constant('killInFlight' as const), write: inFlightWriteArb, delayMs: delayArb }) });
const anyKill = fc.oneof(fc.record({ at: killAt, kill: fc.constant<KillStep>({ kind: 'kill' }) }), inFlightKill);

const scenarioArb = fc.record({
  stock: fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })),
  steps: fc.array(writeArb, { minLength: SHRINK ? 1 : Math.ceil(STEPS * 0.8), maxLength: STEPS }),
  kills: fc.tuple(inFlightKill, fc.array(anyKill, { minLength: KILLS.min - 1, maxLength: KILLS.max - 1 })).map(([first, rest]) => [first, ...rest]),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

/** The steps with the kills inserted at their places. */
function plan(s: Scenario): Step[] {
  const steps: Step[] = [...s.steps];
  const kills = s.kills.map((k) => ({ pos: Math.floor((k.at * (s.steps.length + 1)) / 1001), kill: k.kill })).sort((a, b) => b.pos - a.pos);
  for (const k of kills) steps.splice(k.pos, 0, k.kill);
  return steps;
}

// ---- the server and its clients ----

/** The server disagreed with the model (as opposed to a bug of the test). */
class RunFailure extends Error {}

type Reply = Answer | { lost: true; sent: boolean; message: string };

async function reply(p: Promise<unknown>): Promise<Reply> {
  try {
    return { ok: true, result: await p };
  } catch (err) {
    if (!(err instanceof CartwireError)) throw err;
    if (err.fromServer) return { ok: false, code: err.code, message: err.message, details: err.details ?? {} };
    if (err.code === 'CLOSED') return { lost: true, sent: err.details?.sent === true, message: err.message };
    throw err;
  }
}

/** A request for the trace: who, op and args (a checkout by its key and card). */
function show(p: Prediction): string {
  const a = p.req.args;
  const args = p.req.op === 'checkout' ? `${String(a.idempotencyKey)} ${(a.payment as { token: string }).token}` : JSON.stringify(a);
  return `${p.req.who === 'admin' ? 'admin' : `user ${p.req.who}`} ${p.req.op} ${args}`;
}

const describe = (r: Reply): string => ('lost' in r ? `no answer (${r.message})` : r.ok ? 'ok' : `${r.code} ${JSON.stringify(r.details)}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Harness {
  srv!: ChildServer;
  guests: CartwireClient[] = [];
  admin!: CartwireClient;
  tokens: string[] = [];
  userIds: string[] = [];
  adminToken = '';
  starts = 0;

  constructor(readonly dataDir: string) {}

  async start(): Promise<void> {
    this.srv = await spawnServer(this.dataDir, SERVER_ENV);
    this.starts++;
    this.admin = await CartwireClient.connect(this.srv.url);
    this.adminToken = (await this.admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).token;
    for (let u = 0; u < GUESTS; u++) {
      const c = await CartwireClient.connect(this.srv.url);
      const { token, userId } = await c.call('auth.guest', {});
      this.guests.push(c);
      this.tokens.push(token);
      this.userIds.push(userId);
    }
  }

  client(who: Who): CartwireClient {
    return who === 'admin' ? this.admin : this.guests[who];
  }

  call(who: Who, op: OpName, args: Record<string, unknown>): Promise<Reply> {
    return reply(this.client(who).call(op, args));
  }

  async kill(): Promise<void> {
    await this.srv.kill9();
    await Promise.all([this.admin, ...this.guests].map((c) => c.close()));
  }

  /** A new server on the same DATA_DIR; every client comes back with its token. */
  async restart(): Promise<void> {
    this.srv = await spawnServer(this.dataDir, SERVER_ENV);
    this.starts++;
    this.admin = await CartwireClient.connect(this.srv.url);
    assert.equal((await this.admin.call('auth.resume', { token: this.adminToken })).role, 'admin');
    this.guests = [];
    for (let u = 0; u < GUESTS; u++) {
      const c = await CartwireClient.connect(this.srv.url);
      const who = await c.call('auth.resume', { token: this.tokens[u] });
      assert.deepEqual(who, { userId: this.userIds[u], role: 'guest' }, `guest ${u} resumes its identity with its token`);
      this.guests.push(c);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.admin, ...this.guests].filter(Boolean).map((c) => c.close()));
    if (this.srv && this.srv.proc.exitCode === null && this.srv.proc.signalCode === null) await this.srv.kill9();
  }

  async orders(u: number): Promise<OrderView[]> {
    const out: OrderView[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.guests[u].call('order.list', cursor === undefined ? { limit: 100 } : { limit: 100, cursor });
      out.push(...page.items);
      if (page.nextCursor === null) return out;
      cursor = page.nextCursor;
    }
  }

  async stock(): Promise<Record<string, InventoryView>> {
    const views = await Promise.all(SKUS.map((sku) => this.admin.call('inventory.get', { sku })));
    return Object.fromEntries(views.map((v) => [v.sku, v]));
  }

  /**
   * Waits until no checkout runs: no cart frozen, no order pending, nothing reserved. A crashed
   * checkout's cart thaws by its timer (CHECKOUT_DEADLINE_MS) and its open order resumes at start,
   * so within seconds; reserved stock that outlives both is a hold nobody will release.
   */
  async quiesce(): Promise<void> {
    let why = '';
    await until(
      async () => {
        for (let u = 0; u < GUESTS; u++) {
          // Removing a line no cart has changes nothing, or answers CONFLICT while the cart is frozen.
          const r = await this.call(u, 'cart.remove', { sku: PROBE_SKU });
          if ('lost' in r || (!r.ok && r.code !== 'CONFLICT')) throw new Error(`probe of cart ${u}: ${describe(r)}`);
          if (!r.ok) return !(why = `cart of user ${u} is frozen by a checkout (${JSON.stringify(r.details)})`);
          const pending = (await this.orders(u)).filter((o) => o.status === 'pending');
          if (pending.length > 0) return !(why = `orders of user ${u} pending: ${pending.map((o) => o.orderId).join(', ')}`);
        }
        const reserved = Object.values(await this.stock()).filter((v) => v.reserved !== 0);
        if (reserved.length > 0) return !(why = `reserved: ${reserved.map((v) => `${v.sku}=${v.reserved}`).join(', ')}`);
        return true;
      },
      { timeoutMs: 15_000, what: 'every checkout to end after the restart' },
    ).catch(async (err: Error) => {
      const orders = await Promise.all(this.guests.map((_, u) => this.orders(u)));
      const shown = orders.map(
        (l, u) => `user ${u}: ${l.map((o) => `${o.orderId} ${o.status}${o.failure ? ` ${o.failure.code}` : ''}`).join(', ') || 'no orders'}`,
      );
      throw new RunFailure(`${err.message}: ${why} (orders: ${shown.join('; ')})`);
    });
  }

  async observe(orders: Iterable<[string, number]>): Promise<Observed> {
    const [carts, stock, seen] = await Promise.all([
      Promise.all(this.guests.map((c) => c.call('cart.get', {}))),
      this.stock(),
      Promise.all(
        [...orders].map(async ([orderId, u]) => {
          const r = await this.call(u, 'order.get', { orderId });
          return [orderId, 'lost' in r ? describe(r) : r.ok ? (r.result as OrderView) : `order.get answered ${r.code}`] as const;
        }),
      ),
    ]);
    return { carts, userIds: this.userIds, stock, orders: Object.fromEntries(seen) };
  }
}

// ---- one run ----

interface Figures {
  runs: number;
  steps: number;
  acked: number;
  refused: Record<string, number>;
  transient: Record<string, number>;
  kills: number;
  /** Kills with a write in flight: answered before the kill, or how the restarted server resolved it. */
  inFlight: Record<string, number>;
  confirmed: number;
  starts: number;
  ms: number[];
}

const figures: Figures = {
  runs: 0,
  steps: 0,
  acked: 0,
  refused: {},
  transient: {},
  kills: 0,
  inFlight: {},
  confirmed: 0,
  starts: 0,
  ms: [],
};
const bump = (r: Record<string, number>, k: string) => void (r[k] = (r[k] ?? 0) + 1);

async function runScenario(s: Scenario): Promise<void> {
  const t0 = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'cartwire-model-'));
  const h = new Harness(dataDir);
  const trace: string[] = [];
  const lastKey: ({ key: string; card: Card } | undefined)[] = [];
  try {
    await h.start();
    const versions: number[] = [];
    for (const [i, sku] of SKUS.entries()) {
      await h.admin.call('catalog.upsert', { productId: sku, name: productName(sku), category: 'model', variants: [{ sku, price: PRICE[sku] }] });
      versions.push((await h.admin.call('inventory.adjust', { sku, type: 'adjustment', qty: s.stock[i], reason: 'model stock' })).version);
    }
    for (const code of COUPON_CODES) await h.admin.call('coupon.upsert', { code, ...COUPONS[code][0] });
    let model = initialModel(GUESTS, s.stock, versions);
    trace.push(`stock ${JSON.stringify(s.stock)}, users ${h.userIds.join(' ')}`);

    const keyFor = (step: WriteStep, i: number): { key: string; card: Card } => {
      if (step.kind === 'checkout') return (lastKey[step.u] = { key: `mk-${i}`, card: step.card });
      if (step.kind === 'retryCheckout') return (lastKey[step.u] ??= { key: `mk-${i}`, card: 'tok_visa' });
      return { key: '', card: 'tok_visa' };
    };

    /** The model after an answer; `uncertain` when the outcome can only be known by looking (a checkout answered INTERNAL...). */
    const judge = (m: Model, p: Prediction, r: Answer, where: string): { model: Model; uncertain?: true } => {
      if (!r.ok) {
        assert.ok(opErrors(p.req.op).includes(r.code as never), `${where}: ${r.code} is not an error ${p.req.op} may answer (${r.message})`);
      }
      const outcome = r.ok ? 'ok' : r.code;
      const e = p.expects.find((x) => x.outcome === outcome && !x.crashOnly);
      if (e) {
        if (r.ok) figures.acked++;
        else bump(figures.refused, `${p.req.op} ${r.code}`);
        if (r.ok && p.req.op === 'checkout' && e.changes) figures.confirmed++;
        return { model: e.accept(m, r) };
      }
      if (!r.ok && TRANSIENT.has(r.code)) {
        bump(figures.transient, `${p.req.op} ${r.code}`);
        return p.req.op === 'checkout' ? { model: m, uncertain: true } : { model: m };
      }
      throw new RunFailure(
        `${where}: the model expected ${p.expects
          .filter((x) => !x.crashOnly)
          .map((x) => x.outcome)
          .join(' or ')}, the server answered ${describe(r)}`,
      );
    };

    /**
     * With no checkout running, the server must show the model, or (pending: a write whose answer
     * never came) the model with that write. Adopts the one it shows.
     */
    const sync = async (m: Model, where: string, pending?: Prediction): Promise<Model> => {
      await h.quiesce();
      const candidates: { name: string; model: Model }[] = [];
      if (!pending) candidates.push({ name: 'the model', model: m });
      else if (pending.req.op !== 'checkout') {
        candidates.push({ name: 'without the unanswered write', model: m });
        const ok = pending.expects.find((e) => e.outcome === 'ok' && e.changes);
        if (ok) candidates.push({ name: 'with the unanswered write', model: ok.accept(m, { ok: true, result: undefined }, true) });
      } else {
        // A checkout: the orders of the user tell whether it ran and how it ended.
        const u = pending.req.who as number;
        const unknown = (await h.orders(u)).filter((o) => !(o.orderId in m.orders));
        assert.ok(unknown.length <= 1, `${where}: ${unknown.length} orders nobody asked for: ${unknown.map((o) => `${o.orderId} ${o.status}`).join(', ')}`);
        const o = unknown[0];
        if (!o) {
          // Never reached the cart, or died before its order existed (the cart thawed, the key forgotten).
          const next = structuredClone(m);
          if (m.users[u].cart.lines.length > 0) next.users[u].attempts[1]++;
          candidates.push({ name: 'without the unanswered checkout (no order)', model: next });
        } else {
          const observed: Answer =
            o.status === 'confirmed'
              ? { ok: true, result: o }
              : {
                  ok: false,
                  code: o.failure?.code ?? `(status ${o.status})`,
                  message: o.failure?.message ?? '',
                  details: { ...o.failure?.details, orderId: o.orderId },
                };
          const outcome = observed.ok ? 'ok' : observed.code;
          const e = pending.expects.find((x) => x.outcome === outcome);
          if (!e) {
            throw new RunFailure(
              `${where}: the unanswered checkout ended ${outcome} (order ${o.orderId} ${o.status}), the model allows ${pending.expects.map((x) => x.outcome).join(' or ')}`,
            );
          }
          candidates.push({
            name: `${e.changes ? 'with' : 'without'} the unanswered checkout (order ${o.orderId} ${outcome})`,
            model: e.accept(m, observed, true),
          });
        }
      }
      const orders = new Map<string, number>();
      for (const c of candidates) for (const o of Object.values(c.model.orders)) orders.set(o.orderId, o.user);
      const seen = await h.observe(orders);
      const diffs = candidates.map((c) => ({ c, diffs: stateDiff(c.model, seen) }));
      const match = diffs.find((d) => d.diffs.length === 0);
      if (!match) {
        const what = candidates.length === 1 ? `does not show ${candidates[0].name}` : `shows neither ${candidates.map((c) => c.name).join(' nor ')}`;
        throw new RunFailure(`${where}: the server ${what}:\n` + diffs.map((d) => `  vs ${d.c.name}:\n    ${d.diffs.join('\n    ')}`).join('\n'));
      }
      if (pending) {
        const how = pending.req.op === 'checkout' ? match.c.name.replace(/ \(order \S+ /, ' (') : candidates.length === 1 ? 'no difference' : match.c.name;
        bump(figures.inFlight, `${pending.req.op}: ${how.replace(/ the unanswered (write|checkout)/, '')}`);
        trace.push(`  -> ${match.c.name}`);
      }
      const next = match.c.model === m ? structuredClone(m) : match.c.model;
      for (const sku of SKUS) next.skus[sku].seenVersion = seen.stock[sku].version;
      return next;
    };

    /** After a checkout answer nothing may stay reserved, and the stock is the model's. */
    const stockCheck = async (m: Model, where: string): Promise<void> => {
      const stock = await h.stock();
      for (const sku of SKUS) {
        const v = stock[sku];
        assert.deepEqual(
          { onHand: v.onHand, reserved: v.reserved, available: v.available },
          { onHand: m.skus[sku].onHand, reserved: 0, available: m.skus[sku].onHand },
          `${where}: ${sku} after the checkout answered`,
        );
        assert.ok(v.version >= m.skus[sku].seenVersion, `${where}: ${sku} version went back`);
        m.skus[sku].seenVersion = v.version;
      }
    };

    const steps = plan(s);
    for (const [i, step] of steps.entries()) {
      const where = `step ${i} ${JSON.stringify(step)}`;
      figures.steps++;
      if (step.kind === 'kill') {
        trace.push(`${i}: kill -9 between steps`);
        figures.kills++;
        await h.kill();
        await h.restart();
        model = await sync(model, `${where}: after the restart`);
        continue;
      }
      if (step.kind === 'killInFlight') {
        const p = predict(model, step.write, keyFor(step.write, i));
        trace.push(`${i}: ${show(p)}, kill -9 ${step.delayMs} ms after it left`);
        figures.kills++;
        const answer = h.call(p.req.who, p.req.op, p.req.args);
        await new Promise((resolve) => setImmediate(resolve)); // the SDK sends it in a microtask
        if (step.delayMs > 0) await sleep(step.delayMs);
        await h.kill();
        const r = await answer;
        trace.push(`  answer: ${describe(r)}`);
        await h.restart();
        if ('lost' in r) {
          if (!r.sent) bump(figures.inFlight, 'never sent');
          model = await sync(model, `${where}: after the restart`, r.sent ? p : undefined);
        } else {
          bump(figures.inFlight, 'answered before the kill');
          const j = judge(model, p, r, where);
          model = await sync(j.model, `${where}: after the restart`, j.uncertain ? p : undefined);
        }
        continue;
      }
      const p = predict(model, step, keyFor(step, i));
      const r = await h.call(p.req.who, p.req.op, p.req.args);
      trace.push(`${i}: ${show(p)}: ${describe(r)}`);
      if ('lost' in r) throw new RunFailure(`${where}: the connection dropped (${r.message})\n${h.srv.output().slice(-2000)}`);
      const j = judge(model, p, r, where);
      model = j.uncertain ? await sync(j.model, where, p) : j.model;
      if (p.req.op === 'checkout') await stockCheck(model, where);
    }
    model = await sync(model, 'at the end');
    figures.runs++;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    e.message += `\n--- trace (last 40 of ${trace.length}) ---\n${trace.slice(-40).join('\n')}`;
    throw e;
  } finally {
    await h.close().catch(() => undefined);
    figures.starts += h.starts;
    figures.ms.push(Math.round(performance.now() - t0));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test(
  'model over the wire: carts, stock, coupons and checkouts of two guests and an admin survive kill -9 at random points',
  { timeout: SOAK ? 3_600_000 : 120_000 },
  async (t) => {
    const seed = process.env.MODEL_SEED !== undefined ? Number(process.env.MODEL_SEED) : Math.floor(Math.random() * 2 ** 31);
    const path = process.env.MODEL_PATH;
    t.diagnostic(
      `MODEL_SEED=${seed}${path ? ` MODEL_PATH=${path}` : ''}: ${RUNS} runs of ${STEPS} steps, ${KILLS.min}-${KILLS.max} kills each${SOAK ? ' (soak)' : ''}`,
    );
    const details = await fc.check(fc.asyncProperty(scenarioArb, runScenario), {
      numRuns: RUNS,
      seed,
      ...(path ? { path } : {}),
      endOnFailure: !SHRINK,
    });
    const summary =
      `${figures.runs} runs passed, ${figures.steps} steps (${figures.acked} acknowledged, refused ${JSON.stringify(figures.refused)}), ` +
      `${figures.confirmed} orders confirmed, ${figures.kills} kills (in flight: ${JSON.stringify(figures.inFlight)}), ${figures.starts} server starts, ` +
      `transient answers ${JSON.stringify(figures.transient)}, run ms ${JSON.stringify(figures.ms)}`;
    t.diagnostic(summary);
    console.log(`model-wire: ${summary}`);
    if (details.failed) {
      // The same sizes (soak or not, steps) regenerate the same scenarios; MODEL_RUNS=1 stops after the replayed one.
      const replay = [
        SOAK ? 'MODEL_SOAK=1' : '',
        process.env.MODEL_STEPS ? `MODEL_STEPS=${STEPS}` : '',
        `MODEL_SEED=${details.seed}`,
        details.counterexamplePath ? `MODEL_PATH=${details.counterexamplePath} MODEL_RUNS=1` : '',
      ]
        .filter(Boolean)
        .join(' ');
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      assert.fail(`model-wire failed; replay with ${replay}\n${fc.defaultReportMessage(details)}\n--- what failed ---\n${cause}`);
    }
  },
);
