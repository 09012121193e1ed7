// One self-contained HTML page per run: the summary, ratios and facts as tables and the charts
// as inline SVG. No script, no stylesheet link, no font or image fetched from anywhere: it opens
// from a mail attachment or a CI artifact as it is.
import type { Chart } from './charts.js';
import type { RunResult, StepReport } from './scenario.js';
import { fmtInt, fixed, us } from './format.js';

export interface RenderedChart {
  chart: Chart;
  svg: string;
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * An SVG document as an inline element: the XML prolog and namespace declarations go (HTML
 * puts <svg> in the SVG namespace by itself), so the page names no URL at all.
 */
export function inlineSvg(svg: string): string {
  return svg
    .replace(/<\?xml[^>]*\?>\s*/, '')
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/xlink:href=/g, 'href=');
}

const modelOf = (s: StepReport) =>
  s.model.kind === 'closed' ? `closed ${s.model.connections}×${s.model.inflight}` : `open ${fmtInt(s.model.rate)}/s on ${s.model.connections}`;
const errorsOf = (s: StepReport) => Object.values(s.errors).reduce((a, b) => a + b, 0) + s.lost + s.notSent;

function stepsTable(steps: StepReport[]): string {
  const head = [
    'step',
    'target',
    'model',
    'ops/s',
    'p50',
    'p90',
    'p99',
    'p99.9',
    'max',
    'p99 uncorr.',
    'srv µs/req',
    'main µs/req',
    'srv CPU',
    'cli µs/req',
    'other CPU',
    'errors',
  ];
  const rows = steps.map((s) => [
    s.name,
    s.target,
    modelOf(s),
    fmtInt(s.opsPerSec),
    us(s.latencyUs.p50),
    us(s.latencyUs.p90),
    us(s.latencyUs.p99),
    us(s.latencyUs.p999),
    us(s.latencyUs.max),
    s.uncorrectedUs ? us(s.uncorrectedUs.p99) : '–',
    fixed(s.serverCpuUsPerReq, 1),
    s.mainCpuUsPerReq === undefined ? '–' : fixed(s.mainCpuUsPerReq, 1),
    `${fixed(s.serverCpuPct, 0)}%`,
    fixed(s.clientCpuUsPerReq, 1),
    s.otherCpuPct === undefined ? '–' : `${fixed(s.otherCpuPct, 0)}%`,
    fmtInt(errorsOf(s)),
  ]);
  return htmlTable(head, rows);
}

function htmlTable(head: string[], rows: (string | number)[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? '' : ' class="n"'}>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** The report page of a run; `charts` already rendered to SVG. */
export function buildReportHtml(r: RunResult, charts: RenderedChart[]): string {
  const m = r.machine as Record<string, string | number>;
  const parts: string[] = [];
  parts.push(`<h1>cartwire bench: ${esc(r.scenario)}</h1>`);
  parts.push(
    `<p class="meta">${esc(r.runId ?? '')} · ${esc(r.at)} · ${esc(m.cpus)} × ${esc(m.cpuModel)} · ${esc(fmtInt(Number(m.memoryMiB)))} MiB · Node ${esc(m.node)} · ${esc(m.kernel ?? m.platform)}</p>`,
  );
  parts.push(`<pre class="cmd">${esc(r.command)}</pre>`);
  if (r.steps.length) {
    parts.push('<h2>Steps</h2>', stepsTable(r.steps));
    parts.push(
      '<p class="note">ops/s: answers inside the steady window per second. Latency: closed model from send to answer of requests sent and answered in the window; open model from the <em>intended</em> send time (corrected for coordinated omission), with the uncorrected p99 (from the actual send) beside it. srv µs/req: CPU time of the server process (all threads, /proc) over the window per answer; main µs/req: its main thread (the edge) alone. other CPU: what the rest of the machine took meanwhile (shared machine), % of one core.</p>',
    );
  }
  for (const s of r.steps.filter((x) => x.perOp)) {
    const rows = Object.entries(s.perOp!).sort((a, b) => b[1].count - a[1].count);
    const total = rows.reduce((a, [, x]) => a + x.count, 0);
    parts.push(
      `<h2>${esc(s.name)} by op</h2>`,
      htmlTable(
        ['op', 'share', 'p50', 'p90', 'p99', 'max'],
        rows.map(([op, x]) => [op, `${fixed((x.count / Math.max(1, total)) * 100, 1)}%`, us(x.p50), us(x.p90), us(x.p99), us(x.max)]),
      ),
    );
  }
  if (r.ratios.length) {
    parts.push(
      '<h2>Ratios</h2>',
      htmlTable(
        ['ratio', 'value', 'goal', 'met'],
        r.ratios.map((x) => [x.name, fixed(x.value, 2), x.goal ?? '–', x.met === undefined ? '–' : x.met ? 'yes' : 'no']),
      ),
    );
  }
  if (r.facts.length) parts.push('<h2>Figures</h2>', htmlTable(['measure', 'value'], r.facts));
  for (const { chart, svg } of charts) {
    parts.push(`<figure>${inlineSvg(svg)}<figcaption>${esc(chart.caption)}</figcaption></figure>`);
  }
  if (r.notes.length) parts.push('<h2>Notes</h2>', `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  parts.push(`<h2>Options</h2><pre>${esc(JSON.stringify(r.options, null, 2))}</pre>`);
  if (r.server) parts.push(`<h2>Server</h2><pre>${esc(JSON.stringify(r.server, null, 2))}</pre>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cartwire bench ${esc(r.scenario)} ${esc(r.runId ?? '')}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#666;margin:0 0 8px}pre{background:#f6f6f6;padding:8px 10px;overflow-x:auto;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}th,td{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#fafafa}
figure{margin:24px 0}figcaption{margin-top:4px;color:#555;font-size:13px}.note{color:#555;font-size:13px}
</style></head><body>
${parts.join('\n')}
</body></html>
`;
}
