// Real disk faults under a real server: a filesystem that fills up (a size-limited tmpfs, mounted
// by the test when it runs as root) and fsyncs that fail with EIO (injected by strace into the
// server process). While commits fail, writes answer UNAVAILABLE and /readyz is 503; once the
// disk works again writes succeed; after a kill -9 every acknowledged change is there and no
// refused one is.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { connect, connectAdmin, serverRestarts, until } from './helpers/server.js';
import { stockedSku } from './helpers/commerce.js';

const isRoot = process.getuid?.() === 0;

/** A tmpfs of `mb` MiB mounted for the test, unmounted after it. */
function smallDisk(t: TestContext, mb: number): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the filesystem of `dir` until it is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last few bytes too: a small write must fail as well.
  try {
    writeFileSync(join(dir, 'filler-tail'), Buffer.alloc(4096));
  } catch {
    // full
  }
  return path;
}

/** 'ok' or an error code. */
type Outcome = string;
async function attempt(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof CartwireError) return err.code;
    throw err;
  }
}

async function guest(url: string): Promise<{ c: CartwireClient; token: string }> {
  const c = await connect(url);
  const { token } = await c.call('auth.guest', {});
  return { c, token };
}

test('a full disk: writes answer UNAVAILABLE and /readyz 503, reads go on, writes succeed once space is freed, nothing acknowledged is lost', async (t) => {
  if (!isRoot) return t.skip('needs root to mount a size-limited tmpfs');
  const disk = smallDisk(t, 24);
  if (!disk) return t.skip('cannot mount tmpfs here (no CAP_SYS_ADMIN)');
  const dataDir = join(disk, 'data');
  const start = serverRestarts(t, dataDir, { SHARDS: '2' });
  const a = await start();
  const { c, token } = await guest(a.url);
  let acked = 0;
  for (let i = 0; i < 20; i++) if ((await attempt(c.call('cart.add', { sku: 'soap-bar', qty: 1 }))) === 'ok') acked++;
  assert.equal(acked, 20);

  const filler = fill(disk);
  const during: Outcome[] = [];
  for (let i = 0; i < 20; i++) {
    const o = await attempt(c.call('cart.add', { sku: 'soap-bar', qty: 1 }));
    during.push(o);
    if (o === 'ok') acked++;
  }
  t.diagnostic(
    `answers while the disk is full: ${JSON.stringify(Object.fromEntries([...new Set(during)].map((k) => [k, during.filter((x) => x === k).length])))}`,
  );
  assert.ok(during.includes('UNAVAILABLE'), 'a write on a full disk answers UNAVAILABLE');
  assert.ok(
    during.every((o) => o === 'UNAVAILABLE' || o === 'ok'),
    'and nothing else',
  );
  const ready = await fetch(`${a.url}/readyz`);
  assert.equal(ready.status, 503, '/readyz is 503 while commits fail');
  t.diagnostic(`/readyz while full: ${await ready.text()}`);
  const read = await c.call('cart.get', {});
  assert.equal(read.items[0].qty, acked, 'a read is served and shows exactly what was acknowledged');

  rmSync(filler);
  rmSync(join(disk, 'filler-tail'), { force: true });
  await until(async () => (await fetch(`${a.url}/readyz`)).status === 200, { timeoutMs: 10_000, what: '/readyz 200 once space is back' });
  for (let i = 0; i < 5; i++) {
    assert.equal(await attempt(c.call('cart.add', { sku: 'soap-bar', qty: 1 })), 'ok', 'writes succeed again');
    acked++;
  }
  await c.close();
  await a.kill9();

  const b = await start();
  const again = await connect(b.url);
  t.after(() => again.close());
  await again.call('auth.resume', { token });
  assert.equal((await again.call('cart.get', {})).items[0].qty, acked, 'after kill -9: every acknowledged add, no refused one');
});

function haveStrace(): boolean {
  if (spawnSync('strace', ['-V']).status === 0) return true;
  if (!isRoot) return false;
  // Debian's strace, installed when missing (the test machines are Debian).
  spawnSync('apt-get', ['install', '-y', '-q', 'strace'], { stdio: 'ignore', timeout: 120_000 });
  return spawnSync('strace', ['-V']).status === 0;
}

test('fsyncs failing with EIO under write load: no acknowledged change is lost and no refused one appears after kill -9', async (t) => {
  if (!haveStrace()) return t.skip('strace is not installed and cannot be installed here');
  const dataDir = mkdtempSync(join(tmpdir(), 'cartwire-eio-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const start = serverRestarts(t, dataDir, { SHARDS: '2' });
  const a = await start();
  const admin = await connectAdmin(a.url);
  await stockedSku(admin, 'eio-sku', 1_000_000);
  await admin.close();
  const shoppers = await Promise.all(Array.from({ length: 8 }, () => guest(a.url)));
  const acked = new Array<number>(shoppers.length).fill(0);
  const refused = new Array<number>(shoppers.length).fill(0);
  let running = true;
  const load = shoppers.map(async (s, i) => {
    // A line holds at most 999: each shopper stops well before.
    while (running && acked[i] + refused[i] < 950) {
      const o = await attempt(s.c.call('cart.add', { sku: 'eio-sku', qty: 1 }));
      if (o === 'ok') acked[i]++;
      else if (o === 'UNAVAILABLE') refused[i]++;
      else assert.fail(`unexpected answer ${o}`);
    }
  });
  await until(() => acked.reduce((x, y) => x + y) > 200, { timeoutMs: 10_000, what: 'load running' });
  // Every shard thread: its 20th to 60th fsync fail with EIO, then they work again.
  const strace = spawn(
    'strace',
    ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=fdatasync,fsync', '-e', 'inject=fdatasync,fsync:error=EIO:when=20..60', '-p', String(a.proc.pid)],
    { stdio: 'ignore' },
  );
  t.after(() => strace.kill('SIGKILL'));
  await until(() => refused.some((n) => n > 0), { timeoutMs: 15_000, what: 'commits failing under the injected EIO' });
  await until(async () => acked.reduce((x, y) => x + y) > 400 && (await fetch(`${a.url}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    what: 'writes succeeding again',
  });
  running = false;
  await Promise.all(load);
  strace.kill('SIGINT');
  await new Promise((r) => strace.once('exit', r));
  await a.kill9();

  const b = await start();
  const totalAcked = acked.reduce((x, y) => x + y);
  const totalRefused = refused.reduce((x, y) => x + y);
  t.diagnostic(`acknowledged ${totalAcked}, refused UNAVAILABLE ${totalRefused}`);
  for (const [i, s] of shoppers.entries()) {
    const c = await connect(b.url);
    await c.call('auth.resume', { token: s.token });
    const cart = await c.call('cart.get', {});
    await c.close();
    assert.equal(cart.items[0]?.qty ?? 0, acked[i], `shopper ${i}: exactly the acknowledged adds (${acked[i]} acked, ${refused[i]} refused)`);
  }
  for (const s of shoppers) await s.c.close();
});
