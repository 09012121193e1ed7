// `bench unknown-keys`: do hostile lookups of keys that do not exist grow the server's memory?
// --connections guests (auth.guest each; 50) keep --inflight lookups outstanding (16; closed
// loop, from separate load processes) until --lookups (1,000,000) were answered: order.get,
// cart.applyCoupon, recs.similar and catalog.get with random ids nothing has, whose answer is
// NOT_FOUND (answers are counted by op and code; any other code is reported). Before the
// lookups, after them and after --idle-s (5) seconds of idle, it reads the server's RSS
// (/proc/<pid>/status VmRSS) and its actors in memory (cartwire_shard_actors of GET /metrics
// summed over shards; GET /snapshot's live count beside it), and prints the growth and the
// lookups/s. Goal: actors flat (growth < 1% of the lookups) and RSS within +64 MiB.
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { atExit, killOnExit } from '../lib/cleanup.js';
import { fixed, fmtInt, table, us } from '../lib/format.js';
import { encodeHistogram, mergeHistograms, percentileCurve, summarize } from '../lib/histogram.js';
import { TokenMinter } from '../lib/jwt.js';
import { split, sumCounts } from '../lib/load.js';
import { cpuMicros, cpuMicrosOf, machineBusyMicros, memStatus, mib } from '../lib/procfs.js';
import { baseResult, stepLine } from '../lib/run.js';
import { defineScenario, int, type CommonOptions, type RunResult, type StepReport, type TimelinePoint } from '../lib/scenario.js';
import { envPairs, getText, newJwtSecret, promValues, removeDir, sleep, snapshotSummary, spawnServer, tmpDataDir } from '../lib/server.js';
import { otherCpuPct } from '../lib/step.js';
import {
  DEFAULT_LOOKUP_MIX,
  LOOKUP_OPS,
  mixText,
  parseLookupMix,
  type FromLookupWorker,
  type LookupResult,
  type LookupSpec,
  type LookupTick,
  type ToLookupWorker,
} from '../lib/unknown-keys.js';

const WORKER = fileURLToPath(new URL('../lib/unknown-keys-worker.js', import.meta.url));

/** The goal: actors grow by less than this share of the lookups, RSS by at most this many MiB. */
const GOAL_ACTOR_SHARE = 0.01;
const GOAL_RSS_MIB = 64;
/** A connection with no answer for this long gives up (its outstanding lookups count as lost). */
const STALL_MS = 30_000;

interface UnknownKeysOptions {
  lookups: number;
  connections: number;
  inflight: number;
  mix?: string;
  idleS: number;
}

/** One load process of this scenario (unknown-keys-worker.js). */
class LookupWorker {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  onTick: (t: LookupTick) => void = () => undefined;
  private waiters: ((m: FromLookupWorker | { t: 'exited' }) => boolean)[] = [];

  constructor() {
    this.proc = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    killOnExit(this.proc);
    this.proc.on('message', (m: FromLookupWorker) => {
      if (m.t === 'tick') return this.onTick(m.tick);
      this.waiters = this.waiters.filter((w) => !w(m));
    });
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', () => {
        for (const w of this.waiters.splice(0)) w({ t: 'exited' });
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  post(m: ToLookupWorker): void {
    if (this.proc.connected) this.proc.send(m);
  }

  /** The next message of kind `t`; an error message, or the process exiting, rejects. */
  next<T extends FromLookupWorker['t']>(t: T): Promise<Extract<FromLookupWorker, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => {
        if (m.t === 'error') reject(new Error(`load process ${this.pid}: ${m.message}`));
        else if (m.t === 'exited') reject(new Error(`load process ${this.pid} exited before '${t}'`));
        else if (m.t === t) resolve(m as Extract<FromLookupWorker, { t: T }>);
        else return false;
        return true;
      });
    });
  }

  async stop(): Promise<void> {
    this.post({ t: 'exit' });
    await this.exited;
  }
}

/** The server's memory and actors at one instant. */
interface Sample {
  /** Seconds since the lookups started (negative: before). */
  t: number;
  rssMiB: number;
  rssAnonMiB: number;
  /** cartwire_shard_actors of GET /metrics, summed over shards (each shard's value as of its last batch). */
  actors: number;
  /** GET /snapshot's actors summed over shards (asked of each shard now); only at the three points. */
  liveActors?: number;
  /** Lookups answered so far (load processes' seconds received). */
  answered?: number;
  /** The main thread's V8 heap (committed) and its external memory (buffers), from the default metrics. */
  mainHeapMiB?: number;
  mainExternalMiB?: number;
}

/** `n` split over workers in proportion to their connections. */
function proportional(n: number, parts: number[]): number[] {
  const total = parts.reduce((a, b) => a + b, 0);
  const out = parts.map((p) => Math.floor((n * p) / total));
  let rest = n - out.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length, rest--) out[i]++;
  return out;
}

async function run(o: UnknownKeysOptions & CommonOptions): Promise<RunResult> {
  const mix = o.mix ? parseLookupMix(o.mix) : DEFAULT_LOOKUP_MIX;
  const dataDir = tmpDataDir();
  const forgetDir = o.keepData ? () => undefined : atExit(() => removeDir(dataDir));
  const jwtSecret = newJwtSecret();
  const adminToken = new TokenMinter(jwtSecret).mint('bench-admin', 'admin');
  const env = { SHARDS: String(o.shards), SYNCHRONOUS: o.synchronous, ...envPairs(o.serverEnv) };
  const nodeArgs = o.serverProf ? ['--cpu-prof', '--cpu-prof-dir', o.serverProf] : [];
  const nWorkers = Math.min(o.loadProcs, o.connections);
  console.log(
    `unknown-keys: server SHARDS=${o.shards} SYNCHRONOUS=${o.synchronous} DATA_DIR=${dataDir}; ${nWorkers} load process(es), ` +
      `${o.connections} guests x ${o.inflight} in flight, ${fmtInt(o.lookups)} lookups (${mixText(mix)})`,
  );
  const server = spawnServer({ dataDir, jwtSecret, env, nodeArgs, echo: o.echo });
  const workers = Array.from({ length: nWorkers }, () => new LookupWorker());
  try {
    const { url } = await server.listening;
    const pid = server.pid;
    console.log(`unknown-keys: server pid ${pid} at ${url}; load pids ${workers.map((w) => w.pid).join(', ')}`);

    let answeredSoFar = 0;
    const sample = async (t: number, live: boolean): Promise<Sample> => {
      const m = memStatus(pid);
      const p = promValues(await getText(`${url}/metrics`), ['cartwire_shard_actors', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes']);
      const actors = p.cartwire_shard_actors;
      const s: Sample = {
        t: Math.round(t * 10) / 10,
        rssMiB: mib(m.vmRssKiB),
        rssAnonMiB: mib(m.rssAnonKiB),
        actors,
        answered: answeredSoFar,
        mainHeapMiB: p.nodejs_heap_size_total_bytes / 1048576,
        mainExternalMiB: p.nodejs_external_memory_bytes / 1048576,
      };
      if (live) s.liveActors = (await snapshotSummary(url, adminToken)).reduce((a, x) => a + x.actors, 0);
      return s;
    };
    const line = (label: string, s: Sample) =>
      `  ${label}: RSS ${fixed(s.rssMiB, 1)} MiB (anon ${fixed(s.rssAnonMiB, 1)}; main thread heap ${fixed(s.mainHeapMiB ?? 0, 1)}, external ${fixed(s.mainExternalMiB ?? 0, 1)}), ` +
      `actors ${fmtInt(s.actors)} (/metrics)${s.liveActors === undefined ? '' : `, ${fmtInt(s.liveActors)} (/snapshot)`}`;

    // Every guest connected and signed in before the first sample: only the lookups are between the samples.
    const conns = split(o.connections, nWorkers);
    const shares = proportional(o.lookups, conns);
    let offset = 0;
    await Promise.all(
      workers.map((w, i) => {
        const ready = w.next('ready');
        const spec: LookupSpec = { url, connections: conns[i], connOffset: offset, inflight: o.inflight, lookups: shares[i], mix, stallMs: STALL_MS };
        offset += conns[i];
        w.post({ t: 'prepare', spec });
        return ready;
      }),
    );
    await sleep(1000);
    const before = await sample(0, true);
    console.log(line('before', before));

    // The lookups, with the server's RSS, actors and CPU sampled every second.
    const ticks: LookupTick[] = [];
    for (const w of workers) {
      w.onTick = (t) => {
        ticks.push(t);
        answeredSoFar += t.answers;
      };
    }
    const t0 = Date.now() + 200;
    const timeline: Sample[] = [];
    const cpuAt: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      let lastPrint = 0;
      for (let k = 0; sampling; k++) {
        await sleep(t0 + k * 1000 - Date.now());
        if (!sampling) break;
        cpuAt[k] = cpuMicros(pid);
        if (k === 0) continue;
        const s = await sample(k, false);
        timeline.push(s);
        if (k - lastPrint >= 5) {
          lastPrint = k;
          console.log(
            `    t=${k}s: ${fmtInt(s.answered ?? 0)} lookups answered (${fmtInt((s.answered ?? 0) / k)}/s), RSS ${fixed(s.rssMiB, 1)} MiB, actors ${fmtInt(s.actors)}`,
          );
        }
      }
    })();
    const results = workers.map((w) => w.next('result'));
    for (const w of workers) w.post({ t: 'go', t0 });
    await sleep(t0 - Date.now());
    const a = { at: performance.now(), server: cpuMicros(pid), clients: cpuMicrosOf(workers.map((w) => w.pid)), machine: machineBusyMicros() };
    let rs: LookupResult[];
    try {
      rs = (await Promise.all(results)).map((r) => r.result);
    } finally {
      sampling = false;
    }
    const b = { at: performance.now(), server: cpuMicros(pid), clients: cpuMicrosOf(workers.map((w) => w.pid)), machine: machineBusyMicros() };
    await sampler;
    const lookupsS = (Math.max(...rs.map((r) => r.lastAnswerAt)) - Math.min(...rs.map((r) => r.firstSendAt))) / 1000;
    const after = await sample(lookupsS, true);

    // Idle: nothing is sent; the server may give memory back (GC, malloc trim).
    const idleSamples: Sample[] = [];
    const idleStart = Date.now();
    for (let k = 1; k <= o.idleS; k++) {
      await sleep(idleStart + k * 1000 - Date.now());
      idleSamples.push(await sample(lookupsS + k, k === o.idleS));
    }
    const idle = idleSamples.at(-1) ?? (await sample(lookupsS, true));
    const peakMiB = mib(memStatus(pid).vmHwmKiB);

    // The lookups as a step: its figures in the summary table, its charts in the report.
    const sent = rs.reduce((x, r) => x + r.sent, 0);
    const answered = rs.reduce((x, r) => x + r.answered, 0);
    const lost = rs.reduce((x, r) => x + r.lost, 0);
    const counts = sumCounts(rs.map((r) => r.counts));
    const unexpected = Object.fromEntries(Object.entries(counts).filter(([k]) => !k.endsWith(':NOT_FOUND') && !k.endsWith(':LOST')));
    const hist = mergeHistograms(rs.map((r) => r.histogram));
    const perOp = Object.fromEntries(
      LOOKUP_OPS.filter((op) => rs.some((r) => r.perOp[op])).map((op) => [
        op,
        summarize(mergeHistograms(rs.flatMap((r) => (r.perOp[op] ? [r.perOp[op]] : [])))),
      ]),
    );
    const secs = new Map<number, LookupTick[]>();
    for (const t of ticks) secs.set(t.sec, [...(secs.get(t.sec) ?? []), t]);
    const stepTimeline: TimelinePoint[] = [...secs.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([sec, list]) => {
        const x = summarize(mergeHistograms(list.map((t) => t.histogram)));
        const cpu = cpuAt[sec + 1] !== undefined && cpuAt[sec] !== undefined ? Math.round((cpuAt[sec + 1] - cpuAt[sec]) / 1e3) / 10 : NaN;
        return {
          t: sec,
          phase: 'steady',
          ops: list.reduce((n, t) => n + t.answers, 0),
          errors: list.reduce((n, t) => n + t.unexpected, 0),
          p50: x.p50,
          p99: x.p99,
          max: x.max,
          cpuPct: cpu,
        };
      });
    const windowS = (b.at - a.at) / 1000;
    const step: StepReport = {
      name: `lookups ${o.connections}x${o.inflight}`,
      role: 'measured',
      target: 'cartwire',
      workload: `unknown keys: ${mixText(mix)}`,
      client: 'raw',
      model: { kind: 'closed', connections: o.connections, inflight: o.inflight },
      phases: { warmupS: 0, rampS: 0, steadyS: Math.round(lookupsS * 10) / 10 },
      windowS: lookupsS,
      opsPerSec: answered / lookupsS,
      opsLabel: 'lookups/s',
      completed: answered,
      errors: unexpected,
      lost,
      notSent: o.lookups - sent,
      latencyOf: 'send -> answer (every lookup)',
      latencyUs: summarize(hist),
      histogram: encodeHistogram(hist),
      percentiles: percentileCurve(hist),
      perOp,
      timeline: stepTimeline,
      serverCpuUsPerReq: (b.server - a.server) / Math.max(1, answered),
      serverCpuPct: ((b.server - a.server) / 1e6 / windowS) * 100,
      clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, answered),
      clientCpuPct: ((b.clients - a.clients) / 1e6 / windowS) * 100,
      otherCpuPct: otherCpuPct(a, b, windowS),
      loadAvg1: loadavg()[0],
      serverRssMiB: after.rssMiB,
    };
    console.log(`  ${stepLine(step)}`);
    console.log(line('after the lookups', after));
    console.log(line(`after ${o.idleS} s idle`, idle));

    // Growth, and the goal.
    const rssGrowth = { afterLookups: round1(after.rssMiB - before.rssMiB), afterIdle: round1(idle.rssMiB - before.rssMiB) };
    const actorGrowth = { afterLookups: after.actors - before.actors, afterIdle: idle.actors - before.actors };
    const liveGrowth = { afterLookups: after.liveActors! - before.liveActors!, afterIdle: idle.liveActors! - before.liveActors! };
    const actorLimit = GOAL_ACTOR_SHARE * o.lookups;
    const worstActors = Math.max(actorGrowth.afterLookups, actorGrowth.afterIdle);
    const actorsFlat = worstActors < actorLimit;
    const rssOk = rssGrowth.afterIdle <= GOAL_RSS_MIB;
    const pct = (n: number) => `${fixed((n / Math.max(1, o.lookups)) * 100, 1)}%`;
    const signed = (n: number, d = 0) => `${n >= 0 ? '+' : ''}${d ? fixed(n, d) : fmtInt(n)}`;
    const byOp = LOOKUP_OPS.map((op) => {
      const codes = Object.entries(counts).filter(([k]) => k.startsWith(`${op}:`));
      return [
        op,
        fmtInt(codes.reduce((n, [, v]) => n + v, 0)),
        codes
          .sort((x, y) => y[1] - x[1])
          .map(([k, v]) => `${k.slice(op.length + 1)} ${fmtInt(v)}`)
          .join(', ') || '-',
        perOp[op] ? us(perOp[op].p50) : '-',
        perOp[op] ? us(perOp[op].p99) : '-',
      ];
    });
    const memRows = [
      ['before the lookups', before],
      ['after the lookups', after],
      [`after ${o.idleS} s idle`, idle],
    ] as const;
    console.log(
      '\n' +
        table(
          ['server', 'RSS MiB', 'RssAnon MiB', 'actors (/metrics)', 'actors (/snapshot)'],
          [
            ...memRows.map(([label, s]) => [
              label,
              fixed(s.rssMiB, 1),
              fixed(s.rssAnonMiB, 1),
              fmtInt(s.actors),
              s.liveActors === undefined ? '-' : fmtInt(s.liveActors),
            ]),
            [
              'growth: after the lookups',
              signed(rssGrowth.afterLookups, 1),
              signed(after.rssAnonMiB - before.rssAnonMiB, 1),
              `${signed(actorGrowth.afterLookups)} (${pct(actorGrowth.afterLookups)})`,
              signed(liveGrowth.afterLookups),
            ],
            [
              `growth: after ${o.idleS} s idle`,
              signed(rssGrowth.afterIdle, 1),
              signed(idle.rssAnonMiB - before.rssAnonMiB, 1),
              `${signed(actorGrowth.afterIdle)} (${pct(actorGrowth.afterIdle)})`,
              signed(liveGrowth.afterIdle),
            ],
          ],
        ),
    );
    console.log(table(['op', 'lookups', 'answers by code', 'p50', 'p99'], byOp, ['left', 'right', 'left', 'right', 'right']));
    const goal =
      `goal: actors flat (growth < 1% of ${fmtInt(o.lookups)} lookups, < ${fmtInt(actorLimit)}) and RSS within +${GOAL_RSS_MIB} MiB: ` +
      `${actorsFlat && rssOk ? 'MET' : 'MISSED'} (actors ${signed(worstActors)} = ${pct(worstActors)} of the lookups: ${actorsFlat ? 'flat' : 'NOT flat'}; ` +
      `RSS ${signed(rssGrowth.afterIdle, 1)} MiB after ${o.idleS} s idle, ${signed(rssGrowth.afterLookups, 1)} MiB right after: ${rssOk ? 'ok' : `OVER +${GOAL_RSS_MIB} MiB`}); ` +
      `${fmtInt(step.opsPerSec)} lookups/s`;
    console.log(`\n${goal}`);

    const unexpectedN = Object.values(unexpected).reduce((n, v) => n + v, 0);
    const notes = [
      goal,
      `actors growth is the larger of the two /metrics figures (right after the lookups, after the idle); RSS is judged after the idle (what stays), the figure right after is beside it. The /metrics gauge is each shard's count as of its last batch; /snapshot asks every shard now.`,
      ...(unexpectedN > 0
        ? [
            `${fmtInt(unexpectedN)} answers were not NOT_FOUND: ${Object.entries(unexpected)
              .map(([k, v]) => `${k} ${fmtInt(v)}`)
              .join(', ')}`,
          ]
        : []),
      ...(lost > 0 ? [`${fmtInt(lost)} lookups were never answered (no answer for ${STALL_MS / 1000} s, or the connection closed)`] : []),
      ...(Math.abs(actorGrowth.afterIdle - liveGrowth.afterIdle) > Math.max(100, 0.001 * o.lookups)
        ? [
            `the /metrics and /snapshot actor counts differ after the idle (${fmtInt(idle.actors)} vs ${fmtInt(idle.liveActors!)}): a shard's gauge is only refreshed by its batches`,
          ]
        : []),
      ...(o.client === 'raw' ? [] : [`--client ${o.client} does not apply: unknown-keys uses the raw ws+msgpackr client`]),
    ];
    const facts: [string, string][] = [
      ['lookups: sent / answered / lost', `${fmtInt(sent)} / ${fmtInt(answered)} / ${fmtInt(lost)} over ${o.connections} guests x ${o.inflight} in flight`],
      ['lookups/s (first send -> last answer)', `${fmtInt(step.opsPerSec)} (${fixed(lookupsS, 1)} s)`],
      [
        'answers by op and code',
        Object.entries(counts)
          .sort()
          .map(([k, v]) => `${k} ${fmtInt(v)}`)
          .join(', '),
      ],
      [
        'RSS before / after / after idle',
        `${fixed(before.rssMiB, 1)} / ${fixed(after.rssMiB, 1)} / ${fixed(idle.rssMiB, 1)} MiB (peak ${fixed(peakMiB, 1)} MiB)`,
      ],
      [
        'RSS growth after the lookups / after idle',
        `${signed(rssGrowth.afterLookups, 1)} / ${signed(rssGrowth.afterIdle, 1)} MiB (goal: <= +${GOAL_RSS_MIB} MiB)`,
      ],
      ['actors (/metrics) before / after / after idle', `${fmtInt(before.actors)} / ${fmtInt(after.actors)} / ${fmtInt(idle.actors)}`],
      [
        'actor growth after the lookups / after idle',
        `${signed(actorGrowth.afterLookups)} / ${signed(actorGrowth.afterIdle)} (${pct(worstActors)} of the lookups; goal: < 1%)`,
      ],
      ['actors (/snapshot, live) before / after / after idle', `${fmtInt(before.liveActors!)} / ${fmtInt(after.liveActors!)} / ${fmtInt(idle.liveActors!)}`],
      [
        'RSS growth per actor created',
        worstActors > 0 ? `${fmtInt(((after.rssAnonMiB - before.rssAnonMiB) * 2 ** 20) / worstActors)} B (anon, after the lookups)` : '-',
      ],
      ['goal', actorsFlat && rssOk ? 'met' : 'MISSED'],
    ];
    return {
      ...baseResult('unknown-keys', o),
      server: { env, nodeArgs, pid },
      steps: [step],
      facts,
      notes,
      extra: {
        mix,
        lookups: { sent, answered, lost, perSec: step.opsPerSec, seconds: lookupsS, counts },
        before,
        after,
        afterIdle: idle,
        idleS: o.idleS,
        peakMiB,
        rssGrowthMiB: rssGrowth,
        actorGrowth,
        liveActorGrowth: liveGrowth,
        actorGrowthShareOfLookups: worstActors / o.lookups,
        goal: { actorShareBelow: GOAL_ACTOR_SHARE, rssGrowthMiBAtMost: GOAL_RSS_MIB, actorsFlat, rssOk, met: actorsFlat && rssOk },
        memoryTimeline: [before, ...timeline, after, ...idleSamples],
      },
    };
  } catch (err) {
    console.error(`unknown-keys: failed: ${err instanceof Error ? err.message : String(err)}\n--- server output ---\n${server.output().slice(-4000)}`);
    throw err;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    // SIGTERM would checkpoint every actor first; only a profile needs the clean exit.
    if (o.serverProf) {
      const code = await server.term();
      if (code !== 0) console.error(`unknown-keys: server exited with ${code}\n${server.output().slice(-2000)}`);
      console.log(`unknown-keys: server profiles in ${o.serverProf} (npm run bench -- prof ${o.serverProf}/*.cpuprofile)`);
    } else await server.kill9();
    if (!o.keepData) removeDir(dataDir);
    forgetDir();
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export const scenario = defineScenario<UnknownKeysOptions>({
  name: 'unknown-keys',
  summary: 'hostile lookups of keys that do not exist (order.get, cart.applyCoupon, recs.similar, catalog.get): RSS and actors before, after, after idle',
  configure: (c) =>
    c
      .option('--lookups <n>', 'lookups in all (random unknown ids)', int(1), 1_000_000)
      .option('--connections <n>', 'guest connections (auth.guest each)', int(1), 50)
      .option('--inflight <n>', 'lookups in flight per connection (closed loop)', int(1), 16)
      .option('--mix <weights>', `op weights, e.g. ${mixText(DEFAULT_LOOKUP_MIX)}`)
      .option('--idle-s <s>', 'seconds of idle before the last sample', int(0), 5),
  run: (o) => run(o),
});
