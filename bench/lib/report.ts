// Output: aligned text tables for the terminal and result JSON files under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem, hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results/ of the source tree (dist/bench/lib -> ../../../bench/results). */
export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

export function writeResult(scenario: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const path = join(RESULTS_DIR, `${scenario}-${stamp}.json`);
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
}

export function machine(): Record<string, unknown> {
  return {
    hostname: hostname(),
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Prints rows as an aligned table: first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Microseconds as a short human figure: 850µs, 1.25ms, 2.0s. */
export function us(v: number): string {
  if (v < 1000) return `${Math.round(v)}µs`;
  if (v < 1_000_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)}ms`;
  return `${(v / 1e6).toFixed(2)}s`;
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fixed = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
