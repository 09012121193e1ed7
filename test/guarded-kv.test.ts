// The accounts buckets of a cluster node, wrapped for clients' requests (src/app/cluster/guarded-kv.ts),
// against a real nats-server that hangs (SIGSTOP) and dies (SIGKILL): NATS failures become
// UnavailableError (a change sent into a hang: applied unknown), answers pass through as they are,
// and while the connection is down a request fails at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { guardedKv } from '../src/app/cluster/guarded-kv.js';
import { ConnectionWatch, NODE_CONNECTION } from '../src/persistence/nats-streams.js';
import { wrongLastSequence } from '../src/persistence/nats-errors.js';
import { UnavailableError } from '../src/transport/dispatch.js';
import { haveNatsServer, pause, rejection, startNats } from './helpers/nats.js';
import { until } from './helpers/server.js';

test('guarded accounts bucket: a hung server, a lost compare-and-set, a dead server', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t);
  t.after(() => void server.proc.kill('SIGCONT'));
  const nc = await connect({ servers: server.url, ...NODE_CONNECTION });
  t.after(() => nc.close().catch(() => undefined));
  const watch = new ConnectionWatch(nc, 'test');
  const raw = await new Kvm(nc).create('guarded_test');
  const { kv } = guardedKv({ kv: raw, erase: () => Promise.resolve() }, watch);
  const rev = await kv.create('k', 'a');
  assert.equal((await kv.get('k'))?.string(), 'a');

  // Hung: the change is sent and never answered; it may have been made.
  await pause(server);
  const hung = await rejection(kv.update('k', 'b', rev, 300));
  assert.ok(hung instanceof UnavailableError, String(hung));
  assert.equal(hung.applied, 'unknown');
  server.proc.kill('SIGCONT');

  // An answer, not a failure: the compare-and-set lost.
  const now = (await kv.get('k'))!.revision;
  const lost = await rejection(kv.update('k', 'c', now + 7));
  assert.ok(wrongLastSequence(lost), String(lost));
  assert.ok(!(lost instanceof UnavailableError));

  // Dead: once the connection is down, a read fails at once, and applied is not claimed for it.
  await server.kill9();
  await until(() => watch.down, { what: 'the connection seen down' });
  const t0 = Date.now();
  const down = await rejection(kv.get('k'));
  assert.ok(down instanceof UnavailableError, String(down));
  assert.equal(down.applied, undefined);
  assert.ok(Date.now() - t0 < 100, `failed after ${Date.now() - t0} ms`);
});
