// `bench push-fanout`: S subscribers follow one sku (`inventory.subscribe`, each its own guest
// connection) while an admin changes that sku's stock at a constant rate (inventory.adjust,
// open model). Push latency runs from the moment the admin sent the change (and, beside it,
// from the admin's reply) to each subscriber's receipt; every change should reach every
// subscriber exactly once, in version order.
import { phaseAt, totalMs, type Timing } from '../lib/arrivals.js';
import { stockedSkus } from '../lib/catalog.js';
import { fixed, fmtInt, us } from '../lib/format.js';
import { withCartwire } from '../lib/harness.js';
import { mergeHistograms, summarize, percentileCurve, encodeHistogram } from '../lib/histogram.js';
import { sumCounts, type MergedTick } from '../lib/load.js';
import { loadavg } from 'node:os';
import { cpuMicros, cpuMicrosOf, machineBusyMicros, mainThreadCpuMicros } from '../lib/procfs.js';
import { otherCpuPct } from '../lib/step.js';
import { baseResult, stepLine } from '../lib/run.js';
import { defineScenario, int, nonNeg, num, type StepReport, type TimelinePoint } from '../lib/scenario.js';
import { ADMIN_PASSWORD, sleep } from '../lib/server.js';

interface FanoutOptions {
  subscribers: number;
  changeRate: number;
  sku?: string;
  duration: number;
  warmup: number;
  settleMs: number;
}

export const scenario = defineScenario<FanoutOptions>({
  name: 'push-fanout',
  summary: 'S subscribers of one sku while an admin changes it at a rate: push latency, deliveries/s, missed pushes',
  configure: (c) =>
    c
      .option('--subscribers <n>', 'subscriber connections (each its own guest)', int(1), 1000)
      .option('--change-rate <n/s>', 'inventory.adjust changes per second', num, 20)
      .option('--sku <sku>', 'the sku followed (default: the first stocked sku of the demo catalog)')
      .option('--duration <s>', 'steady phase (the measured window), seconds', num, 10)
      .option('--warmup <s>', 'warm-up at the same change rate, seconds', nonNeg, 2)
      .option('--settle-ms <ms>', 'wait for late pushes after the last change', int(0), 1000),
  run: (o, ctx) =>
    withCartwire('push-fanout', o, async (cw) => {
      const sku = o.sku ?? stockedSkus()[0];
      const timing: Timing = { warmupMs: o.warmup * 1000, rampMs: 0, steadyMs: o.duration * 1000 };
      const name = `push-fanout ${o.subscribers} subs @ ${o.changeRate}/s`;
      console.log(`  ${name}: opening ${o.subscribers} subscribers of ${sku} ...`);
      await cw.load.prepareFanout(
        { url: cw.url, client: o.client, sku, timing },
        { email: 'admin@example.com', password: ADMIN_PASSWORD, changeRate: o.changeRate, baseQty: 500 },
        o.subscribers,
      );
      const t0 = Date.now() + 200;
      const windowStart = t0 + timing.warmupMs;
      const windowEnd = t0 + totalMs(timing);
      const ticks: MergedTick[] = [];
      ctx.progress.start(name, totalMs(timing) / 1000);
      const running = cw.load.runFanout(t0, o.settleMs, (t) => {
        ticks.push(t);
        ctx.progress.update(t.sec + 1, { phase: phaseAt(timing, t.sec * 1000 + 500), ops: fmtInt(t.count), p99: us(summarize(t.histogram).p99) });
      });
      const cpuAt: number[] = [];
      const sample = () => ({
        at: performance.now(),
        server: cpuMicros(cw.server.pid),
        main: mainThreadCpuMicros(cw.server.pid),
        clients: cpuMicrosOf(cw.load.pids),
        machine: machineBusyMicros(),
      });
      let winA: ReturnType<typeof sample> | undefined;
      for (let k = 0; k <= Math.ceil(totalMs(timing) / 1000); k++) {
        await sleep(t0 + k * 1000 - Date.now());
        cpuAt[k] = cpuMicros(cw.server.pid);
        if (t0 + k * 1000 >= windowStart && !winA) winA = sample();
      }
      await sleep(windowEnd - Date.now());
      const b = sample();
      let results;
      try {
        results = await running;
      } finally {
        ctx.progress.stop();
      }
      const a = winA ?? b;
      const windowS = o.duration;
      const delivered = results.reduce((s, r) => s + r.deliveredInWindow, 0);
      const fromSend = mergeHistograms(results.map((r) => r.fromSend));
      const fromReply = mergeHistograms(results.map((r) => r.fromReply));
      const adjust = results.find((r) => r.adjust)?.adjust;
      const adjustHist = adjust ? summarize(mergeHistograms([adjust.histogram])) : undefined;
      const missed = results.reduce((s, r) => s + r.missed, 0);
      const outOfOrder = results.reduce((s, r) => s + r.outOfOrder, 0);
      const closedSubs = results.reduce((s, r) => s + r.closedSubscribers, 0);
      const beforeReply = results.reduce((s, r) => s + r.beforeReply, 0);
      const counted = results.reduce((s, r) => s + r.delivered, 0);
      const changesInWindow = adjust?.changesInWindow ?? 0;
      const timeline: TimelinePoint[] = ticks
        .sort((x, y) => x.sec - y.sec)
        .map((t) => {
          const s = summarize(t.histogram);
          const cpu = cpuAt[t.sec + 1] !== undefined ? (cpuAt[t.sec + 1] - cpuAt[t.sec]) / 1e4 : NaN;
          return {
            t: t.sec,
            phase: phaseAt(timing, t.sec * 1000 + 500),
            ops: t.count,
            errors: t.errors,
            p50: s.p50,
            p99: s.p99,
            max: s.max,
            cpuPct: Math.round(cpu * 10) / 10,
          };
        });
      const step: StepReport = {
        name,
        role: 'measured',
        target: 'cartwire',
        workload: `inventory.subscribe ${sku} + inventory.adjust`,
        client: o.client,
        model: { kind: 'open', connections: o.subscribers, rate: o.changeRate },
        phases: { warmupS: o.warmup, rampS: 0, steadyS: o.duration },
        windowS,
        opsPerSec: delivered / windowS,
        opsLabel: 'deliveries/s',
        completed: counted,
        errors: adjust?.errors ?? {},
        lost: 0,
        notSent: 0,
        latencyOf: 'push: admin sends the change -> subscriber receives it',
        latencyUs: summarize(fromSend),
        histogram: encodeHistogram(fromSend),
        percentiles: percentileCurve(fromSend),
        timeline,
        serverCpuUsPerReq: (b.server - a.server) / Math.max(1, delivered),
        serverCpuPct: ((b.server - a.server) / 1e6 / ((b.at - a.at) / 1000)) * 100,
        mainCpuUsPerReq: (b.main - a.main) / Math.max(1, delivered),
        clientCpuUsPerReq: (b.clients - a.clients) / Math.max(1, delivered),
        clientCpuPct: ((b.clients - a.clients) / 1e6 / ((b.at - a.at) / 1000)) * 100,
        otherCpuPct: otherCpuPct(a, b, (b.at - a.at) / 1000),
        loadAvg1: loadavg()[0],
        extra: {
          fromReplyUs: summarize(fromReply),
          beforeReply,
          missed,
          outOfOrder,
          closedSubscribers: closedSubs,
          changesInWindow,
          adjustUs: adjustHist,
          expected: changesInWindow * o.subscribers,
        },
      };
      console.log(`  ${stepLine(step)}`);
      const errs = sumCounts([adjust?.errors ?? {}]);
      const facts: [string, string][] = [
        ['subscribers / changes per second', `${fmtInt(o.subscribers)} / ${o.changeRate}`],
        ['changes in the window (inventory.adjust)', `${fmtInt(changesInWindow)}${Object.keys(errs).length ? ` (errors ${JSON.stringify(errs)})` : ''}`],
        ['deliveries/s in the window', fmtInt(step.opsPerSec)],
        ["push latency from the change's send: p50 / p99 / max", `${us(step.latencyUs.p50)} / ${us(step.latencyUs.p99)} / ${us(step.latencyUs.max)}`],
        [
          "push latency from the change's reply: p50 / p99 / max",
          `${us(summarize(fromReply).p50)} / ${us(summarize(fromReply).p99)} / ${us(summarize(fromReply).max)}`,
        ],
        ['deliveries that beat the reply to the admin', `${fmtInt(beforeReply)} of ${fmtInt(counted)}`],
        ['inventory.adjust latency p50 / p99', adjustHist ? `${us(adjustHist.p50)} / ${us(adjustHist.p99)}` : '-'],
        ['missed pushes (expected - received)', `${fmtInt(missed)} of ${fmtInt(changesInWindow * o.subscribers)}`],
        ['out-of-order or repeated pushes', fmtInt(outOfOrder)],
        ['subscribers closed during the run', fmtInt(closedSubs)],
        ['server CPU per delivery', `${fixed(step.serverCpuUsPerReq, 2)} µs (${fixed(step.serverCpuPct, 0)}% of a core)`],
        ["the main thread's (the edge's) CPU per delivery", `${fixed(step.mainCpuUsPerReq ?? 0, 2)} µs`],
      ];
      // The goals at 1,000 subscribers and 20 changes/s: p99 from the change's send <= 10 ms, none missed.
      const p99Ms = step.latencyUs.p99 / 1000;
      const ratios = [
        { name: "push p99 ms from the change's send vs goal 10", value: p99Ms / 10, goal: '<= 1', met: p99Ms <= 10 },
        { name: 'missed pushes', value: missed, goal: '0', met: missed === 0 },
      ];
      return { ...baseResult('push-fanout', o, cw), steps: [step], facts, ratios };
    }),
});
