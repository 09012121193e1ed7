// The report's charts: vega-lite specs rendered headless to SVG by vega (no browser, no canvas),
// and to PNG by resvg for the README and docs.
import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { StepReport } from './scenario.js';

export interface Chart {
  /** File name stem of the PNG: `throughput` -> throughput.png. */
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

const WIDTH = 640;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const config = { font: FONT, view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 11 }, legend: { labelFontSize: 11, labelLimit: 260 } };

const ms = (us: number) => Math.round(us) / 1000;

/** The x of a percentile plot: 1 / (1 - p), so 90%, 99%, 99.9% are one decade apart. */
export const inversePercentile = (p: number): number => 1 / (1 - p / 100);

/** Axis ticks of a percentile plot and their labels. */
const PCT_VALUES = [1, 2, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000];
const PCT_LABEL = "datum.value <= 1 ? '0%' : format(100 - 100 / datum.value, '.5~f') + '%'";

/** Answers per second over each step's timeline (steps overlaid, seconds since each step's start). */
export function throughputChart(steps: StepReport[], what = 'answers/s'): Chart {
  const values = steps.flatMap((s) => s.timeline.map((p) => ({ step: s.name, t: p.t + 0.5, ops: p.ops, phase: p.phase })));
  return {
    id: 'throughput',
    title: `Throughput over time (${what})`,
    caption: 'One point per second per step, from the load processes; the shaded band is the steady (measured) phase.',
    spec: {
      config,
      width: WIDTH,
      height: 220,
      layer: [
        steadyBand(steps),
        {
          data: { values },
          mark: { type: 'line', point: { size: 14 } },
          encoding: {
            x: { field: 't', type: 'quantitative', title: 'seconds into the step' },
            y: { field: 'ops', type: 'quantitative', title: what },
            color: { field: 'step', type: 'nominal', title: null },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** p50 and p99 of each second (log scale). */
export function latencyOverTimeChart(steps: StepReport[]): Chart {
  const values = steps.flatMap((s) =>
    s.timeline
      .filter((p) => p.ops > 0)
      .flatMap((p) => [
        { step: s.name, t: p.t + 0.5, pct: 'p50', ms: Math.max(0.001, ms(p.p50)) },
        { step: s.name, t: p.t + 0.5, pct: 'p99', ms: Math.max(0.001, ms(p.p99)) },
      ]),
  );
  return {
    id: 'latency-over-time',
    title: 'Latency over time: p50 (solid) and p99 (dashed)',
    caption: 'Per second, of the answers that arrived in that second; open-model steps measure from the intended send time.',
    spec: {
      config,
      width: WIDTH,
      height: 240,
      layer: [
        steadyBand(steps),
        {
          data: { values },
          mark: { type: 'line' },
          encoding: {
            x: { field: 't', type: 'quantitative', title: 'seconds into the step' },
            y: { field: 'ms', type: 'quantitative', title: 'ms', scale: { type: 'log' } },
            color: { field: 'step', type: 'nominal', title: null },
            strokeDash: {
              field: 'pct',
              type: 'nominal',
              title: null,
              scale: {
                domain: ['p50', 'p99'],
                range: [
                  [1, 0],
                  [5, 3],
                ],
              },
            },
          },
        },
      ],
    } as TopLevelSpec,
  };
}

/** The HDR percentile distribution of each step's window; open-model steps also uncorrected. */
export function percentileChart(steps: StepReport[]): Chart {
  const rows = (step: string, series: string, curve: [number, number][]) => {
    let last = 1;
    return curve.map(([p, us]) => {
      const x = p >= 100 ? last * 1.6 : inversePercentile(p);
      last = x;
      return { step, series, x, p, ms: Math.max(0.001, ms(us)) };
    });
  };
  const values = steps.flatMap((s) => [
    ...rows(s.name, s.uncorrectedPercentiles ? 'CO-corrected' : 'measured', s.percentiles),
    ...(s.uncorrectedPercentiles ? rows(s.name, 'uncorrected', s.uncorrectedPercentiles) : []),
  ]);
  const series = [...new Set(values.map((v) => v.series))];
  return {
    id: 'percentiles',
    title: 'Latency by percentile (HDR histogram of the steady window)',
    caption: 'x is 1/(1-p) on a log scale, so each decade is one more nine; the last point of a line is the max.',
    spec: {
      config,
      width: WIDTH,
      height: 260,
      data: { values },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: 'percentile', scale: { type: 'log' }, axis: { values: PCT_VALUES, labelExpr: PCT_LABEL } },
        y: { field: 'ms', type: 'quantitative', title: 'ms', scale: { type: 'log' } },
        color: { field: 'step', type: 'nominal', title: null },
        strokeDash: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: {
            domain: series,
            range: [
              [1, 0],
              [5, 3],
              [2, 2],
            ].slice(0, series.length),
          },
        },
      },
    },
  };
}

/** Throughput and p99 of every step side by side: cartwire against its ceiling and peers. */
export function stepsBarChart(steps: StepReport[]): Chart {
  const values = steps.map((s) => ({ step: s.name, role: s.role, ops: Math.round(s.opsPerSec), p99: ms(s.latencyUs.p99), p50: ms(s.latencyUs.p50) }));
  const bar = (field: string, title: string) => ({
    width: 300,
    height: Math.max(60, 26 * values.length),
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'step', type: 'nominal', title: null, sort: null },
      x: { field, type: 'quantitative', title },
      color: {
        field: 'role',
        type: 'nominal',
        title: null,
        scale: { domain: ['measured', 'compare', 'ceiling', 'peer'], range: ['#4c78a8', '#72b7b2', '#bab0ac', '#f58518'] },
      },
      tooltip: [{ field: 'step' }, { field }],
    },
  });
  return {
    id: 'steps',
    title: 'cartwire vs ceiling and peers: throughput and p99',
    caption: 'Each bar is one step of the same run (same machine, same load processes, same connections and model).',
    spec: {
      config,
      data: { values },
      hconcat: [bar('ops', 'ops/s in the window'), bar('p99', 'p99 ms')],
    } as TopLevelSpec,
  };
}

function steadyBand(steps: StepReport[]) {
  const p = steps[0]?.phases ?? { warmupS: 0, rampS: 0, steadyS: 0 };
  const from = p.warmupS + p.rampS;
  return {
    data: { values: [{ from, to: from + p.steadyS }] },
    mark: { type: 'rect', color: '#4c78a8', opacity: 0.07 },
    encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
  };
}

/** The charts of a run: timelines and percentiles when it has load steps, bars when it has several. */
export function chartsFor(steps: StepReport[]): Chart[] {
  if (steps.length === 0) return [];
  const out = [throughputChart(steps, steps[0].opsLabel ?? 'answers/s'), latencyOverTimeChart(steps), percentileChart(steps)];
  if (steps.length > 1) out.push(stepsBarChart(steps));
  // The title goes into the chart itself, so that the PNG stands alone in the docs.
  for (const c of out) (c.spec as { title?: unknown }).title = { text: c.title, anchor: 'start', fontSize: 13 };
  return out;
}

/** A vega-lite spec as standalone SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG to PNG at 2x, with the system's DejaVu fonts (vega's text is drawn as text). */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}
