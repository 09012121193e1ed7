// `bench checkout`: N buyers (each its own guest connection), closed loop: fill the cart (one
// cart.add per sku, the lines on skus of different shards, in one batch frame), then checkout
// with a fresh idempotency key and tok_visa. Orders/s, checkout latency (HDR), the cart fill
// separately, errors by code, server CPU per order and the group commits of the window.
import { stockedSkus } from '../lib/catalog.js';
import { fixed, fmtInt, us } from '../lib/format.js';
import { withCartwire } from '../lib/harness.js';
import { baseResult, stepLine } from '../lib/run.js';
import { defineScenario, int, nonNeg, num } from '../lib/scenario.js';
import { adminConn, clientNotes, errorsOf, mergeSessions, sampleAt, sessionStep } from '../lib/session-step.js';
import { skusOnDistinctShards } from '../lib/sessions.js';
import { mergeHistograms, summarize } from '../lib/histogram.js';
import { stableHash } from '../../src/protocol/keys.js';

interface CheckoutOptions {
  connections: number;
  lines: number;
  stock: number;
  duration: number;
  warmup: number;
  rate?: number;
}

export const scenario = defineScenario<CheckoutOptions>({
  name: 'checkout',
  summary: 'N buyers, closed loop: 3 cart.adds (skus on different shards) in one frame, then checkout with tok_visa: orders/s, checkout p50/p99',
  configure: (c) =>
    c
      .option('--connections <n>', 'buyers (connections, each its own guest)', int(1), 64)
      .option('--lines <n>', 'cart lines per order (one unit of each of n skus on different shards when there are enough shards)', int(1), 3)
      .option('--stock <n>', 'units set on each sku before the run (inventory.adjust)', int(1), 1_000_000_000)
      .option('--duration <s>', 'measured window, seconds', num, 10)
      .option('--warmup <s>', 'warm-up, seconds (same loop, not measured)', nonNeg, 2)
      .option(
        '--rate <orders/s>',
        'open model: buyer sessions (fill + checkout) arriving per second over all connections; a session waits for an idle connection (closed model when absent)',
        num,
      ),
  run: (o, ctx) =>
    withCartwire('checkout', o, async (cw) => {
      void ctx;
      const skus = skusOnDistinctShards(stockedSkus(), o.shards, o.lines, stableHash);
      const shardsOf = skus.map((s) => stableHash(`sku:${s}`) % o.shards);
      const admin = await adminConn(cw.url);
      for (const sku of skus) await admin.call('inventory.adjust', { sku, type: 'adjustment', qty: o.stock, reason: 'bench checkout' });
      console.log(`  skus ${skus.join(', ')} on shards ${shardsOf.join(', ')} (SHARDS=${o.shards}), ${fmtInt(o.stock)} units each`);
      const windowStartMs = o.warmup * 1000;
      const windowEndMs = windowStartMs + o.duration * 1000;
      let samples: ReturnType<typeof sampleAt> | undefined;
      console.log(`  ${o.connections} buyers: ${o.warmup} s warm-up, ${o.duration} s measured ...`);
      const workers = Math.min(o.loadProcs, o.connections);
      const perWorker = (i: number) => (o.rate ? { rate: o.rate / workers, rateOffset: i / workers } : {});
      const { results } = await cw.load.session({ kind: 'checkout', url: cw.url, windowStartMs, windowEndMs, skus }, o.connections, perWorker, (t0) => {
        samples = sampleAt(cw, t0 + windowStartMs, t0 + windowEndMs);
      });
      const [a, b] = await samples!;
      const inv = await Promise.all(skus.map((sku) => admin.call('inventory.get', { sku })));
      await admin.close();
      const merged = mergeSessions(results);
      const step = sessionStep({
        name: o.rate ? `checkout @${fmtInt(o.rate)}/s, ${o.connections} buyers x ${o.lines} lines` : `checkout ${o.connections} buyers x ${o.lines} lines`,
        latencyOp: o.rate ? 'session' : undefined,
        uncorrectedOp: o.rate ? 'session.actual' : undefined,
        workload: `cart.add x${o.lines} (one frame) + checkout tok_visa`,
        op: 'checkout',
        model: o.rate ? { kind: 'open', connections: o.connections, rate: o.rate } : { kind: 'closed', connections: o.connections, inflight: 1 },
        phases: { warmupS: o.warmup, rampS: 0, steadyS: o.duration },
        merged,
        a,
        b,
        opsLabel: 'orders/s',
        extra: {
          skus,
          shards: shardsOf,
          fillUs: merged.hist['cart.fill'] && summarize(merged.hist['cart.fill']),
          fillErrors: errorsOf(merged.counts, 'cart.fill'),
          counts: merged.counts,
        },
      });
      console.log(`  ${stepLine(step)}`);
      const fill = merged.hist['cart.fill'] ? summarize(merged.hist['cart.fill']) : undefined;
      const errs =
        Object.entries(step.errors)
          .map(([k, v]) => `${k} ${fmtInt(v)}`)
          .join(', ') || 'none';
      const fillErrs =
        Object.entries(errorsOf(merged.counts, 'cart.fill'))
          .map(([k, v]) => `${k} ${fmtInt(v)}`)
          .join(', ') || 'none';
      const confirmedAll = merged.counts['checkout:OK'] ?? 0;
      const soldOf = inv.map((r) => o.stock - (r.result as { onHand: number }).onHand);
      const reserved = inv.map((r) => (r.result as { reserved: number }).reserved);
      const goalOps = step.opsPerSec >= 5000;
      const co = summarize(merged.hist.checkout ?? mergeHistograms([]));
      const goalP99 = co.p99 <= 20_000;
      const facts: [string, string][] = [
        ['buyers / lines per order / skus (shard)', `${o.connections} / ${o.lines} / ${skus.map((s, i) => `${s} (${shardsOf[i]})`).join(', ')}`],
        ['orders/s in the window (confirmed checkouts)', `${fmtInt(step.opsPerSec)} (goal >= 5,000: ${goalOps ? 'met' : 'MISSED'})`],
        [
          'checkout latency (send -> answer) p50 / p99 / max',
          `${us(co.p50)} / ${us(co.p99)} / ${us(co.max)} (goal p99 <= 20 ms: ${goalP99 ? 'met' : 'MISSED'})`,
        ],
        ...(o.rate
          ? ([
              [
                'open model: session (intended start -> checkout answered, CO-corrected) p50 / p99 / max',
                `${us(step.latencyUs.p50)} / ${us(step.latencyUs.p99)} / ${us(step.latencyUs.max)}`,
              ],
              [
                'open model: session from its actual start p50 / p99',
                step.uncorrectedUs ? `${us(step.uncorrectedUs.p50)} / ${us(step.uncorrectedUs.p99)}` : '-',
              ],
              ['open model: sessions never started (no idle buyer within 15 s of the end)', fmtInt(step.notSent)],
            ] as [string, string][])
          : []),
        ['cart fill (3 adds, one frame) p50 / p99 / max', fill ? `${us(fill.p50)} / ${us(fill.p99)} / ${us(fill.max)}` : '-'],
        ['checkout errors by code (whole run)', errs],
        ['cart fill errors by code (whole run)', fillErrs],
        ['server CPU per order', `${fixed(step.serverCpuUsPerReq, 0)} µs (${fixed(step.serverCpuPct, 0)}% of a core)`],
        [
          'group commits: rows/commit, mean commit ms, p99',
          step.commits ? `${fixed(step.commits.rowsPerCommit, 1)}, ${fixed(step.commits.meanCommitMs, 2)} ms, <= ${step.commits.p99LeMs} ms` : '-',
        ],
        [
          'units sold per sku (inventory.get) vs confirmed orders (whole run)',
          `${soldOf.map(fmtInt).join(' / ')} vs ${fmtInt(confirmedAll)}; reserved ${reserved.join(' / ')}`,
        ],
      ];
      const notes: string[] = clientNotes(o.client);
      if (new Set(shardsOf).size < Math.min(o.lines, o.shards)) notes.push('the lines do not cover distinct shards');
      if (soldOf.some((x) => x !== confirmedAll)) notes.push(`units sold (${soldOf.join(', ')}) differ from confirmed checkouts (${confirmedAll})`);
      return {
        ...baseResult('checkout', o, cw),
        steps: [step],
        facts,
        notes,
        ratios: [
          { name: 'orders/s vs goal 5,000', value: step.opsPerSec / 5000, goal: '>= 1', met: goalOps },
          { name: 'checkout p99 ms vs goal 20', value: co.p99 / 1000 / 20, goal: '<= 1', met: goalP99 },
        ],
      };
    }),
});
