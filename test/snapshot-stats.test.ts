// What GET /snapshot and guest cart retention read of a shard's snapshots without scanning them:
// the count and newest time kept by triggers (schema 5, and the upgrade from 4), and retention's
// bounded looks over the guest carts. Real SQLite files, written through the group commit.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { openShardDb, shardDbPath, SCHEMA_VERSION } from '../src/persistence/shard-db.js';
import { Journal } from '../src/persistence/journal.js';
import { BatchWrites } from '../src/persistence/batch-writes.js';
import { encodeRow } from '../src/persistence/row-codec.js';
import { GuestCartRetention } from '../src/persistence/retention.js';
import { tmpDataDir } from './helpers/server.js';

function shardDb(t: TestContext): { db: Database.Database; journal: Journal } {
  const db = openShardDb(tmpDataDir(t), 0, 'NORMAL');
  t.after(() => db.close());
  return { db, journal: new Journal(db) };
}

const snapshot = (journal: Journal, actors: string[], seq = 1) => {
  const w = new BatchWrites();
  for (const actor of actors) w.snapshots.push({ actor, seq, state: encodeRow({ seq }) });
  journal.commit(w);
};

/** What a scan of the table says, to hold the kept figures against. */
const scanned = (db: Database.Database) => db.prepare('SELECT count(*) AS n, max(at) AS at FROM snapshots').get() as { n: number; at: number | null };

test('the snapshot count and newest time follow inserts, rewrites and deletes without a scan', (t) => {
  const { db, journal } = shardDb(t);
  assert.deepEqual([journal.summary().snapshots, journal.summary().lastSnapshotAt], [0, null]);

  const t0 = Date.now();
  snapshot(journal, ['cart:a', 'cart:b', 'sku:kite']);
  assert.equal(journal.summary().snapshots, 3);
  snapshot(journal, ['cart:a', 'cart:b'], 2); // rewrites: no new rows
  snapshot(journal, ['cart:c'], 1);
  const s = journal.summary();
  assert.equal(s.snapshots, 4);
  assert.equal(s.snapshots, scanned(db).n);
  assert.ok(s.lastSnapshotAt !== null && s.lastSnapshotAt >= t0 && s.lastSnapshotAt === scanned(db).at, `${s.lastSnapshotAt}`);
  assert.equal((journal.recover('cart:a').snapshot as { seq: number }).seq, 2, 'the rewrite stored the new state');

  new GuestCartRetention(db).delete(['cart:b', 'cart:nobody']);
  assert.equal(journal.summary().snapshots, 3);
  assert.equal(journal.summary().snapshots, scanned(db).n);

  // The summary reads the one-row table: no plan step touches the snapshots table.
  const plan = db.prepare('EXPLAIN QUERY PLAN SELECT rows AS n, last_at AS at FROM snapshot_stats').all() as { detail: string }[];
  assert.ok(
    plan.every((p) => !p.detail.includes('snapshots ')),
    JSON.stringify(plan),
  );
});

test('a schema 4 database is upgraded to 5: its snapshots counted once, counted by the triggers after', (t) => {
  const dir = tmpDataDir(t);
  mkdirSync(dir, { recursive: true });
  const old = new Database(shardDbPath(dir, 0));
  old.pragma('journal_mode = WAL');
  old.exec(`
    CREATE TABLE snapshots (actor TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB NOT NULL, at INTEGER NOT NULL, crc INTEGER) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('schema', '4');
  `);
  const put = old.prepare('INSERT INTO snapshots VALUES (?, 1, ?, ?, NULL)');
  for (let i = 0; i < 250; i++) put.run(`cart:old-${i}`, encodeRow({ i }), 1_000 + i);
  old.close();

  const db = openShardDb(dir, 0, 'NORMAL');
  t.after(() => db.close());
  assert.equal((db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value, SCHEMA_VERSION);
  const journal = new Journal(db);
  assert.deepEqual([journal.summary().snapshots, journal.summary().lastSnapshotAt], [250, 1_249]);
  snapshot(journal, ['cart:old-0', 'cart:new']);
  assert.equal(journal.summary().snapshots, 251);
  assert.equal(journal.summary().snapshots, scanned(db).n);
});

test('a database of a newer schema is refused, and left as it was', (t) => {
  const dir = tmpDataDir(t);
  const first = openShardDb(dir, 0, 'NORMAL');
  first.prepare("UPDATE meta SET value = '6' WHERE key = 'schema'").run();
  // Say schema 6 had no use for a trigger of 5: refusing must not put it back.
  first.exec('DROP TRIGGER snapshot_added');
  first.close();
  assert.throws(() => openShardDb(dir, 0, 'NORMAL'), /schema 6 is not the supported 5/);
  const db = new Database(shardDbPath(dir, 0), { readonly: true });
  t.after(() => db.close());
  assert.equal((db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value, '6');
  assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'snapshot_added'").get(), undefined, 'nothing was created in it');
});

test('guest cart retention looks at a bounded slice per call, guest carts only, and starts over after the last', (t) => {
  const { db, journal } = shardDb(t);
  const guests = Array.from({ length: 7 }, (_, i) => `cart:g_${i}`);
  snapshot(journal, [...guests, 'cart:u_customer', 'sku:kite', 'cart:a']);
  const retention = new GuestCartRetention(db);
  const future = Date.now() + 60_000; // every snapshot is older than this
  const looks = [retention.look(future, 3), retention.look(future, 3), retention.look(future, 3)];
  assert.deepEqual(
    looks.map((l) => l.stale),
    [guests.slice(0, 3), guests.slice(3, 6), guests.slice(6)],
  );
  assert.deepEqual(
    looks.map((l) => l.wrapped),
    [false, false, true],
  );
  assert.deepEqual(retention.look(future, 3).stale, guests.slice(0, 3), 'after the last, from the first again');
  // Nothing is older than the past: a look finds the carts and keeps them.
  assert.deepEqual(retention.look(0, 10), { stale: [], wrapped: true });
});
