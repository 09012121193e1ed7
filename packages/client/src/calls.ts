// The call table: ids, the outbox (calls made this tick, or while no socket is ready), the calls
// in flight on the current socket by id, and each call's single settlement: its answer, timeout,
// abort or close, whichever comes first.
import { Limits, type WireError } from './protocol/errors.js';
import { abortedError, closedError, queueFullError, timeoutError, tooBigError, wireError, type CartwireError } from './errors.js';
import type { CallOptions, CloseInfo } from './events.js';
import { OPEN, type MinimalSocket } from './socket.js';
import { encodeRequests, type WireRequest } from './wire.js';

interface Call {
  readonly msg: WireRequest;
  sent: boolean;
  settled: boolean;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  cleanup?: () => void;
}

/** What the table asks of the connection. */
export interface CallsLink {
  /** The socket calls go out on: open and (re-)authenticated; undefined while there is none. */
  readySocket(): MinimalSocket | undefined;
  /** The close that ended the client for good; undefined while it lives. */
  finalClose(): CloseInfo | undefined;
}

export interface CallsOptions {
  /** Default per-call timeout in ms. */
  timeoutMs: number;
  /** Calls that may wait for a socket; more are refused with QUEUE_FULL. */
  maxQueued: number;
  /** A successful answer, before its caller hears it (the session remembers auth tokens here). */
  succeeded(msg: WireRequest, result: unknown): void;
}

export class Calls {
  private nextId = 1;
  /** Sent and awaiting their response, by id (calls of the current socket only). */
  private readonly inFlight = new Map<number, Call>();
  /** Not yet sent: the next flush, or the reconnect. */
  private outbox: Call[] = [];
  private flushScheduled = false;

  constructor(
    private readonly link: CallsLink,
    private readonly opts: CallsOptions,
  ) {}

  /** A call, batched with the others of this tick. `internal` calls (subscriptions) are never refused as QUEUE_FULL. */
  request(op: string, args: Record<string, unknown>, opts: CallOptions, internal: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const closed = this.link.finalClose();
      if (closed) return reject(closedError(op, closed, false));
      const { signal } = opts;
      if (signal?.aborted) return reject(abortedError(op, signal.reason, false));
      const { maxQueued } = this.opts;
      if (!internal && !this.link.readySocket() && this.outbox.length >= maxQueued) {
        this.outbox = this.outbox.filter((c) => !c.settled); // timed out while waiting
        if (this.outbox.length >= maxQueued) return reject(queueFullError(op, maxQueued));
      }
      // The id is taken only now, so refused calls leave no gap in the ids on the wire.
      const call = this.newCall(op, args, opts.timeoutMs ?? this.opts.timeoutMs, resolve, reject);
      if (signal) {
        const onAbort = () => this.fail(call, abortedError(op, signal.reason, call.sent));
        signal.addEventListener('abort', onAbort, { once: true });
        call.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.outbox.push(call);
      this.scheduleFlush();
    });
  }

  /** Sends one call at once on `ws`, alone in its frame and ahead of the outbox (auth.resume on a new socket). */
  sendAlone(ws: MinimalSocket, op: string, args: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => this.sendNow(ws, [this.newCall(op, args, this.opts.timeoutMs, resolve, reject)]));
  }

  /**
   * Sends what waited for the socket, now, with the calls `first` makes ahead of them in the same
   * batch: after a reconnect the resubscriptions go before the calls queued while down.
   */
  sendWaiting(first: () => void): void {
    const waiting = this.outbox;
    this.outbox = [];
    first();
    this.outbox.push(...waiting);
    this.flush();
  }

  /** The response of a call in flight; one of another socket, or already settled, is ignored. */
  answer(id: number, response: { ok?: unknown; result?: unknown; error?: unknown }): void {
    const call = this.inFlight.get(id);
    if (!call) return;
    this.inFlight.delete(id);
    if (!this.settle(call)) return; // timed out or aborted meanwhile
    if (response.ok !== true) return call.reject(wireError(response.error as WireError | undefined));
    this.opts.succeeded(call.msg, response.result);
    call.resolve(response.result);
  }

  /** The socket closed. Its calls may have been applied: they fail with CLOSED (sent: true) and are never re-sent. */
  socketClosed(close: CloseInfo): void {
    for (const c of this.inFlight.values()) this.fail(c, closedError(c.msg.op, close, true));
    this.inFlight.clear();
  }

  /** Closed for good: calls not yet sent fail with `error`, else with CLOSED (sent: false). */
  failWaiting(close: CloseInfo, error?: CartwireError): void {
    const waiting = this.outbox;
    this.outbox = [];
    for (const c of waiting) this.fail(c, error ?? closedError(c.msg.op, close, false));
  }

  /** Every call times out on its own: the wait for a reconnect counts too. */
  private newCall(op: string, args: Record<string, unknown>, timeoutMs: number, resolve: Call['resolve'], reject: Call['reject']): Call {
    const call: Call = { msg: { id: this.newId(), op, args }, sent: false, settled: false, resolve, reject };
    call.timer = setTimeout(() => this.fail(call, timeoutError(op, timeoutMs, call.sent)), timeoutMs);
    return call;
  }

  /** Ids run 1..2^32-1 and wrap; the server only refuses an id that is still in flight. */
  private newId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  /** One flush per tick: the calls of one synchronous run leave as one batch. */
  private scheduleFlush(): void {
    if (this.flushScheduled || !this.link.readySocket()) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const ws = this.link.readySocket();
    if (!ws || ws.readyState !== OPEN) return;
    const calls = this.outbox.filter((c) => !c.settled);
    this.outbox = [];
    if (calls.length > 0) this.sendNow(ws, calls);
  }

  private sendNow(ws: MinimalSocket, calls: Call[]): void {
    const { frames, parts, tooBig } = encodeRequests(calls);
    for (const { request, bytes } of tooBig) this.fail(request, tooBigError(request.msg.op, bytes, Limits.MAX_FRAME_BYTES));
    for (let i = 0; i < frames.length; i++) {
      for (const c of parts[i]) {
        c.sent = true;
        this.inFlight.set(c.msg.id, c);
      }
      ws.send(frames[i]);
    }
  }

  /** Settles a call once; false when something else settled it first. */
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
}
