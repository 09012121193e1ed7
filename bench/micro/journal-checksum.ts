// Micro-benchmark behind the journal checksums (src/persistence/checksum.ts): what the CRC32C of
// a row (identity + stored bytes) costs per row, next to encoding the row and to inserting it in a
// group commit (WAL, synchronous=OFF so the figure is CPU, not fsync; rows like cart events).
// Run: npm run build && node dist/bench/micro/journal-checksum.js
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAG_JOURNAL, rowChecksum } from '../../src/persistence/checksum.js';
import { encodeRow } from '../../src/persistence/row-codec.js';

const ROWS = 200_000;
const BATCH = 500;
const ROUNDS = 5;

const actors = Array.from({ length: 5000 }, (_, i) => `cart:g_${(i * 2654435761).toString(36).padStart(12, '0')}`);
const eventsOf = (i: number) => [
  { type: 'item_added', sku: `sku-${i % 97}`, qty: 1 + (i % 3), unitPrice: 1299, name: `Product ${i % 97}`, at: 1_760_000_000_000 + i },
];
const encoded = Array.from({ length: ROWS }, (_, i) => encodeRow(eventsOf(i)));
const bytes = encoded.reduce((n, b) => n + b.length, 0) / ROWS;

/** Best of ROUNDS, in ns per row (`before` runs untimed ahead of each round). */
function nsPerRow(run: () => void, before?: () => void): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    before?.();
    const t0 = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / ROWS);
  }
  return best;
}

let sink = 0;
const checksum = nsPerRow(() => {
  for (let i = 0; i < ROWS; i++) sink ^= rowChecksum(TAG_JOURNAL, actors[i % actors.length], i + 1, encoded[i]);
});
const encode = nsPerRow(() => {
  for (let i = 0; i < ROWS; i++) sink ^= encodeRow(eventsOf(i)).length;
});

const dir = mkdtempSync(join(tmpdir(), 'cartwire-crc-'));
const db = new Database(join(dir, 'j.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = OFF');
const fresh = () => {
  db.exec('DROP TABLE IF EXISTS journal');
  db.exec('CREATE TABLE journal (g INTEGER PRIMARY KEY, actor TEXT NOT NULL, seq INTEGER NOT NULL, events BLOB NOT NULL, crc INTEGER)');
  insert = db.prepare('INSERT INTO journal (g, actor, seq, events, crc) VALUES (?, ?, ?, ?, ?)');
  g = 0;
};
let insert: Database.Statement;
let g = 0;
fresh();
const commits = (withCrc: boolean) => () => {
  for (let from = 0; from < ROWS; from += BATCH) {
    db.transaction(() => {
      for (let i = from; i < from + BATCH; i++) {
        const actor = actors[i % actors.length];
        insert.run(++g, actor, i + 1, encoded[i], withCrc ? rowChecksum(TAG_JOURNAL, actor, i + 1, encoded[i]) : null);
      }
    })();
  }
};
// Alternated, each round on an empty table, so neither variant pays for a bigger B-tree.
let plain = Infinity;
let checked = Infinity;
for (let r = 0; r < 3; r++) {
  plain = Math.min(plain, nsPerRow(commits(false), fresh));
  checked = Math.min(checked, nsPerRow(commits(true), fresh));
}
db.close();
rmSync(dir, { recursive: true, force: true });

console.log(`rows of ${bytes.toFixed(0)} bytes, ${actors.length} actors, best of ${ROUNDS} x ${ROWS.toLocaleString('en')} rows`);
console.log(`checksum (identity + bytes, CRC32C):  ${checksum.toFixed(0)} ns/row`);
console.log(`encodeRow (msgpack), for scale:      ${encode.toFixed(0)} ns/row`);
console.log(`group commit insert, no checksum:    ${plain.toFixed(0)} ns/row`);
console.log(
  `group commit insert, with checksum:  ${checked.toFixed(0)} ns/row (+${(checked - plain).toFixed(0)} ns, ${(((checked - plain) / plain) * 100).toFixed(1)}%)`,
);
if (sink === 0.5) console.log(sink); // keeps the loops from being optimized away
