// The Redis peer's cart script against a real redis-server, and the guard that never leaves a
// redis-server behind. Skipped where redis-server is not installed (CI needs no apt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { STOCK_KEY, cartKey, findRedisServer, startRedis } from '../bench/lib/redis-peer.js';

const bin = findRedisServer();
const skip = bin ? false : 'redis-server is not installed (bench/setup.sh installs it)';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

test('the cart script: stock check, line cap 999, a version per change', { skip, timeout: 15_000 }, async (t) => {
  const peer = await startRedis('everysec', { tee: 5, big: 5000 }, bin);
  const r = new Redis(peer.port, '127.0.0.1');
  t.after(async () => {
    r.disconnect();
    await peer.stop();
  });
  const cart = cartKey('u1');
  const call = (mode: string, sku: string, qty: number) => r.evalsha(peer.sha, 2, STOCK_KEY, cart, mode, sku, qty);
  const err = async (p: Promise<unknown>) =>
    (
      await p.then(
        () => assert.fail('expected an error'),
        (e: Error) => e.message,
      )
    ).split(' ')[0];

  assert.equal(await call('add', 'tee', 2), 1);
  assert.equal(await call('add', 'tee', 1), 2);
  assert.equal(await r.hget(cart, 'tee'), '3');
  assert.equal(await call('set', 'tee', 3), 2, 'a change that changes nothing keeps the version');
  assert.equal(await err(call('add', 'tee', 3)), 'OUT_OF_STOCK');
  assert.equal(await err(call('set', 'tee', 6)), 'OUT_OF_STOCK');
  assert.equal(await err(call('add', 'nope', 1)), 'NOT_FOUND');
  assert.equal(await call('set', 'big', 999), 3);
  assert.equal(await err(call('add', 'big', 1)), 'LIMIT_EXCEEDED');
  assert.equal(await call('set', 'tee', 0), 4);
  assert.equal(await r.hget(cart, 'tee'), null);
  assert.equal(await r.hget(cart, 'big'), '999');
  assert.equal(await r.config('GET', 'appendfsync').then((x) => x[1]), 'everysec');
});

test('stop() ends redis-server and removes its dir', { skip, timeout: 15_000 }, async () => {
  const peer = await startRedis('always', {}, bin);
  assert.ok(alive(peer.pid));
  const r = new Redis(peer.port, '127.0.0.1');
  assert.equal(await r.config('GET', 'appendfsync').then((x) => x[1]), 'always');
  r.disconnect();
  await peer.stop();
  assert.ok(await until(() => !alive(peer.pid), 3000), `redis-server ${peer.pid} still runs`);
});

test('a harness killed with SIGKILL leaves no redis-server behind', { skip, timeout: 15_000 }, async () => {
  // A child starts the peer, prints its pid and waits; we kill -9 the child.
  const mod = fileURLToPath(new URL('../bench/lib/redis-peer.js', import.meta.url));
  assert.ok(existsSync(mod));
  const code = `import('${mod}').then(async (m) => { const p = await m.startRedis('everysec', {}); console.log('pid ' + p.pid); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /pid (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`child exited first: ${out}`)));
  });
  assert.ok(alive(pid));
  child.kill('SIGKILL');
  assert.ok(await until(() => !alive(pid), 5000), `redis-server ${pid} survived its harness`);
});
