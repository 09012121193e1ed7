// What each request of a step is. One source per connection (each connection is its own guest
// user), deterministic from the connection's index, so two runs send the same sequence.

export type Workload = 'ping' | 'cart' | 'cart-mix';

export interface WorkloadSpec {
  workload: Workload;
  /** Stocked skus of the demo catalog. */
  skus: string[];
  /** Product ids of the demo catalog (catalog.get). */
  products: string[];
  /** Skus each user's cart uses (a few lines per cart). */
  skusPerUser: number;
  /** cart-mix: weight per op. */
  mix?: Mix;
}

export interface Op {
  op: string;
  args?: Record<string, unknown>;
}

export type MixOp = 'catalog.get' | 'cart.add' | 'cart.setQty' | 'cart.get' | 'inventory.get';
export type Mix = Record<MixOp, number>;

/**
 * The default cart-mix: browsing, adding, changing quantities and looking at the cart.
 * `inventory.get` (a read of a sku actor that no cart op changes) is off unless weighed.
 */
export const DEFAULT_MIX: Mix = { 'catalog.get': 40, 'cart.add': 25, 'cart.setQty': 20, 'cart.get': 15, 'inventory.get': 0 };

/** `catalog.get=40,cart.add=25,...` as a Mix (ops left out weigh 0). */
export function parseMix(s: string): Mix {
  const mix: Mix = { 'catalog.get': 0, 'cart.add': 0, 'cart.setQty': 0, 'cart.get': 0, 'inventory.get': 0 };
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    if (!(k in mix)) throw new Error(`--mix: unknown op "${k}" (one of ${Object.keys(mix).join(', ')})`);
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--mix: ${k} wants a weight >= 0, got "${v}"`);
    mix[k as MixOp] = n;
  }
  if (Object.values(mix).every((w) => w === 0)) throw new Error('--mix: every weight is 0');
  return mix;
}

/** A small seeded PRNG (mulberry32): the same sequence per connection on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The skus of user `connIndex`: consecutive skus of the list, so users spread over all of them. */
export function userSkus(spec: WorkloadSpec, connIndex: number): string[] {
  const mine: string[] = [];
  for (let i = 0; i < spec.skusPerUser; i++) mine.push(spec.skus[(connIndex * spec.skusPerUser + i) % spec.skus.length]);
  return mine;
}

/** Highest line quantity cart-mix lets a line reach (every stocked sku has at least 10). */
const LINE_CAP = 8;

/** The op source of one connection: call it for each request. */
export function opSource(spec: WorkloadSpec, connIndex: number): () => Op {
  switch (spec.workload) {
    case 'ping':
      return () => ({ op: 'ping' });
    case 'cart': {
      // cart.add then cart.setQty 1 on each of the user's skus in turn: every op after the first
      // round changes the cart (1 -> 2 -> 1), so every answer waits for a group commit.
      const mine = userSkus(spec, connIndex);
      let k = 0;
      return () => {
        const sku = mine[(k >> 1) % mine.length];
        const op = (k & 1) === 0 ? 'cart.add' : 'cart.setQty';
        k++;
        return { op, args: { sku, qty: 1 } };
      };
    }
    case 'cart-mix':
      return cartMix(spec, connIndex);
  }
}

function cartMix(spec: WorkloadSpec, connIndex: number): () => Op {
  const mix = spec.mix ?? DEFAULT_MIX;
  const ops = Object.keys(mix) as MixOp[];
  const total = ops.reduce((a, k) => a + mix[k], 0);
  let acc = 0;
  const cumulative = ops.map((k) => (acc += mix[k] / total));
  const rnd = prng(0x9e3779b9 ^ (connIndex * 2654435761));
  const mine = userSkus(spec, connIndex);
  // The cart as this connection's requests leave it (requests of one user run in order), so
  // that adds never push a line past its stock: an add goes to the smallest line, or becomes a
  // setQty when every line is at the cap.
  const qty = new Map<string, number>(mine.map((s) => [s, 0]));
  return () => {
    const x = rnd();
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]) i++;
    switch (ops[i]) {
      case 'catalog.get':
        return { op: 'catalog.get', args: { productId: spec.products[Math.floor(rnd() * spec.products.length)] } };
      case 'cart.get':
        return { op: 'cart.get' };
      case 'inventory.get':
        return { op: 'inventory.get', args: { sku: mine[Math.floor(rnd() * mine.length)] } };
      case 'cart.add': {
        let sku = mine[0];
        for (const s of mine) if (qty.get(s)! < qty.get(sku)!) sku = s;
        const q = qty.get(sku)!;
        if (q < LINE_CAP) {
          qty.set(sku, q + 1);
          return { op: 'cart.add', args: { sku, qty: 1 } };
        }
        qty.set(sku, 1);
        return { op: 'cart.setQty', args: { sku, qty: 1 } };
      }
      case 'cart.setQty': {
        const sku = mine[Math.floor(rnd() * mine.length)];
        const q = 1 + Math.floor(rnd() * 2);
        qty.set(sku, q);
        return { op: 'cart.setQty', args: { sku, qty: q } };
      }
    }
  };
}

/** Whether the workload needs a signed-in connection (cart ops do). */
export const needsUser = (w: Workload): boolean => w !== 'ping';
