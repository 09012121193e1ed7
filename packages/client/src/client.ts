// The cartwire client: typed calls batched per tick, per-call timeouts and AbortSignal, topic
// subscriptions, and automatic reconnect (on unless `reconnect: false`) with re-authentication and resubscription.
// This is the public face; the work is done by calls.ts (the call table and batching),
// connection.ts (the socket's life and reconnects), incoming.ts (what the server sends),
// session.ts and subscriptions.ts. docs/client.md explains the rules to users.
import type { OpArgs, OpName, OpResults } from './protocol/ops.js';
import { Calls } from './calls.js';
import { Connection } from './connection.js';
import {
  Listeners,
  type CallOptions,
  type ClientEvents,
  type ClientOptions,
  type CloseInfo,
  type ConnectionState,
  type PushHandler,
  type Session,
  type StateInfo,
} from './events.js';
import { receiveFrame, type Receivers } from './incoming.js';
import { DEFAULT_BACKOFF, backoffDelay, resolveReconnect } from './reconnect.js';
import { SessionMemory } from './session.js';
import { socketCtor, wsUrl, type SocketCtor } from './socket.js';
import { Subscriptions, type SubscribeOptions, type Subscription, type Topic, type TopicValue } from './subscriptions.js';

export type { CallOptions, ClientEvents, ClientOptions, ConnectionState, PushHandler, Session, StateInfo };

export class CartwireClient {
  private readonly listeners = new Listeners();
  private readonly pushHandlers = new Set<PushHandler>();
  private readonly auth: SessionMemory;
  private readonly calls: Calls;
  private readonly subs: Subscriptions;
  private readonly conn: Connection;
  /** Frames the server answered with `id: null` (BAD_FRAME and batch-level errors). */
  readonly unmatched: { code: string; message: string }[] = [];
  /** Set once the client is closed for good (no reconnect follows). */
  closeInfo: CloseInfo | undefined;

  protected constructor(url: string, Ctor: SocketCtor, opts: ClientOptions) {
    const policy = resolveReconnect(opts.reconnect);
    const report = (err: unknown) => this.listeners.report(err);
    this.auth = new SessionMemory(opts.token);
    // The parts ask the connection lazily (arrows): it is made last, from the parts.
    this.calls = new Calls(
      { readySocket: () => this.conn.readySocket(), finalClose: () => this.closeInfo },
      {
        timeoutMs: opts.timeoutMs ?? 10_000,
        maxQueued: opts.maxQueued ?? 1000,
        succeeded: (msg, result) => {
          // A sign-in starts the topics subscribed before it (they wait for a session).
          if (this.auth.remember(msg, result)) this.subs.resubscribeAll();
        },
      },
    );
    this.subs = new Subscriptions({
      request: (op, args) => this.calls.request(op, args, {}, true),
      isReady: () => this.conn.readySocket() !== undefined,
      hasSession: () => this.auth.current !== undefined,
      userId: () => this.auth.current?.userId,
      isClosed: () => this.conn.state === 'closed',
      report,
      retryDelay: (n) => backoffDelay(n, policy ?? DEFAULT_BACKOFF),
    });
    const receivers: Receivers = { pushHandlers: this.pushHandlers, subs: this.subs, calls: this.calls, unmatched: this.unmatched, report };
    this.conn = new Connection(url, Ctor, policy, {
      calls: this.calls,
      subs: this.subs,
      session: this.auth,
      listeners: this.listeners,
      receive: (data) => receiveFrame(data, receivers),
      outcome: this,
    });
  }

  /**
   * Opens a connection to `ws://host:port/ws` (an http:// base URL is accepted too). Rejects when
   * the first connection fails (no retry), or when `opts.token` is refused.
   */
  static async connect(url: string, opts: ClientOptions = {}): Promise<CartwireClient> {
    const client = new this(wsUrl(url), await socketCtor(opts.WebSocket), opts);
    await client.conn.open();
    return client;
  }

  /** The connection state; see `on('state')`. */
  get state(): ConnectionState {
    return this.conn.state;
  }

  /** Who this connection is signed in as (after auth.guest/login/register/resume). */
  get session(): Session | undefined {
    return this.auth.current;
  }

  /** Listens to `state` changes or to `error`s; returns the function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): () => void {
    return this.listeners.on(event, fn);
  }

  /**
   * Calls an op. Calls made in the same tick leave as one batch frame (256 per frame at most).
   * Rejects with a CartwireError: the server's code, or TIMEOUT / ABORTED / CLOSED / QUEUE_FULL.
   */
  call<O extends OpName>(op: O, args: OpArgs<O>, opts: CallOptions = {}): Promise<OpResults[O]> {
    return this.calls.request(op, args as Record<string, unknown>, opts, false) as Promise<OpResults[O]>;
  }

  /**
   * Follows a topic: `handler` gets the current object first (the subscribe reply), then the
   * full object of every newer version; stale or repeated versions are dropped. After a reconnect
   * the topic is subscribed again and the handler gets the fresh object. Call the returned
   * function to unsubscribe.
   */
  subscribe<T extends Topic>(topic: T, handler: (value: TopicValue<T>) => void, opts?: SubscribeOptions): Subscription {
    return this.subs.add(topic, handler, opts);
  }

  /** Every push as it arrives (stale ones included); for tools and tests. Prefer `subscribe`. */
  onPush(handler: PushHandler): () => void {
    this.pushHandlers.add(handler);
    return () => this.pushHandlers.delete(handler);
  }

  /** Sends raw bytes on the current socket (conformance and fuzz tests). */
  sendRaw(bytes: Uint8Array | string): void {
    (this.conn.socket as { send(d: Uint8Array | string): void } | undefined)?.send(bytes);
  }

  /** Resolves when the client is closed for good (by `close()`, a no-retry close, or a refused re-auth). */
  whenClosed(): Promise<CloseInfo> {
    return this.conn.closed;
  }

  /** Stops everything: no reconnect; calls not yet answered reject with CLOSED. */
  close(): Promise<CloseInfo> {
    return this.conn.close();
  }
}
