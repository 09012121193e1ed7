// The harness's per-thread figures: the main thread's CPU from /proc (main µs/req) and a
// profile's time by area of the server (bench prof --per-op).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpuMicros, mainThreadCpuMicros } from '../bench/lib/procfs.js';
import { answersOfRun, areaTimes } from '../bench/lib/profile-areas.js';

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-bench-thread-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("the main thread's CPU leaves out what another thread of the process spent", async (t) => {
  const proc0 = cpuMicros(process.pid);
  const main0 = mainThreadCpuMicros(process.pid);
  // A worker computes while this thread only waits for it: a fixed amount of work (~0.3 s of
  // CPU), not a wall-clock spin, which a busy machine may leave half unscheduled.
  const worker = new Worker('let x = 0; for (let i = 0; i < 4e7; i++) x = (x * 31 + i) | 0; if (x === 0.5) console.log(x);', { eval: true });
  await new Promise((resolve) => worker.once('exit', resolve));
  const proc = cpuMicros(process.pid) - proc0;
  const main = mainThreadCpuMicros(process.pid) - main0;
  assert.ok(main >= 0);
  t.diagnostic(`the worker: ${proc - main} µs of CPU; the main thread: ${main} µs`);
  assert.ok(proc - main >= 150_000, `the worker's work counts for the process (${proc} µs) and not for the main thread (${main} µs)`);
});

test('profile areas: a native call counts for the project function that made it; idle counts nowhere', (t) => {
  const dir = tmp(t);
  const url = (f: string) => `file:///srv/dist/src/${f}`;
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2, 5, 6, 7] },
      { id: 2, callFrame: { functionName: 'send', url: url('app/shard-pool.js') }, children: [3] },
      { id: 3, callFrame: { functionName: 'post', url: url('app/shard-link.js') }, children: [4] },
      { id: 4, callFrame: { functionName: 'postMessage', url: '' } },
      { id: 5, callFrame: { functionName: '(garbage collector)', url: '' } },
      { id: 6, callFrame: { functionName: '(idle)', url: '' } },
      { id: 7, callFrame: { functionName: 'flush', url: url('transport/connection.js') }, children: [8] },
      { id: 8, callFrame: { functionName: 'joinFramesInto', url: url('protocol/frames.js') } },
    ],
    samples: [4, 4, 5, 6, 6, 6, 8],
    timeDeltas: [1000, 1000, 2000, 5000, 5000, 5000, 3000],
    startTime: 0,
    endTime: 22_000,
  };
  const path = join(dir, 'main.cpuprofile');
  writeFileSync(path, JSON.stringify(profile));
  const areas = Object.fromEntries(areaTimes(path).map((a) => [a.area, a.ms]));
  assert.deepEqual(areas, { 'shard hop (post, receive, deliver)': 2, 'garbage collection': 2, 'response encoding and joining': 3 });

  const result = join(dir, 'result.json');
  writeFileSync(result, JSON.stringify({ steps: [{ timeline: [{ ops: 10 }, { ops: 5 }] }, { timeline: [{ ops: 7 }] }] }));
  assert.equal(answersOfRun(result), 22);
});
