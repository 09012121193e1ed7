// The parent's side of the load workers: forks them, splits a step's connections (and the open
// model's rate) over them, starts every worker at the same wall-clock instant, merges the
// per-second ticks into a timeline as they come, and merges what they report at the end.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killOnExit } from './cleanup.js';
import { mergeHistograms, type Histogram } from './histogram.js';
import type { Interval } from './recorder.js';
import type { SessionResult, SessionSpec } from './sessions.js';
import type { Change, FanoutResult, FanoutSpec, FillResult, FillSpec, FromWorker, StepResult, StepSpec, ToWorker } from './load-protocol.js';

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));

export interface MergedStep {
  histogram: Histogram;
  uncorrected: Histogram | undefined;
  sendLag: Histogram | undefined;
  completed: number;
  answeredInWindow: number;
  errors: Record<string, number>;
  sent: number;
  lost: number;
  notSent: number;
  maxOutstanding: number;
  perOp: Record<string, Histogram> | undefined;
}

export interface MergedFill {
  carts: number;
  failedCarts: number;
  errors: Record<string, number>;
  histogram: Histogram;
}

/** One second of the timeline, merged over the workers. */
export interface MergedTick {
  sec: number;
  count: number;
  errors: number;
  histogram: Histogram;
}

class Worker {
  private waiters: ((m: FromWorker) => boolean)[] = [];
  onProgress: ((carts: number) => void) | undefined;
  onTick: ((sec: number, interval: Interval) => void) | undefined;
  onChanges: ((changes: Change[]) => void) | undefined;
  readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    killOnExit(proc);
    proc.on('message', (m: FromWorker) => {
      if (m.t === 'progress') return this.onProgress?.(m.carts);
      if (m.t === 'tick') return this.onTick?.(m.sec, m.interval);
      if (m.t === 'changes') return this.onChanges?.(m.changes);
      if (m.t === 'error') {
        const err = new Error(`load worker ${proc.pid}: ${m.message}`);
        for (const w of this.waiters.splice(0)) w({ t: 'error', message: err.message });
        return;
      }
      this.waiters = this.waiters.filter((w) => !w(m));
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  post(m: ToWorker): void {
    if (this.proc.connected) this.proc.send(m);
  }

  /** The next message of kind `t` (an error message rejects). */
  next<T extends FromWorker['t']>(t: T): Promise<Extract<FromWorker, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => {
        if (m.t === 'error') {
          reject(new Error(m.message));
          return true;
        }
        if (m.t !== t) return false;
        resolve(m as Extract<FromWorker, { t: T }>);
        return true;
      });
    });
  }
}

/** Merges the workers' ticks of each second once every active worker has sent it. */
class TickMerger {
  private readonly pending = new Map<number, Interval[]>();
  constructor(
    private readonly workers: number,
    private readonly onTick: (t: MergedTick) => void,
  ) {}

  add(sec: number, i: Interval): void {
    const list = this.pending.get(sec) ?? [];
    list.push(i);
    this.pending.set(sec, list);
    if (list.length < this.workers) return;
    this.pending.delete(sec);
    this.onTick({
      sec,
      count: list.reduce((a, x) => a + x.count, 0),
      errors: list.reduce((a, x) => a + x.errors, 0),
      histogram: mergeHistograms(list.map((x) => x.histogram)),
    });
  }
}

export class LoadGroup {
  private active: Worker[] = [];

  private constructor(private readonly workers: Worker[]) {}

  /** Forks `n` load processes (plain `node`, no flags of ours). */
  static start(n: number): LoadGroup {
    const workers = Array.from({ length: n }, () => new Worker(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })));
    return new LoadGroup(workers);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Opens the step's connections, split over the workers (an open model's rate too, each
   * worker's arrivals shifted to interleave), and waits until all are ready.
   */
  async prepare(spec: Omit<StepSpec, 'connections' | 'connOffset'>, totalConnections: number): Promise<void> {
    const n = Math.min(this.workers.length, totalConnections);
    this.active = this.workers.slice(0, n);
    const per = split(totalConnections, n);
    let offset = 0;
    await Promise.all(
      this.active.map((w, i) => {
        const ready = w.next('ready');
        const model =
          spec.model.kind === 'open' ? { ...spec.model, rate: spec.model.rate / n, warmupRate: spec.model.warmupRate / n, offset: i / n } : spec.model;
        w.post({ t: 'prepare', spec: { ...spec, model, connections: per[i], connOffset: offset } });
        offset += per[i];
        return ready;
      }),
    );
  }

  /** Runs the prepared step from t0 (epoch ms); `onTick` gets each merged second. Resolves with the merged results. */
  async run(t0: number, onTick: (t: MergedTick) => void): Promise<MergedStep> {
    const merger = new TickMerger(this.active.length, onTick);
    const results = await Promise.all(
      this.active.map((w) => {
        w.onTick = (sec, i) => merger.add(sec, i);
        const done = w.next('result');
        w.post({ t: 'go', t0 });
        return done;
      }),
    );
    for (const w of this.active) w.onTick = undefined;
    return mergeStep(results.map((r) => r.result));
  }

  /** push-fanout: opens the subscribers (split over the workers) and the admin (on the first). */
  async prepareFanout(
    spec: Omit<FanoutSpec, 'subscribers' | 'connOffset' | 'admin'>,
    admin: NonNullable<FanoutSpec['admin']>,
    subscribers: number,
  ): Promise<void> {
    const per = split(subscribers, this.workers.length);
    let offset = 0;
    await Promise.all(
      this.workers.map((w, i) => {
        const ready = w.next('ready');
        w.post({ t: 'fanout-prepare', spec: { ...spec, subscribers: per[i], connOffset: offset, admin: i === 0 ? admin : undefined } });
        offset += per[i];
        return ready;
      }),
    );
  }

  /**
   * Runs the prepared push-fanout from t0 (epoch ms), relaying the admin's changes to every
   * worker; `settleMs` after the admin's last change, asks each worker for its results.
   */
  async runFanout(t0: number, settleMs: number, onTick: (t: MergedTick) => void): Promise<FanoutResult[]> {
    const merger = new TickMerger(this.workers.length, onTick);
    for (const w of this.workers) {
      w.onTick = (sec, i) => merger.add(sec, i);
      w.onChanges = (changes) => {
        for (const x of this.workers) x.post({ t: 'changes', changes });
      };
    }
    const adminDone = this.workers[0].next('admin-done');
    for (const w of this.workers) w.post({ t: 'go', t0 });
    await adminDone;
    await new Promise((r) => setTimeout(r, settleMs));
    const results = await Promise.all(
      this.workers.map((w) => {
        const done = w.next('fanout-result');
        w.post({ t: 'finish' });
        return done;
      }),
    );
    for (const w of this.workers) {
      w.onTick = undefined;
      w.onChanges = undefined;
    }
    return results.map((r) => r.result);
  }

  /** Fills carts for users [0, carts) split over the workers; `onProgress` gets the running total. */
  async fill(spec: Omit<FillSpec, 'from' | 'to'>, carts: number, onProgress: (done: number) => void): Promise<MergedFill> {
    const per = split(carts, this.workers.length);
    const done = new Array<number>(this.workers.length).fill(0);
    let from = 0;
    const results = await Promise.all(
      this.workers.map((w, i) => {
        w.onProgress = (n) => {
          done[i] = n;
          onProgress(done.reduce((a, b) => a + b, 0));
        };
        const finished = w.next('filled');
        w.post({ t: 'fill', spec: { ...spec, from, to: from + per[i] } });
        from += per[i];
        return finished;
      }),
    );
    for (const w of this.workers) w.onProgress = undefined;
    const rs: FillResult[] = results.map((r) => r.result);
    return {
      carts: rs.reduce((a, r) => a + r.carts, 0),
      failedCarts: rs.reduce((a, r) => a + r.failedCarts, 0),
      errors: sumCounts(rs.map((r) => r.errors)),
      histogram: mergeHistograms(rs.map((r) => r.histogram)),
    };
  }

  /**
   * Session workloads: opens `connections` (split over the workers, each with `perWorker(i)`
   * merged into its spec), waits until every worker is ready (guests signed in, setup done),
   * starts them all at t0 = now + 200 ms and resolves with t0 and each worker's result.
   */
  async session(
    spec: Omit<SessionSpec, 'connections' | 'connOffset'>,
    connections: number,
    perWorker: (i: number) => Partial<SessionSpec> = () => ({}),
    onGo: (t0: number) => void = () => undefined,
  ): Promise<{ t0: number; results: SessionResult[] }> {
    const n = Math.min(this.workers.length, connections);
    const active = this.workers.slice(0, n);
    const per = split(connections, n);
    let offset = 0;
    await Promise.all(
      active.map((w, i) => {
        const ready = w.next('ready');
        w.post({ t: 'session-prepare', spec: { ...spec, ...perWorker(i), connections: per[i], connOffset: offset } });
        offset += per[i];
        return ready;
      }),
    );
    const t0 = Date.now() + 200;
    onGo(t0);
    const results = await Promise.all(
      active.map((w) => {
        const done = w.next('session-result');
        w.post({ t: 'session-go', t0 });
        return done;
      }),
    );
    return { t0, results: results.map((r) => r.result) };
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.post({ t: 'exit' });
    await Promise.all(this.workers.map((w) => w.exited));
  }
}

export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export function sumCounts(list: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of list) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function mergeStep(rs: StepResult[]): MergedStep {
  const sum = (f: (r: StepResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  const optional = (list: (string | undefined)[]) => (list.every((x) => x !== undefined) && list.length ? mergeHistograms(list) : undefined);
  return {
    histogram: mergeHistograms(rs.map((r) => r.histogram)),
    uncorrected: optional(rs.map((r) => r.uncorrected)),
    sendLag: optional(rs.map((r) => r.sendLag)),
    completed: sum((r) => r.completed),
    answeredInWindow: sum((r) => r.answeredInWindow),
    errors: sumCounts(rs.map((r) => r.errors)),
    sent: sum((r) => r.sent),
    lost: sum((r) => r.lost),
    notSent: sum((r) => r.notSent),
    maxOutstanding: sum((r) => r.maxOutstanding),
    perOp: mergePerOp(rs.map((r) => r.perOp)),
  };
}

function mergePerOp(list: (Record<string, string> | undefined)[]): Record<string, Histogram> | undefined {
  const ops = new Set(list.flatMap((x) => Object.keys(x ?? {})));
  if (ops.size === 0) return undefined;
  return Object.fromEntries([...ops].map((op) => [op, mergeHistograms(list.flatMap((x) => (x?.[op] ? [x[op]] : [])))]));
}
