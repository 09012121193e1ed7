// Made from src/protocol/errors.ts by `npm run sdk:protocol`; edit the original, not this copy.
// Error and close codes of the wire protocol (docs/protocol.md). Imports nothing: the server, the SDK,
// the docs and the tests all read these tables.

export const ErrorCode = {
  BAD_FRAME: 'BAD_FRAME',
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  CART_EMPTY: 'CART_EMPTY',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  PAYMENT_DECLINED: 'PAYMENT_DECLINED',
  FRAUD_SUSPECTED: 'FRAUD_SUSPECTED',
  RATE_LIMITED: 'RATE_LIMITED',
  OVERLOADED: 'OVERLOADED',
  /** The actor's shard or partition is restarting, moving, or cannot write its journal; nothing was changed. */
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server uses (RFC 6455 numbers). */
export const CloseCode = {
  /** Server shutting down (SIGTERM drain). */
  GOING_AWAY: 1001,
  /** Too many bad frames (the 10th is answered, then the close follows). */
  POLICY_VIOLATION: 1008,
  /** A frame over the 64 KiB limit. */
  MESSAGE_TOO_BIG: 1009,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Transport limits of docs/protocol.md "Transport". */
export const Limits = {
  MAX_FRAME_BYTES: 64 * 1024,
  MAX_BATCH: 256,
  MAX_DEPTH: 16,
  BAD_FRAMES_BEFORE_CLOSE: 10,
  CART_MAX_LINES: 100,
  LINE_MAX_QTY: 999,
  /** Topics one connection may be subscribed to at once (LIMIT_EXCEEDED beyond). */
  SUBSCRIPTIONS_PER_CONNECTION: 100,
  /** Password length at auth.register, in UTF-16 code units (JS string length). */
  PASSWORD_MIN_LENGTH: 8,
  PASSWORD_MAX_LENGTH: 1024,
  NAME_MAX_LENGTH: 200,
  /** Entries in one audit.history page. */
  AUDIT_PAGE_MAX: 100,
  /** Journal rows one audit.stateAt replays at most (LIMIT_EXCEEDED beyond). */
  AUDIT_REPLAY_MAX_ROWS: 200_000,
  /** Users waiting or admitted in one product drop (LIMIT_EXCEEDED beyond). */
  DROP_MAX_QUEUE: 10_000,
} as const;

export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Keys refused anywhere in a request: they are prototype-pollution vectors in JS servers. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Outcome labels: index 0 is success, index i > 0 is the error code OUTCOMES[i]. */
export const OUTCOMES: readonly ('ok' | ErrorCode)[] = ['ok', ...(Object.values(ErrorCode) as ErrorCode[])];
export const outcomeIndex = (code: ErrorCode): number => OUTCOMES.indexOf(code);
