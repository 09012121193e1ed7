// Micro-benchmark behind the main thread <-> shard hop: batches of cart requests to a worker and
// their encoded replies back, as the pool does it (postMessage of the flat request array, replies
// as transferred buffers) vs two SharedArrayBuffer byte rings (requests msgpack-encoded into one,
// reply frames written into the other, each side woken by Atomics.notify / Atomics.waitAsync).
// Reports main-thread µs per request (event-loop active time / requests) and requests/s, with
// two batches in flight like the pool, for several batch sizes.
// Run: npm run build && node dist/bench/micro/shard-ring.js
import { Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Packr, Unpackr } from 'msgpackr';
import { appendRequest, readRequests } from '../../src/workers/request-codec.js';

const RING_BYTES = 1 << 20;
/** Header words: [0] write position, [1] read position, [2] signal (bumped per record). */
const HEADER = 3;
const PAD = 0xffffffff;

/** A single-producer single-consumer ring of length-prefixed records in a SharedArrayBuffer. */
class ByteRing {
  readonly h: Int32Array;
  readonly data: Uint8Array;
  private readonly view: DataView;
  constructor(readonly sab: SharedArrayBuffer) {
    this.h = new Int32Array(sab, 0, HEADER);
    this.data = new Uint8Array(sab, 16);
    this.view = new DataView(sab, 16);
  }
  static create(): ByteRing {
    return new ByteRing(new SharedArrayBuffer(16 + RING_BYTES));
  }
  /** Reserves `len` payload bytes and returns their offset, or -1 when the ring is full. */
  reserve(len: number): number {
    const cap = this.data.length;
    let w = Atomics.load(this.h, 0);
    const r = Atomics.load(this.h, 1);
    const need = len + 4;
    if (w >= r) {
      if (w + need >= cap) {
        // Not before the end: a pad marker, then from 0 (never up to `r`: w === r means empty).
        if (need >= r) return -1;
        if (cap - w >= 4) this.view.setUint32(w, PAD);
        w = 0;
      }
    } else if (w + need >= r) return -1;
    this.view.setUint32(w, len);
    return w + 4;
  }
  /** Publishes the record reserved at `at` and wakes the consumer. */
  commit(at: number, len: number): void {
    Atomics.store(this.h, 0, at + len);
    Atomics.add(this.h, 2, 1);
    Atomics.notify(this.h, 2, 1);
  }
  /** Calls `take` for every published record, then frees them. */
  drain(take: (data: Uint8Array, at: number, len: number) => void): number {
    const cap = this.data.length;
    const w = Atomics.load(this.h, 0);
    let r = Atomics.load(this.h, 1);
    let n = 0;
    while (r !== w) {
      if (cap - r < 4 || this.view.getUint32(r) === PAD) {
        r = 0;
        continue;
      }
      const len = this.view.getUint32(r);
      take(this.data, r + 4, len);
      r += 4 + len;
      n++;
    }
    Atomics.store(this.h, 1, r);
    return n;
  }
  /** Resolves when the signal moves past `seen` (at once when it already has). */
  wait(seen: number): Promise<unknown> {
    const w = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> | string } }).waitAsync(
      this.h,
      2,
      seen,
    );
    return w.async ? (w.value as Promise<unknown>) : Promise.resolve();
  }
}

const item = { productId: 'tee-classic', name: 'Classic Cotton Tee', unitPrice: 1900, currency: 'USD', available: 30 };
/** A reply frame about the size of a one-line cart answer. */
const REPLY = new Packr({ useRecords: false }).pack({
  id: 1,
  ok: true,
  result: { userId: 'g_abcdefghijklmnopqrstu', version: 7, lines: [{ sku: 'tee-classic-m', qty: 3, ...item }], subtotal: 5700, currency: 'USD' },
});

interface Setup {
  mode: 'port' | 'ring';
  req?: SharedArrayBuffer;
  rep?: SharedArrayBuffer;
}

if (!isMainThread) shard(workerData as Setup, parentPort!);
else await main();

/** The worker: decodes each batch and answers every request with one encoded frame. */
function shard(setup: Setup, port: MessagePort): void {
  const replyFor = (n: number): { frames: Uint8Array; ends: Uint32Array; outcomes: Uint8Array } => {
    const frames = new Uint8Array(REPLY.length * n);
    const ends = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      frames.set(REPLY, i * REPLY.length);
      ends[i] = (i + 1) * REPLY.length;
    }
    return { frames, ends, outcomes: new Uint8Array(n) };
  };
  if (setup.mode === 'port') {
    port.on('message', (m: { batch: number; flat: unknown[] }) => {
      const reqs = readRequests(m.flat);
      const r = replyFor(reqs.length);
      port.postMessage({ t: 'replies', batch: m.batch, ...r }, [
        r.frames.buffer as ArrayBuffer,
        r.ends.buffer as ArrayBuffer,
        r.outcomes.buffer as ArrayBuffer,
      ]);
    });
    return;
  }
  // A pending Atomics.waitAsync does not keep a thread's event loop alive; the port does.
  port.on('message', () => undefined);
  const inRing = new ByteRing(setup.req!);
  const outRing = new ByteRing(setup.rep!);
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
  const pump = (): void => {
    const seen = Atomics.load(inRing.h, 2);
    inRing.drain((data, at, len) => {
      const batch = new DataView(data.buffer, data.byteOffset + at).getUint32(0);
      const flat = unpackr.unpack(data.slice(at + 4, at + len)) as unknown[];
      const n = readRequests(flat).length;
      // Reply record: batch, count, ends, outcomes, frames.
      const size = 8 + 4 * n + n + REPLY.length * n;
      let o = outRing.reserve(size);
      while (o < 0) o = outRing.reserve(size); // the micro's main thread always drains
      const v = new DataView(outRing.data.buffer, outRing.data.byteOffset + o);
      v.setUint32(0, batch);
      v.setUint32(4, n);
      let p = 8 + 4 * n + n;
      for (let i = 0; i < n; i++) {
        outRing.data.set(REPLY, o + p);
        p += REPLY.length;
        v.setUint32(8 + 4 * i, p - (8 + 4 * n + n));
      }
      outRing.commit(o, size);
    });
    void inRing.wait(seen).then(pump);
  };
  pump();
}

async function main(): Promise<void> {
  const keys = Array.from({ length: 256 }, (_, i) => `cart:g_abcdefghijklmnopqrstu${i}`);
  const packr = new Packr({ useRecords: false });
  const ROUNDS_REQUESTS = 200_000;

  async function run(mode: 'port' | 'ring', batchSize: number): Promise<{ usPerReq: number; perSec: number }> {
    const setup: Setup = mode === 'ring' ? { mode, req: ByteRing.create().sab, rep: ByteRing.create().sab } : { mode };
    const worker = new Worker(new URL(import.meta.url), { workerData: setup });
    worker.on('error', (err) => {
      console.error(err);
      process.exit(1);
    });
    const batches = Math.ceil(ROUNDS_REQUESTS / batchSize);
    let sent = 0;
    let answered = 0;
    const makeFlat = (): unknown[] => {
      const flat: unknown[] = [];
      for (let i = 0; i < batchSize; i++) appendRequest(flat, i, keys[i % keys.length], { type: 'setQty', sku: 'tee-classic-m', qty: 3, item } as never);
      return flat;
    };
    let delivered = 0;
    const deliver = (frames: Uint8Array, ends: Uint32Array): void => {
      // What the pool does per request: one view of its frame handed to a sink.
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        delivered += frames.subarray(start, ends[i]).length;
        start = ends[i];
      }
    };
    await new Promise((r) => setTimeout(r, 100)); // the worker starts
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    await new Promise<void>((done) => {
      if (mode === 'port') {
        const send = () => worker.postMessage({ t: 'batch', batch: sent++, flat: makeFlat() });
        worker.on('message', (m: { frames: Uint8Array; ends: Uint32Array }) => {
          deliver(m.frames, m.ends);
          if (++answered === batches) return done();
          if (sent < batches) send();
        });
        send();
        send();
        return;
      }
      const reqRing = new ByteRing(setup.req!);
      const repRing = new ByteRing(setup.rep!);
      const send = () => {
        const bytes = packr.pack(makeFlat());
        const at = reqRing.reserve(bytes.length + 4);
        if (at < 0) throw new Error('request ring full');
        new DataView(reqRing.data.buffer, reqRing.data.byteOffset + at).setUint32(0, sent++);
        reqRing.data.set(bytes, at + 4);
        reqRing.commit(at, bytes.length + 4);
      };
      const pump = (): void => {
        const seen = Atomics.load(repRing.h, 2);
        let finished = false;
        repRing.drain((data, at) => {
          const v = new DataView(data.buffer, data.byteOffset + at);
          const n = v.getUint32(4);
          const ends = new Uint32Array(n);
          for (let i = 0; i < n; i++) ends[i] = v.getUint32(8 + 4 * i);
          const head = 8 + 4 * n + n;
          // Copied out: a held reply may outlive the record's slot.
          deliver(data.slice(at + head, at + head + ends[n - 1]), ends);
          if (++answered === batches) finished = true;
          else if (sent < batches) send();
        });
        if (finished) return done();
        void repRing.wait(seen).then(pump);
      };
      send();
      send();
      pump();
    });
    const ms = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    await worker.terminate();
    if (delivered !== batches * batchSize * REPLY.length) throw new Error('replies lost');
    const n = batches * batchSize;
    return { usPerReq: (elu.active * 1000) / n, perSec: n / (ms / 1000) };
  }

  console.log('batch | postMessage: main µs/req, req/s | rings: main µs/req, req/s');
  for (const b of [1, 4, 16, 64]) {
    const port = await run('port', b);
    const ring = await run('ring', b);
    const f = (x: { usPerReq: number; perSec: number }) => `${x.usPerReq.toFixed(2)} µs, ${Math.round(x.perSec).toLocaleString('en-US')}/s`;
    console.log(`${String(b).padStart(5)} | ${f(port)} | ${f(ring)}`);
  }
}
