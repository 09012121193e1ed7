// Running a scenario from the CLI: the run's id and command line, the summary tables on stdout,
// the run directory (result.json, report.html, PNGs), and the thresholds' exit code.
import { loadavg } from 'node:os';
import type { Cartwire } from './harness.js';
import { Progress } from './progress.js';
import { writeRun } from './results.js';
import { runIdOf } from './results.js';
import type { CommonOptions, RunResult, Scenario, StepReport } from './scenario.js';
import { checkThresholds, exitCodeFor } from './thresholds.js';
import { fixed, fmtInt, machine, table, us } from './format.js';

/** The fields every scenario's result starts from. */
export function baseResult(scenario: string, o: object, cw?: Pick<Cartwire, 'env' | 'nodeArgs' | 'server'>): RunResult {
  return {
    scenario,
    at: new Date().toISOString(),
    machine: machine(),
    command: '',
    options: { ...o },
    server: cw ? { env: cw.env, nodeArgs: cw.nodeArgs, pid: cw.server.pid } : undefined,
    steps: [],
    ratios: [],
    facts: [],
    notes: [],
  };
}

const errorsOf = (s: StepReport) => Object.values(s.errors).reduce((a, b) => a + b, 0) + s.lost + s.notSent;

/** One line per finished step, printed as the run goes. */
export function stepLine(s: StepReport): string {
  const errs = Object.entries(s.errors)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const extra = [errs && `errors ${errs}`, s.lost && `${s.lost} lost`, s.notSent && `${s.notSent} not sent`].filter(Boolean).join(', ');
  const uncorr = s.uncorrectedUs ? ` (uncorrected ${us(s.uncorrectedUs.p99)})` : '';
  return `${s.name}: ${fmtInt(s.opsPerSec)} ops/s, p50 ${us(s.latencyUs.p50)}, p99 ${us(s.latencyUs.p99)}${uncorr}${extra ? `, ${extra}` : ''}`;
}

/** The summary tables of a run, as text. */
export function summaryText(r: RunResult): string {
  const out: string[] = [];
  if (r.steps.length) {
    out.push(
      table(
        [
          'step',
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
          'rows/commit',
          'commit ms',
          'commit p99',
          'errors',
        ],
        r.steps.map((s) => [
          s.name,
          fmtInt(s.opsPerSec),
          us(s.latencyUs.p50),
          us(s.latencyUs.p90),
          us(s.latencyUs.p99),
          us(s.latencyUs.p999),
          us(s.latencyUs.max),
          s.uncorrectedUs ? us(s.uncorrectedUs.p99) : '-',
          fixed(s.serverCpuUsPerReq, 1),
          s.mainCpuUsPerReq === undefined ? '-' : fixed(s.mainCpuUsPerReq, 1),
          `${fixed(s.serverCpuPct, 0)}%`,
          fixed(s.clientCpuUsPerReq, 1),
          s.otherCpuPct === undefined ? '-' : `${fixed(s.otherCpuPct, 0)}%`,
          s.commits ? fixed(s.commits.rowsPerCommit, 1) : '-',
          s.commits ? fixed(s.commits.meanCommitMs, 2) : '-',
          s.commits?.p99LeMs !== undefined ? `<= ${s.commits.p99LeMs} ms` : '-',
          fmtInt(errorsOf(s)),
        ]),
      ),
    );
  }
  for (const s of r.steps.filter((x) => x.perOp)) out.push(perOpTable(s));
  if (r.ratios.length)
    out.push(
      table(
        ['ratio', 'value', 'goal', 'met'],
        r.ratios.map((x) => [x.name, fixed(x.value, 2), x.goal ?? '-', x.met === undefined ? '-' : x.met ? 'yes' : 'NO']),
      ),
    );
  if (r.facts.length) out.push(table(['measure', 'value'], r.facts));
  if (r.notes.length) out.push(r.notes.map((n) => `note: ${n}`).join('\n'));
  return out.join('\n\n');
}

/** A mix step's latency by op. */
function perOpTable(s: StepReport): string {
  const rows = Object.entries(s.perOp!).sort((a, b) => b[1].count - a[1].count);
  const total = rows.reduce((a, [, x]) => a + x.count, 0);
  return table(
    [`${s.name} by op`, 'share', 'p50', 'p90', 'p99', 'max'],
    rows.map(([op, x]) => [op, `${fixed((x.count / Math.max(1, total)) * 100, 1)}%`, us(x.p50), us(x.p90), us(x.p99), us(x.max)]),
  );
}

/** The command line that reproduces a run (what was typed, minus the node and script paths). */
export const commandLine = (argv: string[]): string =>
  `npm run bench -- ${argv
    .slice(2)
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ')}`;

/** Runs a scenario with its parsed options; resolves with the process exit code. */
export async function executeScenario<O>(s: Scenario<O>, o: O & CommonOptions, argv = process.argv): Promise<number> {
  const progress = Progress.create(o.progress);
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const r = await s.run(o, { progress });
  r.at = startedAt.toISOString();
  r.machine.loadAvg = { atStart: loadAtStart, atEnd: loadavg() };
  r.command = commandLine(argv);
  r.runId = runIdOf(s.name, new Date(r.at));
  const misses = checkThresholds(r.steps, { maxP99Ms: o.maxP99Ms, minOps: o.minOps });
  console.log(`\n${summaryText(r)}`);
  r.notes.push(...misses.map((m) => `threshold missed: ${m.message}`));
  const written = await writeRun(r, { resultsDir: o.resultsDir, report: o.report });
  console.log(`\nresults: ${written.json}${written.html ? `\nreport:  ${written.html}` : ''}`);
  if ((o.maxP99Ms !== undefined || o.minOps !== undefined) && !r.steps.some((x) => x.role === 'measured')) {
    console.log(`thresholds: ${s.name} has no load step they apply to`);
  }
  for (const m of misses) console.error(`threshold missed: ${m.message}`);
  return exitCodeFor(misses);
}
