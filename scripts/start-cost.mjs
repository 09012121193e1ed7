// What one server start costs: spawns the built server (dist/src/main.js) N times, each on a fresh
// data directory with the settings of the test suite's spawned servers (2 shards, the demo
// catalog without pictures), and prints the CPU time of the whole process (all its threads), the
// wall time until it listens and its resident memory then, and the medians. The test suite starts
// a few hundred servers, so this is most of what `npm test` costs; a server's restart after a
// crash is the same path.
//   node scripts/start-cost.mjs [N] [KEY=VALUE...]   (extra settings for the server, e.g. SHARDS=1)
// With `import` as first argument it times only loading the server's modules (no start).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// /proc readers of the bench (built with the server: this script needs dist/ anyway).
import { cpuMicros, memStatus } from '../dist/bench/lib/procfs.js';

const args = process.argv.slice(2);
const importOnly = args[0] === 'import';
if (importOnly) args.shift();
const n = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 7;
const extra = Object.fromEntries(args.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
function once() {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-start-'));
  const env = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    SHARDS: '2',
    ADMIN_PASSWORD: 'start-cost-password',
    SEED_DEMO: '1',
    SEED_DEMO_IMAGES: '0',
    ...extra,
  };
  const argv = importOnly
    ? ['--input-type=module', '-e', "await import('./dist/src/app/server.js'); setInterval(() => {}, 1000); console.log('listening on (modules loaded)')"]
    : ['dist/src/main.js'];
  const started = process.hrtime.bigint();
  const proc = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let listening = false;
    proc.stdout.on('data', (d) => {
      out += d;
      if (listening || !out.includes('listening on')) return;
      listening = true;
      const wall = Number(process.hrtime.bigint() - started) / 1e6;
      const cpu = Math.round(cpuMicros(proc.pid) / 1000);
      const rss = memStatus(proc.pid).vmRssKiB / 1024;
      proc.once('exit', () => {
        rmSync(dir, { recursive: true, force: true });
        resolve({ cpu, wall, rss });
      });
      proc.kill('SIGTERM');
    });
    proc.once('exit', (code) => listening || reject(new Error(`server exited with ${code} before listening:\n${out}`)));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = [];
for (let i = 0; i < n; i++) {
  const r = await once();
  runs.push(r);
  console.log(`${importOnly ? 'modules loaded' : 'listening'} after ${r.wall.toFixed(0)} ms, CPU ${r.cpu} ms, RSS ${r.rss.toFixed(0)} MiB`);
}
console.log(
  `median of ${n}: CPU ${median(runs.map((r) => r.cpu))} ms, wall ${median(runs.map((r) => r.wall)).toFixed(0)} ms, RSS ${median(runs.map((r) => r.rss)).toFixed(0)} MiB`,
);
