// One load step against the cluster, from the parent's side: as runStep (step.ts) does for one
// server, but the server's CPU is every node's (and the NATS servers' beside it) over the steady
// window, the group commits are summed over the nodes' /metrics, and the cart ops' latency is
// split by whether the connection's node owns the cart (local) or forwards it (fwd).
import { loadavg } from 'node:os';
import { phaseAt, totalMs, type Timing } from './arrivals.js';
import type { ChannelSpec } from './channels.js';
import type { ClusterLoad, ConnInfo, Placement } from './cluster-load.js';
import type { ClusterNode } from './cluster-nodes.js';
import type { ModelSpec } from './drive.js';
import { fmtInt, us } from './format.js';
import { encodeHistogram, newHistogram, percentileCurve, summarize, type Histogram, type LatencySummary } from './histogram.js';
import type { MergedTick } from './load.js';
import type { NatsServer } from './nats-servers.js';
import { cpuMicros, cpuMicrosOf, machineBusyMicros } from './procfs.js';
import type { Progress } from './progress.js';
import type { StepModel, StepReport, StepRole, TimelinePoint } from './scenario.js';
import { bucketTail, getText, promBuckets, promValues, sleep, sumBuckets } from './server.js';
import { METRICS, otherCpuPct } from './step.js';

export interface ClusterStepDef {
  name: string;
  role: StepRole;
  nodes: ClusterNode[];
  nats: NatsServer[];
  owners: string[];
  partitions: number;
  placement: Placement;
  channel: Omit<ChannelSpec, 'url' | 'redisSha'>;
  connections: number;
  model: ModelSpec;
  timing: Timing;
}

/** CPU of one process over the window: seconds, % of one core, µs per request answered by the cluster. */
export interface ProcCpu {
  name: string;
  pid: number;
  cpuS: number;
  cpuPct: number;
  usPerReq: number;
}

/** Cart-op latency of the connections whose node owns their cart (local) and of the others (fwd). */
export interface HopSplit {
  local: { connections: number; ops: LatencySummary };
  fwd: { connections: number; ops: LatencySummary };
}

export interface ClusterStepOutcome {
  report: StepReport;
  conns: ConnInfo[];
  nodeCpu: ProcCpu[];
  natsCpu: ProcCpu[];
  hop: HopSplit;
  requests: number;
}

const cpuOr0 = (pid: number): number => {
  try {
    return cpuMicros(pid);
  } catch {
    return 0;
  }
};

/**
 * CPU of every node and NATS server over `seconds` with no load at all: what the cluster's own
 * upkeep costs (the ownership rounds, lease renewals and node beats, the shards' timers).
 */
export async function idleCpu(nodes: ClusterNode[], nats: NatsServer[], seconds: number): Promise<{ nodes: ProcCpu[]; nats: ProcCpu[] }> {
  const procs = [...nodes.map((n) => ({ name: n.id, pid: n.server.pid })), ...nats.map((s) => ({ name: s.name, pid: s.pid }))];
  const t0 = performance.now();
  const a = procs.map((x) => cpuOr0(x.pid));
  await sleep(seconds * 1000);
  const windowS = (performance.now() - t0) / 1000;
  const out = procs.map((x, i): ProcCpu => {
    const cpuS = (cpuOr0(x.pid) - a[i]) / 1e6;
    return { name: x.name, pid: x.pid, cpuS, cpuPct: (cpuS / windowS) * 100, usPerReq: 0 };
  });
  return { nodes: out.slice(0, nodes.length), nats: out.slice(nodes.length) };
}

/** The summed CPU of `pids` at each second boundary after t0 (epoch ms): % of one core per second. */
function cpuSampler(pids: number[], t0: number, seconds: number): { stop(): void; pct(sec: number): number } {
  const at: number[] = [];
  let k = 0;
  let timer: NodeJS.Timeout;
  const arm = () => {
    timer = setTimeout(
      () => {
        at[k] = pids.reduce((a, p) => a + cpuOr0(p), 0);
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

const mergeOps = (perOp: Record<string, Histogram> | undefined, suffix: string): Histogram => {
  const h = newHistogram();
  for (const [op, x] of Object.entries(perOp ?? {})) if (op.startsWith('cart.') && op.endsWith(` ${suffix}`)) h.add(x);
  return h;
};

export async function runClusterStep(load: ClusterLoad, def: ClusterStepDef, progress: Progress): Promise<ClusterStepOutcome> {
  const { timing, nodes, nats } = def;
  const conns = await load.prepare(
    {
      ...def.channel,
      nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
      placement: def.placement,
      owners: def.owners,
      partitions: def.partitions,
      model: def.model,
      timing,
    },
    def.connections,
  );
  const t0 = Date.now() + 100;
  const seconds = Math.ceil(totalMs(timing) / 1000);
  const windowStart = t0 + timing.warmupMs + timing.rampMs;
  const windowEnd = t0 + totalMs(timing);
  const nodePids = nodes.map((n) => n.server.pid);
  const cpu = cpuSampler(nodePids, t0, seconds);
  const ticks: MergedTick[] = [];
  progress.start(def.name, totalMs(timing) / 1000);
  const running = load.run(t0, (tick) => {
    ticks.push(tick);
    const s = summarize(tick.histogram);
    progress.update(tick.sec + 1, { phase: phaseAt(timing, tick.sec * 1000 + 500), ops: fmtInt(tick.count), p99: us(s.p99) });
  });
  const sample = async () => {
    const texts = await Promise.all(nodes.map((n) => getText(`${n.url}/metrics`).catch(() => '')));
    return {
      at: performance.now(),
      nodes: nodePids.map(cpuOr0),
      nats: nats.map((s) => cpuOr0(s.pid)),
      clients: cpuMicrosOf(load.pids),
      machine: machineBusyMicros(),
      metrics: texts.map((t) => promValues(t, METRICS)),
      buckets: sumBuckets(texts.map((t) => promBuckets(t, 'cartwire_journal_commit_duration_seconds'))),
    };
  };
  await sleep(windowStart - Date.now());
  const a = await sample();
  await sleep(windowEnd - Date.now());
  const b = await sample();
  let merged;
  try {
    merged = await running;
  } finally {
    cpu.stop();
    progress.stop();
  }
  const windowS = (b.at - a.at) / 1000;
  const n = merged.answeredInWindow;
  const procCpu = (name: string, pid: number, before: number, after: number): ProcCpu => ({
    name,
    pid,
    cpuS: (after - before) / 1e6,
    cpuPct: ((after - before) / 1e6 / windowS) * 100,
    usPerReq: (after - before) / Math.max(1, n),
  });
  const nodeCpu = nodes.map((x, i) => procCpu(x.id, x.server.pid, a.nodes[i], b.nodes[i]));
  const natsCpu = nats.map((x, i) => procCpu(x.name, x.pid, a.nats[i], b.nats[i]));
  const sum = (xs: number[]) => xs.reduce((p, q) => p + q, 0);
  const serverA = sum(a.nodes);
  const serverB = sum(b.nodes);
  const metric = (s: typeof a, k: string) => sum(s.metrics.map((m) => m[k] ?? 0));
  const commits = metric(b, 'cartwire_journal_batch_rows_count') - metric(a, 'cartwire_journal_batch_rows_count');
  const tail = commits > 0 ? bucketTail(a.buckets, b.buckets, 0.99, 0.005) : undefined;
  const timeline: TimelinePoint[] = ticks
    .sort((x, y) => x.sec - y.sec)
    .map((t) => {
      const s = summarize(t.histogram);
      const pct = cpu.pct(t.sec);
      return {
        t: t.sec,
        phase: phaseAt(timing, t.sec * 1000 + 500),
        ops: t.count,
        errors: t.errors,
        p50: s.p50,
        p99: s.p99,
        max: s.max,
        cpuPct: Number.isFinite(pct) ? Math.round(pct * 10) / 10 : NaN,
      };
    });
  const local = mergeOps(merged.perOp, 'local');
  const fwd = mergeOps(merged.perOp, 'fwd');
  const hop: HopSplit = {
    local: { connections: conns.filter((c) => c.local).length, ops: summarize(local) },
    fwd: { connections: conns.filter((c) => !c.local).length, ops: summarize(fwd) },
  };
  const model: StepModel =
    def.model.kind === 'closed'
      ? { kind: 'closed', connections: def.connections, inflight: def.model.inflight }
      : { kind: 'open', connections: def.connections, rate: def.model.rate };
  const byNode = Object.fromEntries(nodes.map((x) => [x.id, conns.filter((c) => c.node === x.id).length]));
  const report: StepReport = {
    name: def.name,
    role: def.role,
    target: `cartwire cluster (${nodes.length} nodes, ${nats.length} NATS)`,
    workload: def.channel.workload,
    client: 'raw',
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
    histogram: encodeHistogram(merged.histogram),
    percentiles: percentileCurve(merged.histogram),
    perOp: merged.perOp && Object.fromEntries(Object.entries(merged.perOp).map(([op, h]) => [op, summarize(h)])),
    timeline,
    serverCpuUsPerReq: (serverB - serverA) / Math.max(1, n),
    serverCpuPct: ((serverB - serverA) / 1e6 / windowS) * 100,
    clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, n),
    clientCpuPct: ((b.clients - a.clients) / 1e6 / windowS) * 100,
    otherCpuPct: otherCpuPct(
      { server: serverA + sum(a.nats), clients: a.clients, machine: a.machine },
      { server: serverB + sum(b.nats), clients: b.clients, machine: b.machine },
      windowS,
    ),
    loadAvg1: loadavg()[0],
    commits:
      commits > 0
        ? {
            count: commits,
            rowsPerCommit: (metric(b, 'cartwire_journal_batch_rows_sum') - metric(a, 'cartwire_journal_batch_rows_sum')) / commits,
            meanCommitMs:
              ((metric(b, 'cartwire_journal_commit_duration_seconds_sum') - metric(a, 'cartwire_journal_commit_duration_seconds_sum')) / commits) * 1000,
            p99LeMs: tail!.quantileLe * 1000,
            over5msShare: tail!.shareOver,
          }
        : undefined,
    extra: {
      placement: def.placement,
      connectionsByNode: byNode,
      nodeCpu,
      natsCpu,
      hop,
      note: 'srv columns: the cartwire nodes summed (NATS servers not included; see nodeCpu / natsCpu)',
    },
  };
  return { report, conns, nodeCpu, natsCpu, hop, requests: n };
}
