// The server's log: JSON lines with levels, a start line saying what runs, the generated admin
// password in a file of its own (never in the log), errors with their cause, no personal data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnServer, tmpDataDir, connect, connectGuest, logLines, loggedProblems } from './helpers/server.js';
import { ADDRESS_GB } from './helpers/commerce.js';
import { createLogger } from '../src/log/log.js';
import { logSettings } from '../src/log/settings.js';
import { resolveConfig, ConfigError } from '../src/config.js';

const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

test('first start: the generated admin password is in DATA_DIR/admin-password (0600), its path in the log, the password nowhere in it', async (t) => {
  const dataDir = tmpDataDir(t);
  const srv = await spawnServer(dataDir, { ADMIN_PASSWORD: '' });
  t.after(() => srv.kill9());
  const file = join(dataDir, 'admin-password');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const password = readFileSync(file, 'utf8').trim();
  assert.ok(password.length >= 16, 'a long random password');
  const admin = await connect(srv.url);
  t.after(() => admin.close());
  assert.equal((await admin.call('auth.login', { email: 'admin@example.com', password })).role, 'admin', 'the file holds the real password');

  const lines = logLines(srv.output());
  assert.ok(!srv.output().includes(password), 'the password is not logged');
  assert.deepEqual(
    lines.filter((l) => l.path === file).map((l) => l.level),
    [30],
    'one info line names the file',
  );
  const start = lines.find((l) => l.version !== undefined);
  assert.ok(start, 'a start line');
  assert.deepEqual(
    [start.version, start.node, start.shards, start.dataDir, start.synchronous, start.mode, typeof start.transport],
    [PKG.version, process.version, 2, dataDir, 'FULL', 'single', 'string'],
  );
  for (const l of lines) assert.ok(typeof l.time === 'number' && typeof l.level === 'number' && typeof l.msg === 'string', JSON.stringify(l));
  await admin.close();
  assert.equal(await srv.term(), 0, `${srv.proc.signalCode}: ${srv.output()}`);

  // A later start finds the account: the file is left as it is and nothing is said about it.
  const again = await spawnServer(dataDir, { ADMIN_PASSWORD: '' });
  t.after(() => again.kill9());
  assert.equal(readFileSync(file, 'utf8').trim(), password);
  assert.ok(!logLines(again.output()).some((l) => l.path !== undefined));
  assert.equal(await again.term(), 0, `${again.proc.signalCode}: ${again.output()}`);
});

test('no personal data in the log: emails, passwords, addresses and tokens of a whole session stay out', async (t) => {
  const srv = await spawnServer(tmpDataDir(t));
  t.after(() => srv.kill9());
  const email = 'ada.lovelace@example.org';
  const password = 'analytical-engine-1843';
  const c = await connectGuest(srv.url);
  t.after(() => c.close());
  await c.call('cart.add', { sku: 'soap-bar', qty: 2 });
  const { token } = await c.call('auth.register', { email, password, name: 'Ada Lovelace' });
  await c.call('checkout', { idempotencyKey: 'pd-1', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });
  const other = await connect(srv.url);
  t.after(() => other.close());
  await assert.rejects(other.call('auth.login', { email, password: 'wrong-password-1' }));
  await assert.rejects(other.call('auth.resume', { token: token.slice(0, -4) + 'AAAA' }));
  await c.close();
  await other.close();
  assert.equal(await srv.term(), 0);
  const out = srv.output();
  for (const secret of [email, password, 'wrong-password-1', token, ADDRESS_GB.line1, ADDRESS_GB.postalCode, 'Lovelace']) {
    assert.ok(!out.includes(secret), `${secret} is in the log:\n${out}`);
  }
  assert.deepEqual(loggedProblems(out), []);
});

/** A logger writing to a temporary file; returns the lines it wrote. */
function logTo(
  t: { after: (fn: () => void) => void },
  settings: Parameters<typeof createLogger>[0],
  write: (log: ReturnType<typeof createLogger>) => void,
): string[] {
  const path = join(tmpdir(), `cartwire-log-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(path, 'w');
  t.after(() => closeSync(fd));
  write(createLogger(settings, fd));
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

test('LOG_LEVEL filters; errors keep their cause; secrets in logged objects are redacted', (t) => {
  const lines = logTo(t, { level: 'warn', format: 'json' }, (log) => {
    log.info('not shown');
    log.warn('shown');
    log.error({ err: new Error('checkpoint stopped', { cause: new Error('SQLITE_FULL: database or disk is full') }) }, 'maintenance failed');
    log.warn({ user: { email: 'a@b.c', password: 'hunter22' }, token: 'eyJ' }, 'careless');
  });
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    parsed.map((l) => l.msg),
    ['shown', 'maintenance failed', 'careless'],
  );
  const err = parsed[1].err as { message: string; cause?: { message: string }; stack: string };
  assert.equal(err.message, 'checkpoint stopped');
  assert.equal(err.cause?.message, 'SQLITE_FULL: database or disk is full');
  assert.equal(parsed[1].level, 50);
  assert.deepEqual(parsed[2].user, { email: '[redacted]', password: '[redacted]' });
  assert.equal(parsed[2].token, '[redacted]');
});

test('pretty lines on a terminal, JSON otherwise; LOG_FORMAT chooses; bad values stop the start', (t) => {
  assert.deepEqual(logSettings({}, true), { level: 'info', format: 'pretty' });
  assert.deepEqual(logSettings({}, false), { level: 'info', format: 'json' });
  assert.deepEqual(logSettings({ LOG_FORMAT: 'json', LOG_LEVEL: 'DEBUG' }, true), { level: 'debug', format: 'json' });
  const [line] = logTo(t, { level: 'info', format: 'pretty' }, (log) => log.info('hello'));
  assert.match(line, /INFO.*hello/);
  assert.throws(() => JSON.parse(line) as unknown);
  for (const [name, value] of [
    ['LOG_LEVEL', 'loud'],
    ['LOG_FORMAT', 'xml'],
  ]) {
    assert.throws(
      () => resolveConfig({ [name]: value }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${name} must be one of`),
    );
  }
});
