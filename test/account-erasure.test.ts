// Erasure and master key rotation against the data directory itself: after user.erase and a
// restart, the user's name, email and addresses are in no file's bytes while their orders still
// read with their totals; after `rotate-master-key` and a restart, everything opens again and no
// stored value is wrapped by the retired key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import * as argon2 from '@node-rs/argon2';
import { connect, connectAdmin, startTestServer, tmpDataDir } from './helpers/server.js';
import { refused, stockedSku } from './helpers/commerce.js';

const PASSWORD = 'erase-me-password';
const ROTATE = fileURLToPath(new URL('../src/rotate-master-key.js', import.meta.url));

/** Every file under `dir`, with its bytes. */
function files(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : [{ path: p, bytes: readFileSync(p) }];
  });
}

/** The files that hold `needle` (as UTF-8 bytes, also as UTF-16LE, and case-insensitively for ASCII). */
function holders(dir: string, needle: string): string[] {
  const forms = [Buffer.from(needle), Buffer.from(needle.toLowerCase()), Buffer.from(needle.toUpperCase()), Buffer.from(needle, 'utf16le')];
  return files(dir)
    .filter((f) => forms.some((n) => f.bytes.includes(n)))
    .map((f) => f.path);
}

test('user.erase: after a restart the name, email and addresses are in no file of the data directory; the orders still read with totals', async (t) => {
  const dataDir = tmpDataDir(t);
  const secrets = { email: 'zelda.quintessa@example.com', name: 'Zelda Quintessa', line1: '77 Xylophone Crescent', city: 'Vorbridge', postalCode: 'QX9 7ZZ' };
  let srv = await startTestServer(t, { DATA_DIR: dataDir });
  let admin = await connectAdmin(srv.url);
  await stockedSku(admin, 'erase-sku', 100, 1500);
  const c = await connect(srv.url);
  const { userId } = await c.call('auth.register', { email: secrets.email, password: PASSWORD, name: secrets.name });
  await c.call('user.update', { username: 'zeldaq' });
  const saved = await c.call('address.add', { name: secrets.name, line1: secrets.line1, city: secrets.city, postalCode: secrets.postalCode, country: 'NL' });
  const card = await c.call('paymentMethod.add', { cardNumber: '4242424242424242', expMonth: 1, expYear: new Date().getUTCFullYear() + 3, cvc: '999' });
  await c.call('cart.add', { sku: 'erase-sku', qty: 2 });
  const byIds = await c.call('checkout', { idempotencyKey: 'e1', payment: { paymentMethodId: card.paymentMethodId }, shippingAddressId: saved.addressId });
  await c.call('cart.add', { sku: 'erase-sku', qty: 1 });
  const inline = { name: secrets.name, line1: secrets.line1, city: secrets.city, postalCode: secrets.postalCode, country: 'NL' };
  const byValue = await c.call('checkout', { idempotencyKey: 'e2', payment: { token: 'tok_visa' }, shippingAddress: inline });
  assert.equal((await admin.call('order.get', { orderId: byValue.orderId })).shippingAddress.line1, secrets.line1, 'readable before the erasure');

  await refused(c.call('user.erase', { password: 'not-my-password' }), 'FORBIDDEN', 'a wrong password');
  assert.equal((await c.call('user.get', {})).name, secrets.name, 'a refused erasure erased nothing');
  assert.deepEqual(await c.call('user.erase', { password: PASSWORD }), {});
  await refused(c.call('user.get', {}), 'UNAUTHENTICATED', 'the connection of the erased user');
  await refused(c.call('auth.login', { email: secrets.email, password: PASSWORD }), 'UNAUTHENTICATED', 'signing in to the erased account');
  const kept = await admin.call('order.get', { orderId: byIds.orderId });
  assert.deepEqual(kept.shippingAddress, { name: '', line1: '', city: '', postalCode: '', country: 'NL', erased: true });
  assert.deepEqual([kept.totals.subtotal, kept.status], [3000, 'confirmed']);
  const listed = await admin.call('user.list', { q: userId });
  assert.deepEqual(
    listed.items.map((u) => [u.userId, u.erased, u.email, u.name]),
    [[userId, true, undefined, '']],
  );
  await Promise.all([c.close(), admin.close()]);
  await srv.close();

  srv = await startTestServer(t, { DATA_DIR: dataDir });
  admin = await connectAdmin(srv.url);
  for (const [o, subtotal] of [
    [byIds, 3000],
    [byValue, 1500],
  ] as const) {
    const after = await admin.call('order.get', { orderId: o.orderId });
    assert.deepEqual([after.totals.subtotal, after.totals.total, after.status, after.shippingAddress.erased], [subtotal, o.totals.total, 'confirmed', true]);
  }
  assert.equal((await admin.call('inventory.get', { sku: 'erase-sku' })).onHand, 97, 'stock history stands');
  await admin.close();
  await srv.close();

  const db = new Database(join(dataDir, 'system.db'), { readonly: true });
  const row = db.prepare('SELECT wrapped_key, sealed, email_hash FROM accounts WHERE id = ?').get(userId);
  db.close();
  assert.deepEqual(row, { wrapped_key: null, sealed: null, email_hash: null }, 'the data key is destroyed');
  // The scan can see: the sku is stored in the clear, so it must be found.
  assert.ok(holders(dataDir, 'erase-sku').length > 0, 'the scan finds what is stored');
  for (const [what, value] of Object.entries(secrets)) assert.deepEqual(holders(dataDir, value), [], `${what} in the data directory`);
});

test('rotate-master-key: every wrapped key moves to the new master key; after a restart accounts and orders open as before', async (t) => {
  const dataDir = tmpDataDir(t);
  let srv = await startTestServer(t, { DATA_DIR: dataDir });
  let admin = await connectAdmin(srv.url);
  await stockedSku(admin, 'rot-sku', 10, 900);
  const c = await connect(srv.url);
  const { userId } = await c.call('auth.register', { email: 'rota@example.com', password: PASSWORD, name: 'Rota' });
  const home = await c.call('address.add', { name: 'Rota', line1: '5 Turnkey Lane', city: 'Keyport', postalCode: '1234', country: 'DK' });
  await c.call('cart.add', { sku: 'rot-sku', qty: 1 });
  const order = await c.call('checkout', { idempotencyKey: 'r1', payment: { token: 'tok_visa' }, shippingAddressId: home.addressId });
  await Promise.all([c.close(), admin.close()]);
  await srv.close();

  const keyFile = join(dataDir, 'master-key');
  const before = readFileSync(keyFile, 'utf8');
  const versions = (): Record<string, number> => {
    const d = new Database(join(dataDir, 'system.db'), { readonly: true });
    try {
      const rows = d.prepare('SELECT id, version FROM accounts WHERE wrapped_key IS NOT NULL').all() as { id: string; version: number }[];
      return Object.fromEntries(rows.map((r) => [r.id, r.version]));
    } finally {
      d.close();
    }
  };
  const versionsBefore = versions();
  const out = execFileSync(process.execPath, [ROTATE], { env: { ...process.env, DATA_DIR: dataDir, MASTER_KEY: '' }, encoding: 'utf8' });
  assert.match(out, /rotated the master key/);
  assert.deepEqual(
    versions(),
    Object.fromEntries(Object.entries(versionsBefore).map(([id, v]) => [id, v + 1])),
    'every rewrapped row has a new version: a write prepared from the row as it was fails its compare-and-set',
  );
  const after = readFileSync(keyFile, 'utf8');
  assert.notEqual(after, before, 'a new key replaced the old one');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  const [oldId, newId] = [/retired: (m[0-9a-f]+)/.exec(out)?.[1], /under (m[0-9a-f]+)/.exec(out)?.[1]];
  assert.ok(oldId && newId && oldId !== newId, out);
  const db = new Database(join(dataDir, 'system.db'), { readonly: true });
  const wrapped = (db.prepare('SELECT wrapped_key FROM accounts WHERE wrapped_key IS NOT NULL').all() as { wrapped_key: string }[]).map((r) => r.wrapped_key);
  wrapped.push((db.prepare("SELECT value FROM secrets WHERE name = 'lookup-key'").get() as { value: string }).value);
  db.close();
  assert.ok(wrapped.length >= 3, 'the admin, the user and the lookup key');
  assert.ok(
    wrapped.every((w) => w.startsWith(`cw1.${newId}.`)),
    'every wrapped key names the new master key',
  );
  assert.deepEqual(holders(dataDir, `cw1.${oldId}.`), [], 'nothing is left wrapped by the retired key');

  srv = await startTestServer(t, { DATA_DIR: dataDir });
  const back = await connect(srv.url);
  admin = await connectAdmin(srv.url);
  t.after(() => Promise.all([back.close(), admin.close()]));
  assert.equal((await back.call('auth.login', { email: 'rota@example.com', password: PASSWORD })).userId, userId);
  assert.deepEqual([(await back.call('user.get', {})).name, (await back.call('address.list', {}))[0].line1], ['Rota', '5 Turnkey Lane']);
  assert.equal((await admin.call('order.get', { orderId: order.orderId })).shippingAddress.line1, '5 Turnkey Lane');
});

test('accounts of the first schema (plaintext email and name) are sealed and moved on the first start, and sign in as before', async (t) => {
  const dataDir = tmpDataDir(t);
  const hash = await argon2.hash('legacy-password', { algorithm: argon2.Algorithm.Argon2id });
  const old = new Database(join(dataDir, 'system.db'));
  old.exec(
    `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  );
  old.prepare('INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)').run('u_legacy0001', 'olde.legacy@example.com', 'Olde Legacy', 'customer', hash, 1_700_000_000_000);
  old.close();
  const srv = await startTestServer(t, { DATA_DIR: dataDir });
  const c = await connect(srv.url);
  t.after(() => c.close());
  assert.equal((await c.call('auth.login', { email: 'olde.legacy@example.com', password: 'legacy-password' })).userId, 'u_legacy0001');
  const me = await c.call('user.get', {});
  assert.deepEqual([me.email, me.name, me.createdAt], ['olde.legacy@example.com', 'Olde Legacy', 1_700_000_000_000]);
  await c.close();
  await srv.close();
  const db = new Database(join(dataDir, 'system.db'), { readonly: true });
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  db.close();
  assert.ok(!tables.includes('users') && tables.includes('accounts'), tables.join());
  for (const value of ['olde.legacy@example.com', 'Olde Legacy']) assert.deepEqual(holders(dataDir, value), [], value);
});
