// The master key of a running cluster: `npm run rotate-master-key` with NATS_URL rewraps every
// account's data key while the nodes serve (they read both key ids during the change, and one
// left half-way is finished by running it again) and leaves no revision under the old key in the
// store; accounts of earlier cluster layouts (in the clear, or with the data key inside the
// account) are converted at the first start of this version and leave no plaintext and no
// carried key in the accounts stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as argon2 from '@node-rs/argon2';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { CartwireClient } from '../src/client/index.js';
import { newMasterKeyText, parseMasterKey } from '../src/persistence/master-key.js';
import { MasterKeyring, lookupHash, newDataKey, seal } from '../src/persistence/sealing.js';
import { until } from './helpers/server.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { stockedSku } from './helpers/commerce.js';
import { adminOn, balanced, retryUnavailable, startNode } from './helpers/cluster.js';
import { holders } from './helpers/file-scan.js';

const ROTATE = fileURLToPath(new URL('../src/rotate-master-key.js', import.meta.url));
const PASSWORD = 'rotation-password';
const skip = haveNatsServer() ? false : 'nats-server is not installed';

/** Every wrapped key of the cluster: each account's (in the data key bucket) and the lookup key. */
async function wrappedKeys(users: KV, keys: KV): Promise<string[]> {
  const out: string[] = [];
  for (const [kv, prefix] of [
    [keys, 'k'],
    [users, 's'],
  ] as const) {
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (e?.operation === 'PUT' && k.startsWith(prefix) && e.string().startsWith('cw1.')) out.push(e.string());
    }
  }
  return out;
}

test(
  'cluster: rotate-master-key rewraps every data key while the nodes serve; a rotation left half-way is finished by running it again',
  { skip },
  async (t) => {
    const [nats] = await startNats(t, 1);
    const a = await startNode(t, nats.url, 'a');
    const b = await startNode(t, nats.url, 'b', { SEED_DEMO: '0' });
    const { c: adminA, token } = await adminOn(a.server.url);
    t.after(() => adminA.close());
    await balanced([a, b], token);
    await retryUnavailable(() => stockedSku(adminA, 'rot-sku', 20, 700));
    const nc = await natsConnect({ servers: nats.url });
    t.after(() => nc.close());
    const kvm = new Kvm(nc);
    const [users, keys, meta] = [await kvm.open('cw-users'), await kvm.open('cw-keys'), await kvm.open('cw-meta')];
    const oldKeyText = (await meta.get('master-key'))!.string();
    const oldKey = parseMasterKey(oldKeyText, 'old');

    const first = await CartwireClient.connect(a.server.url);
    t.after(() => first.close());
    const { userId: firstId } = await first.call('auth.register', { email: 'rota.one@example.com', password: PASSWORD, name: 'Rota One' });
    const firstWrapped = (await keys.get(`k${Buffer.from(firstId).toString('hex')}`))!.string();
    const home = await first.call('address.add', { name: 'Rota One', line1: '9 Keyring Row', city: 'Wrapton', postalCode: '5555', country: 'SE' });
    await retryUnavailable(() => first.call('cart.add', { sku: 'rot-sku', qty: 1 }));
    const order = await retryUnavailable(() =>
      first.call('checkout', { idempotencyKey: 'rot-1', payment: { token: 'tok_visa' }, shippingAddressId: home.addressId }),
    );

    // A rotation stopped after storing its next key: the nodes wrap new keys under it and read both.
    const nextText = newMasterKeyText();
    const nextKey = parseMasterKey(nextText, 'next');
    await meta.create('master-key.next', nextText);
    const second = await CartwireClient.connect(b.server.url);
    t.after(() => second.close());
    await until(
      async () => {
        const probe = `rota.probe${Date.now()}@example.com`;
        const r = await second.call('auth.register', { email: probe, password: PASSWORD, name: 'Probe' });
        const e = await keys.get(`k${Buffer.from(r.userId).toString('hex')}`);
        return e!.string().startsWith(`cw1.${nextKey.id}.`);
      },
      { timeoutMs: 10_000, what: 'b wrapping new data keys under the next key' },
    );
    const mixed = (await wrappedKeys(users, keys)).map((w) => w.split('.')[1]);
    assert.ok(mixed.includes(oldKey.id) && mixed.includes(nextKey.id), 'keys under both master keys');
    assert.equal((await first.call('user.get', {})).name, 'Rota One', 'a reads an account under the old key');

    const run = await promisify(execFile)(process.execPath, [ROTATE], { env: { ...process.env, NATS_URL: nats.url, MASTER_KEY: '', PREVIOUS_MASTER_KEY: '' } });
    assert.match(run.stdout, new RegExp(`now under ${nextKey.id} \\(retired: ${oldKey.id}\\)`), run.stdout);
    const after = await wrappedKeys(users, keys);
    assert.ok(after.length >= 4, 'the admin, two accounts and the lookup key');
    assert.deepEqual(
      after.filter((w) => !w.startsWith(`cw1.${nextKey.id}.`)),
      [],
      'every wrapped key is under the new master key',
    );
    assert.equal((await meta.get('master-key'))!.string(), nextText, 'the new key is the cluster key');
    assert.notEqual((await meta.get('master-key.next'))?.operation, 'PUT', 'the next key entry is gone');

    // The running nodes read everything; so does a node started now, which knows the new key only.
    const viaB = await CartwireClient.connect(b.server.url);
    t.after(() => viaB.close());
    await viaB.call('auth.login', { email: 'rota.one@example.com', password: PASSWORD });
    assert.equal((await viaB.call('address.list', {}))[0].line1, '9 Keyring Row');
    const c = await startNode(t, nats.url, 'c', { SEED_DEMO: '0' });
    const viaC = await CartwireClient.connect(c.server.url);
    t.after(() => viaC.close());
    await viaC.call('auth.login', { email: 'rota.one@example.com', password: PASSWORD });
    assert.equal((await viaC.call('user.get', {})).name, 'Rota One');
    const seen = await retryUnavailable(() => viaC.call('order.get', { orderId: order.orderId }));
    assert.equal(seen.shippingAddress.line1, '9 Keyring Row', "the order's address copy opens on the new node");
    assert.equal(await c.server.term(), 0);
    // The retired key is erased from the meta stream's files, not only replaced.
    await until(() => holders(nats.dir, nextText).length > 0, { timeoutMs: 10_000, what: 'the new key in the JetStream store' });
    assert.deepEqual(holders(nats.dir, oldKeyText.trim()), [], 'the old master key is in no file of the JetStream store');
    // The revision a rewrap replaced is erased, not left in the data key stream's files.
    assert.deepEqual(holders(nats.dir, firstWrapped), [], 'the data key as wrapped under the old master key is in no file');
  },
);

/**
 * An account of the second bucket layout (sealed, its wrapped data key inside the account entry),
 * written under the cluster's master key and lookup key as a node of that version wrote it.
 */
async function secondLayoutAccount(users: KV, meta: KV, a: { id: string; email: string; name: string; passwordHash: string }): Promise<string> {
  const ring = new MasterKeyring(parseMasterKey((await meta.get('master-key'))!.string(), 'cluster'));
  const lookup = newDataKey('lookup');
  await users.create(`s${Buffer.from('lookup-key').toString('hex')}`, ring.wrap(lookup, 'lookup-key'));
  const dataKey = newDataKey(a.id);
  const wrappedKey = ring.wrap(dataKey, a.id);
  const profile = {
    email: a.email,
    name: a.name,
    preferences: { language: 'en', currency: 'USD', marketing: false, personalizedRecs: true },
    addresses: [],
    paymentMethods: [],
  };
  const emailHash = lookupHash(lookup.key, 'email', a.email);
  await users.create(`e${Buffer.from(emailHash).toString('hex')}`, a.id);
  const record = {
    id: a.id,
    role: 'customer',
    emailHash,
    usernameHash: null,
    passwordHash: a.passwordHash,
    tokenGen: 0,
    personalizedRecs: true,
    wrappedKey,
    sealed: seal(dataKey, JSON.stringify(profile), `profile:${a.id}`),
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    erasedAt: null,
    version: 1,
  };
  await users.create(`u${Buffer.from(a.id).toString('hex')}`, JSON.stringify(record));
  return wrappedKey;
}

test(
  'cluster: accounts of earlier bucket layouts (email and name in the clear; the data key inside the account) are converted at the first start and sign in as before',
  { skip },
  async (t) => {
    const [nats] = await startNats(t, 1);
    const nc = await natsConnect({ servers: nats.url });
    t.after(() => nc.close());
    const kvm = new Kvm(nc);
    const users = await kvm.create('cw-users', { history: 1, storage: 'file' });
    const meta = await kvm.create('cw-meta', { history: 1, storage: 'file' });
    await meta.create('master-key', newMasterKeyText());
    const second = { id: 'u_secondlayout1', email: 'sigrun.secondlayout@example.com', name: 'Sigrun Secondlayout' };
    const secondKey = await secondLayoutAccount(users, meta, {
      ...second,
      passwordHash: await argon2.hash('second-layout-password', { algorithm: argon2.Algorithm.Argon2id }),
    });
    const legacy = {
      id: 'u_firstlayout1',
      email: 'ottilie.firstlayout@example.com',
      name: 'Ottilie Firstlayout',
      role: 'customer',
      createdAt: 1_700_000_000_000,
    };
    const passwordHash = await argon2.hash('first-layout-password', { algorithm: argon2.Algorithm.Argon2id });
    const emailKey = `e${createHash('sha256').update(legacy.email).digest('hex')}`;
    await users.put(emailKey, JSON.stringify({ ...legacy, passwordHash }));
    await users.put(`u${Buffer.from(legacy.id).toString('hex')}`, String(legacy.createdAt));

    const a = await startNode(t, nats.url, 'a');
    const c = await CartwireClient.connect(a.server.url);
    t.after(() => c.close());
    assert.equal((await c.call('auth.login', { email: legacy.email, password: 'first-layout-password' })).userId, legacy.id);
    const me = await c.call('user.get', {});
    assert.deepEqual([me.email, me.name, me.createdAt], [legacy.email, legacy.name, legacy.createdAt]);
    assert.notEqual((await users.get(emailKey))?.operation, 'PUT', 'the old entry is gone');
    // The second layout's account: its data key moved to its own entry, the account no longer carries it.
    assert.equal((await c.call('auth.login', { email: second.email, password: 'second-layout-password' })).userId, second.id);
    assert.equal((await c.call('user.get', {})).name, second.name);
    const keys = await kvm.open('cw-keys');
    assert.equal((await keys.get(`k${Buffer.from(second.id).toString('hex')}`))?.string(), secondKey, 'the key in its own entry');
    const moved = (await users.get(`u${Buffer.from(second.id).toString('hex')}`))!.json<Record<string, unknown>>();
    assert.equal('wrappedKey' in moved, false, 'the account entry carries no key');
    // A second start finds the layout converted and converts nothing again.
    assert.equal(await a.server.term(), 0);
    const again = await startNode(t, nats.url, 'a2');
    const c2 = await CartwireClient.connect(again.server.url);
    t.after(() => c2.close());
    assert.equal((await c2.call('auth.login', { email: legacy.email, password: 'first-layout-password' })).userId, legacy.id);
    assert.equal(await again.server.term(), 0);
    await until(() => holders(nats.dir, 'cw-users').length > 0, { timeoutMs: 10_000, what: 'the bucket in the JetStream store' });
    for (const value of [legacy.email, legacy.name]) assert.deepEqual(holders(nats.dir, value), [], `${value} in the JetStream store`);
    // The revision that carried the key is erased from the accounts stream's files; the key is in the data key stream only.
    await until(() => holders(nats.dir, secondKey).length > 0, { timeoutMs: 10_000, what: 'the moved key in the JetStream store' });
    assert.deepEqual(
      holders(nats.dir, secondKey).filter((f) => !f.includes('KV_cw-keys')),
      [],
      'the wrapped key is in no file outside the data key stream',
    );
  },
);
