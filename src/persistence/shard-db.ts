// One SQLite database per shard: the journal, actor snapshots, durable timers and the stock view.
// WAL with synchronous=FULL by default: a commit returns only once the WAL is fsynced.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type Synchronous = 'FULL' | 'NORMAL' | 'OFF';

const SCHEMA = `
-- Append-only: g grows by one per row, so a group commit writes to the last pages only (a
-- B-tree keyed by actor measured 8x slower per commit: every actor touched a different page).
-- Actors are found through the in-memory tail index built at start (see journal.ts).
CREATE TABLE IF NOT EXISTS journal (
  g      INTEGER PRIMARY KEY,
  actor  TEXT    NOT NULL,
  seq    INTEGER NOT NULL,
  events BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
  actor TEXT    PRIMARY KEY,
  seq   INTEGER NOT NULL,
  state BLOB    NOT NULL,
  at    INTEGER NOT NULL
) WITHOUT ROWID;
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
  events BLOB    NOT NULL
);
-- Orders by user and time, for order.list (the orders themselves are actors).
CREATE TABLE IF NOT EXISTS orders (
  order_id   TEXT    PRIMARY KEY,
  user_id    TEXT    NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, created_at);
CREATE INDEX IF NOT EXISTS orders_by_time ON orders (created_at);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

export const SCHEMA_VERSION = '3';
/** Versions this code opens by adding what is missing (CREATE ... IF NOT EXISTS above). */
const UPGRADABLE = new Set(['2']);

export function shardDbPath(dataDir: string, shard: number): string {
  return join(dataDir, `shard-${shard}.db`);
}

export function openShardDb(dataDir: string, shard: number, synchronous: Synchronous): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(shardDbPath(dataDir, shard));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  db.exec(SCHEMA);
  const version = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get();
  if (!version) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
  else if (UPGRADABLE.has(version.value)) db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(SCHEMA_VERSION);
  else if (version.value !== SCHEMA_VERSION) {
    throw new Error(`shard ${shard}: database schema ${version.value} is not the supported ${SCHEMA_VERSION}`);
  }
  return db;
}
