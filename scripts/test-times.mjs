// Where the test suite's time goes: runs test files (a pass of scripts/test-files.mjs, or the
// files named) each in its own `node --test` process, at most N at a time, and prints per file
// the wall time, the CPU time of the file's process tree (servers it spawned included) and the
// share of the wall time that CPU covers. A file far below 100% mostly waits (timers, polling,
// child processes starting), so it can overlap with others; one near or above 100% computes.
//   node scripts/test-times.mjs [-j N] [all|server|FILE...]
// Extra `node` arguments go in NODE_TEST_ARGS; TRANSPORT=ws applies as for `npm test`.
import { spawn, execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
let jobs = 1;
if (args[0] === '-j') {
  jobs = Number(args[1]);
  args.splice(0, 2);
}
if (!(jobs >= 1)) {
  console.error('usage: node scripts/test-times.mjs [-j N] [SET|FILE...]');
  process.exit(2);
}
const files =
  args.length === 0 || (args.length === 1 && !args[0].endsWith('.js'))
    ? execFileSync(process.execPath, ['scripts/test-files.mjs', args[0] ?? 'all'], { encoding: 'utf8' })
        .trim()
        .split('\n')
    : args;
const extra = (process.env.NODE_TEST_ARGS ?? '').split(' ').filter(Boolean);

/** Runs one file under /usr/bin/time, which reports the CPU of every process it waited for. */
function run(file) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const proc = spawn('/usr/bin/time', ['-f', 'TIMES %U %S', process.execPath, ...extra, '--test', '--test-reporter=dot', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    proc.once('exit', (code) => {
      const wall = Number(process.hrtime.bigint() - start) / 1e9;
      const m = /TIMES ([\d.]+) ([\d.]+)\s*$/.exec(out);
      const cpu = m ? Number(m[1]) + Number(m[2]) : NaN;
      resolve({ file, wall, cpu, ok: code === 0, out });
    });
  });
}

const started = Date.now();
const queue = [...files];
const results = [];
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const r = await run(f);
      results.push(r);
      process.stderr.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.wall.toFixed(1).padStart(6)} s  ${f}\n`);
      if (!r.ok) process.stderr.write(r.out.slice(-4000) + '\n');
    }
  }),
);
const total = (Date.now() - started) / 1000;

results.sort((a, b) => b.wall - a.wall);
console.log(`${'file'.padEnd(44)} ${'wall s'.padStart(7)} ${'cpu s'.padStart(7)} ${'cpu/wall'.padStart(8)}`);
for (const r of results) {
  const share = Number.isNaN(r.cpu) ? '?' : `${Math.round((100 * r.cpu) / r.wall)}%`;
  console.log(
    `${(r.ok ? '' : 'FAIL ') + r.file.replace(/^dist\/test\//, '')}`.padEnd(44),
    r.wall.toFixed(1).padStart(7),
    r.cpu.toFixed(1).padStart(7),
    share.padStart(8),
  );
}
const sum = (k) => results.reduce((s, r) => s + r[k], 0);
console.log(`${files.length} files, -j ${jobs}: ${total.toFixed(0)} s wall; sum of file walls ${sum('wall').toFixed(0)} s, CPU ${sum('cpu').toFixed(0)} s`);
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
