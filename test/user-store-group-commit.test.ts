// The embedded account store commits the writes of one turn of the event loop together: each
// write in a savepoint of its own inside one transaction. A clash fails only its own write, a
// compare-and-set still lets one of two writers win, nothing is visible before its group commits,
// and a write that resolved survives kill -9 of the process that made it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SqliteUserStore, type UserRecord } from '../src/persistence/user-store.js';
import { tmpDataDir } from './helpers/server.js';

const row = (id: string, emailHash: string | null = null): UserRecord => ({
  id,
  role: 'guest',
  emailHash,
  usernameHash: null,
  passwordHash: null,
  tokenGen: 0,
  personalizedRecs: true,
  wrappedKey: `wrapped-${id}`,
  sealed: null,
  createdAt: 1,
  updatedAt: 1,
  erasedAt: null,
  version: 0,
});

test('the inserts of one turn: a taken email fails its own insert only; none is visible before the group commits; all survive a reopen', async (t) => {
  const dir = tmpDataDir(t);
  const store = new SqliteUserStore(dir, 'FULL');
  const ids = Array.from({ length: 200 }, (_, i) => `u${i}`);
  const writes = ids.map((id, i) => store.tryInsert(row(id, i === 150 ? 'email-7' : `email-${i}`)));
  assert.equal(await store.get('u0'), undefined, 'queued, not committed yet');
  const outcomes = await Promise.all(writes);
  assert.deepEqual(
    outcomes.flatMap((ok, i) => (ok ? [] : [ids[i]])),
    ['u150'],
    'only the insert that reused email-7 failed',
  );
  assert.equal((await store.get('u7'))?.emailHash, 'email-7');
  assert.equal(await store.get('u150'), undefined);
  store.close();
  const again = new SqliteUserStore(dir, 'FULL');
  t.after(() => again.close());
  assert.equal((await again.list(1000, undefined)).length, 199);
});

test('two updates of one version in one turn: one is stored, the other is stale; a username clash is a conflict and leaves the rest of the group', async (t) => {
  const store = new SqliteUserStore(tmpDataDir(t), 'FULL');
  t.after(() => store.close());
  assert.equal(await store.tryInsert(row('a')), true);
  assert.equal(await store.tryInsert({ ...row('b'), usernameHash: 'taken' }), true);
  const a = (await store.get('a'))!;
  const b = (await store.get('b'))!;
  const [first, second, clash, other] = await Promise.all([
    store.update(a, { ...a, sealed: 'first' }),
    store.update(a, { ...a, sealed: 'second' }),
    store.update(a, { ...a, usernameHash: 'taken' }),
    store.update(b, { ...b, sealed: 'b2' }),
  ]);
  assert.deepEqual([first, second, clash, other], ['ok', 'stale', 'stale', 'ok']);
  const after = (await store.get('a'))!;
  assert.equal(after.sealed, 'first');
  assert.equal(after.version, a.version + 1);
  assert.equal((await store.get('b'))!.sealed, 'b2');
  // The clash on its own (the row's current version): a conflict, and the write next to it stays.
  const [clashNow, beside] = await Promise.all([store.update(after, { ...after, usernameHash: 'taken' }), store.tryInsert(row('c'))]);
  assert.equal(clashNow, 'conflict');
  assert.equal(beside, true);
  assert.equal((await store.get('a'))!.usernameHash, null);
  assert.ok(await store.get('c'));
});

test('a write that resolved survives kill -9 of its process', async (t) => {
  const dir = tmpDataDir(t);
  const storeModule = fileURLToPath(new URL('../src/persistence/user-store.js', import.meta.url));
  // The child inserts 300 rows in three turns, says how many resolved, then waits to be killed.
  const script = `
    const { SqliteUserStore } = await import(${JSON.stringify(storeModule)});
    const store = new SqliteUserStore(${JSON.stringify(dir)}, 'FULL');
    const row = (id) => ({ id, role: 'guest', emailHash: null, usernameHash: null, passwordHash: null, tokenGen: 0,
      personalizedRecs: true, wrappedKey: 'k', sealed: null, createdAt: 1, updatedAt: 1, erasedAt: null, version: 0 });
    let n = 0;
    for (let turn = 0; turn < 3; turn++) {
      const ok = await Promise.all(Array.from({ length: 100 }, (_, i) => store.tryInsert(row('k' + turn + '-' + i))));
      n += ok.filter(Boolean).length;
    }
    process.stdout.write('resolved ' + n + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`child exited ${code} before answering: ${out}`)));
  });
  assert.equal(said, 'resolved 300');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const store = new SqliteUserStore(dir, 'FULL');
  t.after(() => store.close());
  assert.equal((await store.list(1000, undefined)).length, 300);
});
