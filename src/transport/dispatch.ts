// What the edge needs from the rest of the server, as interfaces the main-thread services
// implement: the handler of every op, the shards (to route and watch), and where replies go.
// The edge imports no service: it validates, checks roles and hands each request to its handler.
import type { OpArgs, OpName, OpResult } from '../protocol/ops.js';
import type { Identity } from '../protocol/types.js';
import type { WireError } from '../protocol/errors.js';
import type { Connection } from './connection.js';

/** Where a reply goes: a connection, or one of the server's own callers. */
export interface ReplySink {
  /**
   * Takes one encoded response to request `id` (`outcome` 0: ok, else the error's index in
   * OUTCOMES); returns true if the sink was idle before (needs a flush).
   */
  push(frame: Uint8Array, id: number, outcome: number): boolean;
  /** Sends what was pushed since the last flush. */
  flush(): void;
  /** Requests of this sink with no response pushed yet (absent: a sink of one request). */
  waiting?(): number;
}

/** The shards as the edge sees them. */
export interface ShardPort {
  /**
   * Queues request `id` for the shard owning `key`, whose committed reply goes to `sink`; the
   * refusal to answer instead when the shard cannot take it (OVERLOADED, UNAVAILABLE).
   */
  submit(key: string, id: number, cmd: { type: string }, sink: ReplySink, tag: number): Answer<never> | undefined;
  /** Gives back watches whose connection went away (one per key occurrence). */
  unwatch(keys: Iterable<string>): void;
  /** One more (or one less) connection follows `topic` on every shard; resolves once all count it. */
  watchTopic(topic: string, delta: 1 | -1): Promise<void>;
  /** Turns the admin feed on or off in every shard. */
  adminFeed(on: boolean): void;
}

/** A committed answer: the op's result or a coded error. */
export type Answer<R> = { readonly ok: true; readonly result: R } | { readonly ok: false; readonly error: WireError };

export const ok = <R>(result: R): Answer<R> => ({ ok: true, result });
export const fail = (code: WireError['code'], message: string, details?: Record<string, unknown>): { readonly ok: false; readonly error: WireError } => ({
  ok: false,
  error: details ? { code, message, details } : { code, message },
});

/** A part of the server that is restarting or cannot write (a shard worker, its journal); retry later. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
    /** 'unknown': the change was sent and its answer lost, so it may have been made. */
    readonly applied?: 'unknown',
  ) {
    super(message);
  }
}

/** A result already encoded as msgpack (a cached reply body), sent without re-encoding. */
export class Encoded<R> {
  declare readonly __result?: R;
  constructor(readonly bytes: Uint8Array) {}
}

/** The handler gave the request to a shard: the shard's committed reply goes to the connection. */
export interface Routed<R> {
  readonly routed: true;
  readonly __result?: R;
}
export const ROUTED: Routed<never> = Object.freeze({ routed: true });

export type Reply<R> = Answer<R> | Promise<Answer<R>> | Encoded<R> | Routed<R>;

/** One request as its handler sees it: who asks, on which connection, and the edge's services. */
export interface Request {
  readonly conn: Connection;
  /** The wire id (the reply carries it). */
  readonly id: number;
  /** The op's index in OpNames (metrics). */
  readonly tag: number;
  /** The caller; set for every op whose role is not `anonymous`. */
  readonly who: Identity | undefined;
  /**
   * Subscribes this connection to an actor's changes (on) or ends it; the shard replies with the
   * actor's object now. A refusal (subscription limit, overload) is answered at once.
   */
  follow(key: string, on: boolean): Routed<unknown> | Answer<never>;
  /** Subscribes this connection to a topic published from every shard (a user's orders). */
  followTopic(topic: string): Promise<Answer<Record<string, never>>>;
  /** Subscribes this connection to a topic pushed to whether or not anyone counts it (a user's drops). */
  listen(topic: string): void;
  /** Turns the admin feed on or off for this connection. */
  adminFeed(on: boolean): Answer<Record<string, never>>;
}

/** A signed-in request: the role check has run. */
export type UserRequest = Request & { readonly who: Identity };

export type Handler<O extends OpName> = (req: Request, args: OpArgs<O>) => Reply<OpResult<O>>;
/** One handler per op: a missing or mistyped one fails the compile. */
export type Handlers = { readonly [O in OpName]: Handler<O> };

/** Where a sign-in comes from: the client's IP key, its guest identity if any, the transport. */
export interface Caller {
  ip: string;
  guestId?: string;
  via: 'ws' | 'http';
}

/** What a request's answer counts as, for metrics. */
export interface EdgeMetrics {
  done(op: number, seconds: number, outcome: number): void;
  rejected(outcome: number): void;
  badFrame(): void;
  userConnection(userId: string, delta: 1 | -1): void;
}
