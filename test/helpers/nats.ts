// Real NATS servers for the cluster tests, started as the bench's cluster scenario starts them (see
// bench/lib/nats-servers.ts: Debian's nats-server, installed with apt-get when missing, JetStream
// on, file storage in temporary directories, loopback ports, ready once /healthz answers 200); one
// server, or three clustered for R3. Every server a test starts is killed after it.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { findNatsServer, startNats as startNatsServers, type NatsServer } from '../../bench/lib/nats-servers.js';

/** Whether nats-server can run here; installs it from Debian when missing and allowed. */
export const haveNatsServer = (): boolean => findNatsServer() !== undefined;

/** NATS servers with JetStream: one, or `n` clustered (routes between them), each with `config` (a configuration file's text); killed after the test. */
export async function startNats(t: TestContext, n = 1, config?: string): Promise<NatsServer[]> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server is not installed and cannot be installed here');
  const cluster = await startNatsServers(n, { ...bin, config });
  t.after(() => cluster.stop());
  return cluster.servers;
}

/** What `p` rejects with; fails the test when it resolves. */
export const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );

/** Stops `server` (SIGSTOP) and resolves once the kernel shows it stopped: nothing it has not read yet is answered. */
export async function pause(server: NatsServer): Promise<void> {
  server.proc.kill('SIGSTOP');
  const state = () => readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1]?.[0];
  for (let i = 0; state() !== 'T'; i++) {
    if (i > 500) throw new Error(`nats-server ${server.pid} did not stop`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
