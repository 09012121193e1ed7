// Entry of a shard worker thread. Messages that queued up while the previous group commit was
// on disk are drained at once and run as one batch: under load the batches grow by themselves,
// and the fsync cost is shared by more requests.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { ShardRuntime, type BatchOutcome } from './shard-runtime.js';
import type { FromShard, ShardOptions, ShardRequest, ToShard } from '../shard-messages.js';
import { readRequests } from '../request-codec.js';
import { HeapRelease } from './heap-release.js';

const { opts, port, catalogHere } = workerData as { opts: ShardOptions; port: MessagePort; catalogHere: boolean };

const runtime = new ShardRuntime(opts);
const post = (m: FromShard, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);

post({ t: 'ready', shard: opts.shard, ...runtime.startupView(catalogHere) });

/** Frames back to back in one buffer, with their end offsets: one transfer, no per-frame clone. */
function pack(list: Uint8Array[]): { frames: Uint8Array; ends: Uint32Array } {
  let size = 0;
  for (const f of list) size += f.length;
  const frames = new Uint8Array(size);
  const ends = new Uint32Array(list.length);
  let p = 0;
  for (let i = 0; i < list.length; i++) {
    frames.set(list[i], p);
    p += list[i].length;
    ends[i] = p;
  }
  return { frames, ends };
}

function sendReplies(batch: number, out: BatchOutcome, includeStats: boolean): void {
  const { frames, ends } = pack(out.frames);
  const transfer: ArrayBuffer[] = [frames.buffer as ArrayBuffer, ends.buffer as ArrayBuffer];
  let pushFrames: Uint8Array | null = null;
  let pushEnds: Uint32Array | null = null;
  if (out.pushes) {
    ({ frames: pushFrames, ends: pushEnds } = pack(out.pushes.frames));
    transfer.push(pushFrames.buffer as ArrayBuffer, pushEnds.buffer as ArrayBuffer);
  }
  post(
    {
      t: 'replies', batch, frames, ends, outcomes: out.outcomes, stock: out.stock, products: out.products,
      pushFrames, pushEnds, pushTopics: out.pushes ? out.pushes.topics : null, domain: out.domain, stats: includeStats ? out.stats : null,
    },
    transfer,
  );
}

function runBatches(batches: { batch: number; reqs: ShardRequest[] }[]): void {
  if (batches.length === 0) return;
  const outcomes = runtime.runBatches(batches.map((b) => b.reqs));
  // Stats and view updates ride on the first reply only: they describe the whole group commit.
  for (let i = 0; i < batches.length; i++) {
    const out = i === 0 ? outcomes[0] : { ...outcomes[i], stock: null, products: null, pushes: null, domain: null };
    sendReplies(batches[i].batch, out, i === 0);
  }
  scheduleTimers();
}

function control(m: Exclude<ToShard, { t: 'batch' }>): void {
  switch (m.t) {
    case 'snapshot':
      return post({ t: 'answer', ask: m.ask, value: runtime.snapshotAll() });
    case 'summary':
      return post({ t: 'answer', ask: m.ask, value: runtime.summary() });
    case 'inspect': {
      let value: unknown = null;
      try {
        value = runtime.inspect(m.key) ?? null;
      } catch (err) {
        console.error(`shard ${opts.shard}: inspect ${m.key} failed:`, err);
      }
      return post({ t: 'answer', ask: m.ask, value });
    }
    case 'watch-topic':
      runtime.watch(m.topic, m.delta);
      return post({ t: 'answer', ask: m.ask, value: true });
    case 'unwatch':
      for (const key of m.keys) runtime.watch(key, -1);
      return;
    case 'admin-feed':
      return runtime.setAdminWatch(m.on);
    case 'prices': {
      // Watched carts holding a repriced sku get the new price now (and a push); the rest on their next change.
      const keys = runtime.setPrices(m.entries);
      if (keys.length > 0) {
        const out = runtime.runBatches([keys.map((key) => ({ id: 0, key, cmd: { type: 'reprice' } }))]);
        sendReplies(-1, out[0], true);
      }
      return;
    }
    case 'interactions':
      return post({ t: 'answer', ask: m.ask, value: runtime.interactionsPage(m.afterG, m.limit) });
    case 'orders-page':
      return post({ t: 'answer', ask: m.ask, value: runtime.orderPage(m.userId, m.before, m.limit) });
    case 'passivate': {
      const dropped = passivateAll(Date.now(), m.olderThanMs);
      return post({ t: 'answer', ask: m.ask, value: { shard: opts.shard, passivated: dropped, actors: runtime.actorCount } });
    }
    case 'stop':
      clearInterval(sweep);
      clearTimeout(timer);
      runtime.close();
      post({ t: 'stopped', shard: opts.shard });
      port.close();
      return;
  }
}

let stopped = false;
port.on('message', (first: ToShard) => {
  // Messages still in flight when `stop` closed the database are dropped (their askers are
  // answered by the pool when the worker exits).
  if (stopped) return;
  let batches: { batch: number; reqs: ShardRequest[] }[] = [];
  for (let m: ToShard | undefined = first; m; m = receiveMessageOnPort(port)?.message as ToShard | undefined) {
    if (m.t === 'batch') {
      batches.push({ batch: m.batch, reqs: readRequests(m.flat) });
      continue;
    }
    runBatches(batches);
    batches = [];
    control(m);
    if (m.t === 'stop') {
      stopped = true;
      return;
    }
  }
  runBatches(batches);
});

// Durable timers (hold expiry): due actors get a `timer` command through the normal batch path.
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;
/** After a timer batch that could not commit, its timers are due again: retry, but not in a spin. */
const TIMER_RETRY_MS = 1000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
let retryAt = 0;
function scheduleTimers(): void {
  const next = runtime.nextTimerAt();
  if (next === undefined) return;
  const at = Math.max(next, retryAt);
  if (at >= timerAt) return;
  clearTimeout(timer);
  timerAt = at;
  // setTimeout takes at most 2^31-1 ms (~24.8 days; more fires at once): wake early and re-plan.
  timer = setTimeout(fireTimers, Math.min(MAX_TIMEOUT_MS, Math.max(0, at - Date.now())));
}
function fireTimers(): void {
  timerAt = Infinity;
  const keys = runtime.dueTimers(Date.now());
  if (keys.length > 0) {
    const out = runtime.runBatches([keys.map((key) => ({ id: 0, key, cmd: { type: 'timer' } }))]);
    if (out[0].outcomes.some((o) => o !== 0)) retryAt = Date.now() + TIMER_RETRY_MS;
    // batch -1: nobody waits for these frames; the edge only takes the view updates.
    sendReplies(-1, out[0], true);
  }
  scheduleTimers();
}
scheduleTimers();

// Maintenance: passivate idle actors and checkpoint the journal, both in bounded chunks with
// the event loop free between them, so batches keep flowing while it runs.
// A chunk is a few ms of work: batches wait at most that long behind maintenance.
const CHUNK = 5_000;
let maintaining = false;
const heap = new HeapRelease(runtime.db);
function passivateAll(now: number, olderThanMs: number): number {
  let total = 0;
  for (let n; (n = runtime.passivate(now, olderThanMs, CHUNK)) > 0; ) total += n;
  heap.note(total);
  heap.maybeCollect(runtime.actorCount);
  return total;
}
function maintain(): void {
  if (maintaining) return;
  maintaining = true;
  const step = () => {
    const now = Date.now();
    const passivated = runtime.passivate(now, opts.passivateAfterMs, CHUNK);
    heap.note(passivated);
    const more = passivated === CHUNK;
    const last = runtime.lastCheckpoint;
    const checkpointing = runtime.checkpointDue(now) && !runtime.checkpointStep(CHUNK);
    if (runtime.lastCheckpoint !== last) post({ t: 'checkpoint', shard: opts.shard, ...runtime.lastCheckpoint });
    const cleaning = runtime.cleanupStep(CHUNK);
    if (more || checkpointing || cleaning) return void setImmediate(step);
    maintaining = false;
    heap.maybeCollect(runtime.actorCount);
  };
  step();
}
const sweep = setInterval(maintain, opts.sweepIntervalMs);
sweep.unref();
