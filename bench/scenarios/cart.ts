// `bench cart`: the transport ceiling (ping) against durable cart writes, in one run against one
// server: ping C x I, then cart.add/cart.setQty at C x 1 and C x I (or all three at --rate).
import { stockedSkus } from '../lib/catalog.js';
import { withCartwire } from '../lib/harness.js';
import { int, addLoadOptions, defineScenario, type LoadOptions, type Ratio, type StepReport } from '../lib/scenario.js';
import { modelLabel, modelOf, runStep, timingOf, type StepDef } from '../lib/step.js';
import { baseResult, stepLine } from '../lib/run.js';

interface CartOptions extends LoadOptions {
  skusPerUser: number;
}

export const scenario = defineScenario<CartOptions>({
  name: 'cart',
  summary: 'ping (transport ceiling) vs durable cart.add/cart.setQty at C x 1 and C x I',
  configure: (c) => addLoadOptions(c).option('--skus-per-user <n>', 'skus each cart cycles through', int(1), 4),
  run: (o, ctx) =>
    withCartwire('cart', o, async (cw) => {
      const skus = stockedSkus();
      const timing = timingOf(o);
      const defs: StepDef[] = [
        {
          name: '',
          role: 'ceiling',
          target: cw.target,
          channel: { workload: 'ping', client: o.client, skus, products: [], skusPerUser: 1 },
          connections: o.connections,
          model: modelOf(o),
          timing,
        },
        {
          name: '',
          role: 'measured',
          target: cw.target,
          channel: { workload: 'cart', client: o.client, skus, products: [], skusPerUser: o.skusPerUser },
          connections: o.connections,
          model: modelOf(o, 1),
          timing,
        },
        {
          name: '',
          role: 'measured',
          target: cw.target,
          channel: { workload: 'cart', client: o.client, skus, products: [], skusPerUser: o.skusPerUser },
          connections: o.connections,
          model: modelOf(o),
          timing,
        },
      ];
      // At a fixed --rate the C x 1 and C x I steps would be the same load: run it once.
      if (o.rate !== undefined) defs.splice(1, 1);
      const steps: StepReport[] = [];
      for (const d of defs) {
        d.name = `${d.channel.workload} ${modelLabel(d.model, d.connections)}`;
        steps.push(await runStep(cw.load, d, ctx.progress));
        console.log(`  ${stepLine(steps.at(-1)!)}`);
      }
      const ping = steps[0];
      // The goal (durable / ping >= 0.5) is for the same concurrency as the ping step.
      const ratios: Ratio[] = steps.slice(1).map((s) => {
        if (o.rate !== undefined) return { name: `${ping.name} p99 / ${s.name} p99`, value: ping.latencyUs.p99 / s.latencyUs.p99 };
        const value = s.opsPerSec / ping.opsPerSec;
        const same = s.model.kind === 'closed' && s.model.inflight === o.inflight;
        return { name: `${s.name} / ${ping.name} ops/s`, value, goal: same ? '>= 0.5' : undefined, met: same ? value >= 0.5 : undefined };
      });
      return { ...baseResult('cart', o, cw), steps, ratios };
    }),
});
