// `bench memory`: fill N carts of L lines (distinct users, minted JWTs, one auth.resume per user
// on pipelined connections), print the server's RSS with all of them in memory, then wait for
// the passivation sweep to drop them and print the RSS after, with a short timeline.
import { TokenMinter } from '../lib/jwt.js';
import { anonMappings, memStatus, mib, type MemStatus } from '../lib/procfs.js';
import {
  envPairs,
  getText,
  spawnServer,
  tmpDataDir,
  removeDir,
  newJwtSecret,
  snapshotSummary,
  snapshotWithMemory,
  sleep,
  type ShardSummary,
} from '../lib/server.js';
import { fmtInt, fixed } from '../lib/format.js';
import { baseResult } from '../lib/run.js';
import { defineScenario, int, num, type CommonOptions, type RunResult } from '../lib/scenario.js';
import { fillServer } from './restart.js';

export interface MemoryOptions {
  carts: number;
  lines: number;
  connections: number;
  passivateAfterMs: number;
  sweepIntervalMs: number;
  maxOldSpaceSize: number;
  nodeArg?: string[];
  settleS: number;
}

/** Goals, MiB: every cart active (1,000,000 carts of 3 lines), and after passivation. */
const ACTIVE_GOAL_MIB = 1024;
const PASSIVATED_GOAL_MIB = 300;
interface Sample {
  t: number;
  actors: number;
  rssMiB: number;
  rssAnonMiB: number;
  /** V8 heaps, MiB: the shard threads' (summed) and the main thread's, used / held. */
  shardHeapUsedMiB: number;
  shardHeapTotalMiB: number;
  mainHeapUsedMiB: number;
  mainHeapTotalMiB: number;
  /** malloc, every thread: live allocations and free space in the arenas, MiB (null: not glibc). */
  cHeapInUseMiB: number | null;
  cHeapFreeMiB: number | null;
}

export async function runMemory(o: MemoryOptions & CommonOptions): Promise<RunResult> {
  const dataDir = tmpDataDir();
  const jwtSecret = newJwtSecret();
  const admin = new TokenMinter(jwtSecret).mint('bench-admin', 'admin');
  const env = {
    SHARDS: String(o.shards),
    SYNCHRONOUS: o.synchronous,
    PASSIVATE_AFTER_MS: String(o.passivateAfterMs),
    SWEEP_INTERVAL_MS: String(o.sweepIntervalMs),
    ...envPairs(o.serverEnv),
  };
  const nodeArgs = [`--max-old-space-size=${o.maxOldSpaceSize}`, ...(o.nodeArg ?? [])];
  console.log(
    `memory: ${fmtInt(o.carts)} carts x ${o.lines} lines; server ${nodeArgs.join(' ')} ${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  const server = spawnServer({ dataDir, jwtSecret, env, nodeArgs, echo: o.echo });
  const actorsOf = (s: ShardSummary[]) => s.reduce((a, x) => a + x.actors, 0);
  try {
    const { url } = await server.listening;
    const sample = async (t0: number): Promise<Sample> => {
      const m = memStatus(server.pid);
      const snap = await snapshotWithMemory(url, admin);
      const sum = (f: (s: ShardSummary) => number) => snap.shards.reduce((a, s) => a + f(s), 0) / 2 ** 20;
      return {
        t: Math.round((Date.now() - t0) / 1000),
        actors: actorsOf(snap.shards),
        rssMiB: mib(m.vmRssKiB),
        rssAnonMiB: mib(m.rssAnonKiB),
        shardHeapUsedMiB: sum((s) => s.heapUsedBytes),
        shardHeapTotalMiB: sum((s) => s.heapTotalBytes),
        mainHeapUsedMiB: snap.process.heapUsedBytes / 2 ** 20,
        mainHeapTotalMiB: snap.process.heapTotalBytes / 2 ** 20,
        cHeapInUseMiB: snap.process.cHeap ? snap.process.cHeap.inUseBytes / 2 ** 20 : null,
        cHeapFreeMiB: snap.process.cHeap ? snap.process.cHeap.freeBytes / 2 ** 20 : null,
      };
    };
    const cHeap = (s: Sample) =>
      s.cHeapInUseMiB === null ? 'not reported' : `${fixed(s.cHeapInUseMiB, 0)} MiB in use, ${fixed(s.cHeapFreeMiB ?? 0, 0)} MiB free in the arenas`;
    const heaps = (s: Sample) =>
      `heaps: shards ${fixed(s.shardHeapUsedMiB, 0)}/${fixed(s.shardHeapTotalMiB, 0)} MiB, main ${fixed(s.mainHeapUsedMiB, 0)}/${fixed(s.mainHeapTotalMiB, 0)} MiB used/held`;
    const idle: MemStatus = memStatus(server.pid);
    // Catalog and sku actors of the demo catalog: what is left once every cart is passivated.
    const baseActors = actorsOf(await snapshotSummary(url, admin));
    const atStart = await sample(Date.now());
    console.log(`  server pid ${server.pid}; RSS at start ${fixed(mib(idle.vmRssKiB), 1)} MiB`);
    const fillStart = Date.now();
    const fill = await fillServer(server, url, { ...o, jwtSecret, run: Date.now().toString(36) });
    console.log(`  filled ${fmtInt(fill.carts)} carts in ${fill.seconds.toFixed(1)} s (${fmtInt(fill.carts / fill.seconds)} carts/s)`);
    if (fill.failedCarts) console.log(`  failed carts: ${fill.failedCarts} ${JSON.stringify(fill.errors)}`);

    // All carts in memory: a few samples, since a major GC may still be on its way.
    const activeSamples: Sample[] = [];
    const fillEnd = Date.now();
    for (let i = 0; i < 3; i++) {
      activeSamples.push(await sample(fillEnd));
      await sleep(2000);
    }
    const active = activeSamples.reduce((a, b) => (b.rssMiB > a.rssMiB ? b : a));
    const peak = mib(memStatus(server.pid).vmHwmKiB);
    console.log(
      `  all active: ${fmtInt(active.actors)} actors, RSS ${fixed(active.rssMiB, 1)} MiB (anon ${fixed(active.rssAnonMiB, 1)} MiB), peak ${fixed(peak, 1)} MiB; ${heaps(active)}`,
    );
    if (active.actors < fill.carts) {
      console.log(
        `  warning: only ${fmtInt(active.actors)} of ${fmtInt(fill.carts)} carts were in memory: the fill outlasted PASSIVATE_AFTER_MS=${o.passivateAfterMs}`,
      );
    }

    // Passivation: every cart is idle from its fill on; the sweep drops them in chunks.
    const dueBy = fillStart + o.passivateAfterMs;
    console.log(
      `  waiting for passivation (PASSIVATE_AFTER_MS=${o.passivateAfterMs}, the last carts are due in ~${Math.max(0, Math.round((fillEnd + o.passivateAfterMs - Date.now()) / 1000))} s)`,
    );
    const timeline: Sample[] = [];
    let lastPrint = 0;
    const deadline = fillEnd + o.passivateAfterMs + 10 * o.sweepIntervalMs + 120_000;
    let passivatedAt: Sample | undefined;
    for (;;) {
      const s = await sample(fillEnd);
      timeline.push(s);
      if (Date.now() - lastPrint > 10_000) {
        lastPrint = Date.now();
        console.log(
          `    t=${s.t}s after fill: ${fmtInt(s.actors)} actors, RSS ${fixed(s.rssMiB, 1)} MiB (anon ${fixed(s.rssAnonMiB, 1)}); ${heaps(s)}; C heap ${cHeap(s)}`,
        );
      }
      if (s.actors <= baseActors) {
        passivatedAt = s;
        break;
      }
      if (Date.now() > deadline) throw new Error(`actors still in memory ${Math.round((Date.now() - dueBy) / 1000)} s after they were due: ${s.actors}`);
      await sleep(2000);
    }
    console.log(
      `  passivated at t=${passivatedAt.t}s: ${passivatedAt.actors} actors left, RSS ${fixed(passivatedAt.rssMiB, 1)} MiB; watching ${o.settleS} s more`,
    );
    const settleEnd = Date.now() + o.settleS * 1000;
    while (Date.now() < settleEnd) {
      await sleep(2000);
      timeline.push(await sample(fillEnd));
    }
    const after = timeline[timeline.length - 1];
    // Where the anonymous memory that stayed lives (brk heap, malloc arenas, V8 pages).
    const maps = anonMappings(server.pid);
    const mapsTop = maps.slice(0, 12).map((m) => ({ ...m, anonMiB: mib(m.anonKiB), sizeMiB: mib(m.sizeKiB) }));
    const lowest = timeline.filter((s) => s.t >= passivatedAt.t).reduce((a, b) => (b.rssMiB < a.rssMiB ? b : a));
    // Every cart still in memory once the fill's garbage is collected: the lowest RSS before the
    // sweep drops the first cart (the samples right after the fill still hold that garbage).
    const settled = [...activeSamples, ...timeline].filter((s) => s.actors >= active.actors).reduce((a, b) => (b.rssMiB < a.rssMiB ? b : a));
    const rows: (string | number)[][] = [
      ['server at start (no carts)', '-', fixed(mib(idle.vmRssKiB), 1), fixed(mib(idle.rssAnonKiB), 1), ''],
      [
        `all active (${fmtInt(active.actors)} actors)`,
        active.t,
        fixed(active.rssMiB, 1),
        fixed(active.rssAnonMiB, 1),
        active.rssMiB <= ACTIVE_GOAL_MIB ? 'goal <= 1 GiB met' : 'goal <= 1 GiB MISSED',
      ],
      [`all active, settled (lowest before the first passivation)`, settled.t, fixed(settled.rssMiB, 1), fixed(settled.rssAnonMiB, 1), ''],
      ['peak during the run (VmHWM)', '-', fixed(peak, 1), '-', ''],
      [`passivated (${fmtInt(passivatedAt.actors)} actors)`, passivatedAt.t, fixed(passivatedAt.rssMiB, 1), fixed(passivatedAt.rssAnonMiB, 1), ''],
      [
        `after ${o.settleS} s more`,
        after.t,
        fixed(after.rssMiB, 1),
        fixed(after.rssAnonMiB, 1),
        after.rssMiB <= PASSIVATED_GOAL_MIB ? 'goal <= 300 MiB met' : 'goal <= 300 MiB MISSED',
      ],
      ['lowest after passivation', lowest.t, fixed(lowest.rssMiB, 1), fixed(lowest.rssAnonMiB, 1), ''],
    ];
    const facts: [string, string][] = rows.map(([label, t, rss, anon, target]) => [
      String(label),
      `RSS ${rss} MiB${anon !== '-' ? `, anon ${anon} MiB` : ''}${t !== '-' ? `, t=${t} s after fill` : ''}${target ? ` - ${target}` : ''}`,
    ]);
    console.log(
      `largest anonymous mappings after passivation (${maps.length} in all): ${mapsTop
        .slice(0, 8)
        .map((m) => `${m.path || 'anon'} ${fixed(m.anonMiB, 1)}/${fixed(m.sizeMiB, 1)} MiB`)
        .join(', ')}`,
    );
    // The recommendation service's buffers (outside the V8 heap): part of the RSS that stays.
    const recsParts = [...(await getText(`${url}/metrics`)).matchAll(/^cartwire_recs_memory_bytes\{part="(\w+)"\} (\S+)$/gm)]
      .map((m) => `${m[1]} ${fixed(Number(m[2]) / 2 ** 20, 1)}`)
      .join(', ');
    console.log(`recommendation buffers after passivation, MiB: ${recsParts}`);
    facts.push(['recommendation buffers after passivation, MiB', recsParts]);
    // What an operator's GET /snapshot costs with every cart stored as a snapshot (the shards
    // answer it between batches, so its time is a stall of theirs too).
    const snapshotMs: number[] = [];
    let stored = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      stored = (await snapshotSummary(url, admin)).reduce((n, s) => n + s.snapshots, 0);
      snapshotMs.push(performance.now() - t0);
    }
    snapshotMs.sort((a, b) => a - b);
    const snapshotFact = `median ${fixed(snapshotMs[2], 1)} ms, max ${fixed(snapshotMs[4], 1)} ms of 5, ${fmtInt(stored)} snapshots stored`;
    console.log(`GET /snapshot after passivation: ${snapshotFact}`);
    facts.push(['GET /snapshot after passivation', snapshotFact]);
    const perCartBytes = ((active.rssAnonMiB - mib(idle.rssAnonKiB)) * 2 ** 20) / Math.max(1, fill.carts);
    console.log(`anon RSS per active cart: ${fmtInt(perCartBytes)} B; settled ${heaps(settled)}; after passivation ${heaps(after)}`);
    facts.push(['anon RSS per active cart', `${fmtInt(perCartBytes)} B`]);
    facts.push(['V8 heaps, all active, settled', heaps(settled)]);
    facts.push([`V8 heaps, ${o.settleS} s after passivation`, heaps(after)]);
    console.log(`C heap (malloc, all threads): at start ${cHeap(atStart)}; settled ${cHeap(settled)}; after passivation ${cHeap(after)}`);
    facts.push(['V8 heaps, at start', heaps(atStart)]);
    facts.push(['C heap (malloc, all threads), at start', cHeap(atStart)]);
    facts.push(['C heap (malloc, all threads), all active, settled', cHeap(settled)]);
    facts.push([`C heap (malloc, all threads), ${o.settleS} s after passivation`, cHeap(after)]);
    facts.push(['fill: carts/s, server CPU per cart (resume + adds)', `${fmtInt(fill.carts / fill.seconds)}/s, ${fixed(fill.serverCpuUsPerCart, 1)} µs`]);
    return {
      ...baseResult('memory', o),
      server: { env, nodeArgs, pid: server.pid },
      facts,
      ratios: [
        { name: 'RSS all active vs goal 1 GiB', value: active.rssMiB / ACTIVE_GOAL_MIB, goal: '<= 1', met: active.rssMiB <= ACTIVE_GOAL_MIB },
        { name: 'RSS all active, settled vs goal 1 GiB', value: settled.rssMiB / ACTIVE_GOAL_MIB, goal: '<= 1', met: settled.rssMiB <= ACTIVE_GOAL_MIB },
        {
          name: `RSS ${o.settleS} s after passivation vs goal 300 MiB`,
          value: after.rssMiB / PASSIVATED_GOAL_MIB,
          goal: '<= 1',
          met: after.rssMiB <= PASSIVATED_GOAL_MIB,
        },
      ],
      extra: {
        fill,
        idle: { rssMiB: mib(idle.vmRssKiB), rssAnonMiB: mib(idle.rssAnonKiB) },
        atStart,
        snapshotMs,
        active,
        activeSamples,
        settled,
        peakMiB: peak,
        perActiveCartBytes: Math.round(perCartBytes),
        passivated: passivatedAt,
        after,
        lowest,
        anonMappingsAfter: { count: maps.length, top: mapsTop },
        timeline,
      },
    };
  } catch (err) {
    console.error(`memory: failed: ${err instanceof Error ? err.message : String(err)}\n--- server output ---\n${server.output().slice(-4000)}`);
    throw err;
  } finally {
    await server.kill9(); // a SIGTERM would snapshot every actor first; nothing here needs it
    if (!o.keepData) removeDir(dataDir);
  }
}

export const scenario = defineScenario<MemoryOptions>({
  name: 'memory',
  summary: 'RSS with many active carts, then after passivation',
  configure: (c) =>
    c
      .option('--carts <n>', 'carts (distinct users)', int(1), 1_000_000)
      .option('--lines <n>', 'lines per cart', int(1), 3)
      .option('--connections <n>', 'fill connections', int(1), 128)
      .option('--passivate-after-ms <ms>', 'PASSIVATE_AFTER_MS of the server (must outlast the fill for the "all active" figure)', int(1), 600_000)
      .option('--sweep-interval-ms <ms>', 'SWEEP_INTERVAL_MS of the server', int(10), 1000)
      .option('--max-old-space-size <mib>', 'V8 heap limit of the server (per isolate)', int(64), 4096)
      .option('--node-arg <flag...>', 'extra node flags for the server (e.g. --expose-gc)')
      .option('--settle-s <s>', 'seconds to watch RSS after the last actor is passivated', num, 30),
  run: (o) => runMemory(o),
});
