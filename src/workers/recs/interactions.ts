// From the raw event log to what the models read: the weighted user x item matrix and the
// time-decayed popularity of each item.
import { csrFromTriples, type Csr } from './sparse.js';
import type { EventColumns } from './event-log.js';

/**
 * r(u, i) = sum of the kind weights of u's events on i (a view then a purchase = 1 + 5 by default):
 * repeated interest counts, and a purchase outweighs browsing.
 */
export function userItemMatrix(ev: EventColumns, users: number, items: number, kindWeight: ArrayLike<number>): Csr {
  const w = new Float64Array(ev.count);
  for (let e = 0; e < ev.count; e++) w[e] = kindWeight[ev.kind[e]];
  return csrFromTriples(users, items, ev.user, ev.item, w, ev.count);
}

/**
 * pop(i) = sum of kind weight x 2^(-age / halfLife) over i's events: a burst of purchases this week
 * outranks a bigger one last year. Events stamped in the future count as age 0.
 */
export function decayedPopularity(ev: EventColumns, items: number, kindWeight: ArrayLike<number>, nowMs: number, halfLifeMs: number): Float64Array {
  const pop = new Float64Array(items);
  const rate = Math.LN2 / halfLifeMs;
  for (let e = 0; e < ev.count; e++) {
    const age = Math.max(0, nowMs - ev.atSec[e] * 1000);
    pop[ev.item[e]] += kindWeight[ev.kind[e]] * Math.exp(-rate * age);
  }
  return pop;
}

/** Items with popularity > 0, most popular first (ties: lower id first). */
export function popularityOrder(pop: Float64Array): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < pop.length; i++) if (pop[i] > 0) order.push(i);
  order.sort((a, b) => pop[b] - pop[a] || a - b);
  return Int32Array.from(order);
}
