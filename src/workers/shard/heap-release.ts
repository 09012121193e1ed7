// Gives memory back after a large passivation. The dropped actors are garbage in old space, and
// an idle shard runs no major GC to free them (V8's memory reducer acts around allocation, not
// idleness): 1M passivated carts kept ~1 GiB resident. One full GC plus SQLite's shrink_memory,
// only when more actors were dropped since the last one than are still in memory, brings it
// down (`npm run bench -- memory --passivate-after-ms 300000`: 1,008 -> 338 MiB). The pause
// (516-654 ms per shard at 500k dropped carts, measured with --trace-gc)
// falls in a quiet moment by definition: those actors were idle.
import type { IdleHeapTrim } from '../heap-trim.js';

/** Below this many dropped actors a GC is not worth its pause. */
const MIN_DROPPED = 20_000;

export class HeapRelease {
  private dropped = 0;

  /** `trim` is the shard thread's idle trim: its collection runs the shrink as well. */
  constructor(private readonly trim: IdleHeapTrim) {}

  /** Counts actors dropped from memory. */
  note(passivated: number): void {
    this.dropped += passivated;
  }

  /** Runs the collection when it pays; returns its duration in ms, or undefined. */
  maybeCollect(actorsInMemory: number): number | undefined {
    if (this.dropped < MIN_DROPPED || this.dropped <= actorsInMemory) return undefined;
    this.dropped = 0;
    return this.trim.collect();
  }
}
