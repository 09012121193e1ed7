// An order's copy of the shipping address is sealed under the buyer's data key. A guest's first
// checkout makes its account row (holding that key) from the one read that found none; two
// checkouts of one new guest at once still end with one row and one key, and both copies open
// with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteUserStore } from '../src/persistence/user-store.js';
import { loadMasterKeyring } from '../src/persistence/master-key.js';
import { open } from '../src/persistence/sealing.js';
import { addressAad } from '../src/persistence/sealed-reader.js';
import { UserVault } from '../src/app/accounts/user-vault.js';
import { AccountRecords } from '../src/app/accounts/account-records.js';
import type { ShippingAddress } from '../src/protocol/types.js';
import { tmpDataDir } from './helpers/server.js';

const address: ShippingAddress = { name: 'Ada', line1: '1 Loop Rd', city: 'Lisbon', postalCode: '1000-001', country: 'PT' };

async function records(dir: string) {
  const store = new SqliteUserStore(dir, 'FULL');
  const vault = await UserVault.open(store, loadMasterKeyring(dir, undefined));
  const reads = { count: 0 };
  const get = store.get.bind(store);
  store.get = (id: string) => {
    reads.count++;
    return get(id);
  };
  return { store, vault, records: new AccountRecords(vault), reads };
}

const opened = (vault: UserVault, row: Parameters<UserVault['sealFor']>[0], sealed: string, userId: string) =>
  JSON.parse(open(vault.dataKey(row)!, sealed, addressAad(userId)).toString()) as ShippingAddress;

test("a new guest's first checkout reads its missing row once, makes it, and seals under its key", async (t) => {
  const { store, vault, records: r, reads } = await records(tmpDataDir(t));
  t.after(() => store.close());
  const who = { userId: 'g-first', role: 'guest' as const };
  const sealed = await r.sealAddress(who, address);
  assert.ok(sealed.ok);
  assert.equal(reads.count, 1, 'one read of the missing row, none again before the insert');
  const row = await store.get(who.userId);
  assert.ok(row && row.version === 0, 'the row was made, once');
  assert.deepEqual(opened(vault, row, sealed.result, who.userId), address);
  // a second checkout within the touch interval reads the row and writes nothing
  reads.count = 0;
  const again = await r.sealAddress(who, address);
  assert.ok(again.ok);
  assert.equal(reads.count, 1);
  assert.equal((await store.get(who.userId))!.version, 0);
});

test('two first checkouts of one guest at once: one row, one key, both copies open with it', async (t) => {
  const { store, vault, records: r } = await records(tmpDataDir(t));
  t.after(() => store.close());
  const who = { userId: 'g-race', role: 'guest' as const };
  const [a, b] = await Promise.all([r.sealAddress(who, address), r.sealAddress(who, { ...address, name: 'Bob' })]);
  assert.ok(a.ok && b.ok);
  const row = (await store.get(who.userId))!;
  assert.ok(row.version <= 1, 'one insert; the loser of the race read the winner row and wrote at most once more');
  assert.equal(opened(vault, row, a.result, who.userId).name, 'Ada');
  assert.equal(opened(vault, row, b.result, who.userId).name, 'Bob');
});
