// Micro-benchmark behind encryption at rest on the checkout path: what sealing an order's
// address copy costs (the main thread, once per checkout: read the account row, AES-256-GCM
// under the buyer's data key), and what opening it costs wherever an order is rendered (one
// indexed read of the wrapped key, unwrap, open). Best of ROUNDS, µs per operation.
// Run: npm run build && node dist/bench/micro/sealing.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteUserStore } from '../../src/persistence/user-store.js';
import { loadMasterKeyring } from '../../src/persistence/master-key.js';
import { SealedReader, addressAad } from '../../src/persistence/sealed-reader.js';
import { UserVault } from '../../src/app/accounts/user-vault.js';
import { AccountRecords } from '../../src/app/accounts/account-records.js';

const USERS = 2_000;
const OPS = 20_000;
const ROUNDS = 5;
const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

const dir = mkdtempSync(join(tmpdir(), 'cartwire-sealing-'));
const store = new SqliteUserStore(dir, 'OFF');
const keyring = loadMasterKeyring(dir, undefined);
const vault = await UserVault.open(store, keyring);
const records = new AccountRecords(vault);
const who = Array.from({ length: USERS }, (_, i) => ({ userId: `g_bench${i}`, role: 'guest' as const }));
// Each guest's row is made by its first checkout (once per guest, not per order).
const sealed: string[] = [];
for (const w of who) {
  const r = await records.sealAddress(w, ADDRESS);
  if (!r.ok) throw new Error(r.error.message);
  sealed.push(r.result);
}
const reader = new SealedReader(dir, keyring);

async function usPerOp(run: (i: number) => unknown): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) await run(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / OPS / 1000);
  }
  return best;
}

const seal = await usPerOp((i) => records.sealAddress(who[i % USERS], ADDRESS));
const open = await usPerOp((i) => reader.open(who[i % USERS].userId, sealed[i % USERS], addressAad(who[i % USERS].userId)));
const json = await usPerOp(() => JSON.parse(JSON.stringify(ADDRESS)));
console.log(`seal an order's address copy (row read + AES-GCM): ${seal.toFixed(2)} µs`);
console.log(`open it to render the order (key read + unwrap + open): ${open.toFixed(2)} µs`);
console.log(`for scale, JSON round trip of the address: ${json.toFixed(2)} µs`);
reader.close();
store.close();
rmSync(dir, { recursive: true, force: true });
