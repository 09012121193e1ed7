// The server under test as a child process: `node dist/src/main.js` with a temporary DATA_DIR.
// The load never runs in this process (see load.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchTlsEnv } from './tls.js';
import { randomBytes } from 'node:crypto';
import type { ShardSummary } from '../../src/workers/shard-messages.js';
import type { SnapshotSummary } from '../../src/protocol/types.js';
import { killOnExit } from './cleanup.js';

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
export const ADMIN_PASSWORD = 'bench-admin-password';

export interface ServerOptions {
  dataDir: string;
  /** JWT_SECRET for the server; the load generator mints tokens with it. */
  jwtSecret: string;
  /** Extra environment (SHARDS, SYNCHRONOUS, PASSIVATE_AFTER_MS, ...). */
  env?: Record<string, string>;
  /** Node flags for the server (e.g. --max-old-space-size=4096, --cpu-prof). */
  nodeArgs?: string[];
  /** Fixed port; 0 (default) lets the OS choose and we read it from `listening on`. */
  port?: number;
  /** Echo the server's output lines with this prefix. */
  echo?: boolean;
  /** The server's entry file (another build's dist/src/main.js); this build's when absent. */
  main?: string;
}

export interface ServerProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** performance.now() just before spawn. */
  readonly spawnedAt: number;
  /** Resolves with the base URL and the time it was printed, once the server prints `listening on`. */
  readonly listening: Promise<{ url: string; at: number }>;
  readonly exited: Promise<number | null>;
  output(): string;
  kill9(): Promise<void>;
  /** SIGTERM (drain, snapshot, exit 0); resolves with the exit code. */
  term(): Promise<number | null>;
}

/** `--server-env KEY=VALUE ...` as an object. */
export function envPairs(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of pairs ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--server-env wants KEY=VALUE, got "${kv}"`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export const newJwtSecret = (): string => randomBytes(32).toString('base64url');

export function tmpDataDir(prefix = 'cartwire-bench-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `n` distinct free ports: every listener is held open until all are chosen (ports chosen one
 * after another can repeat, as the system hands a released port out again).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
  }
}

/** A port that was free a moment ago (for restarts that must poll /readyz from spawn on). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

export function spawnServer(o: ServerOptions): ServerProcess {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(o.port ?? 0),
    HOST: '127.0.0.1',
    DATA_DIR: o.dataDir,
    ADMIN_PASSWORD,
    JWT_SECRET: o.jwtSecret,
    SEED_DEMO: '1',
    ...benchTlsEnv(),
    ...o.env,
  };
  const spawnedAt = performance.now();
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), o.main ?? MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(proc);
  let out = '';
  const keep = (d: Buffer) => {
    const s = d.toString();
    out += s;
    if (out.length > 200_000) out = out.slice(-100_000);
    if (o.echo) for (const line of s.split('\n')) if (line) process.stdout.write(`  [server] ${line}\n`);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const listening = new Promise<{ url: string; at: number }>((resolve, reject) => {
    const onData = () => {
      const m = /listening on (https?:\/\/[^\s"]+)/.exec(out);
      if (m) {
        proc.stdout.off('data', onData);
        resolve({ url: m[1], at: performance.now() });
      }
    };
    proc.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out.slice(-4000)}`)));
  });
  listening.catch(() => undefined);
  return {
    proc,
    pid: proc.pid!,
    spawnedAt,
    listening,
    exited,
    output: () => out,
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

/** Bytes of the files in a directory (non-recursive): the shard databases and their WAL files. */
export function dirFiles(dir: string): { name: string; bytes: number }[] {
  return readdirSync(dir)
    .map((name) => ({ name, bytes: statSync(join(dir, name)).size }))
    .filter((f) => f.bytes > 0)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function getJson<T>(url: string, token?: string): Promise<{ status: number; body: T | undefined }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: T | undefined;
  try {
    body = JSON.parse(text) as T;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

export async function getText(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

export type { ShardSummary, SnapshotSummary };

/** GET /snapshot (per-shard summary) with an admin token. */
export async function snapshotSummary(baseUrl: string, adminToken: string): Promise<ShardSummary[]> {
  return (await snapshotWithMemory(baseUrl, adminToken)).shards;
}

/** GET /snapshot as a whole: the shards' summaries and the process's memory. */
export async function snapshotWithMemory(baseUrl: string, adminToken: string): Promise<SnapshotSummary> {
  const r = await getJson<SnapshotSummary>(`${baseUrl}/snapshot`, adminToken);
  if (r.status !== 200 || !r.body) throw new Error(`GET /snapshot answered ${r.status}`);
  return r.body;
}

/** Sums of a few Prometheus series from /metrics (counters and histogram _sum/_count), over their labels. */
export function promValues(text: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const name = line.slice(0, sp).split('{')[0];
    if (name in out) out[name] += Number(line.slice(sp + 1));
  }
  return out;
}

/** Cumulative bucket counts of a Prometheus histogram, summed over its labels: [le, count], by le. */
export function promBuckets(text: string, name: string): [number, number][] {
  const byLe = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /le="([^"]+)"/.exec(line);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    byLe.set(le, (byLe.get(le) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return [...byLe].sort((a, b) => a[0] - b[0]);
}

/** Sum of the bucket counts of several scrapes, by bound. */
export function sumBuckets(list: [number, number][][]): [number, number][] {
  const m = new Map<number, number>();
  for (const b of list) for (const [le, n] of b) m.set(le, (m.get(le) ?? 0) + n);
  return [...m].sort((a, b) => a[0] - b[0]);
}

/**
 * The bucket bound under which `q` (0..1) of the observations between two scrapes fall, and the
 * share above `over`: a coarse tail of a server-side histogram over a window.
 */
export function bucketTail(a: [number, number][], b: [number, number][], q: number, over: number): { quantileLe: number; shareOver: number; count: number } {
  const before = new Map(a);
  const d = b.map(([le, n]) => [le, n - (before.get(le) ?? 0)] as [number, number]);
  const count = d.at(-1)?.[1] ?? 0;
  const quantileLe = d.find(([, n]) => n >= q * count)?.[0] ?? Infinity;
  const under = d.filter(([le]) => le <= over).at(-1)?.[1] ?? 0;
  return { quantileLe, shareOver: count ? (count - under) / count : 0, count };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
