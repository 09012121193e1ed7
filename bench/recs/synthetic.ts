// A synthetic interaction set the size and shape of MovieLens-1M (6,040 users, 3,706 items,
// 1,000,000 interactions): log-normal user activity (at least 20 each, median ~95) and Zipf-like
// item popularity (top item ~3,300 users, median ~120, as in ML-1M), so the similarity kernels do
// about the work they would on the real set. Seeded: the same set on every run.
import type { EventColumns } from '../../src/workers/recs/event-log.js';
import { mulberry32 } from './split.js';

export interface SyntheticShape {
  users: number;
  items: number;
  interactions: number;
  seed: number;
}

export const ML1M_SHAPE: SyntheticShape = { users: 6040, items: 3706, interactions: 1_000_000, seed: 1 };

/** Walker's alias table: O(1) draws from a discrete distribution. */
function aliasSampler(weights: Float64Array, rand: () => number): () => number {
  const n = weights.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  const scaled = Float64Array.from(weights, (w) => (w * n) / total);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
  while (small.length && large.length) {
    const s = small.pop()!;
    const l = large.pop()!;
    prob[s] = scaled[s];
    alias[s] = l;
    scaled[l] += scaled[s] - 1;
    (scaled[l] < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) prob[i] = 1;
  return () => {
    const i = Math.floor(rand() * n);
    return rand() < prob[i] ? i : alias[i];
  };
}

/** The interactions as event-log columns (kinds mixed 80/15/5 view/cart/purchase, times over a year). */
export function syntheticInteractions(shape: SyntheticShape = ML1M_SHAPE): EventColumns {
  const rand = mulberry32(shape.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  // activity: 20 + log-normal, scaled to the total, capped below the catalog size
  const raw = Float64Array.from({ length: shape.users }, () => Math.exp(4.3 + gauss()));
  const rawSum = raw.reduce((a, b) => a + b, 0);
  const spare = shape.interactions - 20 * shape.users;
  const cap = Math.floor(shape.items * 0.62); // ML-1M's most active user rated 62% of the movies
  const perUser = Int32Array.from(raw, (r) => Math.min(cap, 20 + Math.floor((r / rawSum) * spare)));
  let short = shape.interactions - perUser.reduce((a, b) => a + b, 0);
  for (let u = 0; short > 0; u = (u + 1) % shape.users) {
    if (perUser[u] < cap) {
      perUser[u]++;
      short--;
    }
  }
  const draw = aliasSampler(
    Float64Array.from({ length: shape.items }, (_, i) => 1 / (i + 50) ** 1.05),
    rand,
  );
  const n = shape.interactions;
  const ev: EventColumns = { count: n, user: new Int32Array(n), item: new Int32Array(n), kind: new Uint8Array(n), atSec: new Uint32Array(n) };
  const mark = new Int32Array(shape.items).fill(-1);
  const year = 365 * 24 * 3600;
  let e = 0;
  for (let u = 0; u < shape.users; u++) {
    for (let got = 0; got < perUser[u];) {
      const i = draw();
      if (mark[i] === u) continue; // one interaction per (user, item), as in MovieLens
      mark[i] = u;
      const k = rand();
      ev.user[e] = u;
      ev.item[e] = i;
      ev.kind[e] = k < 0.8 ? 0 : k < 0.95 ? 1 : 2;
      ev.atSec[e++] = 1.7e9 + Math.floor(rand() * year);
      got++;
    }
  }
  return ev;
}
