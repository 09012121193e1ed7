// Test harness: real servers on loopback port 0, in this process or as a child process (for
// kill -9), temporary DATA_DIRs, and deadline-based waiting instead of sleeps.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { resolveConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { CartwireClient } from '../../src/client/index.js';
import { cartKey, stableHash } from '../../src/protocol/keys.js';
import type { ShardSummary } from '../../src/workers/shard-messages.js';

export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'test-admin-password';

/**
 * A fresh DATA_DIR removed after the test. Its hook runs before those of the servers started on
 * it (hooks run in order), so a server may still write there: a removal that fails then leaves the
 * directory in tmp rather than throw, as a hook that throws skips the ones after it.
 */
export function tmpDataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-test-'));
  t.after(() => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // ENOTEMPTY: files created while it was being removed
    }
  });
  return dir;
}

const baseEnv = (dataDir: string, env: Record<string, string> = {}): Record<string, string> => ({
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  SHARDS: '2',
  ADMIN_PASSWORD,
  SEED_DEMO: '1',
  // The demo pictures take seconds to draw on a busy machine; the tests that need them turn them on.
  SEED_DEMO_IMAGES: '0',
  // The whole suite runs once per transport: TRANSPORT=ws npm test runs it on ws + node:http.
  ...(process.env.TRANSPORT ? { TRANSPORT: process.env.TRANSPORT } : {}),
  ...env,
});

/** A server in this process on port 0; closed after the test. */
export async function startTestServer(t: TestContext, env: Record<string, string> = {}): Promise<RunningServer & { dataDir: string }> {
  const dataDir = env.DATA_DIR ?? tmpDataDir(t);
  const server = await startServer(resolveConfig(baseEnv(dataDir, env)));
  t.after(() => server.close());
  return Object.assign(server, { dataDir });
}

/**
 * A one-shard server, closed after the test: for tests of what lies in front of the actors
 * (frames, limits, sign-in, HTTP, the SDK's socket), which a second shard does not change: each
 * shard is a thread that costs CPU to start (`node scripts/start-cost.mjs 5 SHARDS=1` against
 * `SHARDS=2`), and the suite starts hundreds of servers.
 */
export const startEdgeTestServer = (t: TestContext, env: Record<string, string> = {}): ReturnType<typeof startTestServer> =>
  startTestServer(t, { SHARDS: '1', ...env });

export interface ChildServer {
  url: string;
  port: number;
  /** The transport the server said it runs (the `transport` field of its log line). */
  transport: 'uws' | 'ws';
  proc: ChildProcess;
  output: () => string;
  /** SIGKILL, then wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  term(): Promise<number | null>;
}

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** One line of the server's log (pino JSON): level 30 info, 40 warn, 50 error, 60 fatal. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The complete JSON lines of a server's output; anything else on stdout or stderr fails the test. */
export function logLines(output: string): LogLine[] {
  const lines = output.split('\n');
  lines.pop(); // not terminated yet (or the empty rest after the last newline)
  return lines.map((line) => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
}

/** The messages logged at warn level or above. */
export const loggedProblems = (output: string): string[] => logLines(output).flatMap((l) => (l.level >= 40 ? [l.msg] : []));

/** The server binary as a child process on `dataDir`, its stdout and stderr gathered in `output()`. */
function spawnBinary(dataDir: string, env: Record<string, string>): { proc: ChildProcessByStdio<null, Readable, Readable>; output: () => string } {
  const proc = spawn(process.execPath, [MAIN], { env: { ...process.env, ...baseEnv(dataDir, env) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/** The real server binary as a child process (for crash tests); resolves once it logs `listening on`. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ChildServer> {
  const { proc, output } = spawnBinary(dataDir, env);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    // A server that did not start is killed: no hook of the test knows it yet, and a child left
    // running keeps the test file's process alive after its last test.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    const onData = () => {
      const line = logLines(output()).find((l) => l.msg.startsWith('listening on '));
      if (line) {
        clearTimeout(timer);
        resolve(line.url as string);
      }
    };
    proc.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output()}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    transport: /"transport":"(uws|ws)"/.exec(output())?.[1] === 'ws' ? 'ws' : 'uws',
    proc,
    output,
    kill9: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
    term: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Starts the server binary again and again on one DATA_DIR (restarts after kill -9); every
 * child still running when the test ends is killed.
 */
export function serverRestarts(t: TestContext, dataDir: string, baseEnv: Record<string, string> = {}): (env?: Record<string, string>) => Promise<ChildServer> {
  const started: ChildServer[] = [];
  let ended = false;
  t.after(async () => {
    ended = true;
    for (const s of started) if (s.proc.exitCode === null && s.proc.signalCode === null) await s.kill9();
  });
  return async (env = {}) => {
    const s = await spawnServer(dataDir, { ...baseEnv, ...env });
    // A test that failed early (an unhandled rejection ends it) may still be running its body: a
    // server started after its hooks ran would keep the test file's process alive.
    if (ended) {
      await s.kill9();
      throw new Error('the test ended before this server started');
    }
    started.push(s);
    return s;
  };
}

/**
 * Runs the server binary on `dataDir` until it exits by itself (a fault it was started with kills
 * it), listening first or not: a recovery at start may reach the fault before the port is open.
 * Killed, and the promise rejected, if it still runs after `timeoutMs`.
 */
export function serverDies(dataDir: string, env: Record<string, string>, timeoutMs = 10_000): Promise<{ signal: NodeJS.Signals | null; output: string }> {
  const { proc, output } = spawnBinary(dataDir, env);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the server still ran after ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    // 'close', not 'exit': by then its output has been read to the end.
    proc.once('close', (_code, signal) => {
      clearTimeout(timer);
      resolve({ signal, output: output() });
    });
  });
}

export async function connect(url: string): Promise<CartwireClient> {
  return CartwireClient.connect(url);
}

export async function connectGuest(url: string): Promise<CartwireClient> {
  const c = await CartwireClient.connect(url);
  await c.call('auth.guest', {});
  return c;
}

/** A guest whose cart lives on `shard` of `shards` (guests are made until one lands there); the caller closes it. */
export async function guestOnShard(url: string, shards: number, shard: number): Promise<{ c: CartwireClient; userId: string; token: string }> {
  for (let i = 0; i < 200; i++) {
    const c = await CartwireClient.connect(url);
    const { userId, token } = await c.call('auth.guest', {});
    if (stableHash(cartKey(userId)) % shards === shard) return { c, userId, token };
    await c.close();
  }
  throw new Error(`no guest landed on shard ${shard}`);
}

/** GET /snapshot: the per-shard summaries, with an admin token. */
export async function shardSummaries(url: string, token: string): Promise<ShardSummary[]> {
  const res = await fetch(`${url}/snapshot`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET /snapshot answered ${res.status}`);
  return ((await res.json()) as { shards: ShardSummary[] }).shards;
}

/** A fresh admin token (the connection that got it is closed). */
export async function adminToken(url: string): Promise<string> {
  const c = await CartwireClient.connect(url);
  const { token } = await c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await c.close();
  return token;
}

export async function connectAdmin(url: string): Promise<CartwireClient> {
  const c = await CartwireClient.connect(url);
  await c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  return c;
}

/** Waits until `cond` holds, polling; fails with `what` after the deadline. */
export async function until(cond: () => boolean | Promise<boolean>, opts: { timeoutMs?: number; what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
