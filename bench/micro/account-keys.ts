// Micro-benchmark behind the data key entries of cluster mode, against one real nats-server
// (file storage, R1): what an account read costs now that the key is a second entry (read in
// parallel with the row) next to one get of the row, what an erasure costs (delete marker, history, secure erase of every
// revision, then the row) next to a plain profile write (what erasure cost when the key was in
// the row), and what a rotation costs per data key (compare-and-set, then the replaced revision
// erased). Mean per operation over ACCOUNTS accounts.
// Run: npm run build && node dist/bench/micro/account-keys.js [accounts]
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { randomBytes } from 'node:crypto';
import { findNatsServer, startNats } from '../lib/nats-servers.js';
import { KvUserStore } from '../../src/persistence/kv-user-store.js';
import { DATA_KEY_HISTORY } from '../../src/persistence/kv-data-keys.js';
import { MasterKeyring, masterKeyId, newDataKey, seal } from '../../src/persistence/sealing.js';
import type { UserRecord } from '../../src/persistence/user-store.js';

const ACCOUNTS = Number(process.argv[2] ?? 300);
const bin = findNatsServer();
if (!bin) throw new Error('nats-server is not installed');
const nats = await startNats(1, bin);
const nc = await connect({ servers: nats.url });
try {
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const users = await kvm.create('cw-users', { history: 1, storage: 'file' });
  const keys = await kvm.create('cw-keys', { history: DATA_KEY_HISTORY, storage: 'file' });
  const store = new KvUserStore(
    { kv: users, erase: (seq) => jsm.streams.deleteMessage('KV_cw-users', seq, true) },
    { kv: keys, erase: (seq) => jsm.streams.deleteMessage('KV_cw-keys', seq, true) },
  );
  const master = (): MasterKeyring => {
    const k = randomBytes(32);
    return new MasterKeyring({ id: masterKeyId(k), key: k });
  };
  const ring = master();
  const now = Date.now();
  const records: UserRecord[] = Array.from({ length: ACCOUNTS }, (_, i) => {
    const id = `u_bench${i}`;
    const dk = newDataKey(id);
    return {
      id,
      role: 'customer',
      emailHash: null,
      usernameHash: null,
      passwordHash: 'x',
      tokenGen: 0,
      personalizedRecs: true,
      wrappedKey: ring.wrap(dk, id),
      sealed: seal(dk, JSON.stringify({ name: `Bench ${i}` }), `profile:${id}`),
      createdAt: now,
      updatedAt: now,
      erasedAt: null,
      version: 0,
    };
  });
  const ms = async (each: (r: UserRecord) => Promise<unknown>): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (const r of records) await each(r);
    return Number(process.hrtime.bigint() - t0) / ACCOUNTS / 1e6;
  };
  const insert = await ms((r) => store.tryInsert(r));
  const read = await ms((r) => store.get(r.id));
  // One get of the row: what a read cost when the key was inside it.
  const row = await ms((r) => users.get(`u${Buffer.from(r.id).toString('hex')}`));
  const write = await ms(async (r) => {
    const before = (await store.get(r.id))!;
    await store.update(before, { ...before, updatedAt: before.updatedAt + 1 });
  });
  const next = new MasterKeyring(master().current, [ring.current]);
  const t0 = process.hrtime.bigint();
  const rotated = await store.rewrapKeys(next);
  const rewrap = Number(process.hrtime.bigint() - t0) / rotated.accounts / 1e6;
  const erase = await ms(async (r) => {
    const before = (await store.get(r.id))!;
    await store.update(before, { ...before, wrappedKey: null, sealed: null, erasedAt: Date.now() });
  });
  console.log(`${nats.version}, ${ACCOUNTS} accounts, one server (R1, file storage); mean ms per operation`);
  console.log(`create an account (data key entry, then the row): ${insert.toFixed(2)} ms`);
  console.log(`read an account (row and data key entry in parallel): ${read.toFixed(2)} ms`);
  console.log(`read the row alone (one get, as when the key was in it): ${row.toFixed(2)} ms`);
  console.log(`write a profile change (read, then compare-and-set on the row): ${write.toFixed(2)} ms`);
  console.log(`rotate one data key (compare-and-set, replaced revision erased): ${rewrap.toFixed(2)} ms (${rotated.rewrapped} rewrapped)`);
  console.log(`erase an account (read, shred every revision of the key, then the row): ${erase.toFixed(2)} ms`);
} finally {
  await nc.close();
  await nats.stop();
}
