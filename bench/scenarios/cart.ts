// `bench cart`: the transport ceiling (ping) against durable cart writes, in one run against one
// server: ping C x I, then cart.add/cart.setQty at C x 1 and C x I. Closed loop: every connection
// keeps its requests in flight and sends the next one when an answer arrives.
import { demoCatalog } from '../../src/demo-catalog.js';
import { cpuMicros, cpuMicrosOf, memStatus, mib } from '../lib/procfs.js';
import { LoadGroup } from '../lib/load.js';
import { envPairs, spawnServer, tmpDataDir, removeDir, newJwtSecret, getText, promValues, sleep } from '../lib/server.js';
import { encodeHistogram, summarize, type LatencySummary } from '../lib/histogram.js';
import { machine, table, us, writeResult, fmtInt, fixed } from '../lib/report.js';
import type { ClientKind, LoadOp } from '../lib/load-protocol.js';

export interface CartOptions {
  duration: number;
  warmup: number;
  connections: number;
  inflight: number;
  shards: number;
  loadProcs: number;
  client: ClientKind;
  synchronous: string;
  skusPerUser: number;
  serverProf?: string;
  serverEnv?: string[];
  keepData: boolean;
  echo: boolean;
}

interface PhaseDef {
  name: string;
  op: LoadOp;
  inflight: number;
}

interface PhaseReport {
  name: string;
  op: LoadOp;
  connections: number;
  inflight: number;
  windowS: number;
  completed: number;
  opsPerSec: number;
  errors: Record<string, number>;
  lost: number;
  latencyUs: LatencySummary;
  histogram: string;
  serverCpuUsPerReq: number;
  serverCpuPct: number;
  clientCpuUsPerReq: number;
  clientCpuPct: number;
  /** Group commits in the window: count, mean rows per commit, mean commit ms. */
  commits: { count: number; rowsPerCommit: number; meanCommitMs: number } | null;
  serverRssMiB: number;
}

const METRICS = [
  'cartwire_journal_batch_rows_sum',
  'cartwire_journal_batch_rows_count',
  'cartwire_journal_commit_duration_seconds_sum',
  'cartwire_journal_commit_duration_seconds_count',
];

/** Skus with stock enough for a line of qty 2, from the demo catalog the server seeds. */
export function stockedSkus(min = 10): string[] {
  return demoCatalog().flatMap((d) => d.stock.filter((s) => s.qty >= min).map((s) => s.sku));
}

export async function runCart(o: CartOptions): Promise<void> {
  const dataDir = tmpDataDir();
  const nodeArgs = o.serverProf ? ['--cpu-prof', '--cpu-prof-dir', o.serverProf] : [];
  const env = { SHARDS: String(o.shards), SYNCHRONOUS: o.synchronous, ...envPairs(o.serverEnv) };
  console.log(`cart: server SHARDS=${o.shards} SYNCHRONOUS=${o.synchronous} DATA_DIR=${dataDir}; ${o.loadProcs} load process(es), ${o.client} client`);
  const server = spawnServer({ dataDir, jwtSecret: newJwtSecret(), env, nodeArgs, echo: o.echo });
  const load = LoadGroup.start(o.loadProcs);
  const phases: PhaseDef[] = [
    { name: `ping ${o.connections}x${o.inflight}`, op: 'ping', inflight: o.inflight },
    { name: `cart ${o.connections}x1`, op: 'cart', inflight: 1 },
    { name: `cart ${o.connections}x${o.inflight}`, op: 'cart', inflight: o.inflight },
  ];
  const reports: PhaseReport[] = [];
  try {
    const { url } = await server.listening;
    console.log(`cart: server pid ${server.pid} at ${url}; load pids ${load.pids.join(', ')}`);
    const skus = stockedSkus();
    for (const p of phases) {
      await load.prepare({ url, op: p.op, inflight: p.inflight, client: o.client, skus, skusPerUser: o.skusPerUser }, o.connections);
      const measureStart = Date.now() + o.warmup * 1000;
      const measureEnd = measureStart + o.duration * 1000;
      process.stdout.write(`  ${p.name}: warm-up ${o.warmup}s, measuring ${o.duration}s ... `);
      const running = load.run(measureStart, measureEnd);
      const sample = async () => ({
        at: performance.now(),
        server: cpuMicros(server.pid),
        clients: cpuMicrosOf(load.pids),
        metrics: promValues(await getText(`${url}/metrics`), METRICS),
      });
      await sleep(measureStart - Date.now());
      const a = await sample();
      await sleep(measureEnd - Date.now());
      const b = await sample();
      const rss = memStatus(server.pid);
      const merged = await running;
      const windowS = (b.at - a.at) / 1000;
      const n = merged.completed;
      const commits = b.metrics.cartwire_journal_batch_rows_count - a.metrics.cartwire_journal_batch_rows_count;
      const rows = b.metrics.cartwire_journal_batch_rows_sum - a.metrics.cartwire_journal_batch_rows_sum;
      const commitS = b.metrics.cartwire_journal_commit_duration_seconds_sum - a.metrics.cartwire_journal_commit_duration_seconds_sum;
      const r: PhaseReport = {
        name: p.name,
        op: p.op,
        connections: o.connections,
        inflight: p.inflight,
        windowS: o.duration,
        completed: n,
        opsPerSec: n / o.duration,
        errors: merged.errors,
        lost: merged.lost,
        latencyUs: summarize(merged.histogram),
        histogram: encodeHistogram(merged.histogram),
        serverCpuUsPerReq: (b.server - a.server) / Math.max(1, n),
        serverCpuPct: ((b.server - a.server) / 1e6 / windowS) * 100,
        clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, n),
        clientCpuPct: ((b.clients - a.clients) / 1e6 / windowS) * 100,
        commits: commits > 0 ? { count: commits, rowsPerCommit: rows / commits, meanCommitMs: (commitS / commits) * 1000 } : null,
        serverRssMiB: mib(rss.vmRssKiB),
      };
      reports.push(r);
      const errs = Object.entries(r.errors).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`${fmtInt(r.opsPerSec)} ops/s${errs ? `, errors ${errs}` : ''}${r.lost ? `, ${r.lost} lost` : ''}`);
      await sleep(500);
    }
  } catch (err) {
    console.error(`cart: failed: ${err instanceof Error ? err.message : err}\n--- server output ---\n${server.output().slice(-4000)}`);
    throw err;
  } finally {
    await load.stop();
    const code = await server.term();
    if (code !== 0) console.error(`cart: server exited with ${code}\n${server.output().slice(-2000)}`);
    if (!o.keepData) removeDir(dataDir);
  }

  const ping = reports.find((r) => r.op === 'ping')!;
  const rows = reports.map((r) => [
    r.name,
    fmtInt(r.opsPerSec),
    us(r.latencyUs.p50),
    us(r.latencyUs.p90),
    us(r.latencyUs.p99),
    us(r.latencyUs.p999),
    us(r.latencyUs.max),
    r.op === 'ping' ? '1' : fixed(r.opsPerSec / ping.opsPerSec),
    r.op === 'ping' ? '1' : fixed(r.latencyUs.p50 / ping.latencyUs.p50, 1),
    fixed(r.serverCpuUsPerReq, 1),
    fixed(r.clientCpuUsPerReq, 1),
    r.commits ? fixed(r.commits.rowsPerCommit, 1) : '-',
    r.commits ? fixed(r.commits.meanCommitMs, 2) : '-',
    Object.values(r.errors).reduce((a, b) => a + b, 0) + r.lost,
  ]);
  console.log();
  console.log(
    table(
      ['phase', 'ops/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'ops/ping', 'p50/ping', 'srv µs/req', 'cli µs/req', 'rows/commit', 'commit ms', 'errors'],
      rows,
    ),
  );
  console.log(`\nserver CPU over the windows: ${reports.map((r) => `${r.name} ${fixed(r.serverCpuPct, 0)}%`).join(', ')} (100% = one core)`);
  console.log(`client CPU over the windows: ${reports.map((r) => `${r.name} ${fixed(r.clientCpuPct, 0)}%`).join(', ')}`);
  const path = writeResult('cart', {
    scenario: 'cart',
    at: new Date().toISOString(),
    machine: machine(),
    options: o,
    server: { env, nodeArgs },
    model: 'closed loop: each connection keeps `inflight` requests outstanding; latency = send to answer (µs)',
    phases: reports,
    ratios: Object.fromEntries(
      reports.filter((r) => r.op !== 'ping').map((r) => [r.name, { opsPerSec: r.opsPerSec / ping.opsPerSec, p50: r.latencyUs.p50 / ping.latencyUs.p50, p99: r.latencyUs.p99 / ping.latencyUs.p99 }]),
    ),
  });
  console.log(`results: ${path}`);
}
