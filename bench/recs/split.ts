// The evaluation split: per user, a seeded random 20% of their items held out (at least one).

/** mulberry32: a tiny seeded PRNG, so a seed gives the same split on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Split {
  /** Training rows (indices into the rating arrays). */
  train: Int32Array;
  /** Held-out items per user. */
  test: Set<number>[];
}

/** Holds out max(1, round(fraction x n)) of each user's distinct items, chosen by a seeded shuffle. */
export function holdoutSplit(user: Int32Array, item: Int32Array, users: number, seed: number, fraction = 0.2): Split {
  const rowsOf: number[][] = Array.from({ length: users }, () => []);
  for (let r = 0; r < user.length; r++) rowsOf[user[r]].push(r);
  const rand = mulberry32(seed);
  const test: Set<number>[] = [];
  const train: number[] = [];
  for (let u = 0; u < users; u++) {
    const rows = rowsOf[u];
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [rows[i], rows[j]] = [rows[j], rows[i]];
    }
    const k = rows.length === 0 ? 0 : Math.max(1, Math.round(fraction * rows.length));
    test.push(new Set(rows.slice(0, k).map((r) => item[r])));
    for (const r of rows.slice(k)) train.push(r);
  }
  return { train: Int32Array.from(train.sort((a, b) => a - b)), test };
}
