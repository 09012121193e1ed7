// Micro-benchmark behind Journal.deleteStep: how long one transaction deleting 100k covered
// journal rows holds a shard, vs chunks of 5,000 (WAL, synchronous=FULL, rows like cart events).
// Run: npm run build && node dist/bench/micro/journal-delete.js
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'cartwire-delete-'));
const db = new Database(join(dir, 'j.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE journal (g INTEGER PRIMARY KEY, actor TEXT NOT NULL, seq INTEGER NOT NULL, events BLOB NOT NULL)');
const insert = db.prepare('INSERT INTO journal VALUES (?, ?, ?, ?)');
const events = Buffer.alloc(150, 7);
let g = 0;
for (let b = 0; b < 200; b++)
  db.transaction(() => {
    for (let i = 0; i < 1000; i++) insert.run(++g, `cart:g_${g % 5000}`, g, events);
  })();

let t0 = performance.now();
db.prepare('DELETE FROM journal WHERE g <= ?').run(100_000);
const whole = performance.now() - t0;
const range = db.prepare('DELETE FROM journal WHERE g > ? AND g <= ?');
let worst = 0;
for (let from = 100_000; from < 200_000; from += 5_000) {
  t0 = performance.now();
  range.run(from, from + 5_000);
  worst = Math.max(worst, performance.now() - t0);
}
console.log(`delete 100,000 rows: one transaction ${whole.toFixed(1)} ms; chunks of 5,000: worst ${worst.toFixed(1)} ms each`);
db.close();
rmSync(dir, { recursive: true, force: true });
