// The `unknown-keys` scenario's load: lookups of keys that do not exist (order.get,
// cart.applyCoupon, recs.similar, catalog.get with random ids), sent by guest connections in a
// closed loop from separate processes (unknown-keys-worker.ts), until a total count is reached.
// This file holds what the parent and its workers share: the op mix, the ids, the messages.
import { prng } from './workloads.js';

export const LOOKUP_OPS = ['order.get', 'cart.applyCoupon', 'recs.similar', 'catalog.get'] as const;
export type LookupOp = (typeof LOOKUP_OPS)[number];
export type LookupMix = Record<LookupOp, number>;

/** Equal shares: two ops that reach a shard actor (order, coupon), two the edge answers from its catalog view. */
export const DEFAULT_LOOKUP_MIX: LookupMix = { 'order.get': 25, 'cart.applyCoupon': 25, 'recs.similar': 25, 'catalog.get': 25 };

/** `order.get=40,catalog.get=60` as a LookupMix (ops left out weigh 0). */
export function parseLookupMix(s: string): LookupMix {
  const mix: LookupMix = { 'order.get': 0, 'cart.applyCoupon': 0, 'recs.similar': 0, 'catalog.get': 0 };
  for (const part of s.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!(k in mix)) throw new Error(`--mix: unknown op "${k}" (one of ${LOOKUP_OPS.join(', ')})`);
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--mix: ${k} wants a weight >= 0, got "${v}"`);
    mix[k as LookupOp] = n;
  }
  if (Object.values(mix).every((w) => w === 0)) throw new Error('--mix: every weight is 0');
  return mix;
}

export const mixText = (m: LookupMix): string =>
  LOOKUP_OPS.filter((k) => m[k] > 0)
    .map((k) => `${k}=${m[k]}`)
    .join(',');

export interface Lookup {
  /** Index into LOOKUP_OPS. */
  op: number;
  args: Record<string, unknown>;
}

/**
 * The lookups of connection `connIndex`: ops by weight (seeded, the same sequence every run),
 * each with a fresh id no catalog, order or coupon has: `nx<conn>-<n>-<random>`, at most 24
 * characters of [a-z0-9-] (valid as an order id, a product id and a coupon code alike).
 */
export function lookupSource(mix: LookupMix, connIndex: number): () => Lookup {
  const total = LOOKUP_OPS.reduce((a, k) => a + mix[k], 0);
  let acc = 0;
  const cumulative = LOOKUP_OPS.map((k) => (acc += mix[k] / total));
  const rnd = prng(0x51ed270b ^ Math.imul(connIndex + 1, 2654435761));
  const conn = connIndex.toString(36);
  let n = 0;
  return () => {
    const x = rnd();
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]) i++;
    const id = `nx${conn}-${(n++).toString(36)}-${Math.floor(rnd() * 2 ** 40).toString(36)}`;
    switch (LOOKUP_OPS[i]) {
      case 'order.get':
        return { op: i, args: { orderId: id } };
      case 'cart.applyCoupon':
        return { op: i, args: { code: id } };
      case 'recs.similar':
      case 'catalog.get':
        return { op: i, args: { productId: id } };
    }
  };
}

/** One worker's share: its connections (guests), each keeping `inflight` lookups outstanding, until `lookups` were sent. */
export interface LookupSpec {
  url: string;
  connections: number;
  /** Index of this worker's first connection over all workers (seeds the ids). */
  connOffset: number;
  inflight: number;
  lookups: number;
  mix: LookupMix;
  /** Give up on a connection that had no answer for this long (its outstanding lookups are lost). */
  stallMs: number;
}

export interface LookupTick {
  /** Second after go's t0. */
  sec: number;
  answers: number;
  /** Answers other than NOT_FOUND. */
  unexpected: number;
  /** Encoded latency histogram of the second's answers, µs. */
  histogram: string;
}

export interface LookupResult {
  sent: number;
  answered: number;
  lost: number;
  /** `op:CODE` (OK, NOT_FOUND, ...; LOST for unanswered) -> count. */
  counts: Record<string, number>;
  /** send -> answer, µs, encoded: every lookup, and by op. */
  histogram: string;
  perOp: Record<string, string>;
  /** Epoch ms: first send, last answer. */
  firstSendAt: number;
  lastAnswerAt: number;
}

export type ToLookupWorker = { t: 'prepare'; spec: LookupSpec } | { t: 'go'; t0: number } | { t: 'exit' };

export type FromLookupWorker = { t: 'ready' } | { t: 'tick'; tick: LookupTick } | { t: 'result'; result: LookupResult } | { t: 'error'; message: string };
