// `bench cluster`: cartwire on one machine as a cluster of 3 nodes sharing actors through NATS
// JetStream (3 clustered NATS servers, R3; `--nats 1` for one, R1), against the single node, in
// one run so the ratios compare:
//   1. single cart-mix      one node (no NATS_URL, same SHARDS), the cart-mix workload, closed model
//   2. cluster random-node  the same workload, each connection on a random node (most cart ops forwarded)
//   3. cluster all-on-<a>   every connection on the first node; with 2. the cart ops' latency split
//                           by whether the node owns the cart's partition (local) or forwards it (fwd)
//   4. failover             adders on random nodes, kill -9 of one node: kill -> every partition
//                           served again (GET /cluster on the survivors), acknowledged adds lost
//   5. CPU per request per node (from /proc) and what N machines would carry (an estimate).
import { Option } from 'commander';
import { availableParallelism } from 'node:os';
import { productIds, stockedSkus } from '../lib/catalog.js';
import { ClusterLoad, type AddersResult, type Placement } from '../lib/cluster-load.js';
import { adminToken, balanced, cartPartition, servedBy, startNodes, type ClusterNode } from '../lib/cluster-nodes.js';
import { idleCpu, runClusterStep, type ClusterStepOutcome, type ProcCpu } from '../lib/cluster-step.js';
import { fixed, fmtInt, table, us } from '../lib/format.js';
import { withCartwire } from '../lib/harness.js';
import { findNatsServer, startNats } from '../lib/nats-servers.js';
import { baseResult, stepLine } from '../lib/run.js';
import { addLoadOptions, defineScenario, int, num, type LoadOptions, type Ratio, type StepReport } from '../lib/scenario.js';
import { adminConn } from '../lib/session-step.js';
import { bucketTail, envPairs, getText, newJwtSecret, promBuckets, promValues, sleep, sumBuckets } from '../lib/server.js';
import { modelLabel, modelOf, runStep, timingOf } from '../lib/step.js';
import { DEFAULT_MIX, parseMix } from '../lib/workloads.js';

interface ClusterOptions extends LoadOptions {
  skusPerUser: number;
  mix?: string;
  nats: number;
  nodes: number;
  partitions: number;
  leaseMs: number;
  victim?: string;
  failoverBefore: number;
  failoverAfter: number;
  failoverConnections?: number;
  failoverInflight: number;
  failoverTimeout: number;
  pollMs: number;
  coresPerMachine: number;
  natsServer?: string;
  steps: string[];
}

type StepName = 'single' | 'idle' | 'random' | 'one-node' | 'failover';
const STEP_NAMES: StepName[] = ['single', 'idle', 'random', 'one-node', 'failover'];

/** `--steps single,failover` -> the set (default: all). */
function parseSteps(list: string[]): Set<StepName> {
  const out = new Set<StepName>();
  for (const x of list.flatMap((y) => y.split(',')).filter(Boolean)) {
    if (x === 'all') STEP_NAMES.forEach((n) => out.add(n));
    else if ((STEP_NAMES as string[]).includes(x)) out.add(x as StepName);
    else throw new Error(`--steps: unknown step "${x}" (${STEP_NAMES.join(', ')}, all)`);
  }
  return out;
}

const NODE_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
/** Failover goal with LEASE_MS=2000 (docs/cluster.md: about the lease). */
const FAILOVER_GOAL_S = 3;

export const scenario = defineScenario<ClusterOptions>({
  name: 'cluster',
  summary: 'single node vs 3 nodes on NATS JetStream (cart-mix), the forwarded hop, kill -9 failover, CPU per request per node',
  configure: (c) =>
    addLoadOptions(c, { duration: 5 })
      .option('--skus-per-user <n>', 'skus each cart uses', int(1), 4)
      .option('--mix <weights>', 'op weights, as cart-mix')
      .option('--nats <n>', 'NATS servers (clustered when > 1; CLUSTER_REPLICAS = min(n, 3))', int(1), 3)
      .option('--nodes <n>', 'cartwire nodes', int(2), 3)
      .option('--partitions <n>', 'PARTITIONS', int(1), 64)
      .option('--lease-ms <ms>', 'LEASE_MS', int(100), 2000)
      .option('--victim <nodeId>', 'the node killed in the failover (default: the last)')
      .option('--failover-before <s>', 'adders run this long before the kill', num, 2)
      .option('--failover-after <s>', 'and this long after every partition is served again', num, 2)
      .option('--failover-connections <n>', 'adder connections (default: --connections)', int(1))
      .option('--failover-inflight <n>', 'cart.add in flight per adder', int(1), 4)
      .option('--failover-timeout <s>', 'give up waiting for the partitions after this long', num, 30)
      .option('--poll-ms <ms>', 'GET /cluster poll interval during the failover', int(10), 50)
      .option('--cores-per-machine <k>', 'k of the N-machine estimate', int(1), availableParallelism())
      .option('--nats-server <path>', 'nats-server binary (default: from PATH, apt-get installed when missing)')
      .addOption(new Option('--steps <list...>', `steps to run: ${STEP_NAMES.join(', ')}, all`).default(['all'])),
  run: async (o, ctx) => {
    const nats = findNatsServer(o.natsServer);
    if (!nats) throw new Error('cluster: nats-server is not installed (apt-get install -y nats-server), or --nats-server');
    const mix = o.mix ? parseMix(o.mix) : DEFAULT_MIX;
    const skus = stockedSkus();
    const products = productIds();
    const timing = timingOf(o);
    const model = modelOf(o);
    const label = modelLabel(model, o.connections);
    const channel = { workload: 'cart-mix' as const, client: 'raw' as const, skus, products, skusPerUser: o.skusPerUser, mix, trackOps: true };
    const steps: StepReport[] = [];
    const notes: string[] = [];
    const facts: [string, string][] = [];
    const ratios: Ratio[] = [];
    if (o.client !== 'raw') notes.push(`--client ${o.client} does not apply: the cluster steps use the raw ws+msgpackr client`);

    const want = parseSteps(o.steps);

    // 1. The single node, through the cart-mix machinery (withCartwire + runStep).
    const single = want.has('single')
      ? await withCartwire('cluster', o, async (cw) => {
          const s = await runStep(
            cw.load,
            {
              name: `single cart-mix ${label}`,
              role: 'compare',
              target: cw.target,
              channel: { ...channel, client: o.client },
              connections: o.connections,
              model,
              timing,
            },
            ctx.progress,
          );
          console.log(`  ${stepLine(s)}`);
          return { step: s, env: cw.env };
        })
      : undefined;
    if (single) steps.push(single.step);

    // 2-4. The cluster.
    const replicas = Math.min(3, o.nats);
    const ids = NODE_IDS.slice(0, o.nodes);
    const victimId = o.victim ?? ids[ids.length - 1];
    if (!ids.includes(victimId)) throw new Error(`--victim ${victimId}: the nodes are ${ids.join(', ')}`);
    const env: Record<string, string> = {
      SHARDS: String(o.shards),
      SYNCHRONOUS: o.synchronous,
      PARTITIONS: String(o.partitions),
      CLUSTER_REPLICAS: String(replicas),
      LEASE_MS: String(o.leaseMs),
      ...envPairs(o.serverEnv),
    };
    console.log(
      `cluster: ${o.nats} NATS server(s) (${nats.version}), ${ids.length} nodes ${ids.join(', ')}: SHARDS=${o.shards} PARTITIONS=${o.partitions} CLUSTER_REPLICAS=${replicas} LEASE_MS=${o.leaseMs}`,
    );
    const natsCluster = await startNats(o.nats, { ...nats, echo: o.echo });
    const started = performance.now();
    let cluster: Awaited<ReturnType<typeof startNodes>> | undefined;
    const load = ClusterLoad.start(o.loadProcs);
    const extra: Record<string, unknown> = {};
    try {
      cluster = await startNodes({
        ids,
        natsUrl: natsCluster.url,
        jwtSecret: newJwtSecret(),
        env,
        nodeArgs: o.serverProf ? ['--cpu-prof', '--cpu-prof-dir', o.serverProf] : [],
        keepData: o.keepData,
        echo: o.echo,
      });
      const nodes = cluster.nodes;
      const token = await adminToken(nodes[0].url);
      const owners = await balanced(nodes, token, { timeoutMs: 60_000, settleMs: Math.max(1000, o.leaseMs / 2) });
      extra.owners = owners;
      const share = ids.map((id) => `${id} ${owners.filter((x) => x === id).length}`).join(', ');
      console.log(
        `cluster: nodes ${nodes.map((n) => `${n.id} pid ${n.server.pid} ${n.url}`).join('; ')}; NATS ${natsCluster.url} pids ${natsCluster.servers.map((s) => s.pid).join(', ')}; ` +
          `balanced after ${fmtInt(performance.now() - started)} ms (partitions: ${share}); load pids ${load.pids.join(', ')}`,
      );
      const base = {
        role: 'measured' as const,
        nodes,
        nats: natsCluster.servers,
        owners,
        partitions: o.partitions,
        channel,
        connections: o.connections,
        model,
        timing,
      };
      const clusterSteps: ClusterStepOutcome[] = [];
      const runCluster = async (name: string, placement: Placement) => {
        const x = await runClusterStep(load, { ...base, name, placement }, ctx.progress);
        console.log(`  ${stepLine(x.report)}`);
        steps.push(x.report);
        clusterSteps.push(x);
        return x;
      };
      if (want.has('idle')) {
        // A second for the rounds after balancing to settle, then --duration seconds of nothing.
        await sleep(1000);
        const idle = await idleCpu(nodes, natsCluster.servers, o.duration);
        console.log(`\n${idleTable(idle, o.duration)}`);
        const pct = (xs: ProcCpu[]) => xs.map((x) => `${x.name} ${fixed(x.cpuPct, 1)}%`).join(', ');
        facts.push([`idle cluster (no requests, ${o.duration} s): CPU of each node / NATS server, % of a core`, `${pct(idle.nodes)} / ${pct(idle.nats)}`]);
        extra.idle = idle;
      }
      const random = want.has('random') ? await runCluster(`cluster random-node ${label}`, { kind: 'random', seed: 0x5eed }) : undefined;
      const one = want.has('one-node') ? await runCluster(`cluster all-on-${nodes[0].id} ${label}`, { kind: 'node', index: 0 }) : undefined;
      const failover = want.has('failover') ? await runFailover(o, load, nodes, token, victimId, owners) : undefined;
      if (random) extra.random = summaryOf(random);
      if (one) extra.allOnOne = summaryOf(one);
      if (failover) extra.failover = failover;

      // What the run shows, printed before the summary.
      const closed = model.kind === 'closed';
      if (single)
        for (const x of clusterSteps) {
          const s = x.report;
          ratios.push(
            closed
              ? { name: `${s.name} / ${single.step.name} ops/s`, value: s.opsPerSec / single.step.opsPerSec }
              : { name: `${single.step.name} p99 / ${s.name} p99`, value: single.step.latencyUs.p99 / s.latencyUs.p99 },
          );
        }
      if (clusterSteps.length) {
        console.log(`\n${hopTable(clusterSteps)}`);
        for (const x of clusterSteps) console.log(`\n${cpuTable(x, single?.step)}`);
        const hopOf = (x: ClusterStepOutcome) => `p50 ${us(x.hop.fwd.ops.p50 - x.hop.local.ops.p50)}, p99 ${us(x.hop.fwd.ops.p99 - x.hop.local.ops.p99)}`;
        for (const x of clusterSteps) facts.push([`forwarded hop (fwd - local cart ops), ${x.report.name}`, hopOf(x)]);
        notes.push(
          'The forwarded hop is the difference of the cart ops latency between connections whose node owns their cart and the others, in the same closed-model step: at saturation it holds the queueing at the owner and in NATS, not only the wire round trip.',
        );
        const x = clusterSteps[0];
        facts.push([`cluster CPU per request, ${x.report.name} (nodes + NATS)`, `${fixed(sumUs(x.nodeCpu), 1)} + ${fixed(sumUs(x.natsCpu), 1)} µs`]);
        if (single) facts.push(['single-node CPU per request', `${fixed(single.step.serverCpuUsPerReq, 1)} µs`]);
        const estimate = machinesEstimate(x, single?.step, o.coresPerMachine);
        console.log(`\n${estimate.join('\n')}`);
        notes.push(...estimate.slice(1).map((l) => l.trim()));
      }
      if (failover) {
        console.log(`\n${failoverText(failover, o)}`);
        facts.push(
          [
            `failover: kill -9 of ${victimId} -> every partition served`,
            failover.servedMs === undefined ? `not within ${o.failoverTimeout} s` : `${fmtInt(failover.servedMs)} ms`,
          ],
          ['failover: adds acknowledged / lost', `${fmtInt(failover.acked)} / ${fmtInt(failover.lost)}`],
        );
        ratios.push({
          name: `failover s (LEASE_MS=${o.leaseMs})`,
          value: failover.servedMs === undefined ? NaN : failover.servedMs / 1000,
          goal: `<= ${FAILOVER_GOAL_S}`,
          met: failover.servedMs !== undefined && failover.servedMs <= FAILOVER_GOAL_S * 1000,
        });
        ratios.push({ name: 'acknowledged adds lost', value: failover.lost, goal: '= 0', met: failover.lost === 0 && failover.unreadable === 0 });
        notes.push(
          `The failover load is adders (cart.add qty 1, ${o.failoverInflight} in flight per guest), not cart-mix: only adds can be counted against the stored carts.`,
        );
      }
      notes.push(
        `The cluster runs on this one machine (${availableParallelism()} cores) with ${o.nats} NATS server(s), ${ids.length} nodes and the load processes: every process competes for the same cores, so the cluster's throughput here is the cost of clustering, not its scale-up.`,
        `srv µs/req and srv CPU of a cluster step are the ${ids.length} nodes summed; the NATS servers' CPU is printed beside them (extra.nodeCpu / extra.natsCpu of result.json).`,
      );
    } catch (err) {
      for (const n of cluster?.nodes ?? []) console.error(`--- node ${n.id} (pid ${n.server.pid}) output ---\n${n.server.output().slice(-3000)}`);
      throw err;
    } finally {
      await load.stop();
      await cluster?.stop();
      await natsCluster.stop();
    }

    const r = baseResult('cluster', o);
    r.server = { env: single?.env ?? env, nodeArgs: [] };
    return { ...r, steps, ratios, facts, notes, extra: { mix, natsVersion: nats.version, natsServers: o.nats, nodeIds: ids, clusterEnv: env, ...extra } };
  },
});

const sumUs = (xs: ProcCpu[]) => xs.reduce((a, x) => a + x.usPerReq, 0);

function summaryOf(x: ClusterStepOutcome) {
  return { requests: x.requests, nodeCpu: x.nodeCpu, natsCpu: x.natsCpu, hop: x.hop };
}

/** Latency of cart ops by where the cart lives, per cluster step, and the difference: the forwarded hop. */
function hopTable(xs: ClusterStepOutcome[]): string {
  const rows: (string | number)[][] = [];
  for (const x of xs) {
    const { local, fwd } = x.hop;
    rows.push([`${x.report.name}: local`, local.connections, fmtInt(local.ops.count), us(local.ops.p50), us(local.ops.p90), us(local.ops.p99)]);
    rows.push([`${x.report.name}: fwd`, fwd.connections, fmtInt(fwd.ops.count), us(fwd.ops.p50), us(fwd.ops.p90), us(fwd.ops.p99)]);
    rows.push([`  forwarded hop (fwd - local)`, '', '', us(fwd.ops.p50 - local.ops.p50), us(fwd.ops.p90 - local.ops.p90), us(fwd.ops.p99 - local.ops.p99)]);
  }
  return table(['cart ops (add, setQty, get) by owner', 'conns', 'ops', 'p50', 'p90', 'p99'], rows);
}

/** CPU of each process while the cluster had nothing to do. */
function idleTable(idle: { nodes: ProcCpu[]; nats: ProcCpu[] }, seconds: number): string {
  const row = (p: ProcCpu, what: string) => [p.name, what, p.pid, fixed(p.cpuS, 2), `${fixed(p.cpuPct, 1)}%`];
  return table(
    [`idle cluster, ${seconds} s without requests`, 'process', 'pid', 'CPU s', '% of a core'],
    [...idle.nodes.map((p) => row(p, 'cartwire node')), ...idle.nats.map((p) => row(p, 'nats-server'))],
  );
}

/** CPU per request per node over a cluster step's window (requests: answered by the cluster). */
function cpuTable(x: ClusterStepOutcome, single: StepReport | undefined): string {
  const row = (p: ProcCpu, what: string) => [p.name, what, p.pid, fixed(p.cpuS, 2), `${fixed(p.cpuPct, 0)}%`, fixed(p.usPerReq, 1)];
  const nodes = x.nodeCpu.reduce((a, p) => a + p.cpuS, 0);
  const natsS = x.natsCpu.reduce((a, p) => a + p.cpuS, 0);
  const w = x.report.windowS;
  return table(
    [`${x.report.name}: CPU over ${fixed(w, 1)} s, ${fmtInt(x.requests)} requests`, 'process', 'pid', 'CPU s', 'CPU', 'µs/req'],
    [
      ...x.nodeCpu.map((p) => row(p, 'cartwire node')),
      ['nodes', 'sum', '', fixed(nodes, 2), `${fixed((nodes / w) * 100, 0)}%`, fixed(sumUs(x.nodeCpu), 1)],
      ...x.natsCpu.map((p) => row(p, 'nats-server')),
      ['nodes + NATS', 'sum', '', fixed(nodes + natsS, 2), `${fixed(((nodes + natsS) / w) * 100, 0)}%`, fixed(sumUs(x.nodeCpu) + sumUs(x.natsCpu), 1)],
      ...(single ? [[single.name, 'one server', '', '', `${fixed(single.serverCpuPct, 0)}%`, fixed(single.serverCpuUsPerReq, 1)]] : []),
    ],
  );
}

/** N machines with k cores each, at c µs of CPU per request: about N*k*1e6/c requests/s. */
function machinesEstimate(x: ClusterStepOutcome, single: StepReport | undefined, k: number): string[] {
  const c = sumUs(x.nodeCpu) + sumUs(x.natsCpu);
  const per = (k * 1e6) / c;
  return [
    `N machines (one node + one NATS server each, k = ${k} cores), from ${x.report.name}: c = ${fixed(sumUs(x.nodeCpu), 1)} µs (nodes) + ${fixed(sumUs(x.natsCpu), 1)} µs (NATS) = ${fixed(c, 1)} µs of CPU per request`,
    `  N machines carry about N * k * 1e6 / c = N * ${k} * 1e6 / ${fixed(c, 1)} = N * ${fmtInt(per)} requests/s: ` +
      [1, 3, 5, 10].map((n) => `N=${n}: ${fmtInt(n * per)}`).join(', ') +
      (single ? ` (one node alone: ${k} * 1e6 / ${fixed(single.serverCpuUsPerReq, 1)} = ${fmtInt((k * 1e6) / single.serverCpuUsPerReq)} requests/s)` : ''),
    `  An estimate: it assumes CPU is the only limit and c stays the same as N grows (with N nodes, (N-1)/N of the cart ops are forwarded; here ${x.hop.fwd.connections} of ${x.hop.fwd.connections + x.hop.local.connections} connections). This machine has ${availableParallelism()} cores for every process: two cores cannot show scale-up.`,
  ];
}

interface CatchUps {
  count: number;
  meanMs: number;
  /** The histogram bucket bound of the slowest (seconds). */
  slowestLeS: number;
  messages: number;
}

type CatchUpScrape = { values: Record<string, number>; buckets: [number, number][] };

/** The survivors' catch-up histograms and message counters, summed. */
async function catchUpScrape(nodes: ClusterNode[]): Promise<CatchUpScrape> {
  const texts = await Promise.all(nodes.map((n) => getText(`${n.url}/metrics`).catch(() => '')));
  const names = ['cartwire_cluster_catchup_seconds_sum', 'cartwire_cluster_catchup_seconds_count', 'cartwire_cluster_catchup_messages_total'];
  const values: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const t of texts) for (const [k, v] of Object.entries(promValues(t, names))) values[k] += v;
  return { values, buckets: sumBuckets(texts.map((t) => promBuckets(t, 'cartwire_cluster_catchup_seconds'))) };
}

function catchUpsSince(a: CatchUpScrape, b: CatchUpScrape): CatchUps {
  const d = (k: string) => b.values[k] - a.values[k];
  const count = d('cartwire_cluster_catchup_seconds_count');
  return {
    count,
    meanMs: count ? (d('cartwire_cluster_catchup_seconds_sum') / count) * 1000 : 0,
    slowestLeS: bucketTail(a.buckets, b.buckets, 1, Infinity).quantileLe,
    messages: d('cartwire_cluster_catchup_messages_total'),
  };
}

interface FailoverOutcome {
  victim: string;
  killedAtS: number;
  /** Kill -> every partition has an owner among the survivors that reports it serving (the goal's measure). */
  servedMs?: number;
  /** Kill -> and no partition served by two survivors at once. */
  cleanMs?: number;
  /** The survivors' takeovers meanwhile (cartwire_cluster_catchup_*): lease taken -> serving. */
  catchUps: CatchUps;
  pollMs: number;
  /** Duration of the poll that saw every partition served (the resolution of servedMs, with pollMs). */
  lastPollMs?: number;
  adders: number;
  onVictim: number;
  acked: number;
  stored: number;
  /** Through the first survivor: per user, acknowledged - stored when positive. */
  lost: number;
  /** Acknowledged adds no survivor shows (per user, acknowledged - the most any survivor reads, when positive). */
  lostOnEvery: number;
  /** Carts the survivors answer differently (a survivor serving a partition it no longer owns: a stale read). */
  divergent: number;
  /** Polls after the kill that saw a partition served by two survivors at once, and the most such partitions in one poll. */
  doubleServed: { polls: number; most: number };
  /** GET /cluster of the survivors after the carts were read. */
  atEnd: { unserved: number[]; doubles: number[] };
  /** Units stored beyond acknowledged + maybe (must be 0). */
  unexplained: number;
  maybe: number;
  refused: number;
  unreadable: number;
  closed: number;
  errors: Record<string, number>;
  ackedPerSecond: number[];
  readVia: string;
  /** Users whose cart reads below what was acknowledged, or above acknowledged + maybe, on some survivor, or differently on two. */
  usersOff: {
    userId: string;
    node: string;
    acked: number;
    ackedUnits: number;
    stored: number;
    storedVia: Record<string, number>;
    maybe: number;
    partition: number;
    ownerBefore: string;
    ownerAfter?: string;
  }[];
  /** The survivors' log lines about the cluster since the kill. */
  log: string[];
}

async function runFailover(
  o: ClusterOptions,
  load: ClusterLoad,
  nodes: ClusterNode[],
  token: string,
  victimId: string,
  ownersBefore: string[],
): Promise<FailoverOutcome> {
  const victim = nodes.find((n) => n.id === victimId)!;
  const survivors = nodes.filter((n) => n !== victim);
  const skus = stockedSkus().slice(0, 8);
  const admin = await adminConn(survivors[0].url);
  for (const sku of skus) await admin.call('inventory.adjust', { sku, type: 'adjustment', qty: 1_000_000_000, reason: 'bench cluster failover' });
  await admin.close();
  const connections = o.failoverConnections ?? o.connections;
  await load.prepareAdders(
    { nodes: nodes.map((n) => ({ id: n.id, url: n.url })), seed: 0xfa11, skus, skusPerUser: 4, inflight: o.failoverInflight },
    connections,
  );
  const t0 = Date.now() + 200;
  load.goAdders(t0);
  console.log(
    `  failover: ${connections} adders on random nodes, ${o.failoverInflight} cart.add in flight each; kill -9 of ${victimId} after ${o.failoverBefore} s`,
  );
  await sleep(t0 + o.failoverBefore * 1000 - Date.now());
  const logFrom = survivors.map((n) => n.server.output().length);
  const catchUpsBefore = await catchUpScrape(survivors);
  const killedAt = performance.now();
  const killedEpoch = Date.now();
  await victim.server.kill9();
  // The goal's measure: every partition has an owner among the survivors that reports it
  // `serving` (servedMs). Split-brain aside: until no other survivor serves it too (cleanMs).
  let servedMs: number | undefined;
  let cleanMs: number | undefined;
  let lastPollMs: number | undefined;
  let ownersAfter: string[] | undefined;
  // Polls that saw a partition served by two survivors at once, and the most such partitions.
  const doubles = { polls: 0, most: 0 };
  while (performance.now() - killedAt < o.failoverTimeout * 1000) {
    const p0 = performance.now();
    const now = await servedBy(survivors, token);
    const p1 = performance.now();
    if (now.doubles.length) {
      doubles.polls++;
      doubles.most = Math.max(doubles.most, now.doubles.length);
    }
    if (servedMs === undefined && now.complete && now.unserved.length === 0) {
      servedMs = p1 - killedAt;
      lastPollMs = p1 - p0;
    }
    if (now.owners) {
      cleanMs = p1 - killedAt;
      ownersAfter = now.owners;
      break;
    }
    await sleep(o.pollMs - (performance.now() - p0));
  }
  const catchUps = catchUpsSince(catchUpsBefore, await catchUpScrape(survivors));
  const names = survivors.map((n) => n.id).join(', ');
  console.log(
    servedMs === undefined
      ? `  failover: partitions not all served after ${o.failoverTimeout} s`
      : `  failover: every partition served by ${names} ${fmtInt(servedMs)} ms after the kill` +
          (cleanMs === undefined
            ? `; some still served by two survivors after ${o.failoverTimeout} s`
            : cleanMs > servedMs
              ? `, by exactly one of them after ${fmtInt(cleanMs)} ms`
              : ''),
  );
  console.log(
    `  failover: ${catchUps.count} partitions taken over, each caught up ${fmtInt(catchUps.meanMs)} ms after its lease was taken on average ` +
      `(the slowest within ${catchUps.slowestLeS} s), ${fmtInt(catchUps.messages)} journal messages applied`,
  );
  await sleep(o.failoverAfter * 1000);
  const r: AddersResult = await load.stopAdders(
    survivors.map((n) => n.url),
    5000,
  );
  const atEnd = await servedBy(survivors, token);
  // What the survivors logged about partitions since the kill (lost, fenced, not taken over).
  const log = survivors.flatMap((n, i) =>
    n.server
      .output()
      .slice(logFrom[i])
      .split('\n')
      .filter((l) => l.includes('cluster'))
      .map((l) => `${n.id}: ${l}`),
  );
  const users = r.users;
  const sum = (f: (u: (typeof users)[number]) => number) => users.reduce((a, u) => a + f(u), 0);
  const readable = users.filter((u) => u.stored >= 0);
  const perSecond: number[] = [];
  r.ackedPerSlot.forEach((x, i) => {
    const s = Math.floor((i * 250) / 1000);
    perSecond[s] = (perSecond[s] ?? 0) + x;
  });
  return {
    victim: victimId,
    killedAtS: (killedEpoch - t0) / 1000,
    servedMs,
    catchUps,
    cleanMs,
    pollMs: o.pollMs,
    lastPollMs,
    adders: users.length,
    onVictim: users.filter((u) => u.node === victimId).length,
    acked: sum((u) => u.acked),
    stored: readable.reduce((a, u) => a + u.stored, 0),
    lost: readable.reduce((a, u) => a + Math.max(0, u.acked - u.stored), 0),
    lostOnEvery: readable.reduce((a, u) => a + Math.max(0, u.acked - Math.max(...u.storedVia)), 0),
    divergent: readable.filter((u) => new Set(u.storedVia).size > 1).length,
    doubleServed: doubles,
    atEnd: { unserved: atEnd.unserved, doubles: atEnd.doubles },
    unexplained: readable.reduce((a, u) => a + Math.max(0, u.stored - u.acked - u.maybe), 0),
    maybe: sum((u) => u.maybe),
    refused: sum((u) => u.refused),
    unreadable: users.length - readable.length,
    closed: r.closed,
    errors: r.errors,
    ackedPerSecond: Array.from(perSecond, (x) => x ?? 0),
    readVia: survivors[0].id,
    usersOff: readable
      .filter((u) => u.storedVia.some((x) => x < u.acked || x > u.acked + u.maybe) || new Set(u.storedVia).size > 1)
      .map((u) => {
        const p = cartPartition(u.userId, o.partitions);
        return {
          userId: u.userId,
          node: u.node,
          acked: u.acked,
          ackedUnits: u.ackedUnits,
          stored: u.stored,
          storedVia: Object.fromEntries(survivors.map((n, i) => [n.id, u.storedVia[i]])),
          maybe: u.maybe,
          partition: p,
          ownerBefore: ownersBefore[p],
          ownerAfter: ownersAfter?.[p],
        };
      }),
    log: log.slice(0, 200),
  };
}

function failoverText(f: FailoverOutcome, o: ClusterOptions): string {
  const errs = Object.entries(f.errors)
    .map(([k, v]) => `${k} ${fmtInt(v)}`)
    .join(', ');
  const rows: [string, string][] = [
    ['node killed (kill -9)', `${f.victim}, ${fixed(f.killedAtS, 2)} s after the adders started`],
    [
      'kill -> every partition served again',
      f.servedMs === undefined
        ? `not within ${o.failoverTimeout} s`
        : `${fmtInt(f.servedMs)} ms (GET /cluster on the survivors every ${f.pollMs} ms; that poll took ${fmtInt(f.lastPollMs ?? 0)} ms)`,
    ],
    [`goal: <= ${FAILOVER_GOAL_S} s with LEASE_MS=${o.leaseMs}`, f.servedMs !== undefined && f.servedMs <= FAILOVER_GOAL_S * 1000 ? 'met' : 'MISSED'],
    ['kill -> no partition served by two survivors any more', f.cleanMs === undefined ? `not within ${o.failoverTimeout} s` : `${fmtInt(f.cleanMs)} ms`],
    ['adders (guests) / on the killed node / connections lost', `${f.adders} / ${f.onVictim} / ${f.closed}`],
    ['cart.add acknowledged', fmtInt(f.acked)],
    [`units stored (carts read through ${f.readVia})`, `${fmtInt(f.stored)}${f.unreadable ? ` (${f.unreadable} carts unreadable)` : ''}`],
    ['acknowledged adds lost (acknowledged - stored, per user, when positive)', fmtInt(f.lost)],
    ['goal: lost acknowledged = 0', f.lost === 0 && f.unreadable === 0 ? 'met' : 'MISSED'],
    ['  of them on no survivor (reads through every survivor)', fmtInt(f.lostOnEvery)],
    ['carts the survivors read differently (stale reads)', fmtInt(f.divergent)],
    [
      'partitions served by two survivors at once',
      `${f.doubleServed.polls} poll(s) after the kill (at most ${f.doubleServed.most}); after the reads: ${f.atEnd.doubles.length} (${f.atEnd.unserved.length} unserved)`,
    ],
    ['answers lost with the node or applied=unknown (may or may not be stored)', fmtInt(f.maybe)],
    ['refused UNAVAILABLE (nothing changed, retried)', fmtInt(f.refused)],
    ['stored beyond acknowledged + maybe (must be 0)', fmtInt(f.unexplained)],
    ['errors by code', errs || '-'],
    ['acknowledged adds per second (kill in second ' + Math.floor(f.killedAtS) + ')', f.ackedPerSecond.map(fmtInt).join(' | ')],
  ];
  const out = [table(['failover', 'value'], rows, ['left', 'left'])];
  for (const u of f.usersOff)
    out.push(
      `  user ${u.userId} on node ${u.node}: acknowledged ${u.acked} (an acknowledged answer showed ${u.ackedUnits} units in the cart), stored ${u.stored} (read through ${Object.entries(
        u.storedVia,
      )
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')}; maybe ${u.maybe}); cart partition ${u.partition}, owner ${u.ownerBefore} before the kill, ${u.ownerAfter ?? '?'} after`,
    );
  if (f.log.length)
    out.push(`  the survivors logged ${f.log.length} cluster line(s) after the kill (extra.failover.log), first: ${f.log.slice(0, 5).join(' | ')}`);
  return out.join('\n');
}
