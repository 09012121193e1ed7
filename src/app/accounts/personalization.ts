// Whether a user's interactions may be recorded (`preferences.personalizedRecs`), without a set
// of every user who turned it off: a bounded LRU of flags over the user store. A flag not in
// memory is read from the store; an interaction of such a user waits for it in a bounded queue
// (full: it is not recorded, never recorded by mistake). This node's writes set the flag at once,
// other nodes' arrive through the accounts bucket's watch (cluster mode).
import type { UserStore } from '../../persistence/user-store.js';
import { LRUCache } from 'lru-cache';
import { log } from '../../log/log.js';

export interface PersonalizationLimits {
  /** Flags kept in memory. */
  cached: number;
  /** Users whose flag is being read with interactions waiting, and interactions waiting per user. */
  waitingUsers: number;
  waitingPerUser: number;
}

export const DEFAULT_PERSONALIZATION_LIMITS: PersonalizationLimits = Object.freeze({ cached: 100_000, waitingUsers: 10_000, waitingPerUser: 64 });
/** Reads of the store in flight at once. */
const READERS = 8;

export class Personalization {
  /** userId -> flag, bounded, least recently used out first. */
  private readonly flags: LRUCache<string, boolean>;
  private readonly waiting = new Map<string, ((personalized: boolean) => void)[]>();
  private readonly queue: string[] = [];
  private reading = 0;
  private idleWaiters: (() => void)[] = [];
  /** Interactions not recorded because the queue was full. */
  dropped = 0;

  constructor(
    private readonly store: Pick<UserStore, 'get'>,
    private readonly limits: PersonalizationLimits = DEFAULT_PERSONALIZATION_LIMITS,
  ) {
    this.flags = new LRUCache<string, boolean>({ max: Math.max(1, limits.cached) });
  }

  /** The flag when it is in memory (and marks it recently used). */
  cached(userId: string): boolean | undefined {
    return this.flags.get(userId);
  }

  /** The flag, read from the store when it is not in memory. */
  get(userId: string): Promise<boolean> {
    const v = this.cached(userId);
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve) => {
      if (!this.when(userId, resolve)) resolve(false);
    });
  }

  /**
   * Runs `then(flag)` now when the flag is in memory, else once it is read; false (and `then`
   * never runs) when the queue is full.
   */
  when(userId: string, then: (personalized: boolean) => void): boolean {
    const v = this.cached(userId);
    if (v !== undefined) {
      then(v);
      return true;
    }
    const list = this.waiting.get(userId);
    if (list) {
      if (list.length >= this.limits.waitingPerUser) return this.drop();
      list.push(then);
      return true;
    }
    if (this.waiting.size >= this.limits.waitingUsers) return this.drop();
    this.waiting.set(userId, [then]);
    this.queue.push(userId);
    this.pump();
    return true;
  }

  /** This node stored the flag. */
  set(userId: string, personalized: boolean): void {
    this.flags.set(userId, personalized);
  }

  /** Another node stored it: kept only when it is in memory already (a miss reads the store). */
  changed(userId: string, personalized: boolean): void {
    if (this.flags.has(userId)) this.flags.set(userId, personalized);
  }

  get size(): number {
    return this.flags.size;
  }

  /** Resolves once no interaction waits for a flag (before a model is built from the logs). */
  idle(): Promise<void> {
    if (this.waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drop(): false {
    if (this.dropped++ % 10_000 === 0) log.warn(`personalization: ${this.dropped} interactions not recorded while their users' preference was being read`);
    return false;
  }

  private pump(): void {
    while (this.reading < READERS && this.queue.length > 0) {
      const userId = this.queue.shift()!;
      this.reading++;
      void this.store
        .get(userId)
        // No row: a guest that kept nothing, with the default preference.
        .then((u) => (u ? u.personalizedRecs : true))
        .catch((err: unknown) => {
          log.warn({ err }, 'personalization: reading a preference failed; the waiting interactions are not recorded');
          return undefined;
        })
        .then((flag) => {
          this.reading--;
          if (flag !== undefined && !this.flags.has(userId)) this.set(userId, flag);
          const value = flag === undefined ? false : (this.flags.get(userId) ?? flag);
          const list = this.waiting.get(userId) ?? [];
          this.waiting.delete(userId);
          for (const then of list) then(value);
          if (this.waiting.size === 0) for (const w of this.idleWaiters.splice(0)) w();
          this.pump();
        });
    }
  }
}
