// The connection's life: open a socket, resume the remembered session on it, declare it ready;
// when it drops, reconnect after a backoff if the policy allows, else close for good. Which closes
// are retried is decided here; docs/client.md "Reconnecting" explains it to users.
import type { Calls } from './calls.js';
import { CartwireError, closedError, retryAfterMs } from './errors.js';
import type { CloseInfo, ConnectionState, Listeners, Session, StateInfo } from './events.js';
import { backoffDelay, shouldReconnect, type ReconnectPolicy } from './reconnect.js';
import type { SessionMemory } from './session.js';
import { OPEN, type MinimalSocket, type SocketCtor } from './socket.js';
import type { Subscriptions } from './subscriptions.js';

/** One socket's life: calls are matched per socket, so nothing crosses a reconnect. */
interface Link {
  ws: MinimalSocket;
  /** Open and (re-)authenticated: calls go out on it. */
  ready: boolean;
  /** Reconnect after this close whatever its code (we closed it to retry). */
  retry?: boolean;
  /** Wait at least this long before that retry (the server's `retryAfterMs`). */
  retryAfterMs?: number;
  /** Close for good after this close (re-authentication refused). */
  fatal?: CartwireError;
}

/** What the connection drives as sockets open, drop and close. */
export interface ConnectionParts {
  readonly calls: Calls;
  readonly subs: Subscriptions;
  readonly session: SessionMemory;
  readonly listeners: Listeners;
  /** Every frame of the current socket. */
  receive(data: unknown): void;
  /** Keeps the final close: the client's public `closeInfo`, so there is one copy of it. */
  readonly outcome: { closeInfo: CloseInfo | undefined };
}

const CLIENT_CLOSE: CloseInfo = { code: 1000, reason: 'closed by client' };

export class Connection {
  private link: Link | undefined;
  private stateNow: ConnectionState = 'connecting';
  private attempt = 0;
  /** False until the first connection is ready: a close before that fails `connect()` instead. */
  private everReady = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private closing = false;
  private resolveClosed!: (info: CloseInfo) => void;
  /** Resolves when closed for good, with the last close. */
  readonly closed = new Promise<CloseInfo>((resolve) => (this.resolveClosed = resolve));

  constructor(
    private readonly url: string,
    private readonly Ctor: SocketCtor,
    private readonly policy: ReconnectPolicy | undefined,
    private readonly parts: ConnectionParts,
  ) {}

  get state(): ConnectionState {
    return this.stateNow;
  }

  /** The socket calls go out on; undefined between sockets and while re-authenticating. */
  readySocket(): MinimalSocket | undefined {
    return this.link?.ready ? this.link.ws : undefined;
  }

  /** The current socket, ready or not (raw sends of tests and tools). */
  get socket(): MinimalSocket | undefined {
    return this.link?.ws;
  }

  /**
   * The first connection. Not retried (a wrong URL should fail fast): rejects with CLOSED when it
   * cannot be made, or with the refusal of the given token.
   */
  async open(): Promise<void> {
    const link = await this.openSocket();
    if (this.parts.session.token && link && this.link === link) {
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
      const outcome = this.parts.outcome;
      this.finish(outcome.closeInfo ?? { code: 1006, reason: 'cannot connect' });
      throw new CartwireError('CLOSED', `cannot connect to ${this.url}`, { url: this.url, closeCode: outcome.closeInfo?.code });
    }
    this.ready(link);
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
        if (this.link === link) this.parts.receive(ev.data);
      };
      ws.onclose = (ev) => {
        if (!open) resolve(undefined);
        this.onSocketClose(link, { code: ev.code, reason: String(ev.reason ?? '') });
      };
    });
  }

  /** auth.resume with the remembered token, alone in its frame, before anything else is sent. */
  private async resume(link: Link): Promise<void> {
    const { calls, session } = this.parts;
    const result = (await calls.sendAlone(link.ws, 'auth.resume', { token: session.token })) as Session;
    session.resumed(result);
  }

  private ready(link: Link): void {
    link.ready = true;
    this.everReady = true;
    this.attempt = 0;
    this.setState('open', {});
    // Subscribe requests first, then the calls that waited: one batch.
    this.parts.calls.sendWaiting(() => this.parts.subs.resubscribeAll());
  }

  private onSocketClose(link: Link, close: CloseInfo): void {
    if (this.link !== link) return;
    this.link = undefined;
    link.ready = false;
    this.parts.calls.socketClosed(close);
    this.parts.subs.disconnected();
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
    if (this.parts.session.token) {
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
          link.retryAfterMs = retryAfterMs(e);
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
    this.parts.outcome.closeInfo = close;
    this.stateNow = 'closed';
    this.parts.calls.failWaiting(close, error);
    this.parts.subs.closed(error ?? closedError('subscribe', close, false));
    if (error) this.parts.listeners.report(error);
    this.parts.listeners.emit('state', 'closed', { code: close.code, reason: close.reason, error });
    this.resolveClosed(close);
  }

  private setState(state: ConnectionState, info: StateInfo): void {
    this.stateNow = state;
    this.parts.listeners.emit('state', state, info);
  }
}
