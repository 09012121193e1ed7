// Checksums of journal rows, snapshots and event log rows (src/persistence/checksum.ts): their
// format, verification on read, what a damaged record does to recovery (strict: the actor is
// refused and its rows kept; salvage: the record is left out), and the upgrade of a schema 3
// database whose rows have no checksum. Damage is done in the database file itself.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { openShardDb, shardDbPath, SCHEMA_VERSION } from '../src/persistence/shard-db.js';
import { CorruptRecordError, Journal } from '../src/persistence/journal.js';
import { BatchWrites } from '../src/persistence/batch-writes.js';
import { encodeRow } from '../src/persistence/row-codec.js';
import { TAG_EVENT_LOG, TAG_JOURNAL, TAG_SNAPSHOT, eventChecksum, rowChecksum } from '../src/persistence/checksum.js';
import { tmpDataDir } from './helpers/server.js';
import { log } from '../src/log/log.js';
import { flipInFile, storedBlob } from './helpers/corrupt.js';

/** The CorruptRecordError `fn` throws (fails the test when it throws nothing or something else). */
function corruptionOf(fn: () => unknown): CorruptRecordError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CorruptRecordError, `expected a CorruptRecordError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a CorruptRecordError');
}

const u64le = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

test('the checksum is the CRC32C of tag, actor key, 0, seq (8 bytes LE) and the stored bytes', () => {
  const bytes = encodeRow([{ type: 'item_added', sku: 'soap-bar', qty: 2 }]);
  for (const actor of ['cart:g_abc', 'coupon:ÉTÉ-2025']) {
    for (const [tag, seq] of [
      [TAG_JOURNAL, 7],
      [TAG_SNAPSHOT, 2 ** 40 + 3],
    ]) {
      const reference = crc32c(Buffer.concat([Buffer.from([tag]), Buffer.from(actor, 'utf8'), Buffer.from([0]), u64le(seq), bytes]));
      assert.equal(rowChecksum(tag, actor, seq, bytes), reference, `${actor} ${String.fromCharCode(tag)} ${seq}`);
    }
  }
  const at = 1_760_000_000_123;
  assert.equal(eventChecksum(at, bytes), crc32c(Buffer.concat([Buffer.from([TAG_EVENT_LOG]), u64le(at), bytes])));
  // The identity counts: another actor, seq or table gives another checksum.
  const base = rowChecksum(TAG_JOURNAL, 'cart:g_abc', 7, bytes);
  assert.notEqual(rowChecksum(TAG_JOURNAL, 'cart:g_abd', 7, bytes), base);
  assert.notEqual(rowChecksum(TAG_JOURNAL, 'cart:g_abc', 8, bytes), base);
  assert.notEqual(rowChecksum(TAG_SNAPSHOT, 'cart:g_abc', 7, bytes), base);
});

/** A shard-0 database in a temp dir, reopened at will (a reopen is a restart: the journal is built anew). */
function shardDb(t: TestContext) {
  const dir = tmpDataDir(t);
  let db = openShardDb(dir, 0, 'FULL');
  let journal = new Journal(db);
  t.after(() => db.open && db.close());
  return {
    path: shardDbPath(dir, 0),
    get db() {
      return db;
    },
    get journal() {
      return journal;
    },
    /** Closes (SQLite moves the WAL into the main file), runs `between`, opens again. */
    reopen(between?: (path: string) => void) {
      db.close();
      between?.(shardDbPath(dir, 0));
      db = openShardDb(dir, 0, 'FULL');
      journal = new Journal(db);
    },
  };
}

const commitEvents = (
  journal: Journal,
  rows: [string, number, unknown[]][],
  snapshots: { actor: string; seq: number; state: unknown }[] = [],
  domain?: unknown,
) => {
  const w = new BatchWrites();
  for (const [actor, seq, events] of rows) w.appendEvents(actor, seq, events);
  for (const s of snapshots) w.snapshots.push({ actor: s.actor, seq: s.seq, state: encodeRow(s.state) });
  if (domain !== undefined) w.domain = encodeRow(domain);
  journal.commit(w);
};

test('rows, snapshots and event log rows are stored with their checksum and recovered', (t) => {
  const s = shardDb(t);
  commitEvents(
    s.journal,
    [
      ['cart:a', 1, [{ n: 1 }]],
      ['cart:b', 1, [{ n: 2 }]],
    ],
    [],
    [['product_viewed', { userId: 'u' }]],
  );
  commitEvents(s.journal, [['cart:a', 2, [{ n: 3 }]]], [{ actor: 'cart:a', seq: 2, state: { total: 4 } }]);
  commitEvents(s.journal, [['cart:a', 3, [{ n: 5 }]]]);
  for (const table of ['journal', 'snapshots', 'event_log']) {
    assert.equal((s.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE crc IS NULL`).get() as { n: number }).n, 0, table);
  }
  s.reopen();
  const a = s.journal.recover('cart:a');
  assert.deepEqual(a.snapshot, { seq: 2, state: { total: 4 } });
  assert.deepEqual(
    a.rows.map((r) => [r.seq, r.events]),
    [[3, [{ n: 5 }]]],
  );
  assert.deepEqual(
    s.journal.recover('cart:b').rows.map((r) => r.events),
    [[{ n: 2 }]],
  );
  assert.equal(s.journal.eventsAfter(0, 10).rows.length, 1);
  assert.deepEqual(s.journal.summary().quarantined, []);
});

test('a journal row changed in the file: recover throws CorruptRecordError, the actor stays refused, its rows are kept past checkpoints', (t) => {
  const s = shardDb(t);
  commitEvents(s.journal, [
    ['cart:victim', 1, [{ sku: 'victim-sku-1' }]],
    ['cart:other', 1, [{ sku: 'other-sku' }]],
  ]);
  commitEvents(s.journal, [['cart:victim', 2, [{ sku: 'victim-sku-2' }]]]);
  const g = (s.db.prepare("SELECT g FROM journal WHERE actor = 'cart:victim' AND seq = 2").get() as { g: number }).g;
  const blob = storedBlob(s.path, 'SELECT events FROM journal WHERE g = ?', g);
  s.reopen((path) => assert.equal(flipInFile(path, blob, blob.indexOf('victim-sku-2') + 3), 1));

  const e = corruptionOf(() => s.journal.recover('cart:victim'));
  assert.equal(e.shard, 0);
  assert.equal(e.actor, 'cart:victim');
  assert.equal(e.table, 'journal');
  assert.equal(e.rowId, g);
  assert.equal(e.seq, 2);
  assert.match(e.message, new RegExp(`^shard 0: journal row g=${g} \\(seq 2\\) of cart:victim is corrupt: checksum mismatch`));
  assert.equal(s.journal.corruptRecord('cart:victim'), e);
  assert.throws(
    () => s.journal.recover('cart:victim'),
    (x) => x === e,
    'refused again without reading',
  );
  assert.deepEqual(s.journal.summary().quarantined, ['cart:victim']);
  assert.equal(s.journal.hasPendingRows('cart:victim'), true);
  assert.deepEqual(
    s.journal.recover('cart:other').rows.map((r) => r.events),
    [[{ sku: 'other-sku' }]],
  );

  // A checkpoint covers everything else; the watermark stays below the victim's first row.
  commitEvents(s.journal, [['cart:other', 2, [{ n: 1 }]]], [{ actor: 'cart:other', seq: 2, state: {} }]);
  s.journal.truncate(s.journal.position);
  const firstVictimRow = (s.db.prepare("SELECT min(g) AS g FROM journal WHERE actor = 'cart:victim'").get() as { g: number }).g;
  assert.equal(s.journal.summary().watermark, firstVictimRow - 1);
  assert.equal(s.journal.tailRows, 0, 'nothing left for the next checkpoint to cover');
  while (s.journal.deleteStep(1000));
  assert.equal((s.db.prepare("SELECT count(*) AS n FROM journal WHERE actor = 'cart:victim'").get() as { n: number }).n, 2, 'rows kept');
  // After a restart the damage is found again: nothing was lost or covered up.
  s.reopen();
  assert.throws(() => s.journal.recover('cart:victim'), CorruptRecordError);
});

test('a snapshot changed in the file, a row copied to another actor, a row missing: all refused', (t) => {
  const s = shardDb(t);
  commitEvents(s.journal, [['cart:snap', 1, [{ n: 1 }]]], [{ actor: 'cart:snap', seq: 1, state: { marker: 'snapshot-marker' } }]);
  commitEvents(s.journal, [
    ['cart:donor', 1, [{ n: 1 }]],
    ['cart:gap', 1, [{ n: 1 }]],
  ]);
  commitEvents(s.journal, [['cart:gap', 2, [{ n: 2 }]]]);
  commitEvents(s.journal, [['cart:gap', 3, [{ n: 3 }]]]);
  // A row of cart:donor copied, checksum and all, to cart:copy; a row of cart:gap lost.
  s.db.exec("INSERT INTO journal (g, actor, seq, events, crc) SELECT 100, 'cart:copy', seq, events, crc FROM journal WHERE actor = 'cart:donor'");
  s.db.exec("DELETE FROM journal WHERE actor = 'cart:gap' AND seq = 2");
  const blob = storedBlob(s.path, "SELECT state FROM snapshots WHERE actor = 'cart:snap'");
  s.reopen((path) => assert.equal(flipInFile(path, blob, blob.indexOf('snapshot-marker')), 1));

  const snap = corruptionOf(() => s.journal.recover('cart:snap'));
  assert.equal(snap.table, 'snapshots');
  assert.equal(snap.where, 'snapshots row (seq 1)');
  const copy = corruptionOf(() => s.journal.recover('cart:copy'));
  assert.match(copy.problem, /checksum mismatch/);
  const gap = corruptionOf(() => s.journal.recover('cart:gap'));
  assert.equal(gap.missing, true);
  assert.match(gap.problem, /rows seq 2\.\.2 before it are missing/);
  assert.deepEqual(s.journal.recover('cart:donor').rows.length, 1);
  assert.deepEqual(s.journal.summary().quarantined.sort(), ['cart:copy', 'cart:gap', 'cart:snap']);
});

test('salvage (the catalog): a damaged row is left out, a damaged snapshot is rebuilt from every stored row', (t) => {
  const s = shardDb(t);
  commitEvents(s.journal, [['catalog', 1, [{ p: 'p1' }]]]);
  commitEvents(s.journal, [['catalog', 2, [{ p: 'p2-marker' }]]]);
  commitEvents(s.journal, [['catalog', 3, [{ p: 'p3' }]]]);
  const blob = storedBlob(s.path, "SELECT events FROM journal WHERE actor = 'catalog' AND seq = 2");
  s.reopen((path) => assert.equal(flipInFile(path, blob, blob.indexOf('p2-marker') + 1), 1));
  const rec = s.journal.recover('catalog', true);
  assert.deepEqual(
    rec.rows.map((r) => r.events),
    [[{ p: 'p1' }], [{ p: 'p3' }]],
  );
  assert.deepEqual(
    rec.damaged?.map((d) => [d.table, d.seq, d.missing]),
    [['journal', 2, false]],
  );
  assert.equal(rec.seqFloor, 3);
  assert.equal(rec.rebuilt, false);
  assert.deepEqual(s.journal.summary().quarantined, [], 'salvage quarantines nothing');

  // A snapshot at seq 3, the rows it covers still stored (a checkpoint not yet cleaned up), one more row.
  commitEvents(s.journal, [['catalog', 4, [{ p: 'p4' }]]], [{ actor: 'catalog', seq: 4, state: { products: 'snapshot-of-four' } }]);
  commitEvents(s.journal, [['catalog', 5, [{ p: 'p5' }]]]);
  s.journal.truncate(s.journal.position - 1);
  const snap = storedBlob(s.path, "SELECT state FROM snapshots WHERE actor = 'catalog'");
  s.reopen((path) => assert.equal(flipInFile(path, snap, snap.indexOf('snapshot-of-four')), 1));
  const rebuilt = s.journal.recover('catalog', true);
  assert.equal(rebuilt.snapshot, undefined);
  assert.equal(rebuilt.rebuilt, true);
  assert.deepEqual(
    rebuilt.rows.map((r) => r.seq),
    [1, 3, 4, 5],
    'every row still stored, the damaged one left out',
  );
  assert.deepEqual(rebuilt.damaged?.map((d) => d.table).sort(), ['journal', 'snapshots']);
  assert.equal(rebuilt.seqFloor, 5);
});

test('event log: a damaged row is skipped (logged once), the reader moves past it', (t) => {
  const s = shardDb(t);
  commitEvents(s.journal, [], [], [['product_viewed', { userId: 'u1' }]]);
  commitEvents(s.journal, [], [], [['product_viewed', { userId: 'event-marker' }]]);
  commitEvents(s.journal, [], [], [['product_viewed', { userId: 'u3' }]]);
  const blob = storedBlob(s.path, 'SELECT events FROM event_log WHERE g = 2');
  s.reopen((path) => assert.equal(flipInFile(path, blob, blob.indexOf('event-marker') + 2), 1));
  const logged = t.mock.method(log, 'error', () => undefined);
  const page = s.journal.eventsAfter(0, 2);
  assert.deepEqual(
    page.rows.map((r) => r.g),
    [1],
  );
  assert.equal(page.lastG, 2, 'the next page starts after the damaged row');
  assert.deepEqual(
    s.journal.eventsAfter(2, 10).rows.map((r) => r.g),
    [3],
  );
  s.journal.eventsAfter(0, 10); // a reader starting over
  assert.equal(logged.mock.callCount(), 1);
  assert.match(String(logged.mock.calls[0].arguments[0]), /^shard 0: event_log row g=2 is corrupt: checksum mismatch/);
});

test('a schema 3 database is upgraded in place: crc columns added, its rows (no checksum) read as they are, new rows checked', (t) => {
  const dir = tmpDataDir(t);
  mkdirSync(dir, { recursive: true });
  const old = new Database(shardDbPath(dir, 0));
  old.pragma('journal_mode = WAL');
  old.exec(`
    CREATE TABLE journal (g INTEGER PRIMARY KEY, actor TEXT NOT NULL, seq INTEGER NOT NULL, events BLOB NOT NULL);
    CREATE TABLE snapshots (actor TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE event_log (g INTEGER PRIMARY KEY, at INTEGER NOT NULL, events BLOB NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta VALUES ('schema', '3');
  `);
  old.prepare('INSERT INTO snapshots VALUES (?, ?, ?, ?)').run('cart:old', 1, encodeRow({ lines: 1 }), 1);
  old.prepare('INSERT INTO journal VALUES (?, ?, ?, ?)').run(1, 'cart:old', 2, encodeRow([{ n: 2 }]));
  old.prepare('INSERT INTO event_log VALUES (?, ?, ?)').run(1, 1, encodeRow([['product_viewed', {}]]));
  old.close();

  const db = openShardDb(dir, 0, 'FULL');
  t.after(() => db.close());
  assert.equal((db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value, SCHEMA_VERSION);
  for (const table of ['journal', 'snapshots', 'event_log']) {
    assert.ok(
      db
        .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
        .all()
        .some((c) => c.name === 'crc'),
      table,
    );
  }
  const journal = new Journal(db);
  const rec = journal.recover('cart:old');
  assert.deepEqual(rec.snapshot, { seq: 1, state: { lines: 1 } });
  assert.deepEqual(
    rec.rows.map((r) => r.events),
    [[{ n: 2 }]],
  );
  assert.equal(journal.eventsAfter(0, 10).rows.length, 1);
  commitEvents(journal, [['cart:old', 3, [{ n: 3 }]]]);
  assert.equal(typeof (db.prepare('SELECT crc FROM journal WHERE seq = 3').get() as { crc: unknown }).crc, 'number');
  // Opening it again changes nothing.
  db.close();
  const again = openShardDb(dir, 0, 'FULL');
  again.close();
});
