// Token buckets for the abuse limits: one per connection (requests), and keyed families (per IP,
// per email, per email and IP) with a bounded number of keys, and growing delays after failures.
// Time is passed in (ms, any monotonic clock), so they are plain arithmetic and tests need no
// fake timers.

/** A bucket of `capacity` tokens refilled at `ratePerSec`; a request takes one or more. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    ratePerSec: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
    this.perMs = ratePerSec / 1000;
  }

  /** Takes `n` tokens: 0 when taken, else the ms until `n` tokens are there (nothing taken). */
  take(now: number, n = 1): number {
    this.refill(now);
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((n - this.tokens) / this.perMs));
  }

  /** Gives tokens back (an attempt that turned out fine), never above the capacity. */
  give(n = 1): void {
    this.tokens = Math.min(this.capacity, this.tokens + n);
  }

  /** Whether the bucket is back to full at `now`: it then holds no information and can go. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
      this.last = now;
    }
  }
}

/** A limit: `capacity` tokens (the burst) refilled at `ratePerSec`; a rate of 0 turns it off. */
export interface LimitSpec {
  capacity: number;
  ratePerSec: number;
}

/**
 * Buckets per key (an IP, an email). Memory is bounded: at `maxKeys` the full buckets (which
 * say nothing) are dropped, and if that frees less than a tenth of the room the oldest keys go
 * too; each sweep frees at least a tenth, so its cost is O(1) per new key amortized. Evicting a
 * key that is not full forgets its debt: the price of the bound, paid only under a flood of
 * distinct keys.
 */
export class KeyedLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly spec: LimitSpec,
    private readonly maxKeys = 100_000,
  ) {}

  get disabled(): boolean {
    return this.spec.ratePerSec === 0;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token for `key`: 0 when taken, else the ms to wait. */
  take(key: string, now: number): number {
    if (this.disabled) return 0;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.sweep(now);
      b = new TokenBucket(this.spec.capacity, this.spec.ratePerSec, now);
      this.buckets.set(key, b);
    }
    return b.take(now);
  }

  /** Gives a token back to `key` (a login that succeeded does not count against the email). */
  give(key: string): void {
    this.buckets.get(key)?.give();
  }

  /** Forgets `key`: its next take starts from a full bucket (a success wipes the slate). */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  private sweep(now: number): void {
    for (const [key, b] of this.buckets) if (b.isFull(now)) this.buckets.delete(key);
    const target = Math.floor(this.maxKeys * 0.9);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}

/** Growing delays after repeated failures; a `baseMs` of 0 turns them off. */
export interface BackoffSpec {
  /** Failures that cost no wait. */
  free: number;
  /** The wait after the first failure beyond `free`, ms; each further failure doubles it... */
  baseMs: number;
  /** ...up to this. */
  maxMs: number;
  /** A key with no failure for this long (and at least `maxMs`) starts over. */
  forgetMs: number;
}

/**
 * Failures per key (an email and an IP) and the earliest time the key may try again: after
 * `free` failures, each failure sets a wait of `baseMs`, `2 x baseMs`, `4 x baseMs` ... at most
 * `maxMs`, counted from that failure. Memory is bounded like KeyedLimiter's: the map is kept in
 * the order of last failure, so a sweep at `maxKeys` drops forgotten keys from the front, then
 * the oldest until a tenth of the room is free.
 */
export class KeyedBackoff {
  private readonly entries = new Map<string, { failures: number; last: number; until: number }>();
  private readonly forgetMs: number;

  constructor(
    readonly spec: BackoffSpec,
    private readonly maxKeys = 100_000,
  ) {
    this.forgetMs = Math.max(spec.forgetMs, spec.maxMs);
  }

  get disabled(): boolean {
    return this.spec.baseMs === 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The ms until `key` may try again: 0 when it may now. */
  wait(key: string, now: number): number {
    const e = this.live(key, now);
    return e && e.until > now ? Math.max(1, Math.ceil(e.until - now)) : 0;
  }

  /** Counts a failure of `key` at `now`; returns the wait it sets (0 while failures are free). */
  fail(key: string, now: number): number {
    if (this.disabled) return 0;
    let e = this.live(key, now);
    if (e)
      this.entries.delete(key); // set again below: the map stays in order of last failure
    else {
      if (this.entries.size >= this.maxKeys) this.sweep(now);
      e = { failures: 0, last: now, until: now };
    }
    e.failures++;
    e.last = now;
    const beyond = e.failures - this.spec.free;
    e.until = beyond > 0 ? now + Math.min(this.spec.maxMs, this.spec.baseMs * 2 ** (beyond - 1)) : now;
    this.entries.set(key, e);
    return e.until - now;
  }

  /** Forgets `key`'s failures (it succeeded). */
  reset(key: string): void {
    this.entries.delete(key);
  }

  private live(key: string, now: number): { failures: number; last: number; until: number } | undefined {
    const e = this.entries.get(key);
    if (e && now - e.last >= this.forgetMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private sweep(now: number): void {
    const target = Math.floor(this.maxKeys * 0.9);
    for (const [key, e] of this.entries) {
      if (now - e.last < this.forgetMs && this.entries.size <= target) break;
      this.entries.delete(key);
    }
  }
}

/**
 * The key of a client address for per-IP limits: an IPv4 address as is, an IPv6 address by its
 * /64 prefix (one subscriber usually holds a whole /64, so per-address limits would be free to
 * evade). `raw` is uWS's binary address (4 or 16 bytes).
 */
export function ipKey(raw: ArrayBuffer): string {
  const b = new Uint8Array(raw);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
    let mapped = b[10] === 0xff && b[11] === 0xff;
    for (let i = 0; mapped && i < 10; i++) mapped = b[i] === 0;
    if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    return `${Buffer.from(b.subarray(0, 8)).toString('hex')}/64`;
  }
  return Buffer.from(b).toString('hex');
}
