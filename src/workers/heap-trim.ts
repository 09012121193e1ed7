// Gives a quiet thread's garbage back. V8 runs a full collection when allocation pushes the heap
// to its limit, so a thread that goes quiet after a burst (a fill of a million carts, a sale, a
// recommendation build) keeps that burst's garbage resident for as long as it stays quiet, up to
// the limit it grew to. Every thread of the server (main, shards) runs one of these: each period
// it reads the thread's event-loop utilisation and heap. The first quiet period after work runs
// the thread's release hook (the shard threads hand their SQLite page cache back: 16 MiB per
// connection once full; the main thread moves the recommendation buffers into arrays without growth room, and a collection frees
// the old ones); a quiet period whose heap grew well past what the last collection left also gets
// one full collection.
// Either way the C heap's free pages go back to the kernel after it (native-heap.ts).
// The pause lands on a thread that just showed it had nothing to do.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { releaseNativeHeap } from './native-heap.js';
import { log } from '../log/log.js';

setFlagsFromString('--expose-gc');
/** A full, synchronous collection of this thread's heap. */
export const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Event-loop utilisation below which a period counts as quiet. Low on purpose: a forced
 * collection is one atomic mark-compact (0.5 s on a shard holding 500,000 carts), where V8's own
 * runs concurrently. A shard serving about a hundred requests a second stays above it (each shard
 * thread took 2.4-3.6% of a core beside `npm run bench -- cart-mix --rate 200`, read with
 * bench/thread-cpu.sh) and is left to V8.
 */
const QUIET = 0.01;
/** Growth over the last collection's heap that is worth a pause: this much, or a quarter of it. */
const MIN_GROWTH_BYTES = 32 * 2 ** 20;
const MIN_GROWTH_SHARE = 0.25;
/**
 * Buffers a release hook let go of that are worth a collection: an ArrayBuffer's memory goes back
 * only when its object is collected, and a quiet heap is not collected by V8 on its own.
 */
const RELEASED_COLLECT_BYTES = 4 * 2 ** 20;

export class IdleHeapTrim {
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  /** Heap in use after the last collection seen (ours, or V8's: the lowest reading since). */
  private floor = getHeapStatistics().used_heap_size;
  private timer: NodeJS.Timeout | undefined;
  /** The release hook ran in this quiet spell already. */
  private released = false;
  /** Collections run (tests read it). */
  collections = 0;

  /**
   * `periodMs` 0 turns it off; `release` runs once per quiet spell and after each collection, and
   * returns the bytes of buffers it dropped (a collection follows when they are worth one).
   */
  constructor(
    private readonly periodMs: number,
    private readonly release?: () => number | void,
  ) {}

  start(): this {
    if (this.periodMs > 0 && !this.timer) {
      this.timer = setInterval(() => {
        try {
          this.check();
        } catch (err) {
          // Memory not given back is no reason to end a thread: the next period tries again.
          log.warn({ err }, 'idle heap trim failed');
        }
      }, this.periodMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One period's decision; returns the collection's duration in ms when one ran. */
  check(): number | undefined {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    if (busy >= QUIET) {
      this.released = false;
      return undefined;
    }
    const used = getHeapStatistics().used_heap_size;
    if (used < this.floor) this.floor = used;
    if (used - this.floor >= Math.max(MIN_GROWTH_BYTES, this.floor * MIN_GROWTH_SHARE)) return this.collect();
    if (!this.released) {
      this.released = true;
      if ((this.release?.() ?? 0) >= RELEASED_COLLECT_BYTES) return this.collect();
      releaseNativeHeap();
    }
    return undefined;
  }

  /** A collection now (and the hook); the heap it leaves is the new floor. */
  collect(): number {
    const t0 = performance.now();
    collectGarbage();
    this.release?.();
    releaseNativeHeap();
    this.released = true;
    this.floor = getHeapStatistics().used_heap_size;
    this.collections++;
    // The collection's own time is not the thread's work: the next period starts from here.
    this.elu = performance.eventLoopUtilization();
    return performance.now() - t0;
  }
}
