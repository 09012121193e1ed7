// The interaction log: four append-only columns in SharedArrayBuffers, 13 bytes a row. A build
// gets the buffers and a count and reads rows [0, count) in the pool while the main thread keeps
// appending past count, so nothing is copied per build and the two threads never touch the same
// rows.
// Growing (or dropping the oldest half at the cap, or renumbering the users when the service
// forgets some) swaps in new buffers; a build that holds the old ones still reads a consistent prefix.

/** What crosses to the pool: shared buffers plus how many rows are valid. */
export interface EventColumns {
  count: number;
  user: Int32Array;
  item: Int32Array;
  kind: Uint8Array;
  /** Seconds since the epoch (whole seconds are plenty for a half-life of days; 4 bytes, not 8). */
  atSec: Uint32Array;
}

/** Milliseconds since the epoch to the log's seconds, clamped into a Uint32. */
export const toLogSeconds = (atMs: number): number => Math.min(0xffff_ffff, Math.max(0, Math.floor(atMs / 1000))) || 0;

/** user + item + kind + atSec. */
const ROW_BYTES = 4 + 4 + 1 + 4;

const shared = <T>(Ctor: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number) =>
  new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT));

export class EventLog {
  private cols: EventColumns;

  /** `maxEvents`: once full, the oldest half is dropped (popularity decays it away anyway). */
  constructor(
    private readonly maxEvents: number,
    private readonly initial = 1024,
  ) {
    this.cols = EventLog.alloc(Math.min(initial, maxEvents));
  }

  get count(): number {
    return this.cols.count;
  }

  /** Bytes of the current buffers (capacity, not rows): what the log holds in memory. */
  get bytes(): number {
    const c = this.cols;
    return c.user.byteLength + c.item.byteLength + c.kind.byteLength + c.atSec.byteLength;
  }

  /** O(1) amortised. `atMs`: milliseconds since the epoch, kept to the second. */
  append(user: number, item: number, kind: number, atMs: number): void {
    let c = this.cols;
    if (c.count === c.user.length) c = this.cols = this.regrow(c);
    const n = c.count;
    c.user[n] = user;
    c.item[n] = item;
    c.kind[n] = kind;
    c.atSec[n] = toLogSeconds(atMs);
    c.count = n + 1;
  }

  /** The current rows for a build: a frozen count over the live buffers. */
  snapshot(): EventColumns {
    return { ...this.cols };
  }

  /**
   * The longest run of newest rows that names at most `maxUsers` distinct users (ids < `users`):
   * its first row, and a mark per user id for the users it names. O(rows + users).
   */
  newestUsers(maxUsers: number, users: number): { from: number; named: Uint8Array } {
    const { user, count } = this.cols;
    const named = new Uint8Array(users);
    let distinct = 0;
    let from = count;
    for (; from > 0; from--) {
      const u = user[from - 1];
      if (named[u] === 1) continue;
      if (distinct === maxUsers) break;
      named[u] = 1;
      distinct++;
    }
    return { from, named };
  }

  /**
   * Keeps rows [from, count) with each user id mapped through `userMap` (>= 0 for every user they
   * name), in new buffers of the same capacity, like a regrow: a build holding the old ones still
   * reads them unchanged.
   */
  rewrite(from: number, userMap: Int32Array): void {
    const c = this.cols;
    const next = EventLog.moved(c, from, c.user.length);
    for (let r = 0; r < next.count; r++) next.user[r] = userMap[next.user[r]];
    this.cols = next;
  }

  /**
   * Moves the rows into buffers of their exact length (at least the initial capacity) when the
   * growth room is worth it; returns the bytes given up. For a quiet moment: the next append grows
   * again. A build holding the old buffers still reads them, as after a regrow.
   */
  fit(minFree = 0): number {
    const c = this.cols;
    const capacity = Math.max(c.count, Math.min(this.initial, this.maxEvents));
    const before = this.bytes;
    if (capacity >= c.user.length || (c.user.length - capacity) * ROW_BYTES < minFree) return 0;
    this.cols = EventLog.moved(c, 0, capacity);
    return before - this.bytes;
  }

  private regrow(c: EventColumns): EventColumns {
    const full = c.user.length >= this.maxEvents;
    const keepFrom = full ? c.count - (c.count >> 1) : 0;
    // x1.5, not x2: the log is the service's largest buffer, and a doubling leaves up to half of it idle
    return EventLog.moved(c, keepFrom, full ? c.user.length : Math.min(c.user.length + Math.max(1, c.user.length >> 1), this.maxEvents));
  }

  /** Rows [from, count) of `c` at the start of new buffers of `capacity` rows. */
  private static moved(c: EventColumns, from: number, capacity: number): EventColumns {
    const next = EventLog.alloc(capacity);
    next.user.set(c.user.subarray(from, c.count));
    next.item.set(c.item.subarray(from, c.count));
    next.kind.set(c.kind.subarray(from, c.count));
    next.atSec.set(c.atSec.subarray(from, c.count));
    next.count = c.count - from;
    return next;
  }

  private static alloc(capacity: number): EventColumns {
    return {
      count: 0,
      user: shared(Int32Array, capacity),
      item: shared(Int32Array, capacity),
      kind: shared(Uint8Array, capacity),
      atSec: shared(Uint32Array, capacity),
    };
  }
}
