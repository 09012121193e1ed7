// Messages between the harness (parent) and its load worker processes (child_process.fork).
import type { Timing } from './arrivals.js';
import type { ChannelSpec, ClientKind } from './channels.js';
import type { ModelSpec } from './drive.js';
import type { Interval, RecorderResult } from './recorder.js';
import type { SessionResult, SessionSpec } from './sessions.js';

export type { ClientKind };

/** One step of load on this worker: its connections, the model and the phases. */
export interface StepSpec extends ChannelSpec {
  /** Connections opened by this worker. */
  connections: number;
  /** Index of this worker's first connection over all workers (users and skus spread by it). */
  connOffset: number;
  model: ModelSpec;
  timing: Timing;
}

export interface StepResult extends RecorderResult {
  notSent: number;
  maxOutstanding: number;
}

/** push-fanout on this worker: subscribers of one sku, and on one worker the admin changing it. */
export interface FanoutSpec {
  url: string;
  client: ClientKind;
  sku: string;
  subscribers: number;
  connOffset: number;
  /** This worker also runs the admin connection that changes the sku. */
  admin?: { email: string; password: string; changeRate: number; baseQty: number };
  timing: Timing;
}

/** One change made by the admin: the version it produced and its instants (epoch ms). */
export interface Change {
  version: number;
  intended: number;
  sent: number;
  replied: number;
}

export interface FanoutResult {
  /** Push latency from the change's send, µs (changes intended in the window). */
  fromSend: string;
  /** Push latency from the change's reply at the admin, µs (earlier receipts count as 1 µs). */
  fromReply: string;
  /** Deliveries received before the admin had the change's reply. */
  beforeReply: number;
  /** Deliveries of changes intended in the window. */
  delivered: number;
  /** Deliveries that arrived inside the window (throughput). */
  deliveredInWindow: number;
  /** Changes in the window x subscribers open, minus what arrived. */
  missed: number;
  /** Pushes whose version was not above the subscriber's last one. */
  outOfOrder: number;
  /** Subscriber connections closed during the run (slow-consumer closes). */
  closedSubscribers: number;
  subscribers: number;
  /** Admin only: inventory.adjust latency from the intended time (changes in the window), µs, and counts. */
  adjust?: { histogram: string; changes: number; changesInWindow: number; errors: Record<string, number> };
}

export interface FillSpec {
  url: string;
  jwtSecret: string;
  client: ClientKind;
  /** Users `run-from` .. `run-(to-1)` get a cart; user ids from benchUserId(run, n). */
  run: string;
  from: number;
  to: number;
  lines: number;
  skus: string[];
  connections: number;
}

export interface FillResult {
  carts: number;
  failedCarts: number;
  errors: Record<string, number>;
  /** cart.add latency over the fill, µs. */
  histogram: string;
}

export type ToWorker =
  | { t: 'prepare'; spec: StepSpec }
  | { t: 'fanout-prepare'; spec: FanoutSpec }
  /** Start the prepared step; t0 = epoch ms of the start of warm-up. */
  | { t: 'go'; t0: number }
  | { t: 'changes'; changes: Change[] }
  /** push-fanout: every change is relayed; report. */
  | { t: 'finish' }
  | { t: 'fill'; spec: FillSpec }
  /** Session workloads (checkout, flash-sale, recs): open and prepare; then `session-go`. */
  | { t: 'session-prepare'; spec: SessionSpec }
  | { t: 'session-go'; t0: number }
  | { t: 'exit' };

export type FromWorker =
  | { t: 'ready' }
  /** Answers (or deliveries) of second `sec` after t0. */
  | { t: 'tick'; sec: number; interval: Interval }
  | { t: 'result'; result: StepResult }
  | { t: 'changes'; changes: Change[] }
  | { t: 'admin-done' }
  | { t: 'fanout-result'; result: FanoutResult }
  | { t: 'progress'; carts: number }
  | { t: 'filled'; result: FillResult }
  | { t: 'session-result'; result: SessionResult }
  | { t: 'error'; message: string };
