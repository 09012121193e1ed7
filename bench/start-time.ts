// `npm run bench:start [-- --runs N]`: how long the README's `npm start` takes on an unchanged
// tree, from the command to the first answer of /healthz (listening) and of /readyz (every shard
// recovered, the demo catalog loaded). One warm-up start first (it brings the build up to date and
// creates the data directory), then N measured restarts on the same data directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

interface Run {
  healthzMs: number;
  readyzMs: number;
}

/** One `npm start`: times to /healthz and /readyz, then SIGTERM and wait for the exit. */
async function startOnce(dataDir: string, env: Record<string, string>): Promise<Run> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true, // its own process group: npm, the shell and the server stop together
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, ADMIN_PASSWORD: 'start-time-admin', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const base = `http://127.0.0.1:${port}`;
  const deadline = t0 + 120_000;
  let healthzMs = NaN;
  try {
    for (;;) {
      if (gone) throw new Error(`npm start exited before answering:\n${err}`);
      if (performance.now() > deadline) throw new Error('no answer from /readyz in 120 s');
      if (Number.isNaN(healthzMs) && (await answers(`${base}/healthz`))) healthzMs = performance.now() - t0;
      if (!Number.isNaN(healthzMs) && (await answers(`${base}/readyz`))) return { healthzMs, readyzMs: performance.now() - t0 };
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    if (!gone) process.kill(-proc.pid!, 'SIGTERM');
    await exited;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Number(process.argv[i + 1]) : 5;
  const dataDir = mkdtempSync(join(tmpdir(), 'cartwire-start-'));
  try {
    const env: Record<string, string> = {};
    const warm = await startOnce(dataDir, env);
    console.log(`warm-up start (build brought up to date, data dir created): /healthz ${warm.healthzMs.toFixed(0)} ms, /readyz ${warm.readyzMs.toFixed(0)} ms`);
    const results: Run[] = [];
    for (let r = 1; r <= runs; r++) {
      const run = await startOnce(dataDir, env);
      results.push(run);
      console.log(`run ${r}: npm start to /healthz ${run.healthzMs.toFixed(0)} ms, to /readyz ${run.readyzMs.toFixed(0)} ms`);
    }
    const h = results.map((x) => x.healthzMs);
    const rd = results.map((x) => x.readyzMs);
    console.log(
      `${runs} runs on an unchanged tree: /healthz median ${median(h).toFixed(0)} ms (min ${Math.min(...h).toFixed(0)}, max ${Math.max(...h).toFixed(0)}); ` +
        `/readyz median ${median(rd).toFixed(0)} ms (min ${Math.min(...rd).toFixed(0)}, max ${Math.max(...rd).toFixed(0)})`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
