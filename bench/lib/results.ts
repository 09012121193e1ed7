// A run's directory: bench/results/<run-id>/ with result.json, report.html and the charts as PNG.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartsFor, renderSvg, svgToPng } from './charts.js';
import { buildReportHtml, type RenderedChart } from './html-report.js';
import type { RunResult } from './scenario.js';

/** bench/results/ of the source tree (dist/bench/lib -> ../../../bench/results). */
export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

/** `<scenario>-<UTC time to the second>`, e.g. cart-mix-2026-11-25T17-02-52Z. */
export const runIdOf = (scenario: string, at: Date): string =>
  `${scenario}-${at
    .toISOString()
    .replace(/[:]/g, '-')
    .replace(/\.\d+Z$/, 'Z')}`;

/** The files of a run directory. */
export const RESULT_JSON = 'result.json';
export const REPORT_HTML = 'report.html';

export interface WrittenReport {
  html: string;
  pngs: string[];
}

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
  const json = join(dir, RESULT_JSON);
  writeFileSync(json, JSON.stringify(r, null, 1) + '\n');
  if (!opts.report) return { dir, json, pngs: [] };
  return { dir, json, ...(await writeReport(r, dir)) };
}

/**
 * Writes report.html of a run into `dir`, and unless `png` is false one PNG per chart. Everything
 * comes from the RunResult, so a run's result.json is enough to write its report again.
 */
export async function writeReport(r: RunResult, dir: string, opts: { png?: boolean } = {}): Promise<WrittenReport> {
  const { html, rendered } = await renderReport(r);
  const htmlPath = join(dir, REPORT_HTML);
  writeFileSync(htmlPath, html);
  const pngs: string[] = [];
  if (opts.png === false) return { html: htmlPath, pngs };
  for (const { chart, svg } of rendered) {
    const p = join(dir, `${chart.id}.png`);
    writeFileSync(p, svgToPng(svg));
    pngs.push(p);
  }
  return { html: htmlPath, pngs };
}

/** A run written earlier: `path` is its directory or the result.json in it. */
export function readRun(path: string): { dir: string; result: RunResult } {
  if (!existsSync(path)) throw new Error(`${path}: no such run directory or file`);
  const json = statSync(path).isDirectory() ? join(path, RESULT_JSON) : path;
  if (!existsSync(json)) throw new Error(`${path}: no ${RESULT_JSON} in this directory`);
  let result: RunResult;
  try {
    result = JSON.parse(readFileSync(json, 'utf8')) as RunResult;
  } catch (err) {
    throw new Error(`${json}: not JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (typeof result?.scenario !== 'string' || !Array.isArray(result.steps)) {
    throw new Error(`${json}: not the result of a bench run (no scenario and steps)`);
  }
  return { dir: dirname(json), result };
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
