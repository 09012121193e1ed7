// Messages between the harness (parent) and its load worker processes (child_process.fork).

/** What each request of a closed-loop phase is. */
export type LoadOp = 'ping' | 'cart';
export type ClientKind = 'raw' | 'sdk';

export interface PhaseSpec {
  url: string;
  op: LoadOp;
  /** Connections opened by this worker. */
  connections: number;
  /** Requests kept in flight per connection (closed loop). */
  inflight: number;
  client: ClientKind;
  /** Skus a cart connection cycles through (cart.add then cart.setQty on each). */
  skus: string[];
  /** Skus per user (a few lines per cart). */
  skusPerUser: number;
  /** Index of this worker's first connection over all workers (spreads the skus). */
  connOffset: number;
}

export interface FillSpec {
  url: string;
  jwtSecret: string;
  /** Users `run-from` .. `run-(to-1)` get a cart; user ids from benchUserId(run, n). */
  run: string;
  from: number;
  to: number;
  lines: number;
  skus: string[];
  connections: number;
}

export type ToWorker =
  | { t: 'phase'; spec: PhaseSpec }
  | { t: 'go'; measureStart: number; measureEnd: number }
  | { t: 'fill'; spec: FillSpec }
  | { t: 'exit' };

export interface PhaseResult {
  /** Encoded HDR histogram (µs) of the requests completed inside the window. */
  histogram: string;
  /** Requests completed inside the window (ok or not). */
  completed: number;
  /** Error codes of those requests. */
  errors: Record<string, number>;
  /** Requests sent over the whole phase (warm-up included). */
  sentTotal: number;
  /** Requests left unanswered when the worker gave up waiting. */
  lost: number;
}

export interface FillResult {
  carts: number;
  failedCarts: number;
  errors: Record<string, number>;
  /** cart.add latency over the fill, µs. */
  histogram: string;
}

export type FromWorker =
  | { t: 'ready' }
  | { t: 'result'; result: PhaseResult }
  | { t: 'progress'; carts: number }
  | { t: 'filled'; result: FillResult }
  | { t: 'error'; message: string };
