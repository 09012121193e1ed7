// Micro-benchmark behind the key mirror of cluster mode: what filling it costs per account at a
// node's start (unwrap under the master key, wrap under the process's mirror key, one SQLite
// upsert; in transactions of 1,000 rows), what indexing an account beside it costs, what one later change costs, and what opening an order's address copy through it costs (the same path as on one
// node: one indexed read, unwrap, open). Best of ROUNDS, µs per operation.
// Run: npm run build && node dist/bench/micro/key-mirror.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KeyMirror } from '../../src/persistence/key-mirror.js';
import { SealedReader, addressAad } from '../../src/persistence/sealed-reader.js';
import { MasterKeyring, masterKeyId, newDataKey, seal } from '../../src/persistence/sealing.js';

const USERS = 20_000;
const ROUNDS = 3;
const ADDRESS = JSON.stringify({ name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' });

const dir = mkdtempSync(join(tmpdir(), 'cartwire-key-mirror-'));
const master = randomBytes(32);
const ring = new MasterKeyring({ id: masterKeyId(master), key: master });
const ids = Array.from({ length: USERS }, (_, i) => `u_bench${i}`);
const keys = ids.map((id) => newDataKey(id));
const wrapped = ids.map((id, i) => ring.wrap(keys[i], id));
const sealed = ids.map((id, i) => seal(keys[i], ADDRESS, addressAad(id)));

// A change after the start: its own transaction (what the watch and this node's writes cost).
const one = ((): number => {
  const m = new KeyMirror(dir);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 2_000; i++) m.put(ids[i], ring.unwrap(wrapped[i], ids[i]));
  const us = Number(process.hrtime.bigint() - t0) / 2_000 / 1000;
  m.close();
  return us;
})();
let fill = Infinity;
let mirror: KeyMirror | undefined;
for (let r = 0; r < ROUNDS; r++) {
  mirror?.close();
  mirror = new KeyMirror(dir); // empties it, as at a start
  const t0 = process.hrtime.bigint();
  mirror.beginBulk();
  for (let i = 0; i < USERS; i++) mirror.put(ids[i], ring.unwrap(wrapped[i], ids[i]));
  mirror.endBulk();
  fill = Math.min(fill, Number(process.hrtime.bigint() - t0) / USERS / 1000);
}
// The account index beside it (account-index.ts): one upsert per account row the watch delivers.
let indexFill = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  mirror!.close();
  mirror = new KeyMirror(dir);
  const t0 = process.hrtime.bigint();
  mirror.beginBulk();
  for (let i = 0; i < USERS; i++) mirror.index.put({ id: ids[i], role: 'guest', updatedAt: 1_700_000_000_000 + i, version: 1 });
  mirror.endBulk();
  indexFill = Math.min(indexFill, Number(process.hrtime.bigint() - t0) / USERS / 1000);
}
// One account row changed later (its own transaction), as the watch delivers it.
const t1 = process.hrtime.bigint();
for (let i = 0; i < 2_000; i++) mirror!.index.put({ id: ids[i], role: 'customer', updatedAt: 1_800_000_000_000 + i, version: 2 });
const indexOne = Number(process.hrtime.bigint() - t1) / 2_000 / 1000;
mirror!.beginBulk();
for (let i = 0; i < USERS; i++) mirror!.put(ids[i], ring.unwrap(wrapped[i], ids[i]));
mirror!.endBulk();
const reader = new SealedReader(dir, mirror!.keyring);
let open = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < USERS; i++) if (reader.open(ids[i], sealed[i], addressAad(ids[i])) === undefined) throw new Error('does not open');
  open = Math.min(open, Number(process.hrtime.bigint() - t0) / USERS / 1000);
}
console.log(`fill the mirror at a start (unwrap + wrap + upsert): ${fill.toFixed(2)} µs per account (${((fill * 1e6) / 1e6).toFixed(1)} s per million)`);
console.log(`index an account at a start (one upsert): ${indexFill.toFixed(2)} µs per account; one index change later: ${indexOne.toFixed(2)} µs`);
console.log(`one account changed later (its own transaction): ${one.toFixed(2)} µs`);
console.log(`open an order's address copy through it (read + unwrap + open): ${open.toFixed(2)} µs`);
reader.close();
mirror!.close();
rmSync(dir, { recursive: true, force: true });
