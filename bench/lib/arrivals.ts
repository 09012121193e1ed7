// When requests are meant to leave. A step runs three phases on one clock: warm-up (low load),
// ramp (load rising linearly) and steady (full load, the measured window). The open model
// turns that into intended send times at a given arrival rate; the closed model into the
// number of requests each connection keeps in flight. Pure functions: the load worker and the
// tests share them.

export type Phase = 'warmup' | 'ramp' | 'steady';

export interface Timing {
  warmupMs: number;
  rampMs: number;
  steadyMs: number;
}

export const totalMs = (t: Timing): number => t.warmupMs + t.rampMs + t.steadyMs;

/** The phase at `ms` after the start (past the end: steady). */
export function phaseAt(t: Timing, ms: number): Phase {
  if (ms < t.warmupMs) return 'warmup';
  if (ms < t.warmupMs + t.rampMs) return 'ramp';
  return 'steady';
}

/**
 * Intended send times of an open (constant arrival rate) load: `warmupRate` during warm-up, a
 * linear rise to `rate` over the ramp, then `rate`. Times are ms after the step's start; `offset`
 * (0..1) shifts every arrival by that fraction of one steady interval, so several load
 * processes at rate/n each interleave instead of sending at the same instants.
 */
export class ArrivalSchedule {
  private readonly r0: number; // per ms
  private readonly r1: number;
  private readonly nWarmup: number; // arrivals before the ramp
  private readonly nRamp: number; // arrivals before steady
  private readonly shift: number;

  constructor(
    private readonly timing: Timing,
    rate: number,
    warmupRate: number,
    offset = 0,
  ) {
    if (!(rate > 0)) throw new Error(`rate must be > 0, got ${rate}`);
    if (!(warmupRate > 0) || warmupRate > rate) throw new Error(`warm-up rate must be in (0, rate], got ${warmupRate}`);
    this.r0 = warmupRate / 1000;
    this.r1 = rate / 1000;
    this.nWarmup = this.r0 * timing.warmupMs;
    this.nRamp = this.nWarmup + ((this.r0 + this.r1) / 2) * timing.rampMs;
    this.shift = offset / this.r1;
  }

  /** Arrivals intended in [0, ms): the integral of the rate. */
  countBefore(ms: number): number {
    const t = ms - this.shift;
    if (t <= 0) return 0;
    const { warmupMs, rampMs } = this.timing;
    let n: number;
    if (t <= warmupMs) n = this.r0 * t;
    else if (t <= warmupMs + rampMs) {
      const x = t - warmupMs;
      n = this.nWarmup + this.r0 * x + ((this.r1 - this.r0) * x * x) / (2 * rampMs);
    } else n = this.nRamp + this.r1 * (t - warmupMs - rampMs);
    // The k-th arrival (0-based) is at the instant the integral reaches k, so [0, ms) holds
    // ceil(n) of them; the epsilon keeps float error from counting an arrival twice.
    return Math.ceil(n - 1e-9);
  }

  /** Intended time of arrival k (0-based), ms after the start: where the integral reaches k. */
  at(k: number): number {
    const { warmupMs, rampMs } = this.timing;
    let t: number;
    if (k < this.nWarmup) t = k / this.r0;
    else if (k < this.nRamp) {
      // Solve nWarmup + r0 x + a x^2 / 2 = k for x, a = (r1 - r0) / rampMs.
      const a = (this.r1 - this.r0) / rampMs;
      const c = k - this.nWarmup;
      const x = a === 0 ? c / this.r0 : (-this.r0 + Math.sqrt(this.r0 * this.r0 + 2 * a * c)) / a;
      t = warmupMs + x;
    } else t = warmupMs + rampMs + (k - this.nRamp) / this.r1;
    return t + this.shift;
  }
}

/**
 * Requests a connection keeps in flight in the closed model at `ms` after the start: 1 during
 * warm-up, rising linearly to `inflight` over the ramp, then `inflight`. Without a ramp the
 * warm-up already runs at `inflight` (the level the window measures).
 */
export function closedInflight(t: Timing, inflight: number, ms: number): number {
  if (t.rampMs <= 0) return inflight;
  if (ms < t.warmupMs) return 1;
  if (ms >= t.warmupMs + t.rampMs) return inflight;
  return Math.max(1, Math.min(inflight, Math.ceil(1 + ((inflight - 1) * (ms - t.warmupMs)) / t.rampMs)));
}
