// NATS servers with JetStream for `bench cluster` and the cluster tests: Debian's nats-server
// (installed with apt-get when missing and run as root), file storage in temporary directories,
// loopback ports; one server, or `n` clustered with routes between them. Every server is killed
// (and its directory removed) when the caller stops them, or when the process exits or is signalled.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atExit, killOnExit } from './cleanup.js';
import { freePorts, removeDir, sleep, tmpDataDir } from './server.js';

export interface NatsServer {
  name: string;
  /** nats://127.0.0.1:<port> */
  url: string;
  /** Its JetStream store directory (-sd). */
  dir: string;
  /** http://127.0.0.1:<monitoring port> (/healthz, /connz, /jsz). */
  monitorUrl: string;
  pid: number;
  proc: ChildProcess;
  kill9(): Promise<void>;
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Every server's URL, comma-separated (NATS_URL). */
  url: string;
  version: string;
  stop(): Promise<void>;
}

/** The nats-server binary: `bin`, or from PATH, installed from Debian when missing (root only); undefined when there is none. */
export function findNatsServer(bin = 'nats-server'): { bin: string; version: string } | undefined {
  const version = () => {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  let v = version();
  if (v === undefined && bin === 'nats-server' && process.getuid?.() === 0) {
    console.log('cluster: nats-server is missing: apt-get install -y nats-server');
    spawnSync('apt-get', ['install', '-y', '-q', 'nats-server'], { stdio: 'ignore', timeout: 180_000 });
    v = version();
  }
  return v === undefined ? undefined : { bin, version: v };
}

/** Resolves once GET http://127.0.0.1:<port>/healthz answers 200 (JetStream ready). */
async function healthy(monitorPort: number, proc: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`nats-server exited with ${proc.exitCode ?? proc.signalCode}:\n${output().slice(-2000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await sleep(100);
  }
  throw new Error(`nats-server not healthy after ${timeoutMs} ms (${last}):\n${output().slice(-2000)}`);
}

/** Starts `n` NATS servers with JetStream (clustered when n > 1) and waits until each reports healthy; `config`: a configuration file's text for each. */
export async function startNats(n: number, o: { bin: string; version: string; echo?: boolean; config?: string }): Promise<NatsCluster> {
  const chosen = await freePorts(3 * n);
  const [ports, routes, monitors] = [chosen.slice(0, n), chosen.slice(n, 2 * n), chosen.slice(2 * n)];
  const dirs: string[] = [];
  const forget = atExit(() => dirs.forEach(removeDir));
  const servers: NatsServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill9()));
    dirs.forEach(removeDir);
    forget();
  };
  try {
    const started = ports.map((port, i) => {
      const dir = tmpDataDir('cartwire-bench-nats-');
      dirs.push(dir);
      const name = `nats${i}`;
      const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitors[i]), '-sd', dir, '-n', name];
      if (o.config !== undefined) {
        // Settings with no command-line flag (max_payload); the flags above take precedence.
        const file = join(dir, 'nats-server.conf');
        writeFileSync(file, o.config);
        args.push('-c', file);
      }
      if (n > 1) {
        args.push('--cluster_name', 'cartwire-bench', '--cluster', `nats://127.0.0.1:${routes[i]}`);
        args.push(
          '--routes',
          routes
            .filter((_, j) => j !== i)
            .map((r) => `nats://127.0.0.1:${r}`)
            .join(','),
        );
      }
      const proc = spawn(o.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      killOnExit(proc);
      let out = '';
      const keep = (d: Buffer) => {
        out += d.toString();
        if (out.length > 100_000) out = out.slice(-50_000);
        if (o.echo) for (const line of d.toString().split('\n')) if (line) process.stdout.write(`  [${name}] ${line}\n`);
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      const s: NatsServer = {
        name,
        url: `nats://127.0.0.1:${port}`,
        dir,
        monitorUrl: `http://127.0.0.1:${monitors[i]}`,
        pid: proc.pid!,
        proc,
        kill9: async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill('SIGKILL');
          await exited;
        },
      };
      servers.push(s);
      return healthy(monitors[i], proc, () => out, 30_000);
    });
    await Promise.all(started);
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, url: servers.map((s) => s.url).join(','), version: o.version, stop };
}
