// When and how soon the SDK reconnects. Pure functions, so the rule is testable and documented
// in one place (docs/client.md "Reconnecting").
import { CloseCode } from './protocol/errors.js';

export interface ReconnectOptions {
  /** First backoff ceiling in ms (default 100). */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 10,000). */
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

export interface ReconnectPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

/** The default backoff, also the one subscriptions retry with when reconnect is off. */
export const DEFAULT_BACKOFF: Readonly<Pick<ReconnectPolicy, 'baseDelayMs' | 'maxDelayMs'>> = { baseDelayMs: 100, maxDelayMs: 10_000 };

/** `true`/undefined -> the defaults; `false` -> no reconnect. Rejects nonsense with the option's name. */
export function resolveReconnect(opt: boolean | ReconnectOptions | undefined): ReconnectPolicy | undefined {
  if (opt === false) return undefined;
  const o = opt === true || opt === undefined ? {} : opt;
  const policy = {
    baseDelayMs: o.baseDelayMs ?? DEFAULT_BACKOFF.baseDelayMs,
    maxDelayMs: o.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs,
    maxAttempts: o.maxAttempts ?? Infinity,
  };
  for (const [name, v] of Object.entries(policy)) {
    if (!(v > 0)) throw new RangeError(`reconnect.${name} must be a positive number, got ${String(v)}`);
  }
  if (policy.maxDelayMs < policy.baseDelayMs)
    throw new RangeError(`reconnect.maxDelayMs (${policy.maxDelayMs}) must be >= reconnect.baseDelayMs (${policy.baseDelayMs})`);
  return policy;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base * 2^(attempt-1))).
 * Full jitter spreads a crowd of clients that lost the same server over the whole window, so a
 * restarted server is not hit by all of them at once.
 */
export function backoffDelay(attempt: number, p: Pick<ReconnectPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Close codes after which reconnecting would only repeat the failure: the server closed us for
 * what we sent (policy 1008, too big 1009, and the other "your bytes are wrong" codes).
 */
export const NO_RETRY_CLOSE_CODES: ReadonlySet<number> = new Set([
  1002, // protocol error
  1003, // unsupported data
  1007, // invalid payload
  CloseCode.POLICY_VIOLATION, // 1008: too many bad frames
  CloseCode.MESSAGE_TOO_BIG, // 1009
  1010, // mandatory extension
]);

/** True when a close with this code (not asked for by the client) should be followed by a reconnect. */
export function shouldReconnect(code: number): boolean {
  return !NO_RETRY_CLOSE_CODES.has(code);
}
