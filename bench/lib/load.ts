// The parent's side of the load workers: forks them, hands out connections, starts every
// worker's measured window at the same wall-clock instants, and merges what they report.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mergeHistograms, type Histogram } from './histogram.js';
import type { FillResult, FillSpec, FromWorker, PhaseResult, PhaseSpec, ToWorker } from './load-protocol.js';

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));

export interface MergedPhase {
  histogram: Histogram;
  completed: number;
  errors: Record<string, number>;
  sentTotal: number;
  lost: number;
}

export interface MergedFill {
  carts: number;
  failedCarts: number;
  errors: Record<string, number>;
  histogram: Histogram;
}

class Worker {
  private waiters: ((m: FromWorker) => boolean)[] = [];
  onProgress: ((carts: number) => void) | undefined;
  readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: FromWorker) => {
      if (m.t === 'progress') return this.onProgress?.(m.carts);
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
    this.proc.send(m);
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

export class LoadGroup {
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

  /** Opens the phase's connections (split over the workers) and waits until all are ready. */
  async prepare(spec: Omit<PhaseSpec, 'connections' | 'connOffset'>, totalConnections: number): Promise<void> {
    const per = split(totalConnections, this.workers.length);
    let offset = 0;
    await Promise.all(
      this.workers.map((w, i) => {
        const ready = w.next('ready');
        w.post({ t: 'phase', spec: { ...spec, connections: per[i], connOffset: offset } });
        offset += per[i];
        return ready;
      }),
    );
  }

  /** Starts the load now; the window [measureStart, measureEnd] is in epoch ms. Resolves with the merged results. */
  async run(measureStart: number, measureEnd: number): Promise<MergedPhase> {
    const results = await Promise.all(
      this.workers.map((w) => {
        const done = w.next('result');
        w.post({ t: 'go', measureStart, measureEnd });
        return done;
      }),
    );
    return mergePhase(results.map((r) => r.result));
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
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      carts: rs.reduce((a, r) => a + r.carts, 0),
      failedCarts: rs.reduce((a, r) => a + r.failedCarts, 0),
      errors,
      histogram: mergeHistograms(rs.map((r) => r.histogram)),
    };
  }

  async stop(): Promise<void> {
    for (const w of this.workers) {
      if (w.proc.connected) w.post({ t: 'exit' });
    }
    await Promise.all(this.workers.map((w) => w.exited));
  }
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function mergePhase(rs: PhaseResult[]): MergedPhase {
  const errors: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return {
    histogram: mergeHistograms(rs.map((r) => r.histogram)),
    completed: rs.reduce((a, r) => a + r.completed, 0),
    errors,
    sentTotal: rs.reduce((a, r) => a + r.sentTotal, 0),
    lost: rs.reduce((a, r) => a + r.lost, 0),
  };
}
