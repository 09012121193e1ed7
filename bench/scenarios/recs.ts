// `bench recs`: recs.forUser under closed load while the models rebuild. Seeds interactions
// first (event.view by many guests over the demo catalog), starts the server with a small
// RECS_REBUILD_EVENTS so that the viewers' events trigger rebuilds inside the measured window,
// and measures recs.forUser latency and throughput, ping latency from one prober connection (the
// main thread's responsiveness) and the builds of the window (count, durations from /metrics).
import { productIds } from '../lib/catalog.js';
import { fixed, fmtInt, us } from '../lib/format.js';
import { withCartwire } from '../lib/harness.js';
import { summarize } from '../lib/histogram.js';
import { baseResult, stepLine } from '../lib/run.js';
import { defineScenario, int, nonNeg, num } from '../lib/scenario.js';
import { clientNotes, mergeSessions, sampleAt, sampleServer, sessionStep, type ServerSample } from '../lib/session-step.js';
import { sleep } from '../lib/server.js';

interface RecsOptions {
  readers: number;
  viewers: number;
  seedViews: number;
  viewsPerGuest: number;
  limit: number;
  rebuildEvents: number;
  rebuildIntervalMs: number;
  poolThreads: number;
  pingEveryMs: number;
  duration: number;
  warmup: number;
}

export const scenario = defineScenario<RecsOptions>({
  name: 'recs',
  summary: 'recs.forUser under closed load while event.views keep the models rebuilding: recs p50/p99, ops/s, ping p99, builds and their durations',
  configure: (c) =>
    c
      .option('--readers <n>', 'connections calling recs.forUser, closed loop, 1 in flight', int(1), 64)
      .option('--viewers <n>', 'connections sending event.view (16 per frame, closed loop) during the run', int(0), 2)
      .option('--seed-views <n>', 'event.views before the run, over all connections', int(0), 200_000)
      .option('--views-per-guest <n>', 'seed views per guest (each connection signs in as a new guest after that many)', int(1), 20)
      .option('--limit <n>', 'recs.forUser limit', int(1), 10)
      .option('--rebuild-events <n>', 'RECS_REBUILD_EVENTS of the server', int(1), 20_000)
      .option('--rebuild-interval-ms <ms>', 'RECS_REBUILD_INTERVAL_MS of the server', int(0), 60_000)
      .option('--pool-threads <n>', 'RECS_POOL_THREADS of the server', int(1), 1)
      .option('--ping-every-ms <ms>', 'the prober pings once per period (1 in flight)', int(1), 10)
      .option('--duration <s>', 'measured window, seconds', num, 10)
      .option('--warmup <s>', 'warm-up, seconds', nonNeg, 2),
  run: (o, ctx) =>
    withCartwire(
      'recs',
      o,
      async (cw) => {
        void ctx;
        const connections = o.readers + o.viewers + 1;
        const ids = productIds();
        const windowStartMs = o.warmup * 1000;
        const windowEndMs = windowStartMs + o.duration * 1000;
        const seedPerConn = Math.ceil(o.seedViews / connections);
        console.log(`  seeding ${fmtInt(seedPerConn * connections)} event.views over ${ids.length} products (${fmtInt(o.viewsPerGuest)} per guest) ...`);
        const tSeed = performance.now();
        let samples: Promise<[ServerSample, ServerSample]> | undefined;
        // Poll the builds counter during the window: each new build's duration is the gauge's value then.
        const builds: { at: number; durationMs: number }[] = [];
        let polling = true;
        let seedS = 0;
        let before: ServerSample | undefined;
        const poll = async (t0: number) => {
          await sleep(t0 - Date.now());
          let last = (await sampleServer(cw)).metrics.cartwire_recs_builds_total;
          while (polling) {
            await sleep(100);
            const m = (await sampleServer(cw)).metrics;
            if (m.cartwire_recs_builds_total > last) {
              for (let k = last; k < m.cartwire_recs_builds_total; k++)
                builds.push({ at: Date.now() - t0, durationMs: m.cartwire_recs_job_duration_seconds * 1000 });
              last = m.cartwire_recs_builds_total;
            }
          }
        };
        let polled: Promise<void> | undefined;
        const { results } = await cw.load.session(
          {
            kind: 'recs',
            url: cw.url,
            windowStartMs,
            windowEndMs,
            productIds: ids,
            viewers: 0,
            pingEveryMs: o.pingEveryMs,
            recsLimit: o.limit,
            seedViews: seedPerConn,
            viewsPerGuest: o.viewsPerGuest,
          },
          connections,
          // The viewers and the prober on the first worker; readers everywhere.
          (i) => ({ viewers: i === 0 ? o.viewers : 0 }),
          (t0) => {
            seedS = (performance.now() - tSeed) / 1000;
            console.log(
              `  seeded in ${seedS.toFixed(1)} s; ${o.readers} readers, ${o.viewers} viewers, 1 prober: ${o.warmup} s warm-up, ${o.duration} s measured ...`,
            );
            samples = sampleAt(cw, t0 + windowStartMs, t0 + windowEndMs);
            polled = poll(t0);
            void sampleServer(cw).then((s) => (before = s));
          },
        );
        polling = false;
        await polled;
        const [a, b] = await samples!;
        void before;
        const merged = mergeSessions(results);
        const buildsInWindow = b.metrics.cartwire_recs_builds_total - a.metrics.cartwire_recs_builds_total;
        const windowBuilds = builds.filter((x) => x.at >= windowStartMs && x.at <= windowEndMs);
        const ping = merged.hist.ping ? summarize(merged.hist.ping) : undefined;
        const views = merged.inWindow['event.view'] ?? 0;
        const step = sessionStep({
          name: `recs.forUser ${o.readers} readers, ${o.viewers} viewers`,
          workload: `recs.forUser { limit: ${o.limit} } while event.views rebuild the models (RECS_REBUILD_EVENTS=${o.rebuildEvents})`,
          op: 'recs.forUser',
          model: { kind: 'closed', connections: o.readers, inflight: 1 },
          phases: { warmupS: o.warmup, rampS: 0, steadyS: o.duration },
          merged,
          a,
          b,
          extra: { pingUs: ping, buildsInWindow, builds, viewsPerSec: views / o.duration, seedS, counts: merged.counts },
        });
        console.log(`  ${stepLine(step)}`);
        const durations = windowBuilds.map((x) => x.durationMs);
        const facts: [string, string][] = [
          [
            'seed: event.views / guests / seconds',
            `${fmtInt(seedPerConn * connections)} / ~${fmtInt((seedPerConn * connections) / o.viewsPerGuest)} / ${fixed(seedS, 1)} s (incl. opening connections)`,
          ],
          [
            'server: RECS_REBUILD_EVENTS / RECS_REBUILD_INTERVAL_MS / RECS_POOL_THREADS',
            `${fmtInt(o.rebuildEvents)} / ${fmtInt(o.rebuildIntervalMs)} / ${o.poolThreads}`,
          ],
          ['recs.forUser ops/s (closed, readers x 1)', fmtInt(step.opsPerSec)],
          ['recs.forUser p50 / p99 / max', `${us(step.latencyUs.p50)} / ${us(step.latencyUs.p99)} / ${us(step.latencyUs.max)}`],
          ['ping (main-thread responsiveness) p50 / p99 / max', ping ? `${us(ping.p50)} / ${us(ping.p99)} / ${us(ping.max)}` : '-'],
          [
            'items per recs.forUser answer (mean) / empty answers (whole run)',
            `${fixed((merged.counts['recs.items:OK'] ?? 0) / Math.max(1, merged.counts['recs.forUser:OK'] ?? 0), 2)} / ${fmtInt(merged.counts['recs.empty:OK'] ?? 0)} of ${fmtInt(merged.counts['recs.forUser:OK'] ?? 0)}`,
          ],
          ['event.views/s during the window', fmtInt(views / o.duration)],
          ['model builds in the window (cartwire_recs_builds_total)', fmtInt(buildsInWindow)],
          ['their durations (cartwire_recs_job_duration_seconds, polled)', durations.length ? durations.map((d) => `${fmtInt(d)} ms`).join(', ') : '-'],
          [
            'errors by op and code',
            Object.entries(merged.counts)
              .filter(([k]) => !k.endsWith(':OK'))
              .map(([k, v]) => `${k} ${fmtInt(v)}`)
              .join(', ') || 'none',
          ],
          [
            'server CPU per recs.forUser',
            `${fixed(step.serverCpuUsPerReq, 0)} µs (${fixed(step.serverCpuPct, 0)}% of a core, the build pool and the views included)`,
          ],
        ];
        const notes = [
          ...clientNotes(o.client),
          ...(buildsInWindow === 0 ? ['no model build completed in the window: lower --rebuild-events or add --viewers'] : []),
        ];
        return { ...baseResult('recs', o, cw), steps: [step], facts, notes };
      },
      { RECS_REBUILD_EVENTS: String(o.rebuildEvents), RECS_REBUILD_INTERVAL_MS: String(o.rebuildIntervalMs), RECS_POOL_THREADS: String(o.poolThreads) },
    ),
});
