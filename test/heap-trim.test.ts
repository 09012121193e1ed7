// The idle heap trim and the C heap release, on this process's own heap and arenas: a quiet
// thread whose heap grew collects it, a busy one does not; malloc_trim gives freed C memory back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdleHeapTrim, collectGarbage } from '../src/workers/heap-trim.js';
import { releaseNativeHeap } from '../src/workers/native-heap.js';

const MiB = 2 ** 20;
const used = () => getHeapStatistics().used_heap_size;
const rssAnon = () => Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;

/** Old-space garbage: objects kept through two scavenges, then dropped. */
async function oldGarbage(mib: number): Promise<void> {
  const keep: { a: number; b: string }[][] = [];
  for (let i = 0; i < mib * 16; i++) keep.push(Array.from({ length: 1000 }, (_, j) => ({ a: j, b: `x${j}` })));
  await sleep(10);
  keep.length = 0;
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/**
 * Checks quiet periods until one collects (its duration in ms), at most ten. A period counts as
 * quiet below 1% of event-loop use: on a loaded machine a few ms of the runner's own work can
 * spoil one.
 */
async function quietCollection(trim: IdleHeapTrim): Promise<number | undefined> {
  let ms: number | undefined;
  for (let tries = 0; ms === undefined && tries < 10; tries++) {
    await sleep(300);
    ms = trim.check();
  }
  return ms;
}

test('a quiet thread whose heap grew is collected once; a busy one, or one with little garbage, is not', async () => {
  collectGarbage();
  let released = 0;
  const trim = new IdleHeapTrim(0, () => released++);
  await oldGarbage(48);
  const before = used();

  // Busy the whole period: nothing happens.
  spin(150);
  assert.equal(trim.check(), undefined);
  assert.equal(trim.collections, 0);
  assert.equal(released, 0);

  // Quiet: the garbage is collected and the hook runs.
  assert.ok((await quietCollection(trim)) !== undefined, 'a quiet period with grown heap collects');
  assert.equal(trim.collections, 1);
  assert.equal(released, 1);
  assert.ok(used() < before - 32 * MiB, `heap ${Math.round(used() / MiB)} MiB after, ${Math.round(before / MiB)} MiB before`);

  // Still quiet, nothing new: no second collection, and the hook ran once for this quiet spell.
  await sleep(200);
  assert.equal(trim.check(), undefined);
  assert.equal(trim.collections, 1);
  assert.equal(released, 1);

  // Work, then quiet again with little garbage: the hook runs once more, no collection.
  spin(150);
  trim.check();
  for (let tries = 0; released < 2 && tries < 10; tries++) {
    await sleep(200);
    assert.equal(trim.check(), undefined);
  }
  assert.equal(trim.collections, 1);
  assert.equal(released, 2);
});

test('a release hook that dropped big buffers gets a collection, which frees them; a small drop does not', async () => {
  collectGarbage();
  let buffer: Uint8Array | undefined = new Uint8Array(64 * MiB).fill(1);
  let drops = 0;
  const trim = new IdleHeapTrim(0, () => {
    drops++;
    if (!buffer) return 1024; // a small drop: not worth a collection
    const bytes = buffer.byteLength;
    buffer = undefined;
    return bytes;
  });
  const held = process.memoryUsage().arrayBuffers;
  assert.ok((await quietCollection(trim)) !== undefined, 'the quiet period with 64 MiB dropped collected');
  assert.equal(trim.collections, 1);
  // V8 frees the backing stores of collected buffers on a background thread after the collection
  // (concurrent ArrayBuffer sweeping), so on a busy machine the count falls a little later. Nothing
  // else collects this quiet heap meanwhile.
  let freed = false;
  for (let tries = 0; !freed && tries < 100; tries++) {
    freed = process.memoryUsage().arrayBuffers < held - 60 * MiB;
    if (!freed) await sleep(20);
  }
  assert.ok(freed, `the dropped buffer was freed by that collection (array buffers ${held} B before, ${process.memoryUsage().arrayBuffers} B 2 s after)`);
  // Work, then quiet: the hook drops little this time; no collection.
  spin(150);
  trim.check();
  for (let tries = 0; drops < 3 && tries < 10; tries++) {
    await sleep(200);
    assert.equal(trim.check(), undefined);
  }
  assert.equal(drops, 3, 'the hook ran in the collection, then once in the next quiet spell');
  assert.equal(trim.collections, 1);
});

test('malloc_trim hands freed C memory in the middle of an arena back to the kernel', { skip: process.platform !== 'linux' }, async () => {
  // 96 KiB buffers stay below glibc's mmap threshold, so they are carved from the arena; keeping
  // every 8th pins the arena's top, so glibc's own trimming at free() cannot give the rest back.
  const kept = (() => {
    const bufs: Buffer[] = [];
    for (let i = 0; i < 2048; i++) bufs.push(Buffer.allocUnsafeSlow(96 * 1024).fill(i & 0xff));
    return bufs.filter((_, i) => i % 8 === 7);
  })();
  collectGarbage();
  await sleep(50);
  collectGarbage();
  const before = rssAnon();
  assert.equal(releaseNativeHeap(), true, 'there were free pages to release');
  const after = rssAnon();
  assert.ok(before - after > 64 * MiB, `anon RSS ${Math.round(before / MiB)} -> ${Math.round(after / MiB)} MiB`);
  assert.equal(kept.length, 256);
  assert.equal(kept[3][0], (8 * 3 + 7) & 0xff, 'the buffers kept are intact');
});
