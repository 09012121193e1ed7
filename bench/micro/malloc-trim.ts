// Micro-benchmark behind the idle heap trim's C heap release: how long `malloc_trim(0)` takes
// (it holds each malloc arena's lock while it hands pages back) after N MiB of 96 KiB buffers were
// freed with every 8th kept, so the freed pages sit in the middle of the arena; then again with
// nothing new to release. Prints the anon RSS before and after.
// Run: npm run build && node dist/bench/micro/malloc-trim.js [MiB]
import { readFileSync } from 'node:fs';
import { collectGarbage } from '../../src/workers/heap-trim.js';
import { releaseNativeHeap } from '../../src/workers/native-heap.js';

const mib = Number(process.argv[2] ?? 512);
const rssAnonMiB = () => Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const kept = (() => {
  const bufs: Buffer[] = [];
  for (let i = 0; i < (mib * 1024) / 96; i++) bufs.push(Buffer.allocUnsafeSlow(96 * 1024).fill(i & 0xff));
  return bufs.filter((_, i) => i % 8 === 7);
})();
collectGarbage();
collectGarbage();
for (const label of [`after freeing ~${Math.round((mib * 7) / 8)} MiB`, 'again, nothing new freed']) {
  const before = rssAnonMiB();
  const t0 = performance.now();
  const released = releaseNativeHeap();
  const ms = performance.now() - t0;
  console.log(`malloc_trim(0) ${label}: ${ms.toFixed(2)} ms, released ${released}, anon RSS ${before.toFixed(0)} -> ${rssAnonMiB().toFixed(0)} MiB`);
}
console.log(`(${kept.length} buffers kept)`);
