// What a load process records about the answers of one step. Times are performance.now() ms.
//
// Every answer carries three instants: when the request was meant to leave (`intended`: its
// slot in the open model's schedule; in the closed model the moment it was sent), when it
// actually left (`sent`), and when its answer arrived (`now`). Latency is `now - intended`:
// a load process that falls behind its schedule (a GC pause, a starved event loop, a server
// that stalled the connection) cannot hide the requests that waited behind the stall, which a
// send-to-answer measure would (coordinated omission). `now - sent` is kept beside it for
// comparison, and `sent - intended` says how late the load process itself was.
import { newHistogram, encodeHistogram, type Histogram } from './histogram.js';

export type Model = 'closed' | 'open';

export interface Window {
  start: number;
  end: number;
}

export interface Interval {
  /** Answers in this interval (by arrival time). */
  count: number;
  errors: number;
  /** Encoded histogram of their latency (from the intended time), µs. */
  histogram: string;
}

export interface RecorderResult {
  /** Latency from the intended send time (the CO-corrected one), µs, of the requests the window counts. */
  histogram: string;
  /** Latency from the actual send (uncorrected), µs; open model only. */
  uncorrected?: string;
  /** How late requests left against their schedule, µs; open model only. */
  sendLag?: string;
  /** Requests the window counts (closed: sent and answered in it; open: intended in it), answered. */
  completed: number;
  /** Answers that arrived inside the window, whatever their send time: the throughput. */
  answeredInWindow: number;
  errors: Record<string, number>;
  sent: number;
  /** Requests the window counts that were never answered before the worker gave up. */
  lost: number;
  /** Per op (channels that track ops): the same latency as `histogram`, encoded. */
  perOp?: Record<string, string>;
}

const toUs = (ms: number): number => Math.max(1, Math.round(ms * 1000));

export class Recorder {
  readonly corrected: Histogram = newHistogram();
  readonly uncorrected: Histogram | undefined;
  readonly sendLag: Histogram | undefined;
  private interval: Histogram = newHistogram();
  private intervalCount = 0;
  private intervalErrors = 0;
  completed = 0;
  answeredInWindow = 0;
  readonly errors: Record<string, number> = {};
  sent = 0;
  /** Requests sent and not answered yet. */
  outstanding = 0;
  /** Of those, the ones the window counts (the lost ones, if nothing more comes). */
  outstandingCounted = 0;
  private readonly perOp = new Map<string, Histogram>();

  constructor(
    readonly model: Model,
    readonly window: Window,
  ) {
    if (model === 'open') {
      this.uncorrected = newHistogram();
      this.sendLag = newHistogram();
    }
  }

  /**
   * True when the window counts a request meant to leave at `intended` (closed model: the moment
   * the loop sent it; a channel's own send stamp may be a few µs later, so `intended` decides on
   * both sides, onSend and record, and a request at the edge of the window is counted once or not at all).
   */
  counts(intended: number, _sent?: number): boolean {
    return intended >= this.window.start && intended < this.window.end;
  }

  /** A request left. */
  onSend(intended: number, sent: number): void {
    this.sent++;
    this.outstanding++;
    if (this.counts(intended, sent)) this.outstandingCounted++;
  }

  /** An answer (or an error code) arrived at `now` for a request meant at `intended`, sent at `sent`. */
  record(intended: number, sent: number, now: number, errorCode: string | undefined, op?: string): void {
    this.outstanding--;
    const latency = toUs(now - intended);
    this.interval.recordValue(latency);
    this.intervalCount++;
    if (errorCode) this.intervalErrors++;
    if (now >= this.window.start && now < this.window.end) this.answeredInWindow++;
    if (!this.counts(intended, sent)) return;
    this.outstandingCounted--;
    // The closed model counts only what was answered inside the window (what it sent then).
    if (this.model === 'closed' && now >= this.window.end) return;
    this.completed++;
    this.corrected.recordValue(latency);
    if (op !== undefined) {
      let h = this.perOp.get(op);
      if (!h) this.perOp.set(op, (h = newHistogram()));
      h.recordValue(latency);
    }
    if (this.uncorrected) {
      this.uncorrected.recordValue(toUs(now - sent));
      this.sendLag!.recordValue(toUs(sent - intended));
    }
    if (errorCode) this.errors[errorCode] = (this.errors[errorCode] ?? 0) + 1;
  }

  /** The answers since the last call (the per-second timeline), and a fresh interval. */
  takeInterval(): Interval {
    const out = { count: this.intervalCount, errors: this.intervalErrors, histogram: encodeHistogram(this.interval) };
    this.interval.reset();
    this.intervalCount = 0;
    this.intervalErrors = 0;
    return out;
  }

  /** True once every request the window counts has its answer. */
  get settled(): boolean {
    return this.outstandingCounted <= 0;
  }

  result(): RecorderResult {
    return {
      histogram: encodeHistogram(this.corrected),
      uncorrected: this.uncorrected ? encodeHistogram(this.uncorrected) : undefined,
      sendLag: this.sendLag ? encodeHistogram(this.sendLag) : undefined,
      completed: this.completed,
      answeredInWindow: this.answeredInWindow,
      errors: this.errors,
      sent: this.sent,
      // Closed model: what was sent in the window and answered after it is not lost, only late.
      lost: Math.max(0, this.outstandingCounted),
      perOp: this.perOp.size ? Object.fromEntries([...this.perOp].map(([op, h]) => [op, encodeHistogram(h)])) : undefined,
    };
  }
}
