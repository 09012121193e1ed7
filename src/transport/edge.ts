// The edge: every client frame passes here on the main thread. It applies the transport rules,
// validates each request against its op's compiled schema, checks the role and hands the request
// to its op's handler (dispatch.ts). No business logic lives here.
import { Compile } from '../protocol/typebox.js';
import { Ops, OpNames, type OpName, type OpSpec } from '../protocol/ops.js';
import { CloseCode, Limits, outcomeIndex, type ErrorCode, type WireError } from '../protocol/errors.js';
import { ADMIN_TOPIC, cartKey } from '../protocol/keys.js';
import type { Identity } from '../protocol/types.js';
import { encodeError, encodeOk, encodeOkEncoded, isWireId } from '../protocol/frames.js';
import { decodeFrame, ForbiddenRequest } from './frame-codec.js';
import {
  Encoded,
  ROUTED,
  UnavailableError,
  type Answer,
  type EdgeMetrics,
  type Handler,
  type Handlers,
  type ReplySink,
  type Reply,
  type Request,
  type Routed,
  type ShardPort,
} from './dispatch.js';
import type { Connection } from './connection.js';
import { log } from '../log/log.js';

interface CompiledOp {
  readonly name: OpName;
  readonly index: number;
  readonly spec: OpSpec;
  readonly validator: ReturnType<typeof Compile>;
  readonly handler: Handler<OpName>;
}

const EMPTY_ARGS = Object.freeze({});
/** Bytes of requests a connection may queue behind a sign-in that has not answered yet. */
const MAX_AUTH_QUEUE_BYTES = 256 * 1024;
const WATCH = Object.freeze({ type: 'watch' });
const GET = Object.freeze({ type: 'get' });
const NOTHING: Answer<Record<string, never>> = Object.freeze({ ok: true, result: Object.freeze({}) as Record<string, never> });

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
  handlers: Handlers;
  shards: ShardPort;
  metrics: EdgeMetrics;
  /** Requests of one connection waiting for their answer (CONN_MAX_INFLIGHT). */
  maxInflight: number;
}

export class Edge {
  /** Set by the shutdown drain: new requests are refused, in-flight ones finish. */
  draining = false;
  /** Connections following the admin feed; the shards produce it only while this is above 0. */
  private adminSubscribers = 0;
  /** Compiled once; a Map so that op names like "__proto__" or "toString" find nothing. */
  private readonly ops: Map<string, CompiledOp>;
  /** Signed-in connections by user (bounded by the open connections): a revocation reaches them all. */
  private readonly byUser = new Map<string, Set<Connection>>();

  constructor(private readonly d: EdgeDeps) {
    this.ops = new Map(OpNames.map((name, index) => [name, { name, index, spec: Ops[name], validator: Compile(Ops[name].args), handler: d.handlers[name] }]));
  }

  /** A connection closed: give back its subscriptions. */
  onClose(conn: Connection): void {
    const keys = conn.subs.closeAll();
    if (keys.length > 0) this.d.shards.unwatch(keys);
    if (conn.adminFeed) this.setAdminFeed(conn, false);
    if (conn.ordersTopic) void this.d.shards.watchTopic(conn.ordersTopic, -1).catch((err) => log.error({ err }, 'unwatching an orders topic failed'));
    conn.ordersTopic = undefined;
    if (conn.identity) {
      this.d.metrics.userConnection(conn.identity.userId, -1);
      this.unindex(conn, conn.identity.userId);
    }
  }

  private unindex(conn: Connection, userId: string): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.byUser.delete(userId);
  }

  /**
   * The user's tokens were revoked (logout, password or role change, erasure): every connection
   * signed in as them on this node becomes anonymous, and what it followed ends with it. Their
   * next user op answers UNAUTHENTICATED.
   */
  revokeUser(userId: string): void {
    const set = this.byUser.get(userId);
    if (!set) return;
    this.byUser.delete(userId);
    for (const conn of set) {
      if (conn.closed || conn.identity?.userId !== userId) continue;
      this.leave(conn, userId);
      this.d.metrics.userConnection(userId, -1);
      conn.identity = undefined;
      if (conn.adminFeed) this.setAdminFeed(conn, false);
    }
  }

  /** Ends what a connection followed as `userId`: its cart subscription, its orders topic and its drops topic. */
  private leave(conn: Connection, userId: string): void {
    const key = cartKey(userId);
    if (conn.subs.end(conn, key)) this.d.shards.unwatch([key]);
    if (conn.ordersTopic) {
      conn.ws?.unsubscribe(conn.ordersTopic);
      void this.d.shards.watchTopic(conn.ordersTopic, -1).catch((err) => log.error({ err }, 'unwatching an orders topic failed'));
    }
    conn.ordersTopic = undefined;
    if (conn.dropsTopic) conn.ws?.unsubscribe(conn.dropsTopic);
    conn.dropsTopic = undefined;
  }

  setAdminFeed(conn: Connection, on: boolean): void {
    if (conn.adminFeed === on) return;
    conn.adminFeed = on;
    if (on) conn.ws?.subscribe(ADMIN_TOPIC);
    else if (!conn.closed) conn.ws?.unsubscribe(ADMIN_TOPIC);
    const before = this.adminSubscribers;
    this.adminSubscribers += on ? 1 : -1;
    if ((before === 0) !== (this.adminSubscribers === 0)) this.d.shards.adminFeed(this.adminSubscribers > 0);
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
      if (before) {
        this.d.metrics.userConnection(before.userId, -1);
        this.unindex(conn, before.userId);
      }
      this.d.metrics.userConnection(who.userId, 1);
    }
    let set = this.byUser.get(who.userId);
    if (!set) this.byUser.set(who.userId, (set = new Set()));
    set.add(conn);
    if (before && before.userId !== who.userId) this.leave(conn, before.userId);
    if (who.role !== 'admin' && conn.adminFeed) this.setAdminFeed(conn, false);
  }

  /** Handles one WebSocket message. Returns a close code when the connection must be closed (policy). */
  onMessage(conn: Connection, data: Uint8Array, isBinary: boolean): CloseCode | undefined {
    if (!isBinary) return this.badFrame(conn, 'text frames are not accepted; send binary msgpack');
    const frame = decodeFrame(data);
    if (frame.kind === 'bad') return this.badFrame(conn, frame.reason);
    if (frame.kind === 'oversized-batch') {
      this.error(conn, null, -1, 'BAD_REQUEST', `a batch holds at most ${Limits.MAX_BATCH} requests, got ${frame.count}; none ran`);
    } else if (frame.requests.length === 0) {
      this.error(conn, null, -1, 'BAD_REQUEST', 'an empty batch has nothing to run');
    } else {
      const now = performance.now(); // one clock read per frame for the rate limit
      // What a request weighs while it waits for a sign-in: its share of the frame.
      const cost = Math.ceil(data.byteLength / frame.requests.length);
      for (const r of frame.requests) this.request(conn, r, now, cost);
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

  private request(conn: Connection, r: Record<string, unknown> | ForbiddenRequest, now: number, cost: number): void {
    if (r instanceof ForbiddenRequest) {
      return this.error(conn, r.id, -1, 'BAD_REQUEST', 'keys named __proto__, constructor or prototype are not accepted');
    }
    const id = r.id;
    if (!isWireId(id)) return this.error(conn, null, -1, 'BAD_REQUEST', 'id must be an integer 0..4294967295');
    const op = typeof r.op === 'string' ? this.ops.get(r.op) : undefined;
    if (!op) return this.error(conn, id, -1, 'BAD_REQUEST', typeof r.op === 'string' ? `unknown op ${r.op.slice(0, 64)}` : 'op must be a string');
    if (conn.inflight.has(id)) return this.error(conn, id, -1, 'BAD_REQUEST', `id ${id} is already in flight`, undefined, op.index);
    // Limits before the id is taken: these answers release nothing.
    const wait = conn.rate ? conn.rate.take(now) : 0;
    if (wait > 0)
      return this.error(conn, id, -1, 'RATE_LIMITED', `too many requests on this connection; retry in ${wait} ms`, { retryAfterMs: wait }, op.index);
    if (conn.inflight.size >= this.d.maxInflight) {
      const max = this.d.maxInflight;
      return this.error(conn, id, -1, 'LIMIT_EXCEEDED', `at most ${max} requests of a connection wait for their answer`, { maxInFlight: max }, op.index);
    }
    if (conn.authQueue && conn.authQueueBytes + cost > MAX_AUTH_QUEUE_BYTES) {
      return this.error(
        conn,
        id,
        -1,
        'LIMIT_EXCEEDED',
        `requests waiting for a sign-in hold at most ${MAX_AUTH_QUEUE_BYTES} bytes`,
        { maxBytes: MAX_AUTH_QUEUE_BYTES },
        op.index,
      );
    }
    // From here on, every answer to this request releases its id.
    conn.inflight.add(id);
    const args = r.args === undefined ? EMPTY_ARGS : r.args;
    if (conn.authQueue) {
      // Checked once the sign-in it waits for has answered: the role depends on it.
      conn.authQueue.push(id, op, args);
      conn.authQueueBytes += cost;
      return;
    }
    this.execute(conn, id, op, args);
  }

  /** Runs the queued requests of a connection once its auth op has answered. */
  private afterAuth(conn: Connection): void {
    const queue = conn.authQueue!;
    conn.authQueue = undefined;
    conn.authQueueBytes = 0;
    for (let i = 0; i < queue.length; i += 3) {
      // A queued auth op makes the rest wait for it in turn.
      const waiting = conn.authQueue as unknown[] | undefined; // set again by a queued auth op
      if (waiting) waiting.push(queue[i], queue[i + 1], queue[i + 2]);
      else this.execute(conn, queue[i] as number, queue[i + 1] as CompiledOp, queue[i + 2]);
    }
    conn.flush();
  }

  /**
   * Role check, validation and dispatch, under the identity the connection has now. The role is
   * checked first: a request its caller may not make costs no schema work.
   */
  private execute(conn: Connection, id: number, op: CompiledOp, args: unknown): void {
    const who = conn.identity;
    const role = op.spec.role;
    if (role !== 'anonymous') {
      // Anonymous connections may call catalog.*: an admin one among them is FORBIDDEN, not UNAUTHENTICATED.
      if (!who && !op.name.startsWith('catalog.')) {
        return this.error(
          conn,
          id,
          id,
          'UNAUTHENTICATED',
          `${op.name} needs a signed-in connection (auth.guest, auth.login or auth.resume)`,
          undefined,
          op.index,
        );
      }
      if (role === 'admin' && who?.role !== 'admin') return this.error(conn, id, id, 'FORBIDDEN', `${op.name} is for admins`, undefined, op.index);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args) || ArrayBuffer.isView(args)) {
      return this.error(conn, id, id, 'BAD_REQUEST', 'args must be a map', undefined, op.index);
    }
    if (!op.validator.Check(args)) return this.error(conn, id, id, 'BAD_REQUEST', describe(op.validator, args), undefined, op.index);
    if (this.draining) return this.error(conn, id, id, 'OVERLOADED', 'the server is shutting down', undefined, op.index);
    const t0 = performance.now();
    let reply: Reply<unknown>;
    try {
      reply = op.handler(new EdgeRequest(this, conn, id, op.index, who), args);
    } catch (err) {
      const { code, message, details } = thrown(op.name, err);
      return this.error(conn, id, id, code, message, details, op.index);
    }
    if (reply === ROUTED) return; // the shard answers
    if (op.spec.session) conn.authQueue ??= []; // requests behind it wait for the identity it makes
    if (reply instanceof Promise) return this.answerLater(conn, id, op, reply, t0);
    this.answer(conn, id, op, reply as Answer<unknown> | Encoded<unknown>, t0, false);
    if (op.spec.session) this.afterAuth(conn);
  }

  /**
   * An async handler's answer. Its closures live here, not in `execute`: V8 would allocate their
   * shared context on every call of `execute`, the routed ones that never wait included.
   */
  private answerLater(conn: Connection, id: number, op: CompiledOp, reply: Promise<Answer<unknown>>, t0: number): void {
    void reply
      .then(
        (a) => this.answer(conn, id, op, a, t0, true),
        (err) => this.answer(conn, id, op, { ok: false, error: thrown(op.name, err) }, t0, true),
      )
      .finally(() => op.spec.session && this.afterAuth(conn));
  }

  /** Sends an answer the edge holds (sync ones ride the frame's flush; async ones flush themselves). */
  private answer(conn: Connection, id: number, op: CompiledOp, a: Answer<unknown> | Encoded<unknown>, t0: number, flush: boolean): void {
    let frame: Uint8Array;
    let outcome = 0;
    if (a instanceof Encoded) frame = encodeOkEncoded(id, a.bytes);
    else if (a.ok) {
      if (op.spec.session) this.setIdentity(conn, a.result as Identity);
      frame = encodeOk(id, a.result);
    } else {
      const e: WireError = a.error;
      frame = encodeError(id, e.code, e.message, e.details);
      outcome = outcomeIndex(e.code);
    }
    if (conn.push(frame, id) && flush) conn.flush();
    this.d.metrics.done(op.index, (performance.now() - t0) / 1000, outcome);
  }

  /** `cart.subscribe` and friends: the reply is always the full current object, from the actor's own turn. */
  follow(conn: Connection, id: number, tag: number, key: string, on: boolean): Routed<unknown> | Answer<never> {
    const shards = this.d.shards;
    let sink: ReplySink = conn;
    let cmd: { type: string } = GET;
    if (on && !conn.subs.isSubscribed(key)) {
      if (conn.subs.size >= Limits.SUBSCRIPTIONS_PER_CONNECTION) {
        const max = Limits.SUBSCRIPTIONS_PER_CONNECTION;
        return { ok: false, error: { code: 'LIMIT_EXCEEDED', message: `a connection holds at most ${max} subscriptions` } };
      }
      sink = conn.subs.begin(conn, key, shards);
      cmd = WATCH;
    } else if (!on && conn.subs.end(conn, key)) {
      shards.unwatch([key]);
    }
    const refused = shards.submit(key, id, cmd, sink, tag);
    if (refused) {
      if (cmd === WATCH) conn.subs.abort(conn, key);
      return refused;
    }
    return ROUTED;
  }

  /** `order.subscribe`: answered once every shard counts the watch, so no change after the reply is missed. */
  async followTopic(conn: Connection, topic: string): Promise<Answer<Record<string, never>>> {
    if (conn.ordersTopic === topic) return NOTHING;
    conn.ordersTopic = topic;
    conn.ws?.subscribe(topic);
    await this.d.shards.watchTopic(topic, 1);
    return NOTHING;
  }

  /** Subscribes the connection to a topic its actor pushes to whether or not anyone counts it (a user's drops). */
  listen(conn: Connection, topic: string): void {
    if (conn.dropsTopic === topic || conn.closed) return;
    if (conn.dropsTopic) conn.ws?.unsubscribe(conn.dropsTopic);
    conn.dropsTopic = topic;
    conn.ws?.subscribe(topic);
  }
}

/** The request a handler gets; its methods reach the connection's subscriptions through the edge. */
class EdgeRequest implements Request {
  constructor(
    private readonly edge: Edge,
    readonly conn: Connection,
    readonly id: number,
    readonly tag: number,
    readonly who: Identity | undefined,
  ) {}

  follow(key: string, on: boolean): Routed<unknown> | Answer<never> {
    return this.edge.follow(this.conn, this.id, this.tag, key, on);
  }

  followTopic(topic: string): Promise<Answer<Record<string, never>>> {
    return this.edge.followTopic(this.conn, topic);
  }

  listen(topic: string): void {
    this.edge.listen(this.conn, topic);
  }

  adminFeed(on: boolean): Answer<Record<string, never>> {
    this.edge.setAdminFeed(this.conn, on);
    return NOTHING;
  }
}

/**
 * What a handler that threw answers: a part of the server that is restarting or not answering
 * (UnavailableError) is UNAVAILABLE with its retryAfterMs, as over HTTP; anything else is a bug,
 * logged and answered INTERNAL.
 */
function thrown(opName: string, err: unknown): WireError {
  if (err instanceof UnavailableError)
    return {
      code: 'UNAVAILABLE',
      message: err.message,
      details: err.applied ? { retryAfterMs: err.retryAfterMs, applied: err.applied } : { retryAfterMs: err.retryAfterMs },
    };
  log.error({ err }, `${opName} failed`);
  return { code: 'INTERNAL', message: 'internal error' };
}
