// One load step from the parent's side: prepare the workers' connections, start them all at one
// instant, sample the target's CPU every second and over the steady window, build the timeline
// from the workers' ticks, and turn the merged histograms into a StepReport.
import { loadavg } from 'node:os';
import { phaseAt, totalMs, type Timing } from './arrivals.js';
import type { ChannelSpec } from './channels.js';
import type { ModelSpec } from './drive.js';
import { encodeHistogram, summarize, percentileCurve, type Histogram } from './histogram.js';
import type { LoadGroup, MergedTick } from './load.js';
import { cpuMicros, cpuMicrosOf, machineBusyMicros, mainThreadCpuMicros, memStatus, mib } from './procfs.js';
import type { Progress } from './progress.js';
import type { LoadOptions, StepModel, StepReport, StepRole, TimelinePoint } from './scenario.js';
import { bucketTail, getText, promBuckets, promValues, sleep } from './server.js';
import { fmtInt, us } from './format.js';

/** What answers a step: the cartwire server, or the Redis peer. */
export interface Target {
  /** `cartwire`, `redis (appendfsync always)`, ... */
  label: string;
  /** ws base URL (cartwire) or redis:// URL. */
  url: string;
  /** The process whose CPU counts as the server's. */
  pid: number;
  /** cartwire: read group-commit figures from its /metrics. */
  metricsUrl?: string;
  redisSha?: string;
}

export interface StepDef {
  name: string;
  role: StepRole;
  target: Target;
  channel: Omit<ChannelSpec, 'url' | 'redisSha'>;
  connections: number;
  model: ModelSpec;
  timing: Timing;
}

export const METRICS = [
  'cartwire_journal_batch_rows_sum',
  'cartwire_journal_batch_rows_count',
  'cartwire_journal_commit_duration_seconds_sum',
  'cartwire_journal_commit_duration_seconds_count',
];

/** Phases in ms from the load options. */
export const timingOf = (o: LoadOptions): Timing => ({ warmupMs: o.warmup * 1000, rampMs: o.ramp * 1000, steadyMs: o.duration * 1000 });

/** The model of the load options: open at --rate, else closed at --inflight. */
export function modelOf(o: LoadOptions, inflight = o.inflight): ModelSpec {
  if (o.rate === undefined) return { kind: 'closed', inflight };
  // The server answers LIMIT_EXCEEDED past 4,096 requests waiting on one connection (CONN_MAX_INFLIGHT).
  return { kind: 'open', rate: o.rate, warmupRate: o.warmupRate ?? o.rate / 10, offset: 0, maxInflightPerConn: 4000 };
}

export const modelLabel = (m: ModelSpec, connections: number): string => (m.kind === 'closed' ? `${connections}x${m.inflight}` : `@${fmtInt(m.rate)}/s`);

/** Samples the target's CPU at each second boundary after t0 (epoch ms), for the timeline. */
function cpuSampler(pid: number, t0: number, seconds: number): { stop(): void; pct(sec: number): number } {
  const at: number[] = [];
  let k = 0;
  let timer: NodeJS.Timeout;
  const arm = () => {
    timer = setTimeout(
      () => {
        try {
          at[k] = cpuMicros(pid);
        } catch {
          at[k] = NaN;
        }
        if (++k <= seconds) arm();
      },
      Math.max(0, t0 + k * 1000 - Date.now()),
    );
  };
  arm();
  return {
    stop: () => clearTimeout(timer),
    pct: (sec) => (at[sec + 1] !== undefined && at[sec] !== undefined ? (at[sec + 1] - at[sec]) / 1e4 : NaN),
  };
}

export async function runStep(load: LoadGroup, def: StepDef, progress: Progress): Promise<StepReport> {
  const { target, timing } = def;
  await load.prepare({ ...def.channel, url: target.url, redisSha: target.redisSha, model: def.model, timing }, def.connections);
  const t0 = Date.now() + 100;
  const seconds = Math.ceil(totalMs(timing) / 1000);
  const windowStart = t0 + timing.warmupMs + timing.rampMs;
  const windowEnd = t0 + totalMs(timing);
  const cpu = cpuSampler(target.pid, t0, seconds);
  const ticks: MergedTick[] = [];
  progress.start(def.name, totalMs(timing) / 1000);
  const running = load.run(t0, (tick) => {
    ticks.push(tick);
    const s = summarize(tick.histogram);
    progress.update(tick.sec + 1, { phase: phaseAt(timing, tick.sec * 1000 + 500), ops: fmtInt(tick.count), p99: us(s.p99) });
  });
  const sample = async () => {
    const text = target.metricsUrl ? await getText(`${target.metricsUrl}/metrics`) : undefined;
    return {
      at: performance.now(),
      server: cpuMicros(target.pid),
      main: mainThreadCpuMicros(target.pid),
      clients: cpuMicrosOf(load.pids),
      machine: machineBusyMicros(),
      metrics: text === undefined ? undefined : promValues(text, METRICS),
      commitBuckets: text === undefined ? undefined : promBuckets(text, 'cartwire_journal_commit_duration_seconds'),
    };
  };
  await sleep(windowStart - Date.now());
  const a = await sample();
  await sleep(windowEnd - Date.now());
  const b = await sample();
  const rss = target.metricsUrl ? mib(memStatus(target.pid).vmRssKiB) : undefined;
  let merged;
  try {
    merged = await running;
  } finally {
    cpu.stop();
    progress.stop();
  }
  const windowS = (b.at - a.at) / 1000;
  const n = merged.answeredInWindow;
  const ma = a.metrics;
  const mb = b.metrics;
  const commits = ma && mb ? mb.cartwire_journal_batch_rows_count - ma.cartwire_journal_batch_rows_count : 0;
  const timeline: TimelinePoint[] = ticks
    .sort((x, y) => x.sec - y.sec)
    .map((t) => {
      const s = summarize(t.histogram);
      return {
        t: t.sec,
        phase: phaseAt(timing, t.sec * 1000 + 500),
        ops: t.count,
        errors: t.errors,
        p50: s.p50,
        p99: s.p99,
        max: s.max,
        cpuPct: round1(cpu.pct(t.sec)),
      };
    });
  const model: StepModel =
    def.model.kind === 'closed'
      ? { kind: 'closed', connections: def.connections, inflight: def.model.inflight }
      : { kind: 'open', connections: def.connections, rate: def.model.rate };
  return {
    name: def.name,
    role: def.role,
    target: target.label,
    workload: target.redisSha ? 'cart (Lua EVALSHA)' : def.channel.workload,
    client: target.redisSha ? 'ioredis' : def.channel.client,
    model,
    phases: { warmupS: timing.warmupMs / 1000, rampS: timing.rampMs / 1000, steadyS: timing.steadyMs / 1000 },
    windowS,
    opsPerSec: n / windowS,
    completed: merged.completed,
    errors: merged.errors,
    lost: merged.lost,
    notSent: merged.notSent,
    latencyOf: def.model.kind === 'open' ? 'intended send time -> answer (CO-corrected)' : 'send -> answer',
    latencyUs: summarize(merged.histogram),
    uncorrectedUs: merged.uncorrected && summarize(merged.uncorrected),
    sendLagUs: merged.sendLag && summarize(merged.sendLag),
    histogram: encodeHistogram(merged.histogram),
    uncorrectedHistogram: merged.uncorrected && encodeHistogram(merged.uncorrected),
    percentiles: percentileCurve(merged.histogram),
    uncorrectedPercentiles: merged.uncorrected && percentileCurve(merged.uncorrected),
    perOp: merged.perOp && Object.fromEntries(Object.entries(merged.perOp).map(([op, h]) => [op, summarize(h)])),
    timeline,
    serverCpuUsPerReq: (b.server - a.server) / Math.max(1, n),
    serverCpuPct: ((b.server - a.server) / 1e6 / windowS) * 100,
    mainCpuUsPerReq: (b.main - a.main) / Math.max(1, n),
    clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, n),
    clientCpuPct: ((b.clients - a.clients) / 1e6 / windowS) * 100,
    otherCpuPct: otherCpuPct(a, b, windowS),
    loadAvg1: loadavg()[0],
    commits:
      ma && mb && commits > 0
        ? {
            count: commits,
            rowsPerCommit: (mb.cartwire_journal_batch_rows_sum - ma.cartwire_journal_batch_rows_sum) / commits,
            meanCommitMs: ((mb.cartwire_journal_commit_duration_seconds_sum - ma.cartwire_journal_commit_duration_seconds_sum) / commits) * 1000,
            ...commitTail(a.commitBuckets!, b.commitBuckets!),
          }
        : undefined,
    serverRssMiB: rss,
    extra: def.model.kind === 'open' ? { maxOutstanding: merged.maxOutstanding, sent: merged.sent } : undefined,
  };
}

/** The commit-duration tail over the window from the server's histogram buckets (coarse: 1, 2, 5, 10, 25 ms...). */
function commitTail(a: [number, number][], b: [number, number][]): { p99LeMs: number; over5msShare: number } {
  const t = bucketTail(a, b, 0.99, 0.005);
  return { p99LeMs: t.quantileLe * 1000, over5msShare: t.shareOver };
}

/** CPU the rest of the machine took in the window (busy minus server and load), % of one core. */
export function otherCpuPct(
  a: { server: number; clients: number; machine: number },
  b: { server: number; clients: number; machine: number },
  windowS: number,
): number {
  const other = b.machine - a.machine - (b.server - a.server) - (b.clients - a.clients);
  return Math.max(0, (other / 1e6 / windowS) * 100);
}

const round1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : NaN);

/** A histogram's summary and curve, for steps built outside runStep (push-fanout). */
export function latencyFields(h: Histogram): Pick<StepReport, 'latencyUs' | 'histogram' | 'percentiles'> {
  return { latencyUs: summarize(h), histogram: encodeHistogram(h), percentiles: percentileCurve(h) };
}
