// Micro-benchmark behind how a shard keeps its actors in recency order (the order passivation
// and the actor cap drop them in). ActorCells moves an actor to the end of its map at most once a
// second; the reference moves it at every use (delete + set), which leaves a deleted entry in
// the map's table per use and makes V8 rebuild the whole table every ~n/2 uses, a pause that
// grows with the number of actors in memory. Both run the same key sequence over the same
// actors: a hot key (a flash sale's sku) taking `--hot` of the uses, the rest uniform. The third
// figure is lru-cache's `get` over the same keys, which the main thread's caches use (a user's
// personalisation flag, recommendation memos, image bytes).
// Run: npm run build && node dist/bench/micro/actor-recency.js [--actors 10000] [--ops 200000] [--hot 0.2]
import { ActorCells, type Cell } from '../../src/workers/shard/actor-cells.js';
import { actorTypeOf } from '../../src/actors/registry.js';
import type { Journal } from '../../src/persistence/journal.js';
import { LRUCache } from 'lru-cache';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const actors = arg('actors', 10_000);
const ops = arg('ops', 200_000);
const hot = arg('hot', 0.2);
const CHUNK = 1_000;

const keys = Array.from({ length: actors }, (_, i) => `cart:g${i.toString(36).padStart(12, '0')}`);
const cartType = actorTypeOf(keys[0])!.type;
// The same pseudo-random sequence for both.
const sequence = new Uint32Array(ops);
let x = 2463534242;
for (let i = 0; i < ops; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  sequence[i] = (x >>> 0) / 2 ** 32 < hot ? 0 : (x >>> 0) % actors;
}

/** Runs the sequence at a simulated 1 µs per use; returns ns per use and the longest chunk of CHUNK uses. */
function run(activate: (key: string, now: number) => void): { nsPerUse: number; worstChunkMs: number } {
  const start = Date.now();
  let worst = 0;
  const t0 = process.hrtime.bigint();
  for (let c = 0; c < ops; c += CHUNK) {
    const c0 = process.hrtime.bigint();
    const end = Math.min(ops, c + CHUNK);
    for (let i = c; i < end; i++) activate(keys[sequence[i]], start + Math.floor(i / 1_000));
    worst = Math.max(worst, Number(process.hrtime.bigint() - c0) / 1e6);
  }
  return { nsPerUse: Number(process.hrtime.bigint() - t0) / ops, worstChunkMs: worst };
}

function filledCells(): ActorCells {
  // Activations of actors in memory never read the journal.
  const cells = new ActorCells(undefined as unknown as Journal);
  const now = Date.now();
  for (const key of keys) cells.install(key, cartType, null, 1, now);
  return cells;
}

function filledMap(): Map<string, Cell> {
  const map = new Map<string, Cell>();
  for (const key of keys) map.set(key, { key, type: cartType, state: null, seq: 1, snapSeq: 0, used: 0 });
  return map;
}

for (let round = 1; round <= 3; round++) {
  const cells = filledCells();
  const now = run((key, t) => void cells.activate(key, t));
  const map = filledMap();
  const every = run((key, t) => {
    const cell = map.get(key)!;
    cell.used = t;
    map.delete(key);
    map.set(key, cell);
  });
  const lru = new LRUCache<string, Cell>({ max: actors });
  for (const [key, cell] of map) lru.set(key, cell);
  const cached = run((key) => void lru.get(key));
  console.log(
    `round ${round}: ${actors.toLocaleString('en')} actors, ${ops.toLocaleString('en')} uses (hot share ${hot}): ` +
      `moved at most once a second ${now.nsPerUse.toFixed(0)} ns/use, worst ${CHUNK} uses ${now.worstChunkMs.toFixed(2)} ms; ` +
      `moved at every use ${every.nsPerUse.toFixed(0)} ns/use, worst ${every.worstChunkMs.toFixed(2)} ms; ` +
      `lru-cache get ${cached.nsPerUse.toFixed(0)} ns/use, worst ${cached.worstChunkMs.toFixed(2)} ms`,
  );
}
