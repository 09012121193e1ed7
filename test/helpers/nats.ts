// Real NATS servers for the cluster tests: Debian's nats-server (installed with apt-get when
// missing), JetStream on, file storage in temporary directories, loopback ports; one server, or
// three clustered for R3. Every server a test starts is killed after it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { until } from './server.js';

/** Whether nats-server can run here; installs it from Debian when missing and allowed. */
export function haveNatsServer(): boolean {
  if (spawnSync('nats-server', ['--version']).status === 0) return true;
  if (process.getuid?.() !== 0) return false;
  spawnSync('apt-get', ['install', '-y', '-q', 'nats-server'], { stdio: 'ignore', timeout: 180_000 });
  return spawnSync('nats-server', ['--version']).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServer {
  url: string;
  port: number;
  /** Its JetStream store directory (-sd). */
  dir: string;
  proc: ChildProcess;
  kill9(): Promise<void>;
  /** Starts it again on the same port and store (after kill9). */
  restart(): Promise<void>;
}

async function launch(args: string[], port: number): Promise<ChildProcess> {
  const proc = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  try {
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const s = createServer();
          s.once('error', () => resolve(true)); // taken: the server listens
          s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
        }),
      // 30 s: on a loaded two-core CI machine a JetStream server took over 10 s to listen.
      { timeoutMs: 30_000, what: `nats-server on ${port}` },
    );
  } catch (cause) {
    proc.kill('SIGKILL');
    throw new Error(`nats-server did not listen on ${port}; its output: ${err.slice(0, 500) || '(none)'}`, { cause });
  }
  return proc;
}

/** NATS servers with JetStream: one, or `n` clustered (routes between them). */
export async function startNats(t: TestContext, n = 1): Promise<NatsServer[]> {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const routes = await Promise.all(Array.from({ length: n }, freePort));
  const servers: NatsServer[] = [];
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'cartwire-nats-'));
    const args = ['-js', '-a', '127.0.0.1', '-p', String(ports[i]), '-sd', dir, '-n', `n${i}`];
    if (n > 1) {
      args.push('--cluster_name', 'cartwire-test', '--cluster', `nats://127.0.0.1:${routes[i]}`);
      args.push(
        '--routes',
        routes
          .filter((_, j) => j !== i)
          .map((r) => `nats://127.0.0.1:${r}`)
          .join(','),
      );
    }
    const s: NatsServer = {
      url: `nats://127.0.0.1:${ports[i]}`,
      port: ports[i],
      dir,
      proc: await launch(args, ports[i]),
      kill9: async () => {
        if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
        const exited = new Promise((r) => s.proc.once('exit', r));
        s.proc.kill('SIGKILL');
        await exited;
      },
      restart: async () => {
        s.proc = await launch(args, ports[i]);
      },
    };
    servers.push(s);
    t.after(async () => {
      await s.kill9();
      rmSync(dir, { recursive: true, force: true });
    });
  }
  return servers;
}
