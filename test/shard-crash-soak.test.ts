// Many shard worker deaths in one process, with writes in flight on the dying shard: each death
// tears down the worker and its SQLite connection while commits are under way, and the process
// must live through every one (the server restarts the shard each time).
// SHARD_CRASH_SOAK=N runs N servers of three deaths each (default 2); the soak is for the Node
// versions whose worker teardown has aborted the process (docs/operations.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stableHash, couponKey } from '../src/protocol/keys.js';
import { CartwireError } from '../src/client/index.js';
import { connect, guestOnShard, startTestServer, until } from './helpers/server.js';

const SHARDS = 2;
const BOOM = 'BOOM';
const boomShard = stableHash(couponKey(BOOM)) % SHARDS;
const SERVERS = Number(process.env.SHARD_CRASH_SOAK ?? 2);
const DEATHS_PER_SERVER = 3; // restart delays 100, 200, 400 ms: later ones would wait for seconds

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    // A request whose commit was on its way when the worker died: stored, its answer lost.
    if (err instanceof CartwireError) return err.details?.applied === true ? 'applied' : err.code;
    throw err;
  }
}

test(
  `${SERVERS * DEATHS_PER_SERVER} shard deaths with commits in flight: the process lives, and every death is restarted`,
  { timeout: 60_000 + SERVERS * 20_000 },
  async (t) => {
    let deaths = 0;
    for (let s = 0; s < SERVERS; s++) {
      const srv = await startTestServer(t, { SHARDS: String(SHARDS), FAULT_CRASH_SHARD_ON: couponKey(BOOM) });
      const { c: writer } = await guestOnShard(srv.url, SHARDS, boomShard);
      const killer = await connect(srv.url);
      await killer.call('auth.guest', {});
      const codes = new Map<string, number>();
      for (let d = 0; d < DEATHS_PER_SERVER; d++) {
        await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 15_000, what: `shard up before death ${deaths + 1}` });
        // Adds keep the shard's commit path busy while the coupon read kills its worker.
        let dying = true;
        const adds = (async () => {
          while (dying) {
            const code = await codeOf(writer.call('cart.add', { sku: 'soap-bar', qty: 1 }));
            codes.set(code, (codes.get(code) ?? 0) + 1);
            if (code !== 'ok') dying = false; // the shard is down: the next add would be refused at once
          }
        })();
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
        assert.equal(await codeOf(killer.call('cart.applyCoupon', { code: BOOM })), 'UNAVAILABLE');
        dying = false;
        await adds;
        deaths++;
      }
      await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 15_000, what: 'the shard up after its last death' });
      const cart = await writer.call('cart.get', {});
      const stored = (codes.get('ok') ?? 0) + (codes.get('applied') ?? 0);
      assert.ok(
        cart.items.length === 1 && cart.items[0].qty === stored,
        `the cart holds the adds stored, no more: ${cart.items[0]?.qty} of ${JSON.stringify([...codes])}`,
      );
      await writer.close();
      await killer.close();
      await srv.close();
    }
    t.diagnostic(`${deaths} shard deaths, the process alive`);
  },
);
