// The parent's side of the cluster load processes (cluster-worker.ts, child_process.fork): each
// connection of a step goes to a node of the cluster (a random one, or all to one node), runs the
// cart-mix workload as cart-mix does (opSource, drive, Recorder, RawChannel), and tags its cart
// ops `local` or `fwd` by whether the node it is connected to owns its cart's partition. For the
// failover, the same processes run adders: guests adding one unit at a time, each counting what
// was acknowledged, then reading their carts back through a survivor.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Timing } from './arrivals.js';
import type { ChannelSpec } from './channels.js';
import { killOnExit } from './cleanup.js';
import type { DriveOutcome, ModelSpec } from './drive.js';
import { mergeHistograms, type Histogram } from './histogram.js';
import { split, sumCounts, type MergedStep, type MergedTick } from './load.js';
import type { Interval, RecorderResult } from './recorder.js';

const WORKER = fileURLToPath(new URL('./cluster-worker.js', import.meta.url));

export interface NodeRef {
  id: string;
  url: string;
}

/** Where a step's connections go: each to a random node (seeded by its index), or all to one. */
export type Placement = { kind: 'random'; seed: number } | { kind: 'node'; index: number };

export interface ClusterStepSpec extends Omit<ChannelSpec, 'url'> {
  nodes: NodeRef[];
  placement: Placement;
  /** Partition -> owner node id, when the step starts. */
  owners: string[];
  partitions: number;
  connections: number;
  connOffset: number;
  model: ModelSpec;
  timing: Timing;
}

/** One connection of a step: the node it is on, and whether that node owns its cart. */
export interface ConnInfo {
  node: string;
  local: boolean;
}

export interface AddersSpec {
  nodes: NodeRef[];
  seed: number;
  connections: number;
  connOffset: number;
  /** Skus (stocked far beyond the run) the adders spread their adds over; each user uses `skusPerUser` of them. */
  skus: string[];
  skusPerUser: number;
  inflight: number;
}

/** One adder (a guest) after the failover. */
export interface AdderOutcome {
  userId: string;
  node: string;
  /** `cart.add` qty 1 answered ok. */
  acked: number;
  /** Most units in the cart an acknowledged add's answer showed (the answer carries the cart). */
  ackedUnits: number;
  /** Answers that may or may not have been applied: UNAVAILABLE with `applied`, and requests never answered. */
  maybe: number;
  /** UNAVAILABLE without `applied`: nothing changed. */
  refused: number;
  /** Units in the cart read through a survivor; -1 when it could not be read. */
  stored: number;
  /** The same cart read through each survivor (the first is `stored`). */
  storedVia: number[];
  readError?: string;
}

export interface AddersResult {
  users: AdderOutcome[];
  errors: Record<string, number>;
  /** Acknowledged adds per 250 ms after the adders' start. */
  ackedPerSlot: number[];
  /** Connections closed under the adders (the killed node's). */
  closed: number;
}

export type ToClusterWorker =
  | { t: 'prepare'; spec: ClusterStepSpec }
  | { t: 'go'; t0: number }
  | { t: 'adders-prepare'; spec: AddersSpec }
  | { t: 'adders-go'; t0: number }
  /** Stop adding, wait up to drainMs for the answers in flight, read every cart through each of `readVia`. */
  | { t: 'adders-stop'; readVia: string[]; drainMs: number }
  | { t: 'exit' };

export type FromClusterWorker =
  | { t: 'ready'; conns: ConnInfo[] }
  | { t: 'tick'; sec: number; interval: Interval }
  | { t: 'result'; result: RecorderResult & DriveOutcome }
  | { t: 'adders-result'; result: AddersResult }
  | { t: 'error'; message: string };

class Proc {
  private waiters: ((m: FromClusterWorker) => boolean)[] = [];
  onTick: ((sec: number, i: Interval) => void) | undefined;
  readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    killOnExit(proc);
    proc.on('message', (m: FromClusterWorker) => {
      if (m.t === 'tick') return this.onTick?.(m.sec, m.interval);
      this.waiters = this.waiters.filter((w) => !w(m));
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  post(m: ToClusterWorker): void {
    if (this.proc.connected) this.proc.send(m);
  }

  next<T extends FromClusterWorker['t']>(t: T): Promise<Extract<FromClusterWorker, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => {
        if (m.t === 'error') {
          reject(new Error(`cluster load worker ${this.proc.pid}: ${m.message}`));
          return true;
        }
        if (m.t !== t) return false;
        resolve(m as Extract<FromClusterWorker, { t: T }>);
        return true;
      });
    });
  }
}

export class ClusterLoad {
  private active: Proc[] = [];

  private constructor(private readonly procs: Proc[]) {}

  static start(n: number): ClusterLoad {
    return new ClusterLoad(Array.from({ length: n }, () => new Proc(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }))));
  }

  get pids(): number[] {
    return this.procs.map((p) => p.proc.pid!);
  }

  /** Opens the step's connections, split over the processes; resolves with every connection's node and locality, in index order. */
  async prepare(spec: Omit<ClusterStepSpec, 'connections' | 'connOffset'>, total: number): Promise<ConnInfo[]> {
    this.active = this.procs.slice(0, Math.min(this.procs.length, total));
    const per = split(total, this.active.length);
    let offset = 0;
    const ready = await Promise.all(
      this.active.map((p, i) => {
        const r = p.next('ready');
        p.post({ t: 'prepare', spec: { ...spec, connections: per[i], connOffset: offset } });
        offset += per[i];
        return r;
      }),
    );
    return ready.flatMap((r) => r.conns);
  }

  /** Runs the prepared step from t0 (epoch ms); `onTick` gets each second merged over the processes. */
  async run(t0: number, onTick: (t: MergedTick) => void): Promise<MergedStep> {
    const pending = new Map<number, Interval[]>();
    const n = this.active.length;
    const results = await Promise.all(
      this.active.map((p) => {
        p.onTick = (sec, i) => {
          const list = pending.get(sec) ?? [];
          list.push(i);
          pending.set(sec, list);
          if (list.length < n) return;
          pending.delete(sec);
          onTick({
            sec,
            count: list.reduce((a, x) => a + x.count, 0),
            errors: list.reduce((a, x) => a + x.errors, 0),
            histogram: mergeHistograms(list.map((x) => x.histogram)),
          });
        };
        const done = p.next('result');
        p.post({ t: 'go', t0 });
        return done;
      }),
    );
    for (const p of this.active) p.onTick = undefined;
    const rs = results.map((r) => r.result);
    const sum = (f: (r: RecorderResult & DriveOutcome) => number) => rs.reduce((a, r) => a + f(r), 0);
    const ops = new Set(rs.flatMap((r) => Object.keys(r.perOp ?? {})));
    const perOp: Record<string, Histogram> = {};
    for (const op of ops) perOp[op] = mergeHistograms(rs.flatMap((r) => (r.perOp?.[op] ? [r.perOp[op]] : [])));
    return {
      histogram: mergeHistograms(rs.map((r) => r.histogram)),
      uncorrected: undefined,
      sendLag: undefined,
      completed: sum((r) => r.completed),
      answeredInWindow: sum((r) => r.answeredInWindow),
      errors: sumCounts(rs.map((r) => r.errors)),
      sent: sum((r) => r.sent),
      lost: sum((r) => r.lost),
      notSent: sum((r) => r.notSent),
      maxOutstanding: sum((r) => r.maxOutstanding),
      perOp: ops.size ? perOp : undefined,
    };
  }

  /** Opens the adders (split over the processes), each signed in as its own guest. */
  async prepareAdders(spec: Omit<AddersSpec, 'connections' | 'connOffset'>, total: number): Promise<void> {
    this.active = this.procs.slice(0, Math.min(this.procs.length, total));
    const per = split(total, this.active.length);
    let offset = 0;
    await Promise.all(
      this.active.map((p, i) => {
        const r = p.next('ready');
        p.post({ t: 'adders-prepare', spec: { ...spec, connections: per[i], connOffset: offset } });
        offset += per[i];
        return r;
      }),
    );
  }

  /** Starts the prepared adders at t0 (epoch ms). */
  goAdders(t0: number): void {
    for (const p of this.active) p.post({ t: 'adders-go', t0 });
  }

  /** Stops the adders and reads every cart through each of `readVia` (the first counts). */
  async stopAdders(readVia: string[], drainMs: number): Promise<AddersResult> {
    const results = await Promise.all(
      this.active.map((p) => {
        const r = p.next('adders-result');
        p.post({ t: 'adders-stop', readVia, drainMs });
        return r;
      }),
    );
    const rs = results.map((r) => r.result);
    const slots: number[] = [];
    for (const r of rs) r.ackedPerSlot.forEach((x, i) => (slots[i] = (slots[i] ?? 0) + x));
    return {
      users: rs.flatMap((r) => r.users),
      errors: sumCounts(rs.map((r) => r.errors)),
      ackedPerSlot: Array.from(slots, (x) => x ?? 0),
      closed: rs.reduce((a, r) => a + r.closed, 0),
    };
  }

  async stop(): Promise<void> {
    for (const p of this.procs) p.post({ t: 'exit' });
    await Promise.all(this.procs.map((p) => p.exited));
  }
}
