// Micro-benchmark behind how the recommendation service numbers its users: a Map of V8 strings
// and an array (MapInterner) against the ids' bytes in flat typed arrays (FlatInterner). Interns
// `--users` ids of the server's format (`g_` + 16 base64url characters), each made fresh as a
// decoded request would make it, and prints the heap each interner holds per user after a full
// collection (the ids themselves included: the Map keeps them alive, the flat one copies them),
// then the time of a lookup of a known id (a fresh string, as every recorded event brings).
// Run: npm run build && node --expose-gc dist/bench/micro/user-interner.js [--users 1000000]
import { performance } from 'node:perf_hooks';
import { randomId } from '../../src/protocol/ids.js';
import { FlatInterner, MapInterner, type Interner } from '../../src/app/recs/interners.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const users = arg('users', 1_000_000);
const LOOKUPS = 500_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
};

/** The ids as bytes (so the strings interned are made afresh, not kept by the benchmark). */
const pool = Buffer.alloc(users * 18);
for (let i = 0; i < users; i++) pool.write(randomId('g', 12), i * 18, 'latin1');
const idOf = (i: number): string => pool.toString('latin1', i * 18, i * 18 + 18);

/** Fills one interner and reports; its interner is garbage once this returns. */
function measure(label: string, interner: Interner, before: number): void {
  const t0 = performance.now();
  for (let i = 0; i < users; i++) interner.intern(idOf(i));
  const fill = performance.now() - t0;
  const held = heapAfterGc() - before;
  let x = 0;
  const t1 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) x += interner.get(idOf((i * 7919) % users)) ?? 0;
  const lookup = ((performance.now() - t1) * 1e6) / LOOKUPS;
  if (interner.name(users - 1) !== idOf(users - 1) || x < 0) throw new Error('interner broken');
  console.log(
    `${label.padEnd(12)} ${users} users: ${(held / users).toFixed(1)} bytes per user (${(held / 2 ** 20).toFixed(1)} MiB), ` +
      `fill ${((fill * 1e6) / users).toFixed(0)} ns per new user, lookup ${lookup.toFixed(0)} ns (a fresh string each)`,
  );
}

measure('Map + array', new MapInterner(), heapAfterGc());
measure('flat', new FlatInterner(), heapAfterGc());
