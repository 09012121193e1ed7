// The cartwire client: typed calls batched per tick, per-call timeouts and AbortSignal, topic
// subscriptions, and (opt-in) automatic reconnect with re-authentication and resubscription.
// Rules that decide what may be re-sent live here; docs/client.md explains them to users.
import type { OpArgs, OpName } from '../protocol/schemas.js';
import type { OpResults, Role } from '../protocol/ops.js';
import { Limits, type WireError } from '../protocol/errors.js';
import { CartwireError, abortedError, closedError, queueFullError, timeoutError, tooBigError, wireError } from './errors.js';
import { OPEN, messageBytes, socketCtor, wsUrl, type MinimalSocket, type SocketCtor } from './socket.js';
import { decodeFrame, encodeRequests, type WireRequest } from './wire.js';
import { backoffDelay, resolveReconnect, shouldReconnect, type ReconnectPolicy } from './reconnect.js';
import { Subscriptions, type SubscribeOptions, type Subscription, type Topic, type TopicValue } from './subscriptions.js';
import { Listeners, type CallOptions, type ClientEvents, type ClientOptions, type CloseInfo, type ConnectionState, type PushHandler, type Session, type StateInfo } from './events.js';

export type { CallOptions, ClientEvents, ClientOptions, ConnectionState, PushHandler, Session, StateInfo };

interface Call {
  readonly msg: WireRequest;
  sent: boolean;
  settled: boolean;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  cleanup?: () => void;
}

/** One socket's life: calls are matched per socket, so nothing crosses a reconnect. */
interface Link {
  ws: MinimalSocket;
  ready: boolean;
  /** Reconnect after this close whatever its code (we closed it to retry). */
  retry?: boolean;
  /** Wait at least this long before that retry (the server's `retryAfterMs`). */
  retryAfterMs?: number;
  /** Close for good after this close (re-authentication refused). */
  fatal?: CartwireError;
}

const CLIENT_CLOSE: CloseInfo = { code: 1000, reason: 'closed by client' };

export class CartwireClient {
  private nextId = 1;
  /** Sent and awaiting their response, by id (calls of the current socket only). */
  private readonly inFlight = new Map<number, Call>();
  /** Not yet sent: the next flush, or the reconnect. */
  private outbox: Call[] = [];
  private flushScheduled = false;
  private link: Link | undefined;
  private stateNow: ConnectionState = 'connecting';
  private attempt = 0;
  /** False until the first connection is ready: a close before that fails `connect()` instead. */
  private everReady = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closing = false;
  private token: string | undefined;
  private sessionNow: Session | undefined;
  private readonly listeners = new Listeners();
  private readonly pushHandlers = new Set<PushHandler>();
  private readonly subs: Subscriptions;
  private readonly policy: ReconnectPolicy | undefined;
  private readonly timeoutMs: number;
  private readonly maxQueued: number;
  private resolveClosed!: (info: CloseInfo) => void;
  private readonly closed = new Promise<CloseInfo>((resolve) => (this.resolveClosed = resolve));
  /** Frames the server answered with `id: null` (BAD_FRAME and batch-level errors). */
  readonly unmatched: { code: string; message: string }[] = [];
  /** Set once the client is closed for good (no reconnect follows). */
  closeInfo: CloseInfo | undefined;

  private constructor(
    private readonly url: string,
    private readonly Ctor: SocketCtor,
    opts: ClientOptions,
  ) {
    this.policy = resolveReconnect(opts.reconnect);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxQueued = opts.maxQueued ?? 1000;
    this.token = opts.token;
    this.subs = new Subscriptions({
      request: (op, args) => this.request(op, args, {}, true),
      isReady: () => this.link?.ready === true,
      isClosed: () => this.stateNow === 'closed',
      report: (err) => this.report(err),
      retryDelay: (n) => backoffDelay(n, this.policy ?? { baseDelayMs: 100, maxDelayMs: 10_000 }),
    });
  }

  /**
   * Opens a connection to `ws://host:port/ws` (an http:// base URL is accepted too). Rejects when
   * the first connection fails (no retry), or when `opts.token` is refused.
   */
  static async connect(url: string, opts: ClientOptions = {}): Promise<CartwireClient> {
    const client = new CartwireClient(wsUrl(url), await socketCtor(opts.WebSocket), opts);
    await client.firstOpen();
    return client;
  }

  /** The connection state; see `on('state')`. */
  get state(): ConnectionState {
    return this.stateNow;
  }

  /** Who this connection is signed in as (after auth.guest/login/register/resume). */
  get session(): Session | undefined {
    return this.sessionNow;
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
    return this.request(op, args as Record<string, unknown>, opts, false) as Promise<OpResults[O]>;
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
    (this.link?.ws as { send(d: Uint8Array | string): void } | undefined)?.send(bytes);
  }

  /** Resolves when the client is closed for good (by `close()`, a no-retry close, or a refused re-auth). */
  whenClosed(): Promise<CloseInfo> {
    return this.closed;
  }

  /** Stops everything: no reconnect; calls not yet answered reject with CLOSED. */
  close(): Promise<CloseInfo> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const ws = this.link?.ws;
    if (ws && ws.readyState <= OPEN) ws.close(1000);
    else if (this.stateNow !== 'closed') this.finish(CLIENT_CLOSE);
    return this.closed;
  }

  private request(op: string, args: Record<string, unknown>, opts: CallOptions, internal: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.stateNow === 'closed') return reject(closedError(op, this.closeInfo, false));
      const { signal } = opts;
      if (signal?.aborted) return reject(abortedError(op, signal.reason, false));
      if (!internal && !this.link?.ready && this.outbox.length >= this.maxQueued) {
        this.outbox = this.outbox.filter((c) => !c.settled); // timed out while waiting
        if (this.outbox.length >= this.maxQueued) return reject(queueFullError(op, this.maxQueued));
      }
      const call: Call = { msg: { id: this.newId(), op, args }, sent: false, settled: false, resolve, reject };
      const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
      call.timer = setTimeout(() => this.fail(call, timeoutError(op, timeoutMs, call.sent)), timeoutMs);
      if (signal) {
        const onAbort = () => this.fail(call, abortedError(op, signal.reason, call.sent));
        signal.addEventListener('abort', onAbort, { once: true });
        call.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.outbox.push(call);
      this.scheduleFlush();
    });
  }

  /** Ids run 1..2^32-1 and wrap; the server only refuses an id that is still in flight. */
  private newId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.link?.ready) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const link = this.link;
    if (!link?.ready || link.ws.readyState !== OPEN) return;
    const calls = this.outbox.filter((c) => !c.settled);
    this.outbox = [];
    if (calls.length > 0) this.sendNow(link, calls);
  }

  private sendNow(link: Link, calls: Call[]): void {
    const { frames, parts, tooBig } = encodeRequests(calls);
    for (const { request, bytes } of tooBig) this.fail(request, tooBigError(request.msg.op, bytes, Limits.MAX_FRAME_BYTES));
    for (let i = 0; i < frames.length; i++) {
      for (const c of parts[i]) {
        c.sent = true;
        this.inFlight.set(c.msg.id, c);
      }
      link.ws.send(frames[i]);
    }
  }

  /** Settles a call once (response, timeout, abort or close: whichever comes first). */
  private settle(call: Call): boolean {
    if (call.settled) return false;
    call.settled = true;
    clearTimeout(call.timer);
    call.cleanup?.();
    return true;
  }

  private fail(call: Call, err: CartwireError): void {
    if (!this.settle(call)) return;
    if (call.sent) this.inFlight.delete(call.msg.id); // a late response is ignored
    call.reject(err);
  }

  // ---- connection life ----------------------------------------------------------------------

  private async firstOpen(): Promise<void> {
    const link = await this.openSocket();
    if (this.token && link && this.link === link) {
      try {
        await this.resume(link);
      } catch (err) {
        this.closing = true;
        link.ws.close(1000);
        await this.closed;
        throw err;
      }
    }
    if (!link || this.link !== link) {
      this.finish(this.closeInfo ?? { code: 1006, reason: 'cannot connect' });
      throw new CartwireError('CLOSED', `cannot connect to ${this.url}`, { url: this.url, closeCode: this.closeInfo?.code });
    }
    this.ready(link);
  }

  /** Opens a socket; resolves with its link once open, or undefined if it closed first. */
  private openSocket(): Promise<Link | undefined> {
    const ws = new this.Ctor(this.url);
    ws.binaryType = 'arraybuffer';
    const link: Link = { ws, ready: false };
    this.link = link;
    return new Promise((resolve) => {
      let open = false;
      ws.onopen = () => {
        open = true;
        resolve(link);
      };
      ws.onerror = () => {}; // a close event follows with the code
      ws.onmessage = (ev) => {
        if (this.link === link) this.onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (!open) resolve(undefined);
        this.onSocketClose(link, { code: ev.code, reason: String(ev.reason ?? '') });
      };
    });
  }

  /** auth.resume with the remembered token, alone in its frame, before anything else is sent. */
  private async resume(link: Link): Promise<void> {
    const call = new Promise<unknown>((resolve, reject) => {
      const c: Call = { msg: { id: this.newId(), op: 'auth.resume', args: { token: this.token } }, sent: false, settled: false, resolve, reject };
      c.timer = setTimeout(() => this.fail(c, timeoutError('auth.resume', this.timeoutMs, true)), this.timeoutMs);
      this.sendNow(link, [c]);
    });
    const result = (await call) as Session;
    this.sessionNow = { userId: result.userId, role: result.role };
  }

  private ready(link: Link): void {
    link.ready = true;
    this.everReady = true;
    this.attempt = 0;
    this.setState('open', {});
    // Subscribe requests first, then the calls that waited: one batch.
    const waiting = this.outbox;
    this.outbox = [];
    this.subs.resubscribeAll();
    this.outbox.push(...waiting);
    this.flush();
  }

  private onSocketClose(link: Link, close: CloseInfo): void {
    if (this.link !== link) return;
    this.link = undefined;
    link.ready = false;
    // Sent calls may have been applied: they fail with CLOSED (sent: true) and are never re-sent.
    for (const c of this.inFlight.values()) this.fail(c, closedError(c.msg.op, close, true));
    this.inFlight.clear();
    this.subs.disconnected();
    if (this.closing || !this.everReady) return this.finish(close); // close() or connect() failing
    if (link.fatal) return this.finish(close, link.fatal);
    if (!this.policy || (!link.retry && !shouldReconnect(close.code))) return this.finish(close);
    this.scheduleReconnect(close, link.retryAfterMs ?? 0);
  }

  private scheduleReconnect(close: CloseInfo, atLeastMs: number): void {
    const policy = this.policy!;
    this.attempt++;
    if (this.attempt > policy.maxAttempts) {
      return this.finish(close, new CartwireError('CLOSED', `gave up after ${policy.maxAttempts} reconnect attempts`, { attempts: policy.maxAttempts }));
    }
    const delayMs = Math.max(atLeastMs, backoffDelay(this.attempt, policy));
    this.setState('reconnecting', { attempt: this.attempt, delayMs, code: close.code, reason: close.reason });
    this.reconnectTimer = setTimeout(() => {
      // Not a network failure (those arrive as closes): a bug or an environment that refuses
      // sockets. Retrying would repeat it; stop and say why.
      this.reconnect().catch((err: unknown) => this.finish(close, new CartwireError('CLOSED', `reconnect failed: ${String(err)}`, undefined, { cause: err })));
    }, delayMs);
  }

  private async reconnect(): Promise<void> {
    if (this.closing) return;
    this.setState('connecting', { attempt: this.attempt });
    const link = await this.openSocket();
    if (!link || this.link !== link) return; // its close handler schedules the next attempt
    if (this.closing) return void link.ws.close(1000);
    if (this.token) {
      try {
        await this.resume(link);
      } catch (err) {
        if (this.link !== link) return; // the socket dropped meanwhile; already handled
        const e = err as CartwireError;
        // A refused token will be refused again: stop. Anything else (overload, rate limit, a
        // timeout) is retried with the next backoff.
        if (e.code === 'UNAUTHENTICATED') link.fatal = e;
        else {
          link.retry = true;
          link.retryAfterMs = Number((e.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs) || 0;
        }
        link.ws.close(1000);
        return;
      }
      if (this.link !== link) return;
    }
    if (this.closing) return; // close() was called meanwhile; its close event finishes
    this.ready(link);
  }

  /** Closed for good: everything waiting fails, listeners hear `closed`. */
  private finish(close: CloseInfo, error?: CartwireError): void {
    if (this.stateNow === 'closed') return;
    clearTimeout(this.reconnectTimer);
    this.closeInfo = close;
    this.stateNow = 'closed';
    const waiting = this.outbox;
    this.outbox = [];
    for (const c of waiting) this.fail(c, error ?? closedError(c.msg.op, close, false));
    this.subs.closed(error ?? closedError('subscribe', close, false));
    if (error) this.report(error);
    this.listeners.emit('state', 'closed', { code: close.code, reason: close.reason, error });
    this.resolveClosed(close);
  }

  private setState(state: ConnectionState, info: StateInfo): void {
    this.stateNow = state;
    this.listeners.emit('state', state, info);
  }

  private report(err: unknown): void {
    this.listeners.report(err);
  }

  // ---- incoming -----------------------------------------------------------------------------

  private onFrame(data: unknown): void {
    const bytes = messageBytes(data);
    if (!bytes) return;
    let messages: unknown[];
    try {
      messages = decodeFrame(bytes);
    } catch (err) {
      return this.report(new CartwireError('BAD_FRAME', 'the server sent a frame that is not msgpack', undefined, { cause: err }));
    }
    for (const m of messages) this.onMessage(m as Record<string, unknown>);
  }

  private onMessage(m: Record<string, unknown>): void {
    if (m === null || typeof m !== 'object') return;
    if (typeof m.push === 'string') {
      for (const h of this.pushHandlers) {
        try {
          h(m.push, m.data);
        } catch (err) {
          this.report(err);
        }
      }
      this.subs.onPush(m.push, m.data);
      return;
    }
    const error = m.error as WireError | undefined;
    const call = typeof m.id === 'number' ? this.inFlight.get(m.id) : undefined;
    if (!call) {
      if (error && m.id === null) this.unmatched.push({ code: error.code, message: error.message });
      return;
    }
    this.inFlight.delete(call.msg.id);
    if (!this.settle(call)) return; // timed out or aborted meanwhile
    if (m.ok !== true) return call.reject(wireError(error));
    this.remember(call.msg, m.result);
    call.resolve(m.result);
  }

  /** The token of the last successful auth.* call: what a reconnect resumes with. */
  private remember(msg: WireRequest, result: unknown): void {
    if (!msg.op.startsWith('auth.')) return;
    const r = result as { token?: unknown; userId?: unknown; role?: unknown };
    const token = typeof r?.token === 'string' ? r.token : msg.op === 'auth.resume' ? (msg.args as { token: string }).token : undefined;
    if (token === undefined || typeof r.userId !== 'string') return;
    this.token = token;
    this.sessionNow = { userId: r.userId, role: r.role as Role };
  }
}
