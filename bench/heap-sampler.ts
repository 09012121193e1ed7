// A sampling heap profile of the server's main thread that keeps the objects garbage collection
// already took (node's own --heap-prof keeps only what is still alive when it stops, which hides
// exactly the short-lived garbage of a request). Loaded into the server with
//   --server-env NODE_OPTIONS=--import=<abs path>/dist/bench/heap-sampler.js HEAP_SAMPLE_DIR=/tmp/h
// it samples from HEAP_SAMPLE_AFTER_MS (8000) after start for HEAP_SAMPLE_FOR_MS (8000), one sample
// per HEAP_SAMPLE_INTERVAL bytes (8192 on average), and writes <dir>/main-<pid>.heapprofile
// (Chrome DevTools' format; `node dist/bench/heap-top.js` prints its heaviest allocation sites).
// V8 charges an allocation in optimised code to the outermost function of what it inlined:
// HEAP_SAMPLE_NO_INLINE=1 turns inlining off, for sites by the function that wrote them (escape
// analysis then removes fewer objects, so that run overstates the total).
import { Session } from 'node:inspector';
import { isMainThread } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';

const dir = process.env.HEAP_SAMPLE_DIR;
if (isMainThread && dir) {
  if (process.env.HEAP_SAMPLE_NO_INLINE === '1') setFlagsFromString('--no-turbo-inlining');
  const after = Number(process.env.HEAP_SAMPLE_AFTER_MS ?? 8000);
  const span = Number(process.env.HEAP_SAMPLE_FOR_MS ?? 8000);
  const interval = Number(process.env.HEAP_SAMPLE_INTERVAL ?? 8192);
  const session = new Session();
  session.connect();
  const startTimer = setTimeout(() => {
    const startedAt = Date.now();
    session.post(
      'HeapProfiler.startSampling',
      { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true },
      (err) => {
        if (err) return void process.stderr.write(`heap-sampler: ${err.message}\n`);
        setTimeout(() => {
          session.post('HeapProfiler.stopSampling', (stopErr, res) => {
            if (stopErr) return void process.stderr.write(`heap-sampler: ${stopErr.message}\n`);
            mkdirSync(dir, { recursive: true });
            const file = join(dir, `main-${process.pid}.heapprofile`);
            writeFileSync(file, JSON.stringify({ ...res.profile, window: { startedAt, stoppedAt: Date.now(), interval } }));
            process.stderr.write(`heap-sampler: ${file}\n`);
            session.disconnect();
          });
        }, span).unref();
      },
    );
  }, after);
  startTimer.unref();
}
