// The interaction log: four append-only columns in SharedArrayBuffers. A build gets the buffers
// and a count and reads rows [0, count) in the pool while the main thread keeps appending past
// count, so nothing is copied per build and the two threads never touch the same rows.
// Growing (or dropping the oldest half at the cap) swaps in new buffers; a build that holds the
// old ones still reads a consistent prefix.

/** What crosses to the pool: shared buffers plus how many rows are valid. */
export interface EventColumns {
  count: number;
  user: Int32Array;
  item: Int32Array;
  kind: Uint8Array;
  at: Float64Array;
}

const shared = <T>(Ctor: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number) =>
  new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT));

export class EventLog {
  private cols: EventColumns;

  /** `maxEvents`: once full, the oldest half is dropped (popularity decays it away anyway). */
  constructor(
    private readonly maxEvents: number,
    initial = 1024,
  ) {
    this.cols = EventLog.alloc(Math.min(initial, maxEvents));
  }

  get count(): number {
    return this.cols.count;
  }

  /** O(1) amortised. */
  append(user: number, item: number, kind: number, at: number): void {
    let c = this.cols;
    if (c.count === c.user.length) c = this.cols = this.regrow(c);
    const n = c.count;
    c.user[n] = user;
    c.item[n] = item;
    c.kind[n] = kind;
    c.at[n] = at;
    c.count = n + 1;
  }

  /** The current rows for a build: a frozen count over the live buffers. */
  snapshot(): EventColumns {
    return { ...this.cols };
  }

  private regrow(c: EventColumns): EventColumns {
    const full = c.user.length >= this.maxEvents;
    const keepFrom = full ? c.count - (c.count >> 1) : 0;
    const kept = c.count - keepFrom;
    const next = EventLog.alloc(full ? c.user.length : Math.min(c.user.length * 2, this.maxEvents));
    next.user.set(c.user.subarray(keepFrom, c.count));
    next.item.set(c.item.subarray(keepFrom, c.count));
    next.kind.set(c.kind.subarray(keepFrom, c.count));
    next.at.set(c.at.subarray(keepFrom, c.count));
    next.count = kept;
    return next;
  }

  private static alloc(capacity: number): EventColumns {
    return {
      count: 0,
      user: shared(Int32Array, capacity),
      item: shared(Int32Array, capacity),
      kind: shared(Uint8Array, capacity),
      at: shared(Float64Array, capacity),
    };
  }
}
