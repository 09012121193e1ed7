// `npm run bench -- <scenario> [options]`: the load harness. Each scenario starts the server as a
// child process and drives it from separate load processes; see bench/README.md.
// Scenarios are found, not listed (lib/registry.ts): adding one is adding one file.
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { busyPerSecond, callersOf, longTasks, selfTimes, type ProfileWindow } from './lib/cpuprofile.js';
import { answersOfRun, areaTimes } from './lib/profile-areas.js';
import { table } from './lib/format.js';
import { executeScenario, summaryText } from './lib/run.js';
import { readRun, writeReport } from './lib/results.js';
import { clientOption, int, num, type CommonOptions } from './lib/scenario.js';
import { EXIT_FAILED } from './lib/thresholds.js';
import { loadScenarios } from './lib/registry.js';
import { rerunWithTls } from './lib/tls.js';

/** `--window 6-16`: seconds after a profile's start. */
function windowOf(v: string): ProfileWindow {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(v);
  if (!m || Number(m[1]) >= Number(m[2])) throw new InvalidArgumentError('expected FROM-TO in seconds, FROM < TO (e.g. 6-16)');
  return { fromS: Number(m[1]), toS: Number(m[2]) };
}

/** The options every scenario has. */
function addCommon(c: Command): Command {
  return c
    .option('--shards <n>', 'SHARDS of the server', int(1), availableParallelism())
    .option('--load-procs <n>', 'load generator processes', int(1), 1)
    .addOption(clientOption())
    .addOption(new Option('--synchronous <mode>', 'SQLite synchronous of the server').choices(['FULL', 'NORMAL', 'OFF']).default('FULL'))
    .option('--server-env <kv...>', 'extra environment for the server, KEY=VALUE (e.g. MALLOC_ARENA_MAX=2)', [])
    .option('--server-prof <dir>', 'run the server with --cpu-prof, profiles to <dir> (then: bench prof <dir>/*.cpuprofile)')
    .option('--max-p99-ms <ms>', 'exit 2 when a measured step has a p99 above this', num)
    .option('--min-ops <n>', 'exit 2 when a measured step answers fewer ops/s than this', num)
    .option('--results-dir <dir>', 'where run directories go (default bench/results)')
    .option('--no-report', 'write result.json only (no report.html, no PNGs)')
    .option('--no-progress', 'no progress bar (it is off anyway when stderr is not a terminal)')
    .option('--keep-data', 'keep the temporary DATA_DIR', false)
    .option('--echo', "echo the server's output", false)
    .option('--tls', 'serve https and wss with a certificate made for the run (trusted by the load processes)', false);
}

async function buildProgram(): Promise<Command> {
  const program = new Command('bench').description('cartwire load harness').showHelpAfterError();
  for (const s of await loadScenarios()) {
    const cmd = program.command(s.name).description(s.summary);
    s.configure(cmd);
    addCommon(cmd).action(async (o: CommonOptions) => {
      process.exitCode = await executeScenario(s, o as never);
    });
  }

  program
    .command('prof')
    .description('self time per function of .cpuprofile files (e.g. from --server-prof)')
    .argument('<files...>')
    .option('--top <n>', 'functions per profile', int(1), 25)
    .option('--long-tasks <n>', 'also the n longest stretches without an idle sample (stalls: commits, GC)', int(0), 0)
    .option('--per-op <result.json>', "also busy time by area of the server in µs per answer of that run (the profiled run's result.json)")
    .option('--window <from-to>', 'only the samples from..to seconds after the profile started (e.g. 6-16)', windowOf)
    .option('--per-second', 'also the busy ms in each second of the profile (where the load was)')
    .option('--callers <fn>', "also where that function's self time is called from (nearest project frame; a substring of its name)")
    .action((files: string[], o: { top: number; longTasks: number; perOp?: string; window?: ProfileWindow; perSecond?: boolean; callers?: string }) => {
      const answers = o.perOp === undefined ? 0 : answersOfRun(o.perOp);
      for (const f of files) {
        const s = selfTimes(f, o.window);
        const within = o.window ? ` from ${o.window.fromS} s to ${o.window.toS} s` : '';
        console.log(`\n${f}: ${s.totalMs} ms busy, ${s.idleMs} ms idle${within}`);
        if (o.perSecond)
          console.log(
            `busy ms per second: ${busyPerSecond(f)
              .map((ms, i) => `${i}:${ms}`)
              .join(' ')}`,
          );
        console.log(
          table(
            ['function', 'self ms', '%'],
            s.top.slice(0, o.top).map((t) => [t.fn, t.ms, t.pct]),
          ),
        );
        if (answers > 0) {
          const areas = areaTimes(f);
          const perOp = (ms: number) => ((ms * 1000) / answers).toFixed(2);
          console.log(`by area, per answer of the run (${answers.toLocaleString('en-US')} answers, warm-up included):`);
          console.log(
            table(
              ['area', 'ms', 'µs/answer', '%'],
              [
                ...areas.map((a) => [a.area, Math.round(a.ms), perOp(a.ms), ((a.ms / Math.max(1, s.totalMs)) * 100).toFixed(1)]),
                ['all but start-up', '', perOp(areas.reduce((sum, a) => sum + (a.area.startsWith('start-up') ? 0 : a.ms), 0)), ''],
              ],
            ),
          );
        }
        if (o.callers !== undefined) {
          const c = callersOf(f, o.callers, o.window);
          console.log(`'${o.callers}': ${c.ms} ms self time, by the nearest project frame calling it:`);
          console.log(
            table(
              ['caller', 'ms', '%'],
              c.callers.slice(0, o.top).map((x) => [x.fn, x.ms, ((x.ms / Math.max(1, c.ms)) * 100).toFixed(1)]),
            ),
          );
        }
        if (o.longTasks > 0) {
          const l = longTasks(f);
          console.log(`busy stretches over ${l.profileS.toFixed(1)} s: ${l.count} of >= 5 ms, ${l.over10ms} of >= 10 ms; the longest:`);
          console.log(
            table(
              ['at s', 'ms', 'where (project frames)'],
              l.top.slice(0, o.longTasks).map((x) => [x.atS.toFixed(2), x.ms.toFixed(1), x.top.map((y) => `${y.fn} ${y.ms}`).join(' | ')]),
              ['right', 'right', 'left'],
            ),
          );
        }
      }
    });

  program
    .command('report')
    .description("print an earlier run's summary and write its report.html and PNG charts again, from its result.json alone")
    .argument('<run>', 'a run directory (e.g. bench/results/<scenario>-<time>) or the result.json in it')
    .option('--no-png', 'write report.html only, leave the PNGs as they are')
    .action(async (path: string, o: { png: boolean }) => {
      const { dir, result } = readRun(path);
      const summary = summaryText(result);
      if (summary) console.log(`${summary}\n`);
      const w = await writeReport(result, dir, { png: o.png });
      console.log(`report: ${w.html}`);
      for (const p of w.pngs) console.log(`chart:  ${p}`);
    });
  return program;
}

const tlsRun = await rerunWithTls(process.argv);
if (tlsRun !== undefined) process.exit(tlsRun);
const program = await buildProgram();
program.parseAsync().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(EXIT_FAILED);
});
