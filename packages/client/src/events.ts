// The SDK's public option and event types, and the small listener registry behind `on()`.
import type { Role } from './protocol/ops.js';
import type { CartwireError } from './errors.js';
import type { ReconnectOptions } from './reconnect.js';
import type { SocketCtor } from './socket.js';

export interface ClientOptions {
  /** WebSocket constructor; defaults to the global one, else the `ws` package. */
  WebSocket?: SocketCtor;
  /** Per-call timeout in ms (default 10 s); a call's own `timeoutMs` wins. */
  timeoutMs?: number;
  /**
   * Reconnect after the connection drops (default on: backoff 100 ms .. 10 s, full jitter, no
   * attempt limit). `false` makes a close final; an object tunes the backoff.
   */
  reconnect?: boolean | ReconnectOptions;
  /** Calls that may wait for a reconnect (default 1,000); more are refused with QUEUE_FULL. */
  maxQueued?: number;
  /** A token to resume at connect (`auth.resume`), e.g. one kept from an earlier session. */
  token?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';
export interface StateInfo {
  /** `reconnecting`: the attempt about to be made (1, 2, ...) and the delay before it. */
  attempt?: number;
  delayMs?: number;
  /** The close that caused `reconnecting` or `closed`. */
  code?: number;
  reason?: string;
  /** `closed`: why reconnecting stopped, when it stopped on an error (e.g. UNAUTHENTICATED). */
  error?: CartwireError;
}
export interface ClientEvents {
  state: (state: ConnectionState, info: StateInfo) => void;
  /** Errors nobody awaits: a failed re-authentication or resubscription, a throwing handler. */
  error: (err: unknown) => void;
}

export type PushHandler = (push: string, data: unknown) => void;
export interface Session {
  userId: string;
  role: Role;
}
export type CloseInfo = { code: number; reason: string };

/** `state` and `error` listeners; an error nobody listens to goes to the console rather than vanish. */
export class Listeners {
  private readonly sets: { [E in keyof ClientEvents]: Set<ClientEvents[E]> } = { state: new Set(), error: new Set() };

  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): () => void {
    const set = this.sets[event] as Set<ClientEvents[E]>;
    set.add(fn);
    return () => set.delete(fn);
  }

  emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    for (const fn of this.sets[event]) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        if (event !== 'error') this.report(err);
      }
    }
  }

  /** An error nobody awaits: to `error` listeners, else to the console. */
  report(err: unknown): void {
    if (this.sets.error.size > 0) this.emit('error', err);
    else console.error('cartwire client:', err);
  }
}
