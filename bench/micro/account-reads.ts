// Micro-benchmark behind the account store's kept rows: what `SqliteUserStore.get` costs the main
// thread for a working set of buyers (a flash sale's 2,000; each checkout reads its buyer's row
// once, a signed-in buyer's twice), with the rows kept after a read and with one row kept (every read goes to SQLite and
// builds a record). Rows as the server writes them: a sealed profile of ~1 KB, a wrapped key.
// Run: npm run build && node dist/bench/micro/account-reads.js [buyers] [reads]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteUserStore, type UserRecord } from '../../src/persistence/user-store.js';

const buyers = Number(process.argv[2] ?? 2000);
const reads = Number(process.argv[3] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'cw-account-reads-'));

const record = (id: string): UserRecord => ({
  id,
  role: 'guest',
  emailHash: null,
  usernameHash: null,
  passwordHash: null,
  tokenGen: 0,
  personalizedRecs: true,
  wrappedKey: `cw1.m0123456789abcdef.${randomBytes(60).toString('base64url')}`,
  sealed: `cw1.d${id}-0a1b2c3d.${randomBytes(760).toString('base64url')}`,
  createdAt: Date.now(),
  updatedAt: Date.now(),
  erasedAt: null,
  version: 0,
});

const kept = new SqliteUserStore(dir, 'OFF');
const ids = Array.from({ length: buyers }, (_, i) => `g_${i.toString(36).padStart(10, '0')}`);
await Promise.all(ids.map((id) => kept.tryInsert(record(id))));
const uncached = new SqliteUserStore(dir, 'OFF', 1);

async function perRead(store: SqliteUserStore): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reads; i++) await store.get(ids[(i * 7919) % buyers]);
  return Number(process.hrtime.bigint() - t0) / reads / 1000;
}

for (const store of [kept, uncached]) await perRead(store); // warm-up: the page cache, the JIT
const rows: string[] = [];
for (let round = 1; round <= 3; round++) {
  const a = await perRead(kept);
  const b = await perRead(uncached);
  rows.push(`round ${round}: kept rows ${a.toFixed(2)} µs per get, one row kept (SQLite each time) ${b.toFixed(2)} µs`);
}
console.log(`${buyers} accounts, ${reads} reads per pass, Node ${process.version}`);
for (const r of rows) console.log(r);
kept.close();
uncached.close();
rmSync(dir, { recursive: true, force: true });
