// Configuration errors name the variable and the value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, ConfigError } from '../src/config.js';

test('defaults follow docs/protocol.md', () => {
  const c = resolveConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '127.0.0.1');
  assert.ok(c.dataDir.endsWith('/data'));
  assert.ok(c.shards >= 1);
  assert.equal(c.seedDemo, true);
  assert.equal(c.synchronous, 'FULL');
  assert.equal(c.commitWindowUs, 1000);
  assert.equal(c.adminEmail, 'admin@example.com');
});

test('bad values are rejected with the variable name and the value', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ SHARDS: 'abc' }, /^SHARDS must be a positive integer <= 256, got "abc"$/],
    [{ SHARDS: '0' }, /SHARDS must be a positive integer/],
    [{ PORT: '70000' }, /PORT must be a non-negative integer <= 65535, got "70000"/],
    [{ PORT: '-1' }, /PORT must be/],
    [{ SEED_DEMO: 'yes' }, /SEED_DEMO must be 1 or 0, got "yes"/],
    [{ IDLE_GC_MS: '50' }, /^IDLE_GC_MS must be 0 \(off\) or at least 1000, got "50"$/],
    [{ IDLE_GC_MS: '-5' }, /IDLE_GC_MS must be a non-negative integer/],
    [{ COMMIT_WINDOW_US: '50000' }, /^COMMIT_WINDOW_US must be a non-negative integer <= 20000, got "50000"$/],
    [{ COMMIT_WINDOW_US: '0.5' }, /COMMIT_WINDOW_US must be a non-negative integer/],
    [{ SYNCHRONOUS: 'sometimes' }, /SYNCHRONOUS must be one of FULL, NORMAL, OFF, got "sometimes"/],
    [{ ADMIN_PASSWORD: 'short' }, /ADMIN_PASSWORD must be at least 8 characters/],
    [{ JWT_SECRET: 'tooshort' }, /JWT_SECRET must be at least 32 characters/],
    [{ ADMIN_EMAIL: 'nope' }, /ADMIN_EMAIL must be an email address, got "nope"/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => resolveConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  }
});
