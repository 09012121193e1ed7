// A run's directory: bench/results/<run-id>/ with result.json, report.html and the charts as PNG.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartsFor, renderSvg, svgToPng } from './charts.js';
import { buildReportHtml, type RenderedChart } from './html-report.js';
import type { RunResult } from './scenario.js';

/** bench/results/ of the source tree (dist/bench/lib -> ../../../bench/results). */
export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

/** `<scenario>-<UTC time to the second>`, e.g. cart-mix-2026-11-25T17-02-52Z. */
export const runIdOf = (scenario: string, at: Date): string => `${scenario}-${at.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z')}`;

export interface WrittenRun {
  dir: string;
  json: string;
  html?: string;
  pngs: string[];
}

/** Writes result.json, and unless `report` is false report.html and one PNG per chart. */
export async function writeRun(r: RunResult, opts: { resultsDir?: string; report: boolean }): Promise<WrittenRun> {
  const dir = join(opts.resultsDir ?? RESULTS_DIR, r.runId!);
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'result.json');
  writeFileSync(json, JSON.stringify(r, null, 1) + '\n');
  if (!opts.report) return { dir, json, pngs: [] };
  const { html, rendered } = await renderReport(r);
  const htmlPath = join(dir, 'report.html');
  writeFileSync(htmlPath, html);
  const pngs: string[] = [];
  for (const { chart, svg } of rendered) {
    const p = join(dir, `${chart.id}.png`);
    writeFileSync(p, svgToPng(svg));
    pngs.push(p);
  }
  return { dir, json, html: htmlPath, pngs };
}

/** The report page of a run and its charts as SVG. */
export async function renderReport(r: RunResult): Promise<{ html: string; rendered: RenderedChart[] }> {
  const rendered: RenderedChart[] = [];
  for (const chart of chartsFor(r.steps)) rendered.push({ chart, svg: await renderSvg(chart.spec) });
  return { html: buildReportHtml(r, rendered), rendered };
}

/** A single JSON result (runs without a report, e.g. the recommendation evaluation): bench/results/<name>-<time>.json. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${runIdOf(name, new Date())}.json`);
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
}
