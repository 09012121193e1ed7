// `bench flash-sale`: one sku with U units, M buyers (guest connections, opened 16 at a time),
// each holding 1 unit in the cart; at one instant every buyer checks out, with mixed payment
// tokens; a confirmed buyer adds 1 more and checks out again, a declined one retries with a
// fresh key, and each stops at OUT_OF_STOCK. Time to sell out, confirmed vs U (oversold), the
// final inventory (onHand, reserved), answers by code, checkout latency.
import { stockedSkus } from '../lib/catalog.js';
import { fixed, fmtInt, us } from '../lib/format.js';
import { withCartwire } from '../lib/harness.js';
import { baseResult, stepLine } from '../lib/run.js';
import { defineScenario, int, num } from '../lib/scenario.js';
import { adminConn, clientNotes, mergeSessions, sampleServer, sessionStep } from '../lib/session-step.js';
import { sellOutMs } from '../lib/sessions.js';

/** Sold out within this many milliseconds at the defaults (10,000 units, 2,000 buyers). */
const SELL_OUT_GOAL_MS = 3000;

interface FlashOptions {
  units: number;
  buyers: number;
  sku?: string;
  visa: number;
  declined: number;
  timeout: number;
  gatewayTimeoutMs: number;
  giveUp: number;
}

const pct = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new Error('expected a percentage 0..100');
  return n;
};

export const scenario = defineScenario<FlashOptions>({
  name: 'flash-sale',
  summary: 'one sku with U units, M buyers checking out at once with mixed tokens until OUT_OF_STOCK: time to sell out, oversold, final inventory',
  configure: (c) =>
    c
      .option('--units <n>', 'units of the sku on sale (inventory.adjust before the start)', int(1), 10_000)
      .option('--buyers <n>', 'buyer connections (each its own guest)', int(1), 2_000)
      .option('--sku <sku>', 'the sku on sale (default: the first stocked sku of the demo catalog)')
      .option('--visa <pct>', 'share of checkout attempts paid with tok_visa', pct, 80)
      .option('--declined <pct>', 'share paid with tok_chargeDeclined', pct, 10)
      .option('--timeout <pct>', 'share paid with tok_timeout (answers after GATEWAY_TIMEOUT_MS)', pct, 10)
      .option('--gateway-timeout-ms <ms>', 'GATEWAY_TIMEOUT_MS of the server for the run', int(1), 500)
      .option('--give-up <s>', 'buyers stop after this many seconds whatever happened', num, 60),
  run: (o, ctx) =>
    withCartwire(
      'flash-sale',
      o,
      async (cw) => {
        void ctx;
        const sku = o.sku ?? stockedSkus()[0];
        const admin = await adminConn(cw.url);
        await admin.call('inventory.adjust', { sku, type: 'adjustment', qty: o.units, reason: 'bench flash-sale' });
        const tokens: [string, number][] = [
          ['tok_visa', o.visa],
          ['tok_chargeDeclined', o.declined],
          ['tok_timeout', o.timeout],
        ];
        console.log(`  ${sku}: ${fmtInt(o.units)} units; opening ${fmtInt(o.buyers)} buyers (each adds 1 unit) ...`);
        const tOpen = performance.now();
        let a: Promise<Awaited<ReturnType<typeof sampleServer>>> | undefined;
        const { results } = await cw.load.session(
          { kind: 'flash-sale', url: cw.url, windowStartMs: 0, windowEndMs: o.giveUp * 1000, skus: [sku], tokens, giveUpMs: o.giveUp * 1000 },
          o.buyers,
          undefined,
          (t0) => {
            console.log(`  ${fmtInt(o.buyers)} buyers ready in ${((performance.now() - tOpen) / 1000).toFixed(1)} s; checkout at once`);
            a = new Promise((resolve, reject) =>
              setTimeout(
                () => {
                  sampleServer(cw).then(resolve, reject);
                },
                Math.max(0, t0 - Date.now()),
              ),
            );
          },
        );
        const b = await sampleServer(cw);
        const inv = (await admin.call('inventory.get', { sku })).result as { onHand: number; reserved: number; available: number };
        await admin.close();
        const merged = mergeSessions(results);
        const confirmedAt = results.flatMap((r) => r.confirmedAt ?? []);
        const firstSendAt = Math.min(...results.map((r) => r.firstSendAt ?? Infinity));
        const confirmed = confirmedAt.length;
        const sellOut = sellOutMs(firstSendAt, confirmedAt, o.units);
        const lastConfirmMs = confirmed ? Math.max(...confirmedAt) - firstSendAt : NaN;
        const oversold = confirmed - o.units;
        const sold = o.units - inv.onHand;
        const invOk = inv.onHand === o.units - confirmed && inv.reserved === 0 && sold + inv.available + inv.reserved === o.units;
        const step = sessionStep({
          name: `flash-sale ${fmtInt(o.units)} units, ${fmtInt(o.buyers)} buyers`,
          workload: `checkout of 1 unit of ${sku}, tokens visa ${o.visa}% / declined ${o.declined}% / timeout ${o.timeout}%`,
          op: 'checkout',
          model: { kind: 'closed', connections: o.buyers, inflight: 1 },
          phases: { warmupS: 0, rampS: 0, steadyS: (b.at - (await a!).at) / 1000 },
          merged,
          a: await a!,
          b,
          opsLabel: 'checkout answers/s',
          extra: {
            sku,
            units: o.units,
            confirmed,
            oversold,
            sellOutMs: sellOut,
            lastConfirmMs,
            inventory: inv,
            inventoryConsistent: invOk,
            counts: merged.counts,
            gatewayTimeoutMs: o.gatewayTimeoutMs,
          },
        });
        console.log(`  ${stepLine(step)}`);
        const byCode = Object.entries(merged.counts)
          .sort((x, y) => y[1] - x[1])
          .map(([k, v]) => `${k} ${fmtInt(v)}`)
          .join(', ');
        const goalTime = sellOut !== undefined && sellOut <= SELL_OUT_GOAL_MS;
        const facts: [string, string][] = [
          ['sku / units / buyers', `${sku} / ${fmtInt(o.units)} / ${fmtInt(o.buyers)}`],
          ['tokens per attempt (GATEWAY_TIMEOUT_MS)', `visa ${o.visa}%, chargeDeclined ${o.declined}%, timeout ${o.timeout}% (${o.gatewayTimeoutMs} ms)`],
          [
            'time to sell out (first checkout send -> U-th confirmed)',
            sellOut === undefined
              ? `not sold out (${fmtInt(confirmed)} confirmed)`
              : `${fixed(sellOut / 1000, 2)} s (goal <= ${SELL_OUT_GOAL_MS / 1000} s: ${goalTime ? 'met' : 'MISSED'})`,
          ],
          ['last confirmation after the first send', `${fixed(lastConfirmMs / 1000, 2)} s`],
          ['confirmed / oversold (confirmed - U)', `${fmtInt(confirmed)} / ${fmtInt(oversold)} (goal 0: ${oversold === 0 ? 'met' : 'MISSED'})`],
          [
            'inventory at the end: onHand / reserved / available',
            `${fmtInt(inv.onHand)} / ${fmtInt(inv.reserved)} / ${fmtInt(inv.available)} (onHand == U - confirmed, reserved == 0, sold + available + reserved == U: ${invOk ? 'yes' : 'NO'})`,
          ],
          ['answers by op and code', byCode],
          ['checkout latency p50 / p99 / max (all attempts)', `${us(step.latencyUs.p50)} / ${us(step.latencyUs.p99)} / ${us(step.latencyUs.max)}`],
          ['checkout answers/s over the sale', fmtInt(step.opsPerSec)],
          ['server CPU per checkout answer', `${fixed(step.serverCpuUsPerReq, 0)} µs (${fixed(step.serverCpuPct, 0)}% of a core)`],
        ];
        return {
          ...baseResult('flash-sale', o, cw),
          steps: [step],
          facts,
          notes: [...clientNotes(o.client), ...(invOk ? [] : ['the final inventory does not match the confirmed checkouts'])],
          ratios: [
            { name: `sell-out s vs goal ${SELL_OUT_GOAL_MS / 1000}`, value: (sellOut ?? NaN) / SELL_OUT_GOAL_MS, goal: '<= 1', met: goalTime },
            { name: 'oversold units', value: oversold, goal: '0', met: oversold === 0 },
          ],
        };
      },
      { GATEWAY_TIMEOUT_MS: String(o.gatewayTimeoutMs) },
    ),
});
