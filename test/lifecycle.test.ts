// Start, SIGTERM drain and restart of the real server process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnServer, tmpDataDir, connect, until } from './helpers/server.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';

test('SIGTERM answers every in-flight request, exits 0, and keeps every acknowledged change', async (t) => {
  const dataDir = tmpDataDir(t);
  const srv = await spawnServer(dataDir);
  assert.match(srv.output(), /listening on http:\/\/127\.0\.0\.1:\d+/);
  const clients: CartwireClient[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await connect(srv.url);
    tokens.push((await c.call('auth.guest', {})).token);
    clients.push(c);
  }
  // Every connection keeps 16 requests in flight until the server refuses or closes; SIGTERM
  // lands while they are being answered.
  const acked = new Map<number, number>(); // client -> highest acknowledged version
  const outcomes = { ok: 0, refused: 0 };
  const loop = async (c: CartwireClient, i: number, lane: number) => {
    for (let k = lane; ; k += 16) {
      try {
        const cart = await c.call('cart.setQty', { sku: 'soap-bar', qty: 1 + (k % 7) });
        outcomes.ok++;
        acked.set(i, Math.max(acked.get(i) ?? 0, cart.version));
      } catch (err) {
        // Only the drain's refusal or the close after it are acceptable.
        assert.ok(err instanceof CartwireError && (err.code === 'OVERLOADED' || err.code === 'CLOSED'), String(err));
        outcomes.refused++;
        return;
      }
    }
  };
  const running = clients.flatMap((c, i) => Array.from({ length: 16 }, (_, lane) => loop(c, i, lane)));
  await until(() => outcomes.ok >= 500, { what: '500 acknowledged changes' });
  const exit = srv.term();
  await Promise.all(running);
  assert.equal(await exit, 0, srv.output());
  assert.match(srv.output(), /stopped cleanly/);
  assert.equal(outcomes.refused, 8 * 16, 'every lane ended with a refusal or close, none with another error');

  const again = await spawnServer(dataDir);
  t.after(() => again.kill9());
  for (const [i, version] of acked) {
    const c = await connect(again.url);
    await c.call('auth.resume', { token: tokens[i] });
    const cart = await c.call('cart.get', {});
    assert.ok(cart.version >= version, `client ${i}: version ${cart.version} < acknowledged ${version}`);
    await c.close();
  }
});
