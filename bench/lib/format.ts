// Text output: aligned tables (cli-table3 for the summaries), short figures, the machine.
import Table from 'cli-table3';
import { availableParallelism, cpus, totalmem, hostname, release } from 'node:os';

export function machine(): Record<string, unknown> {
  return {
    hostname: hostname(),
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: release(),
  };
}

/** A table as text: by default the first column left-aligned, the others right-aligned (plain, no colours). */
export function table(header: string[], rows: (string | number)[][], aligns?: ('left' | 'right')[]): string {
  const t = new Table({
    head: header,
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
    colAligns: aligns ?? header.map((_, i) => (i === 0 ? 'left' : 'right')),
  });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/** Microseconds as a short human figure: 850µs, 1.25ms, 2.0s. */
export function us(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v < 1000) return `${Math.round(v)}µs`;
  if (v < 1_000_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)}ms`;
  return `${(v / 1e6).toFixed(2)}s`;
}

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const fixed = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
