// The edge: every client frame passes here on the main thread. It applies the transport rules,
// validates each request against its op's compiled schema, checks the role, answers edge ops
// itself and routes the rest to the shard that owns the actor. No business logic lives here.
import { Compile } from 'typebox/compile';
import { Args, Ops, OpNames, type OpName, type OpSpec } from '../protocol/ops.js';
import type { OpArgs } from '../protocol/schemas.js';
import { CloseCode, Limits, outcomeIndex, type ErrorCode } from '../protocol/errors.js';
import type { ReplySink, ShardPool } from '../app/shard-pool.js';
import { decodeFrame, ForbiddenRequest } from './frame-codec.js';
import { encodeError, encodeOk, encodeOkEncoded, isWireId } from '../protocol/frames.js';
import { shardRoute } from '../app/routes.js';
import type { Connection } from './connection.js';
import type { CatalogView } from '../app/catalog-view.js';
import type { Auth, Identity } from '../app/auth.js';
import type { Accounts, AuthOutcome } from '../app/accounts.js';
import type { Metrics } from './metrics.js';
import type { CommerceOps, OpOutcome } from '../app/commerce-ops.js';
import type { RecsOps } from '../app/recs-ops.js';
import { ADMIN_TOPIC, cartKey } from '../protocol/keys.js';

interface CompiledOp {
  readonly name: OpName;
  readonly index: number;
  readonly spec: OpSpec;
  readonly validator: ReturnType<typeof Compile>;
}

// Compiled once at load; a Map so that op names like "__proto__" or "toString" find nothing.
const OPS = new Map<string, CompiledOp>(
  OpNames.map((name, index) => [name, { name, index, spec: Ops[name], validator: Compile(Args[name]) }]),
);
const EMPTY_ARGS = Object.freeze({});
const MAX_SEARCH_REPLY_BYTES = 1024 * 1024;
const GET = Object.freeze({ type: 'get' });
const WATCH = Object.freeze({ type: 'watch' });

/** Subscription ops and the read op whose route (actor key, checks) they share. */
const SUBSCRIPTION_OPS: ReadonlyMap<string, { read: OpName; subscribe: boolean }> = new Map([
  ['cart.subscribe', { read: 'cart.get', subscribe: true }],
  ['cart.unsubscribe', { read: 'cart.get', subscribe: false }],
  ['inventory.subscribe', { read: 'inventory.get', subscribe: true }],
  ['inventory.unsubscribe', { read: 'inventory.get', subscribe: false }],
] as const);

function describe(validator: CompiledOp['validator'], args: unknown): string {
  for (const e of validator.Errors(args)) {
    // An extra field first fails its `additionalProperties: false` sub-schema ("schema is false");
    // the additionalProperties error right after it is the one that names the field.
    if (e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')) continue;
    const where = e.instancePath ? `args${e.instancePath.replaceAll('/', '.')}` : 'args';
    const extra = (e.params as { additionalProperties?: string[] }).additionalProperties;
    return extra ? `${where} has unknown field ${extra.join(', ')}` : `${where} ${e.message}`;
  }
  return 'args are invalid';
}

export interface EdgeDeps {
  pool: ShardPool;
  catalog: CatalogView;
  auth: Auth;
  accounts: Accounts;
  metrics: Metrics;
  /** Requests of one connection waiting for their answer (CONN_MAX_INFLIGHT). */
  maxInflight: number;
  /** Checkout, orders and coupons: ops that span several actors. */
  commerce: CommerceOps;
  recs: RecsOps;
}

export class Edge {
  /** Set by the shutdown drain: new requests are refused, in-flight ones finish. */
  draining = false;
  /** Connections following the admin feed; the shards produce it only while this is above 0. */
  private adminSubscribers = 0;

  constructor(private readonly d: EdgeDeps) {}

  /** A connection closed: give back its subscriptions. */
  onClose(conn: Connection): void {
    const keys = conn.subs.closeAll();
    if (keys.length > 0) this.d.pool.unwatch(keys);
    if (conn.adminFeed) this.setAdminFeed(conn, false);
    if (conn.ordersTopic) void this.d.pool.watchTopic(conn.ordersTopic, -1);
    conn.ordersTopic = undefined;
    if (conn.identity) this.d.metrics.business.userConnection(conn.identity.userId, -1);
  }

  private setAdminFeed(conn: Connection, on: boolean): void {
    if (conn.adminFeed === on) return;
    conn.adminFeed = on;
    if (on) conn.ws?.subscribe(ADMIN_TOPIC);
    else if (!conn.closed) conn.ws?.unsubscribe(ADMIN_TOPIC);
    const before = this.adminSubscribers;
    this.adminSubscribers += on ? 1 : -1;
    if ((before === 0) !== (this.adminSubscribers === 0)) this.d.pool.adminFeed(this.adminSubscribers > 0);
  }

  /**
   * The connection becomes `who`. What the previous identity followed ends with it: the cart
   * subscription of another user, and the admin feed for anyone but an admin.
   */
  private setIdentity(conn: Connection, who: Identity): void {
    const before = conn.identity;
    conn.identity = { userId: who.userId, role: who.role };
    if (conn.closed) return; // onClose gave everything back
    if (before?.userId !== who.userId) {
      if (before) this.d.metrics.business.userConnection(before.userId, -1);
      this.d.metrics.business.userConnection(who.userId, 1);
    }
    if (before && before.userId !== who.userId) {
      const key = cartKey(before.userId);
      if (conn.subs.end(conn, key)) this.d.pool.unwatch([key]);
      if (conn.ordersTopic) {
        conn.ws?.unsubscribe(conn.ordersTopic);
        void this.d.pool.watchTopic(conn.ordersTopic, -1);
      }
      conn.ordersTopic = undefined;
    }
    if (who.role !== 'admin' && conn.adminFeed) this.setAdminFeed(conn, false);
  }

  /** Handles one WebSocket message. Returns true when the connection must be closed (policy). */
  onMessage(conn: Connection, data: ArrayBuffer, isBinary: boolean): CloseCode | undefined {
    if (!isBinary) return this.badFrame(conn, 'text frames are not accepted; send binary msgpack');
    const frame = decodeFrame(new Uint8Array(data));
    if (frame.kind === 'bad') return this.badFrame(conn, frame.reason);
    if (frame.kind === 'oversized-batch') {
      this.error(conn, null, -1, 'BAD_REQUEST', `a batch holds at most ${Limits.MAX_BATCH} requests, got ${frame.count}; none ran`);
    } else if (frame.requests.length === 0) {
      this.error(conn, null, -1, 'BAD_REQUEST', 'an empty batch has nothing to run');
    } else {
      const now = performance.now(); // one clock read per frame for the rate limit
      for (const r of frame.requests) this.request(conn, r, now);
    }
    conn.flush();
    return undefined;
  }

  private badFrame(conn: Connection, reason: string): CloseCode | undefined {
    this.d.metrics.badFrame();
    conn.push(encodeError(null, 'BAD_FRAME', reason));
    conn.flush();
    return ++conn.badFrames >= Limits.BAD_FRAMES_BEFORE_CLOSE ? CloseCode.POLICY_VIOLATION : undefined;
  }

  private error(conn: Connection, id: number | null, release: number, code: ErrorCode, message: string, details?: Record<string, unknown>, op = -1): void {
    conn.push(encodeError(id, code, message, details), release);
    if (op >= 0) this.d.metrics.done(op, 0, outcomeIndex(code));
    else this.d.metrics.rejected(outcomeIndex(code));
  }

  private request(conn: Connection, r: Record<string, unknown> | ForbiddenRequest, now: number): void {
    if (r instanceof ForbiddenRequest) {
      return this.error(conn, r.id, -1, 'BAD_REQUEST', 'keys named __proto__, constructor or prototype are not accepted');
    }
    const id = r.id;
    if (!isWireId(id)) return this.error(conn, null, -1, 'BAD_REQUEST', 'id must be an integer 0..4294967295');
    const op = typeof r.op === 'string' ? OPS.get(r.op) : undefined;
    if (!op) return this.error(conn, id, -1, 'BAD_REQUEST', typeof r.op === 'string' ? `unknown op ${r.op.slice(0, 64)}` : 'op must be a string');
    if (conn.inflight.has(id)) return this.error(conn, id, -1, 'BAD_REQUEST', `id ${id} is already in flight`, undefined, op.index);
    // Limits before the id is taken: these answers release nothing.
    const wait = conn.rate ? conn.rate.take(now) : 0;
    if (wait > 0) return this.error(conn, id, -1, 'RATE_LIMITED', `too many requests on this connection; retry in ${wait} ms`, { retryAfterMs: wait }, op.index);
    if (conn.inflight.size >= this.d.maxInflight) {
      const max = this.d.maxInflight;
      return this.error(conn, id, -1, 'LIMIT_EXCEEDED', `at most ${max} requests of a connection wait for their answer`, { maxInFlight: max }, op.index);
    }
    // From here on, every answer to this request releases its id.
    conn.inflight.add(id);
    const args = r.args === undefined ? EMPTY_ARGS : r.args;
    if (typeof args !== 'object' || args === null || Array.isArray(args) || ArrayBuffer.isView(args)) {
      return this.error(conn, id, id, 'BAD_REQUEST', 'args must be a map', undefined, op.index);
    }
    if (!op.validator.Check(args)) return this.error(conn, id, id, 'BAD_REQUEST', describe(op.validator, args), undefined, op.index);
    if (conn.authQueue) {
      conn.authQueue.push(id, op, args); // bounded: each holds an in-flight id
      return;
    }
    this.execute(conn, id, op, args);
  }

  /** Runs the queued requests of a connection once its auth op has answered. */
  private afterAuth(conn: Connection): void {
    const queue = conn.authQueue!;
    conn.authQueue = undefined;
    for (let i = 0; i < queue.length; i += 3) {
      // A queued auth op makes the rest wait for it in turn.
      const waiting = conn.authQueue as unknown[] | undefined; // set again by a queued auth op
      if (waiting) waiting.push(queue[i], queue[i + 1], queue[i + 2]);
      else this.execute(conn, queue[i] as number, queue[i + 1] as CompiledOp, queue[i + 2]);
    }
    conn.flush();
  }

  /** Role checks and dispatch, under the identity the connection has now. */
  private execute(conn: Connection, id: number, op: CompiledOp, args: unknown): void {
    const who = conn.identity;
    const role = op.spec.role;
    if (role !== 'anonymous') {
      // PROTOCOL.md lets anonymous connections call catalog.*: an admin one among them is FORBIDDEN, not UNAUTHENTICATED.
      if (!who && !op.name.startsWith('catalog.')) {
        return this.error(conn, id, id, 'UNAUTHENTICATED', `${op.name} needs a signed-in connection (auth.guest, auth.login or auth.resume)`, undefined, op.index);
      }
      if (role === 'admin' && who?.role !== 'admin') return this.error(conn, id, id, 'FORBIDDEN', `${op.name} is for admins`, undefined, op.index);
    }
    if (this.draining) return this.error(conn, id, id, 'OVERLOADED', 'the server is shutting down', undefined, op.index);
    if (op.spec.actor === 'edge') return this.edgeOp(conn, id, op, args as Record<string, unknown>);
    const sub = SUBSCRIPTION_OPS.get(op.name);
    if (sub) return this.subscription(conn, id, op, sub.read, sub.subscribe, args);
    const route = shardRoute(op.name, args, who!, this.d.catalog);
    if ('error' in route) return this.error(conn, id, id, route.error.code, route.error.message, route.error.details, op.index);
    if (!this.d.pool.submit(route.key, id, route.cmd, conn, op.index)) {
      this.error(conn, id, id, 'OVERLOADED', 'the shard owning this actor is over its backlog limit; retry later', undefined, op.index);
    }
  }

  /** (un)subscribe: the reply is always the full current object, from the actor's own turn. */
  private subscription(conn: Connection, id: number, op: CompiledOp, read: OpName, subscribe: boolean, args: unknown): void {
    const route = shardRoute(read, args, conn.identity!, this.d.catalog);
    if ('error' in route) return this.error(conn, id, id, route.error.code, route.error.message, route.error.details, op.index);
    const { key } = route;
    const pool = this.d.pool;
    let sink: ReplySink = conn;
    let cmd: { type: string } = GET;
    if (subscribe && !conn.subs.isSubscribed(key)) {
      if (conn.subs.size >= Limits.SUBSCRIPTIONS_PER_CONNECTION) {
        return this.error(conn, id, id, 'LIMIT_EXCEEDED', `a connection holds at most ${Limits.SUBSCRIPTIONS_PER_CONNECTION} subscriptions`, undefined, op.index);
      }
      sink = conn.subs.begin(conn, key, pool);
      cmd = WATCH;
    } else if (!subscribe && conn.subs.end(conn, key)) {
      pool.unwatch([key]);
    }
    if (!pool.submit(key, id, cmd, sink, op.index)) {
      if (cmd === WATCH) conn.subs.abort(conn, key);
      this.error(conn, id, id, 'OVERLOADED', 'the shard owning this actor is over its backlog limit; retry later', undefined, op.index);
    }
  }

  private edgeOp(conn: Connection, id: number, op: CompiledOp, args: Record<string, unknown>): void {
    const t0 = performance.now();
    const ok = (result: unknown) => {
      if (conn.push(encodeOk(id, result), id)) conn.flush();
      this.d.metrics.done(op.index, (performance.now() - t0) / 1000, 0);
    };
    const fail = (code: ErrorCode, message: string, details?: Record<string, unknown>) => {
      if (conn.push(encodeError(id, code, message, details), id)) conn.flush();
      this.d.metrics.done(op.index, (performance.now() - t0) / 1000, outcomeIndex(code));
    };
    const signedIn = (o: AuthOutcome) => {
      if (!o.ok) return fail(o.error.code, o.error.message, o.error.details);
      this.setIdentity(conn, o.result);
      ok(o.result);
    };
    // Async answers flush themselves; sync ones ride the frame's flush in onMessage. Requests
    // arriving meanwhile wait for the identity this op produces (afterAuth).
    const later = (p: Promise<void>) => {
      conn.authQueue ??= [];
      void p
        .catch((err) => {
          console.error(`${op.name} failed:`, err);
          fail('INTERNAL', 'internal error');
        })
        .finally(() => this.afterAuth(conn));
    };
    const answer = (p: Promise<OpOutcome>) =>
      void p
        .then((r) => (r.ok ? ok(r.result) : fail(r.error.code, r.error.message, r.error.details)))
        .catch((err) => {
          console.error(`${op.name} failed:`, err);
          fail('INTERNAL', 'internal error');
        });
    const auth = this.d.auth;
    switch (op.name) {
      case 'ping':
        conn.push(encodeOk(id, { now: Date.now() }), id);
        return this.d.metrics.done(op.index, (performance.now() - t0) / 1000, 0);
      case 'catalog.get': {
        const product = this.d.catalog.productEncoded(args.productId as string, conn.identity?.role === 'admin');
        if (product) conn.push(encodeOkEncoded(id, product), id);
        else conn.push(encodeError(id, 'NOT_FOUND', `unknown product ${args.productId as string}`), id);
        return this.d.metrics.done(op.index, (performance.now() - t0) / 1000, product ? 0 : outcomeIndex('NOT_FOUND'));
      }
      case 'catalog.search': {
        const admin = conn.identity?.role === 'admin';
        const query = args as OpArgs<'catalog.search'>;
        let r = this.d.catalog.search(query, admin);
        let frame = r.ok ? encodeOk(id, r.result) : encodeError(id, 'BAD_REQUEST', r.message);
        // Big products (100 variants, long descriptions) could make a page of several MiB: fewer
        // items per page instead (nextCursor carries on), so a reply stays far below the
        // per-connection send limit.
        while (r.ok && frame.length > MAX_SEARCH_REPLY_BYTES && r.result.items.length > 1) {
          r = this.d.catalog.search({ ...query, limit: Math.ceil(r.result.items.length / 2) }, admin);
          frame = r.ok ? encodeOk(id, r.result) : frame;
        }
        conn.push(frame, id);
        return this.d.metrics.done(op.index, (performance.now() - t0) / 1000, r.ok ? 0 : outcomeIndex('BAD_REQUEST'));
      }
      case 'admin.subscribe':
      case 'admin.unsubscribe':
        this.setAdminFeed(conn, op.name === 'admin.subscribe');
        conn.push(encodeOk(id, {}), id);
        return this.d.metrics.done(op.index, (performance.now() - t0) / 1000, 0);
      case 'order.subscribe': {
        const topic = this.d.commerce.ordersTopic(conn.identity!.userId);
        if (conn.ordersTopic === topic) return ok({});
        conn.ordersTopic = topic;
        conn.ws?.subscribe(topic);
        // Answered once every shard counts the watch: no order change after the reply is missed.
        return void this.d.pool.watchTopic(topic, 1).then(() => ok({}));
      }
      case 'checkout':
      case 'order.list':
      case 'order.cancel':
      case 'order.refund':
      case 'order.return':
      case 'cart.applyCoupon':
        // Several actors, several hops: answered when the last one is durable.
        return answer(this.d.commerce.run(op.name, args, conn.identity!));
      case 'recs.forUser':
        return answer(this.d.recs.forUser(args as OpArgs<'recs.forUser'>, conn.identity!));
      case 'recs.similar':
        return answer(this.d.recs.similar(args as OpArgs<'recs.similar'>, conn.identity!));
      case 'auth.guest':
        return void later(auth.guest().then((r) => { this.setIdentity(conn, r); ok(r); }));
      case 'auth.register':
      case 'auth.login': {
        // The guest this connection was (its cart merges into the account), read now: the
        // identity in force when the request arrived.
        const guestId = conn.identity?.role === 'guest' ? conn.identity.userId : undefined;
        const from = { ip: conn.ip, via: 'ws' as const, ...(guestId === undefined ? {} : { guestId }) };
        const accounts = this.d.accounts;
        const run = op.name === 'auth.login' ? accounts.login(args as OpArgs<'auth.login'>, from) : accounts.register(args as OpArgs<'auth.register'>, from);
        return void later(run.then(signedIn));
      }
      case 'auth.resume':
        return void later(auth.verifyToken(args.token as string).then((who) => {
          if (!who) return fail('UNAUTHENTICATED', 'the token is invalid or expired');
          this.setIdentity(conn, who);
          ok(who);
        }));
      default:
        return fail('INTERNAL', `no edge handler for ${op.name}`);
    }
  }
}
