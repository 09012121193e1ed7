// Per-model memo of each user's best unfiltered candidates. A model never changes once live,
// so a user's blend is the same until the next build; only the request's filter (cart, stock,
// context) differs, and that is applied to the memo. Repeat calls cost a filter over a few dozen
// entries instead of a neighbourhood walk (~0.2-0.5 ms on MovieLens-1M-sized data).
import { LRUCache } from 'lru-cache';
import type { Scored } from './scorer.js';

/** The best `size` candidates (fewer when the neighbourhood has fewer), of model build `build`. */
export interface Memo {
  size: number;
  items: Scored[];
  build: number;
}

/**
 * LRU over users (lru-cache: a hit moves nothing in a Map, so a hot user's lookups stay O(1)).
 * One for the service's life: a memo of an older build is a miss. A new cache per model cost the
 * main thread 3-8 ms at every swap (lru-cache allocates its arrays for `max` up front), about once
 * a second under load.
 */
export type UserCache = LRUCache<number, Memo>;

export const newUserCache = (capacity: number): UserCache => new LRUCache<number, Memo>({ max: Math.max(1, capacity) });
