// The parent's side of the session scenarios (checkout, flash-sale, recs): an admin connection
// for setup, server samples (CPU from /proc, group commits and recs builds from /metrics) at the
// window's edges, and a StepReport built from the workers' SessionResults.
import { loadavg } from 'node:os';
import { RawConn, type Reply } from './raw-client.js';
import { cpuMicros, cpuMicrosOf, machineBusyMicros, mainThreadCpuMicros } from './procfs.js';
import { ADMIN_PASSWORD, bucketTail, getText, promBuckets, promValues } from './server.js';
import { encodeHistogram, mergeHistograms, percentileCurve, summarize, type Histogram } from './histogram.js';
import { sumCounts } from './load.js';
import { METRICS, otherCpuPct } from './step.js';
import type { Cartwire } from './harness.js';
import type { SessionResult } from './sessions.js';
import type { StepReport, StepModel } from './scenario.js';

/** An admin connection of the harness (setup only: catalog, stock, final inventory reads). */
export async function adminConn(url: string): Promise<{ call(op: string, args?: Record<string, unknown>): Promise<Reply>; close(): Promise<void> }> {
  const c = await RawConn.open(url);
  const r = await c.call('auth.login', { email: 'admin@example.com', password: ADMIN_PASSWORD });
  if (!r.ok) throw new Error(`admin auth.login failed: ${JSON.stringify(r.error)}`);
  return {
    call: async (op, args = {}) => {
      const x = await c.call(op, args);
      if (!x.ok) throw new Error(`${op} ${JSON.stringify(args)} failed: ${JSON.stringify(x.error)}`);
      return x;
    },
    close: () => c.close(),
  };
}

export interface ServerSample {
  at: number;
  server: number;
  /** The server's main thread alone (the edge every request crosses). */
  main: number;
  clients: number;
  machine: number;
  metrics: Record<string, number>;
  commitBuckets: [number, number][];
}

const EXTRA_METRICS = ['cartwire_recs_builds_total', 'cartwire_recs_job_duration_seconds'];

export async function sampleServer(cw: Cartwire): Promise<ServerSample> {
  const text = await getText(`${cw.url}/metrics`);
  return {
    at: performance.now(),
    server: cpuMicros(cw.server.pid),
    main: mainThreadCpuMicros(cw.server.pid),
    clients: cpuMicrosOf(cw.load.pids),
    machine: machineBusyMicros(),
    metrics: promValues(text, [...METRICS, ...EXTRA_METRICS]),
    commitBuckets: promBuckets(text, 'cartwire_journal_commit_duration_seconds'),
  };
}

/** Samples at two epoch-ms instants (window start and end). */
export function sampleAt(cw: Cartwire, startEpoch: number, endEpoch: number): Promise<[ServerSample, ServerSample]> {
  const at = (t: number) =>
    new Promise<ServerSample>((resolve, reject) =>
      setTimeout(
        () => {
          sampleServer(cw).then(resolve, reject);
        },
        Math.max(0, t - Date.now()),
      ),
    );
  return Promise.all([at(startEpoch), at(endEpoch)]);
}

export function mergeSessions(rs: SessionResult[]): {
  hist: Record<string, Histogram>;
  counts: Record<string, number>;
  inWindow: Record<string, number>;
  perSecond: number[];
  perSecondHist: Histogram[];
} {
  const names = new Set(rs.flatMap((r) => Object.keys(r.histograms)));
  const hist = Object.fromEntries([...names].map((n) => [n, mergeHistograms(rs.flatMap((r) => (r.histograms[n] ? [r.histograms[n]] : [])))]));
  const perSecond: number[] = [];
  for (const r of rs) r.perSecond.forEach((x, i) => (perSecond[i] = (perSecond[i] ?? 0) + x));
  const seconds = perSecond.length;
  const perSecondHist = Array.from({ length: seconds }, (_, i) => mergeHistograms(rs.flatMap((r) => (r.perSecondHist[i] ? [r.perSecondHist[i]] : []))));
  return {
    hist,
    counts: sumCounts(rs.map((r) => r.counts)),
    inWindow: sumCounts(rs.map((r) => r.inWindow)),
    perSecond: Array.from(perSecond, (x) => x ?? 0),
    perSecondHist,
  };
}

/** Errors of one op from `op:CODE` counts (everything but OK). */
export function errorsOf(counts: Record<string, number>, op: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) {
    const [o, code] = k.split(':');
    if (o === op && code !== 'OK') out[code] = v;
  }
  return out;
}

/** A StepReport for one op of a session run, over the window [a, b]. */
export function sessionStep(p: {
  name: string;
  workload: string;
  op: string;
  model: StepModel;
  phases: StepReport['phases'];
  merged: ReturnType<typeof mergeSessions>;
  a: ServerSample;
  b: ServerSample;
  opsLabel?: string;
  extra?: Record<string, unknown>;
  /** Open model: the op whose histogram is the latency (from the intended time), and its uncorrected twin; opsPerSec still counts `op`. */
  latencyOp?: string;
  uncorrectedOp?: string;
}): StepReport {
  const { merged, a, b } = p;
  const h = merged.hist[p.latencyOp ?? p.op] ?? mergeHistograms([]);
  const hu = p.uncorrectedOp ? merged.hist[p.uncorrectedOp] : undefined;
  const windowS = (b.at - a.at) / 1000;
  const n = merged.inWindow[p.op] ?? 0;
  const commits = b.metrics.cartwire_journal_batch_rows_count - a.metrics.cartwire_journal_batch_rows_count;
  const perOp = Object.fromEntries(Object.entries(merged.hist).map(([k, x]) => [k, summarize(x)]));
  return {
    name: p.name,
    role: 'measured',
    target: 'cartwire',
    workload: p.workload,
    client: 'raw',
    model: p.model,
    phases: p.phases,
    windowS,
    opsPerSec: n / windowS,
    opsLabel: p.opsLabel,
    completed: h.totalCount,
    errors: errorsOf(merged.counts, p.op),
    lost: 0,
    notSent: merged.counts['session:NOT_STARTED'] ?? 0,
    latencyOf: p.latencyOp ? `${p.latencyOp}: intended start -> answer (CO-corrected)` : `${p.op}: send -> answer`,
    latencyUs: summarize(h),
    histogram: encodeHistogram(h),
    percentiles: percentileCurve(h),
    uncorrectedUs: hu && summarize(hu),
    uncorrectedHistogram: hu && encodeHistogram(hu),
    uncorrectedPercentiles: hu && percentileCurve(hu),
    perOp,
    // Answers per second and their latency (the server's CPU per second is not sampled: NaN).
    timeline: merged.perSecond.map((ops, t) => {
      const x = summarize(merged.perSecondHist[t]);
      return { t, phase: t * 1000 < p.phases.warmupS * 1000 ? 'warmup' : 'steady', ops, errors: 0, p50: x.p50, p99: x.p99, max: x.max, cpuPct: NaN };
    }),
    serverCpuUsPerReq: (b.server - a.server) / Math.max(1, n),
    serverCpuPct: ((b.server - a.server) / 1e6 / windowS) * 100,
    mainCpuUsPerReq: (b.main - a.main) / Math.max(1, n),
    clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, n),
    clientCpuPct: ((b.clients - a.clients) / 1e6 / windowS) * 100,
    otherCpuPct: otherCpuPct(a, b, windowS),
    loadAvg1: loadavg()[0],
    commits:
      commits > 0
        ? (() => {
            const t = bucketTail(a.commitBuckets, b.commitBuckets, 0.99, 0.005);
            return {
              count: commits,
              rowsPerCommit: (b.metrics.cartwire_journal_batch_rows_sum - a.metrics.cartwire_journal_batch_rows_sum) / commits,
              meanCommitMs:
                ((b.metrics.cartwire_journal_commit_duration_seconds_sum - a.metrics.cartwire_journal_commit_duration_seconds_sum) / commits) * 1000,
              p99LeMs: t.quantileLe * 1000,
              over5msShare: t.shareOver,
            };
          })()
        : undefined,
    extra: p.extra,
  };
}

/** Session scenarios drive the raw client only: a note when --client asked for another. */
export const clientNotes = (client: string): string[] =>
  client === 'raw' ? [] : [`--client ${client} does not apply: session scenarios use the raw ws+msgpackr client`];
