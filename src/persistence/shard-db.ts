// One SQLite database per shard: the journal, actor snapshots, durable timers and the stock view.
// WAL with synchronous=FULL by default: a commit returns only once the WAL is fsynced.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { COMMIT_MARKER } from './batch-commit.js';

export type Synchronous = 'FULL' | 'NORMAL' | 'OFF';

const SCHEMA = `
-- Append-only: g grows by one per row, so a group commit writes to the last pages only (a
-- B-tree keyed by actor measured 8x slower per commit: every actor touched a different page).
-- Actors are found through the in-memory tail index built at start (see journal.ts).
CREATE TABLE IF NOT EXISTS journal (
  g      INTEGER PRIMARY KEY,
  actor  TEXT    NOT NULL,
  seq    INTEGER NOT NULL,
  events BLOB    NOT NULL,
  crc    INTEGER -- CRC32C of the row (checksum.ts); NULL in rows written before schema 4
);
CREATE TABLE IF NOT EXISTS snapshots (
  actor TEXT    PRIMARY KEY,
  seq   INTEGER NOT NULL,
  state BLOB    NOT NULL,
  at    INTEGER NOT NULL,
  crc   INTEGER -- as journal.crc
) WITHOUT ROWID;
-- One row: how many snapshots there are and when the newest was written, kept by the triggers
-- below (snapshots are written with an upsert, so an insert is a new row), so GET /snapshot
-- reads two numbers instead of scanning a table of a million rows on the shard thread.
CREATE TABLE IF NOT EXISTS snapshot_stats (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  rows    INTEGER NOT NULL,
  last_at INTEGER
);
CREATE TRIGGER IF NOT EXISTS snapshot_added AFTER INSERT ON snapshots BEGIN
  UPDATE snapshot_stats SET rows = rows + 1, last_at = max(coalesce(last_at, 0), NEW.at);
END;
CREATE TRIGGER IF NOT EXISTS snapshot_rewritten AFTER UPDATE OF at ON snapshots BEGIN
  UPDATE snapshot_stats SET last_at = max(coalesce(last_at, 0), NEW.at);
END;
CREATE TRIGGER IF NOT EXISTS snapshot_removed AFTER DELETE ON snapshots BEGIN
  UPDATE snapshot_stats SET rows = rows - 1;
END;
CREATE TABLE IF NOT EXISTS timers (
  actor TEXT    PRIMARY KEY,
  due   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stock_view (
  sku       TEXT    PRIMARY KEY,
  available INTEGER NOT NULL
) WITHOUT ROWID;
-- The durable domain event log (docs/protocol.md "Domain events"): one row per group commit holding every
-- domain event of that commit, so logging costs one row per batch, not one per event.
CREATE TABLE IF NOT EXISTS event_log (
  g      INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  events BLOB    NOT NULL,
  crc    INTEGER -- as journal.crc
);
-- Orders by user and time, for order.list (the orders themselves are actors).
CREATE TABLE IF NOT EXISTS orders (
  order_id   TEXT    PRIMARY KEY,
  user_id    TEXT    NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, created_at);
CREATE INDEX IF NOT EXISTS orders_by_time ON orders (created_at);
-- Audit history (audit-history.ts): journal rows of carts, skus, orders and coupons that a
-- checkpoint covered, kept AUDIT_RETENTION_DAYS after the move (kept_at) instead of deleted.
CREATE TABLE IF NOT EXISTS history (
  g       INTEGER PRIMARY KEY,
  actor   TEXT    NOT NULL,
  seq     INTEGER NOT NULL,
  events  BLOB    NOT NULL,
  crc     INTEGER, -- as journal.crc
  kept_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_actor ON history (actor, g);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

export const SCHEMA_VERSION = '5';
/**
 * Versions this code opens by adding what is missing: tables and triggers (CREATE ... IF NOT
 * EXISTS above), the crc columns of schema 4 (ALTER TABLE ... ADD COLUMN rewrites no row; rows
 * written before have crc NULL and are read unchecked) and the snapshot counts of schema 5 (one
 * scan of the snapshots table, at the upgrade). An older version refuses a schema 5 database: its
 * INSERT OR REPLACE would count a rewritten snapshot as a new one.
 */
const UPGRADABLE = new Set(['2', '3', '4']);
/** Tables whose rows carry a checksum since schema 4. */
const CHECKSUMMED = ['journal', 'snapshots', 'event_log'];

export function shardDbPath(dataDir: string, shard: number): string {
  return join(dataDir, `shard-${shard}.db`);
}

export function openShardDb(dataDir: string, shard: number, synchronous: Synchronous): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(shardDbPath(dataDir, shard));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  // 16 MiB: appends touch few pages, actors are read back once, and the OS page cache holds the
  // file as well. 64 MiB cost ~50 MiB of RSS at 1M carts (`npm run bench -- memory`) and changed
  // no restart time.
  db.pragma('cache_size = -16384');
  db.pragma('temp_store = MEMORY');
  // The stored version first: a database of a newer schema is refused before anything is added to it.
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  const version = hasMeta ? db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get() : undefined;
  if (version && version.value !== SCHEMA_VERSION && !UPGRADABLE.has(version.value)) {
    db.close();
    throw new Error(`shard ${shard}: database schema ${version.value} is not the supported ${SCHEMA_VERSION}`);
  }
  db.exec(SCHEMA);
  db.transaction(() => {
    if (!version) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
    else if (version.value !== SCHEMA_VERSION) {
      for (const table of CHECKSUMMED) {
        const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all();
        if (!columns.some((c) => c.name === 'crc')) db.exec(`ALTER TABLE ${table} ADD COLUMN crc INTEGER`);
      }
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(SCHEMA_VERSION);
    }
    // A new database, or one from before schema 5: count once, the triggers keep the count after.
    if (!db.prepare('SELECT 1 FROM snapshot_stats').get()) db.exec('INSERT INTO snapshot_stats (id, rows, last_at) SELECT 1, count(*), max(at) FROM snapshots');
  })();
  return db;
}

/**
 * The last batch of process `epoch` that the shard committed, read from its database by another
 * connection after its worker died: batches up to it were stored, later ones were not. 0 when the
 * marker is of another process (or absent).
 */
export function readCommitMarker(dataDir: string, shard: number, epoch: string): number {
  const db = new Database(shardDbPath(dataDir, shard), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[], { value: string }>(`SELECT value FROM meta WHERE key = '${COMMIT_MARKER}'`).get();
    if (!row) return 0;
    const at = row.value.lastIndexOf(':');
    return row.value.slice(0, at) === epoch ? Number(row.value.slice(at + 1)) : 0;
  } finally {
    db.close();
  }
}
