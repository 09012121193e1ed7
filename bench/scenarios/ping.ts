// `bench ping`: the transport ceiling alone: `ping` (answered on the edge, no shard, no disk)
// through the same server and client the other scenarios use.
import { withCartwire } from '../lib/harness.js';
import { baseResult } from '../lib/run.js';
import { addLoadOptions, defineScenario, type LoadOptions } from '../lib/scenario.js';
import { modelLabel, modelOf, runStep, timingOf } from '../lib/step.js';

export const scenario = defineScenario<LoadOptions>({
  name: 'ping',
  summary: 'the transport ceiling: ping through the same server and client, closed or open model',
  configure: (c) => addLoadOptions(c),
  run: (o, ctx) =>
    withCartwire('ping', o, async (cw) => {
      const model = modelOf(o);
      const step = await runStep(
        cw.load,
        {
          name: `ping ${modelLabel(model, o.connections)}`,
          role: 'measured',
          target: cw.target,
          channel: { workload: 'ping', client: o.client, skus: [], products: [], skusPerUser: 1 },
          connections: o.connections,
          model,
          timing: timingOf(o),
        },
        ctx.progress,
      );
      return { ...baseResult('ping', o, cw), steps: [step] };
    }),
});
