// Accounts in cluster mode while NATS is gone: a sign-in, a profile read and a profile change need the
// accounts bucket, and without it they are answered UNAVAILABLE (with a retry hint) at once, not
// INTERNAL after a timeout; once NATS is back they work again. A real node and a real nats-server,
// killed with SIGKILL and started again on its store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient, CartwireError } from '../src/client/index.js';
import { haveNatsServer, pause } from './helpers/nats.js';
import { findNatsServer, startNats } from '../bench/lib/nats-servers.js';
import { adminOn, balanced, retryUnavailable, startNode } from './helpers/cluster.js';
import { until } from './helpers/server.js';

const skip = haveNatsServer() ? false : 'nats-server is not installed';
const PASSWORD = 'a long enough password';

async function answer(p: Promise<unknown>): Promise<{ code: string; retryAfterMs?: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
    return { code: 'ok', ms: Date.now() - t0 };
  } catch (err) {
    if (!(err instanceof CartwireError)) throw err;
    return { code: err.code, retryAfterMs: err.details?.retryAfterMs, ms: Date.now() - t0 };
  }
}

test('cluster: with NATS gone, account operations answer UNAVAILABLE, not INTERNAL, and work again once it is back', { skip }, async (t) => {
  const nats = await startNats(1, findNatsServer()!);
  t.after(() => nats.stop());
  const [server] = nats.servers;
  t.after(() => void server.proc.kill('SIGCONT'));
  const a = await startNode(t, nats.url, 'a');
  const { c: admin, token } = await adminOn(a.server.url);
  t.after(() => admin.close());
  await balanced([a], token);

  const shopper = await CartwireClient.connect(a.server.url);
  t.after(() => shopper.close());
  await retryUnavailable(() => shopper.call('auth.register', { email: 'down@example.com', password: PASSWORD }));
  const other = await CartwireClient.connect(a.server.url);
  t.after(() => other.close());
  const accountOps = async () => [
    await answer(other.call('auth.login', { email: 'down@example.com', password: PASSWORD }, { timeoutMs: 20_000 })),
    await answer(shopper.call('user.get', {}, { timeoutMs: 20_000 })),
    await answer(shopper.call('user.update', { name: 'Dana Down' }, { timeoutMs: 20_000 })),
  ];
  const unavailable = (answers: Awaited<ReturnType<typeof accountOps>>, withinMs: number) => {
    for (const x of answers) {
      assert.equal(x.code, 'UNAVAILABLE', JSON.stringify(answers));
      assert.equal(typeof x.retryAfterMs, 'number', JSON.stringify(answers));
      assert.ok(x.ms < withinMs, `answered after ${x.ms} ms: ${JSON.stringify(answers)}`);
    }
  };

  // Hung (SIGSTOP): the connection stays up and nothing answers; each request times out.
  await pause(server);
  unavailable(await accountOps(), 10_000);
  server.proc.kill('SIGCONT');
  await until(async () => (await answer(other.call('auth.login', { email: 'down@example.com', password: PASSWORD }))).code === 'ok', {
    timeoutMs: 20_000,
    what: 'a sign-in once NATS answers again',
  });
  assert.equal((await answer(shopper.call('user.get', {}))).code, 'ok');

  // Gone (SIGKILL): the node sees its connection drop and fails what needs it at once.
  await server.kill9();
  unavailable(await accountOps(), 3_000);
  assert.doesNotMatch(a.server.output(), /(auth\.login|auth\.guest|user\.get) failed/, 'logged as a bug');
});
