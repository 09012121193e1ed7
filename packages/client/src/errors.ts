// Errors of the client SDK, built in one place. A server error keeps the wire's code, message
// and details; the SDK's own failures (timeout, abort, lost connection) have codes the server
// never sends, so `err.code` alone tells whether the server answered.
import type { ErrorCode, WireError } from './protocol/errors.js';
import type { CloseInfo } from './events.js';

/**
 * Codes the SDK makes itself. `TIMEOUT`, `ABORTED` and `CLOSED` (with `details.sent: true`) mean
 * "unknown outcome": the request may have reached the server and been applied.
 */
export type ClientErrorCode = 'TIMEOUT' | 'ABORTED' | 'CLOSED' | 'QUEUE_FULL' | 'REQUEST_TOO_BIG';
export type CartwireErrorCode = ErrorCode | ClientErrorCode;

const CLIENT_CODES: ReadonlySet<string> = new Set<ClientErrorCode>(['TIMEOUT', 'ABORTED', 'CLOSED', 'QUEUE_FULL', 'REQUEST_TOO_BIG']);

/** A failed call: the server's error code, message and details, or one of the SDK's own codes. */
export class CartwireError extends Error {
  override name = 'CartwireError';
  constructor(
    readonly code: CartwireErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }

  /** True when the server answered with this error (so the request was not applied). */
  get fromServer(): boolean {
    return !CLIENT_CODES.has(this.code);
  }
}

/** The error of a response `{ ok: false, error }`. */
export function wireError(error: Partial<WireError> | undefined): CartwireError {
  return new CartwireError(error?.code ?? 'INTERNAL', error?.message ?? 'unknown error', error?.details);
}

export function timeoutError(op: string, timeoutMs: number, sent: boolean): CartwireError {
  return new CartwireError('TIMEOUT', `${op} got no answer in ${timeoutMs} ms`, { op, timeoutMs, sent });
}

export function abortedError(op: string, reason: unknown, sent: boolean): CartwireError {
  return new CartwireError('ABORTED', `${op} was aborted`, { op, sent }, { cause: reason });
}

/**
 * The connection closed under a call. `sent: true`: the request left and its outcome is unknown
 * (it is never re-sent); `sent: false`: it never left this client.
 */
export function closedError(op: string, close: CloseInfo | undefined, sent: boolean): CartwireError {
  const why = close ? `connection closed (${close.code}${close.reason ? ` ${close.reason}` : ''})` : 'client is closed';
  return new CartwireError('CLOSED', `${op}: ${why}`, { op, sent, closeCode: close?.code, closeReason: close?.reason });
}

export function queueFullError(op: string, maxQueued: number): CartwireError {
  return new CartwireError('QUEUE_FULL', `${op}: ${maxQueued} calls already wait for the connection`, { op, maxQueued });
}

export function tooBigError(op: string, bytes: number, maxBytes: number): CartwireError {
  return new CartwireError('REQUEST_TOO_BIG', `${op}: request is ${bytes} bytes, over the ${maxBytes}-byte frame limit`, { op, bytes, maxBytes });
}

/** The wait a refusal asks for (`details.retryAfterMs` of RATE_LIMITED), else 0. */
export function retryAfterMs(err: CartwireError): number {
  return Number((err.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs) || 0;
}
