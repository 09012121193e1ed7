// Micro-benchmark of the audit history (persistence/audit-history.ts) on a real shard database:
// how long the checkpoint cleanup holds a shard per chunk of 5,000 covered journal rows when it
// moves them into the history (next to a history already holding 500,000 rows) instead of
// deleting them, and how long the audit reads take: a page of 100 events, and the rows of one sku
// with 50,000 changes, decoded and replayed (audit.stateAt's worst case is 200,000 rows).
// Run: npm run build && node dist/bench/micro/audit-history.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { openShardDb } from '../../src/persistence/shard-db.js';
import { Journal } from '../../src/persistence/journal.js';
import { BatchWrites } from '../../src/persistence/batch-writes.js';
import { decodeRow } from '../../src/persistence/row-codec.js';
import { InventoryActor } from '../../src/actors/inventory-actor.js';

/** The chunk the shard worker passes to a cleanup step (Journal.deleteStep caps a move lower). */
const CHUNK = 5_000;
const ROWS = 200_000;
const PREFILLED = 500_000;
const SKU_ROWS = 50_000;

const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** A journal of ROWS rows like a busy shop's: carts and orders, and one hot sku every fourth row. */
function fill(journal: Journal): void {
  const w = new BatchWrites();
  const seqs = new Map<string, number>();
  let skuSeq = 0;
  for (let i = 0; i < ROWS; i++) {
    if (i % 4 === 0 && skuSeq < SKU_ROWS) {
      const sku = 'hot-sku';
      skuSeq++;
      const qty = 1 + (i % 3);
      const event =
        skuSeq === 1
          ? { type: 'transaction', txType: 'adjustment', reason: 'stock', changes: [{ warehouse: 'main', delta: 1_000_000 }], at: i }
          : { type: 'transaction', txType: 'sale', reason: 'sold', changes: [{ warehouse: 'main', delta: -qty }], at: i };
      w.appendEvents(`sku:${sku}`, skuSeq, [event]);
    } else {
      const actor = i % 3 === 0 ? `order:ord_${i % 20_000}` : `cart:g_${i % 5_000}`;
      const seq = (seqs.get(actor) ?? 0) + 1;
      seqs.set(actor, seq);
      w.appendEvents(actor, seq, [
        { type: 'line_set', sku: `sku-${i % 300}`, productId: `p-${i % 100}`, name: 'A product', qty: 1, unitPrice: 1299, currency: 'USD', at: i },
      ]);
    }
    if (w.journal.length >= 3_000) {
      journal.commit(w);
      w.clear();
    }
  }
  journal.commit(w);
}

function run(keep: boolean): { chunkMs: number[]; journal: Journal; dir: string; scanMs: number } {
  const dir = mkdtempSync(`${tmpdir()}/cartwire-audit-`);
  const db = openShardDb(dir, 0, 'FULL');
  if (keep) {
    // A history from earlier checkpoints (g below the new rows).
    const put = db.prepare('INSERT INTO history (g, actor, seq, events, crc, kept_at) VALUES (?, ?, ?, ?, NULL, ?)');
    const blob = Buffer.alloc(150, 7);
    db.transaction(() => {
      for (let g = 1; g <= PREFILLED; g++) put.run(g, `cart:g_old${g % 50_000}`, g, blob, 0);
    })();
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('watermark', ?)").run(String(PREFILLED));
  }
  const journal = new Journal(db, 'bench', 0);
  journal.keepHistory(keep);
  fill(journal);
  // The rows no cleanup has moved yet are found by a scan of the journal: its worst case is an actor with none.
  const t0 = performance.now();
  journal.actorRows('cart:nobody', 0, 101);
  const scanMs = performance.now() - t0;
  journal.truncate(journal.position);
  const chunkMs: number[] = [];
  for (;;) {
    const t0 = performance.now();
    const more = journal.deleteStep(CHUNK);
    chunkMs.push(performance.now() - t0);
    if (!more) break;
  }
  return { chunkMs, journal, dir, scanMs };
}

const plain = run(false);
rmSync(plain.dir, { recursive: true, force: true });
const kept = run(true);
const fmt = (xs: number[]) => `median ${percentile(xs, 0.5).toFixed(1)} ms, p99 ${percentile(xs, 0.99).toFixed(1)} ms, worst ${Math.max(...xs).toFixed(1)} ms`;
console.log(`checkpoint cleanup of ${ROWS} journal rows, one step at a time:`);
console.log(`  delete (AUDIT_RETENTION_DAYS=0), ${plain.chunkMs.length} steps:                 ${fmt(plain.chunkMs)}`);
console.log(`  move to the history (next to ${PREFILLED} rows), ${kept.chunkMs.length} steps: ${fmt(kept.chunkMs)}`);
console.log(`audit read of an actor's rows not moved yet: scan of a ${ROWS}-row journal ${kept.scanMs.toFixed(1)} ms`);

const j = kept.journal;
let t0 = performance.now();
const page = j.actorRows('sku:hot-sku', 0, 101);
const pageMs = performance.now() - t0;
t0 = performance.now();
let state = InventoryActor.create('hot-sku');
let n = 0;
for (let from = 0; ;) {
  const rows = j.actorRows('sku:hot-sku', from, 1_000);
  for (const r of rows) {
    for (const e of decodeRow(r.events) as Parameters<typeof InventoryActor.apply>[1][]) state = InventoryActor.apply(state, e);
    n++;
  }
  if (rows.length < 1_000) break;
  from = rows[rows.length - 1].g + 1;
}
const replayMs = performance.now() - t0;
console.log(
  `audit reads: a page (${page.length} rows) ${pageMs.toFixed(1)} ms; replay of ${n} rows of one sku ${replayMs.toFixed(0)} ms (on hand ${state.onHand})`,
);
rmSync(kept.dir, { recursive: true, force: true });
