// What a scenario is, and what a run produces. A scenario is one file in bench/scenarios/ that
// exports `scenario`; the CLI finds it there, adds the common options, runs it, and turns its
// RunResult into the summary table, the thresholds' verdict, result.json and report.html.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ClientKind } from './channels.js';
import type { LatencySummary } from './histogram.js';
import type { Progress } from './progress.js';
import type { Phase } from './arrivals.js';

/** Options every scenario has (added by the CLI). */
export interface CommonOptions {
  shards: number;
  loadProcs: number;
  synchronous: string;
  serverEnv: string[];
  keepData: boolean;
  echo: boolean;
  client: ClientKind;
  serverProf?: string;
  progress: boolean;
  report: boolean;
  resultsDir?: string;
  maxP99Ms?: number;
  minOps?: number;
}

/** Options of the scenarios that run load steps (addLoadOptions). */
export interface LoadOptions {
  duration: number;
  warmup: number;
  ramp: number;
  connections: number;
  inflight: number;
  /** Open model: arrivals per second; closed model when absent. */
  rate?: number;
  warmupRate?: number;
}

export interface RunContext {
  progress: Progress;
}

export interface Scenario<O = Record<string, unknown>> {
  name: string;
  summary: string;
  /** Adds the scenario's own options; the common ones are added by the CLI. */
  configure(cmd: Command): void;
  run(o: O & CommonOptions, ctx: RunContext): Promise<RunResult>;
}

/** Identity helper that keeps a scenario's option type. */
export const defineScenario = <O>(s: Scenario<O>): Scenario<O> => s;

export type StepRole =
  /** The scenario's own workload: thresholds apply to it. */
  | 'measured'
  /** Another cartwire workload for comparison (cart-add against Redis). */
  | 'compare'
  /** The transport ceiling: ping through the same server and client. */
  | 'ceiling'
  /** Another system doing the same work (Redis). */
  | 'peer';

export type StepModel = { kind: 'closed'; connections: number; inflight: number } | { kind: 'open'; connections: number; rate: number };

export interface TimelinePoint {
  /** Second after the step's start. */
  t: number;
  phase: Phase;
  ops: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU of the server (or the peer) in that second, % of one core. */
  cpuPct: number;
}

export interface StepReport {
  name: string;
  role: StepRole;
  /** What answered: `cartwire`, `redis (appendfsync always)`, ... */
  target: string;
  workload: string;
  client: string;
  model: StepModel;
  phases: { warmupS: number; rampS: number; steadyS: number };
  windowS: number;
  /** Answers inside the steady window per second (deliveries for push-fanout). */
  opsPerSec: number;
  /** What opsPerSec counts, for charts (default `answers/s`). */
  opsLabel?: string;
  /** Requests the latency counts (closed: sent and answered in the window; open: intended in it). */
  completed: number;
  errors: Record<string, number>;
  lost: number;
  notSent: number;
  /** What `latencyUs` measures. */
  latencyOf: string;
  /** Latency, µs: from the intended send time (open model: CO-corrected). */
  latencyUs: LatencySummary;
  /** Open model: from the actual send, and how late sends were. */
  uncorrectedUs?: LatencySummary;
  sendLagUs?: LatencySummary;
  histogram: string;
  uncorrectedHistogram?: string;
  /** HDR percentile distribution: [percentile, µs]. */
  percentiles: [number, number][];
  uncorrectedPercentiles?: [number, number][];
  /** A mix's latency per op (same measure as latencyUs). */
  perOp?: Record<string, LatencySummary>;
  timeline: TimelinePoint[];
  serverCpuUsPerReq: number;
  serverCpuPct: number;
  /** CPU of the server's main thread alone (the edge) per answer, µs; absent in older results. */
  mainCpuUsPerReq?: number;
  clientCpuUsPerReq: number;
  clientCpuPct: number;
  /**
   * CPU the rest of the machine took in the window, % of one core (/proc/stat busy minus the
   * server's and the load processes'; the harness itself is in it, ~1%). On a shared machine,
   * what the run competed with.
   */
  otherCpuPct?: number;
  /** 1-minute load average at the end of the window. */
  loadAvg1?: number;
  /**
   * Group commits in the window (cartwire): count, mean rows per commit, mean commit ms, and
   * from the server's histogram buckets the bound under which 99% of commits took and the share
   * over 5 ms.
   */
  commits?: {
    count: number;
    rowsPerCommit: number;
    meanCommitMs: number;
    p99LeMs?: number;
    over5msShare?: number;
  };
  serverRssMiB?: number;
  /** Scenario-specific figures (push-fanout: missed pushes, ...). */
  extra?: Record<string, unknown>;
}

export interface Ratio {
  name: string;
  value: number;
  /** e.g. ">= 0.5" */
  goal?: string;
  met?: boolean;
}

export interface RunResult {
  scenario: string;
  runId?: string;
  at: string;
  machine: Record<string, unknown>;
  /** The command line that reproduces the run. */
  command: string;
  options: Record<string, unknown>;
  server?: { env: Record<string, string>; nodeArgs: string[]; pid?: number };
  steps: StepReport[];
  ratios: Ratio[];
  /** Key figures of scenarios that are not load steps (restart, memory), label -> value. */
  facts: [string, string][];
  notes: string[];
  extra?: Record<string, unknown>;
}

export const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};

export const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};

export const nonNeg = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
  return n;
};

/** The load model and phase options of the load scenarios. */
export function addLoadOptions(c: Command, d: { duration?: number; warmup?: number; ramp?: number; connections?: number; inflight?: number } = {}): Command {
  return c
    .option('--duration <s>', 'steady phase (the measured window) per step, seconds', num, d.duration ?? 10)
    .option('--warmup <s>', 'warm-up per step, seconds (open: at --warmup-rate; closed: 1 in flight per connection when --ramp > 0)', nonNeg, d.warmup ?? 2)
    .option('--ramp <s>', 'ramp per step, seconds (open: rate rises linearly; closed: in-flight rises linearly)', nonNeg, d.ramp ?? 1)
    .option('--connections <n>', 'connections per step (each its own guest user)', int(1), d.connections ?? 64)
    .option('--inflight <n>', 'closed model: requests in flight per connection', int(1), d.inflight ?? 16)
    .option('--rate <ops/s>', 'open model: arrivals per second over all connections (closed model when absent)', num)
    .option('--warmup-rate <ops/s>', 'open model: arrival rate during warm-up (default: a tenth of --rate)', num);
}

export const clientOption = () =>
  new Option('--client <kind>', 'load client: raw ws+msgpackr, or the project SDK (CartwireClient)').choices(['raw', 'sdk']).default('raw');
