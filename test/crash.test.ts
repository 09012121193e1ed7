// Durability under kill -9: the real server as a child process, 32 guests and 3 admins writing
// continuously, SIGKILL at seeded random moments, restart on the same DATA_DIR, and a check that
// every acknowledged change survived. Requests whose reply never arrived may or may not have been
// applied; the check accepts exactly "acked effects plus some subset of the unanswered ones".
//
// Reproduce a run with CRASH_SEED=<seed printed by the test>.
import { test } from 'node:test';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { spawnServer, tmpDataDir, connect, until, ADMIN_EMAIL, ADMIN_PASSWORD, type ChildServer } from './helpers/server.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import type { CartView, InventoryView, ProductView } from '../src/protocol/types.js';
import { prng } from './helpers/proc.js';

const GUESTS = 32;
const ADMINS = 3;
const ADMIN_LANES = 4;
const KILLS = 6;
/** Acknowledged ops each epoch must reach before its kill may land. */
const MIN_ACKS_PER_EPOCH = 300;
/** Demo skus with enough stock that a line of at most 9 never hits OUT_OF_STOCK. */
const GUEST_SKUS = ['soap-bar', 'lip-balm-plain', 'charger-65w', 'wool-socks-m', 'mug-stoneware-sand', 'notebook-dot-black', 'yo-yo-red', 'bottle-steel-0.5l'];
const MAX_LINE_QTY = 9;
/** Only admins touch these, so guests never see their stock move. */
const ADMIN_SKUS = ['tent-2p', 'kite', 'headlamp'];
const BASE_STOCK = 10_000_000;
/** One admin lane rewrites this product over and over (the catalog actor and the edge's view of it). */
const CATALOG_PRODUCT = 'crash-catalog';

// Aggressive maintenance so kills land during inline snapshots, checkpoints (journal truncation)
// and passivation, and recovery goes through snapshot + journal tail, not just the journal.
const SERVER_ENV = {
  SHARDS: '2',
  SNAPSHOT_EVERY: '5',
  SWEEP_INTERVAL_MS: '50',
  CHECKPOINT_INTERVAL_MS: '150',
  CHECKPOINT_ROWS: '300',
  PASSIVATE_AFTER_MS: '250',
};

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or a failure naming `what` after `ms` (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- carts: one connection per guest, one request in flight, so the applied ops are a prefix ----

type CartOp =
  | { op: 'cart.add'; args: { sku: string; qty: number } }
  | { op: 'cart.setQty'; args: { sku: string; qty: number } }
  | { op: 'cart.remove'; args: { sku: string } }
  | { op: 'cart.clear'; args: Record<string, never> };

type Line = { sku: string; qty: number };
const linesOf = (cart: CartView): Line[] => cart.items.map((l) => ({ sku: l.sku, qty: l.qty }));

/** What the server does to the lines (order kept: a new line goes last, a changed one stays put). */
function applyCartOp(lines: Line[], c: CartOp): Line[] {
  const out = lines.map((l) => ({ ...l }));
  const i = 'sku' in c.args ? out.findIndex((l) => l.sku === (c.args as { sku: string }).sku) : -1;
  switch (c.op) {
    case 'cart.add':
      if (i < 0) out.push({ sku: c.args.sku, qty: c.args.qty });
      else out[i].qty += c.args.qty;
      return out;
    case 'cart.setQty':
      if (c.args.qty === 0) {
        if (i >= 0) out.splice(i, 1);
      } else if (i < 0) out.push({ sku: c.args.sku, qty: c.args.qty });
      else out[i].qty = c.args.qty;
      return out;
    case 'cart.remove':
      if (i >= 0) out.splice(i, 1);
      return out;
    case 'cart.clear':
      return [];
  }
}

/** An op that certainly changes the cart (so its version grows by exactly one). */
function chooseCartOp(rng: () => number, lines: Line[]): CartOp {
  const absent = GUEST_SKUS.filter((s) => !lines.some((l) => l.sku === s));
  const r = rng();
  if (lines.length === 0 || (r < 0.3 && absent.length > 0)) {
    const sku = pick(rng, absent);
    const qty = 1 + Math.floor(rng() * 3);
    return rng() < 0.5 ? { op: 'cart.add', args: { sku, qty } } : { op: 'cart.setQty', args: { sku, qty } };
  }
  const line = pick(rng, lines);
  if (r < 0.5 && line.qty < MAX_LINE_QTY) {
    return { op: 'cart.add', args: { sku: line.sku, qty: 1 + Math.floor(rng() * (MAX_LINE_QTY - line.qty)) } };
  }
  if (r < 0.75) {
    let qty = 1 + Math.floor(rng() * (MAX_LINE_QTY - 1));
    if (qty >= line.qty) qty++; // anything but the current qty
    return { op: 'cart.setQty', args: { sku: line.sku, qty } };
  }
  if (r < 0.88) return { op: 'cart.remove', args: { sku: line.sku } };
  if (r < 0.94) return { op: 'cart.setQty', args: { sku: line.sku, qty: 0 } };
  return { op: 'cart.clear', args: {} };
}

interface Guest {
  token: string;
  userId: string;
  rng: () => number;
  /** The latest state known to be durable: the last ok reply, or what the server showed after a restart. */
  known: CartView;
  /** Sent and not answered (the connection died first): may or may not have been applied. */
  inflight?: CartOp;
}

// ---- inventory: several admin lanes on a few skus, every adjustment with its own referenceId ----

interface Delta {
  ref: string;
  main: number;
  backroom: number;
}

interface SkuModel {
  sku: string;
  /** State verified at the start of the epoch. */
  base: InventoryView;
  /** Effects acknowledged this epoch. */
  acked: Delta[];
  /** The acknowledged reply with the highest version this epoch (or the base). */
  top: InventoryView;
  /** Sent this epoch and not answered. */
  unanswered: Map<string, Delta>;
}

const stockIn = (v: InventoryView, w: string): number => v.warehouses[w]?.onHand ?? 0;

/** Whether some `size` of `items` sum to exactly (main, backroom). */
function subsetExists(items: Delta[], size: number, main: number, backroom: number): boolean {
  if (size < 0 || size > items.length) return false;
  const go = (i: number, left: number, m: number, b: number): boolean => {
    if (left === 0) return m === 0 && b === 0;
    if (items.length - i < left) return false;
    return go(i + 1, left - 1, m - items[i].main, b - items[i].backroom) || go(i + 1, left, m, b);
  };
  return go(0, size, main, backroom);
}

interface CatalogModel {
  /** Revision (in the description) of the last acknowledged upsert, and that reply. */
  rev: number;
  known?: ProductView;
  /** Revision sent and not answered. */
  inflight?: number;
}

const productInput = (rev: number) => ({
  productId: CATALOG_PRODUCT,
  name: `Crash Test Product r${rev}`,
  category: 'test',
  description: `rev ${rev}`,
  variants: [{ sku: `${CATALOG_PRODUCT}-sku`, price: 1000 + rev }],
});
const revOf = (p: ProductView): number => Number(/^rev (\d+)$/.exec(p.description ?? '')?.[1] ?? NaN);
/** catalog.get adds live availability to each variant; the upsert reply has none. */
const withoutAvailable = (p: ProductView): ProductView => ({ ...p, variants: p.variants.map(({ available: _, ...v }) => v) });

const isClosed = (err: unknown) => err instanceof CartwireError && err.code === 'CLOSED';

test('kill -9 at random moments under load loses no acknowledged change', { timeout: 150_000 }, async (t) => {
  const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Date.now() % 2 ** 31;
  console.log(`crash test seed ${seed} (rerun with CRASH_SEED=${seed})`);
  t.diagnostic(`seed ${seed}`);
  const rng = prng(seed);
  const dataDir = tmpDataDir(t);
  let srv: ChildServer = await spawnServer(dataDir, SERVER_ENV);
  t.after(() => srv.kill9());

  const figures = {
    ackedCartOps: 0,
    ackedAdjustments: 0,
    ackedUpserts: 0,
    kills: 0,
    restarts: 0,
    inflightAtKill: 0,
    inflightApplied: 0,
    lost: 0,
    unexplained: 0,
  };
  const problems: string[] = [];

  // Identities and the starting state.
  let clients: CartwireClient[] = [];
  const guests: Guest[] = [];
  for (let i = 0; i < GUESTS; i++) {
    const c = await connect(srv.url);
    const { token, userId } = await c.call('auth.guest', {});
    guests.push({ token, userId, rng: prng(Math.floor(rng() * 2 ** 32)), known: await c.call('cart.get', {}) });
    clients.push(c);
  }
  let admins: CartwireClient[] = [];
  let adminToken = '';
  for (let a = 0; a < ADMINS; a++) {
    const c = await connect(srv.url);
    adminToken = (await c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).token;
    admins.push(c);
  }
  const skus: SkuModel[] = [];
  for (const sku of ADMIN_SKUS) {
    const v = await admins[0].call('inventory.adjust', { sku, type: 'purchase', qty: BASE_STOCK, reason: 'crash test base', referenceId: `base-${sku}` });
    skus.push({ sku, base: v, acked: [], top: v, unanswered: new Map() });
  }

  const catalog: CatalogModel = { rev: 0 };

  for (let epoch = 0; epoch < KILLS; epoch++) {
    let ackedThisEpoch = 0;

    const guestLane = async (g: Guest, c: CartwireClient) => {
      for (;;) {
        if (c.closeInfo) return; // a call on a closed client would only time out
        const op = chooseCartOp(g.rng, linesOf(g.known));
        g.inflight = op;
        let cart: CartView;
        try {
          cart = await c.call(op.op, op.args);
        } catch (err) {
          if (isClosed(err)) return;
          throw err;
        }
        // One writer per cart: the reply is exactly the known state plus this op.
        assert.equal(cart.version, g.known.version + 1, `${g.userId}: ${op.op} version`);
        assert.deepEqual(linesOf(cart), applyCartOp(linesOf(g.known), op), `${g.userId}: ${op.op} ${JSON.stringify(op.args)} lines`);
        g.known = cart;
        g.inflight = undefined;
        figures.ackedCartOps++;
        ackedThisEpoch++;
        // Now and then a guest goes quiet long enough for its cart to be passivated (snapshot,
        // dropped from memory) and later recovered while the others keep writing.
        if (g.rng() < 0.01) await sleep(300 + Math.floor(g.rng() * 200));
      }
    };

    const adminLane = async (c: CartwireClient, a: number, lane: number, laneRng: () => number) => {
      for (let n = 0; ; n++) {
        if (c.closeInfo) return;
        const m = pick(laneRng, skus);
        const qty = 1 + Math.floor(laneRng() * 50);
        const ref = `e${epoch}-a${a}-l${lane}-${n}`;
        const kind = pick(laneRng, ['purchase', 'sale', 'damage', 'return', 'transfer'] as const);
        let args: Record<string, unknown>;
        let d: Delta;
        switch (kind) {
          case 'purchase':
          case 'sale':
          case 'damage': {
            const sign = kind === 'purchase' ? 1 : -1;
            args = { sku: m.sku, type: kind, qty, reason: `crash test ${kind}`, referenceId: ref };
            d = { ref, main: sign * qty, backroom: 0 };
            break;
          }
          case 'return':
            args = { sku: m.sku, type: 'return', qty, reason: 'crash test return', warehouse: 'backroom', referenceId: ref };
            d = { ref, main: 0, backroom: qty };
            break;
          case 'transfer':
            args = { sku: m.sku, type: 'transfer', qty, reason: 'crash test transfer', warehouse: 'main', toWarehouse: 'backroom', referenceId: ref };
            d = { ref, main: -qty, backroom: qty };
            break;
        }
        m.unanswered.set(ref, d);
        let v: InventoryView;
        try {
          v = await c.call('inventory.adjust', args as never);
        } catch (err) {
          if (isClosed(err)) return;
          throw err;
        }
        m.unanswered.delete(ref);
        assert.equal(v.reserved, 0);
        assert.equal(v.onHand, stockIn(v, 'main') + stockIn(v, 'backroom'), `${m.sku}: onHand is the sum of its warehouses`);
        m.acked.push(d);
        if (v.version > m.top.version) m.top = v;
        figures.ackedAdjustments++;
        ackedThisEpoch++;
      }
    };

    const catalogLane = async (c: CartwireClient) => {
      for (;;) {
        if (c.closeInfo) return;
        const rev = catalog.rev + 1;
        catalog.inflight = rev;
        let p: ProductView;
        try {
          p = await c.call('catalog.upsert', productInput(rev));
        } catch (err) {
          if (isClosed(err)) return;
          throw err;
        }
        assert.equal(revOf(p), rev);
        catalog.rev = rev;
        catalog.known = p;
        catalog.inflight = undefined;
        figures.ackedUpserts++;
        ackedThisEpoch++;
      }
    };

    const lanes = [
      catalogLane(admins[0]),
      ...guests.map((g, i) => guestLane(g, clients[i])),
      ...admins.flatMap((c, a) => Array.from({ length: ADMIN_LANES }, (_, lane) => adminLane(c, a, lane, prng(Math.floor(rng() * 2 ** 32))))),
    ];
    // Surface a lane's failure at once instead of after the kill.
    let laneError: Error | undefined;
    const allLanes = Promise.all(lanes.map((p) => p.catch((err: unknown) => (laneError ??= err instanceof Error ? err : new Error(String(err))))));
    const throwLaneError = (): void => {
      if (laneError) throw laneError;
    };

    // A random moment, once the load is really running.
    await until(() => laneError !== undefined || ackedThisEpoch >= MIN_ACKS_PER_EPOCH, {
      timeoutMs: 30_000,
      what: `${MIN_ACKS_PER_EPOCH} acks in epoch ${epoch}`,
    });
    throwLaneError();
    await sleep(Math.floor(rng() * 2500));
    await srv.kill9();
    figures.kills++;
    await within(allLanes, 15_000, 'every lane ends once the connections drop');
    throwLaneError();
    const inflightAtKill = guests.filter((g) => g.inflight).length + skus.reduce((n, m) => n + m.unanswered.size, 0) + (catalog.inflight ? 1 : 0);
    figures.inflightAtKill += inflightAtKill;

    srv = await spawnServer(dataDir, SERVER_ENV);
    figures.restarts++;

    // The product shows the last acknowledged upsert, or the unanswered one after it.
    {
      const c = await connect(srv.url);
      let p: ProductView | undefined;
      try {
        p = await c.call('catalog.get', { productId: CATALOG_PRODUCT });
      } catch (err) {
        if (!(err instanceof CartwireError && err.code === 'NOT_FOUND' && catalog.rev === 0)) throw err;
      }
      await c.close();
      const rev = p ? revOf(p) : 0;
      if (rev < catalog.rev) {
        figures.lost += catalog.rev - rev;
        problems.push(`epoch ${epoch}: ${CATALOG_PRODUCT} is at rev ${rev}, rev ${catalog.rev} was acknowledged`);
      } else if (rev === catalog.rev) {
        if (p && JSON.stringify(withoutAvailable(p)) !== JSON.stringify(catalog.known)) {
          figures.lost++;
          problems.push(`epoch ${epoch}: ${CATALOG_PRODUCT} at acknowledged rev ${rev} differs: ${JSON.stringify(p)} != ${JSON.stringify(catalog.known)}`);
        }
      } else if (rev === catalog.inflight) {
        figures.inflightApplied++;
        assert.deepEqual(
          withoutAvailable(p!).variants,
          productInput(rev).variants.map((v) => ({ ...v, currency: 'USD' })),
        );
      } else {
        figures.unexplained++;
        problems.push(`epoch ${epoch}: ${CATALOG_PRODUCT} is at rev ${rev}, acknowledged ${catalog.rev}, unanswered ${catalog.inflight}`);
      }
      catalog.rev = rev;
      catalog.known = p && withoutAvailable(p);
      catalog.inflight = undefined;
    }

    // Every guest comes back with its token; its cart shows every acknowledged change.
    clients = [];
    for (const g of guests) {
      const c = await connect(srv.url);
      clients.push(c);
      const who = await c.call('auth.resume', { token: g.token });
      assert.equal(who.userId, g.userId);
      const cart = await c.call('cart.get', {});
      const k = g.known;
      if (cart.version < k.version) {
        figures.lost += k.version - cart.version;
        problems.push(`epoch ${epoch}: cart of ${g.userId} is at version ${cart.version}, version ${k.version} was acknowledged`);
      } else if (cart.version === k.version) {
        try {
          assert.deepEqual(cart, k);
        } catch {
          figures.lost++;
          problems.push(
            `epoch ${epoch}: cart of ${g.userId} at acknowledged version ${k.version} differs: ${JSON.stringify(linesOf(cart))} != ${JSON.stringify(linesOf(k))}`,
          );
        }
      } else if (cart.version === k.version + 1 && g.inflight) {
        // The unanswered request was applied: exactly it, on top of the acknowledged state.
        const want = applyCartOp(linesOf(k), g.inflight);
        if (JSON.stringify(linesOf(cart)) === JSON.stringify(want)) figures.inflightApplied++;
        else {
          figures.unexplained++;
          problems.push(
            `epoch ${epoch}: cart of ${g.userId} at version ${cart.version} is not acked state + ${g.inflight.op}: ${JSON.stringify(linesOf(cart))} != ${JSON.stringify(want)}`,
          );
        }
      } else {
        figures.unexplained++;
        problems.push(
          `epoch ${epoch}: cart of ${g.userId} is at version ${cart.version}, acknowledged ${k.version}, ${g.inflight ? 'one' : 'no'} request unanswered`,
        );
      }
      g.known = cart;
      g.inflight = undefined;
    }

    // Every sku shows every acknowledged adjustment plus some subset of the unanswered ones.
    admins = [];
    for (let a = 0; a < ADMINS; a++) {
      const c = await connect(srv.url);
      assert.equal((await c.call('auth.resume', { token: adminToken })).role, 'admin');
      admins.push(c);
    }
    for (const m of skus) {
      const v = await admins[0].call('inventory.get', { sku: m.sku });
      const unanswered = [...m.unanswered.values()];
      const sum = m.acked.reduce((s, d) => ({ main: s.main + d.main, backroom: s.backroom + d.backroom }), { main: 0, backroom: 0 });
      // (1) Since the epoch began: base + all acked + k of the unanswered, k = versions not explained by acks.
      const extra = v.version - m.base.version - m.acked.length;
      const fromBase = subsetExists(
        unanswered,
        extra,
        stockIn(v, 'main') - stockIn(m.base, 'main') - sum.main,
        stockIn(v, 'backroom') - stockIn(m.base, 'backroom') - sum.backroom,
      );
      // (2) After the newest acknowledged reply: only unanswered requests may follow it.
      const fromTop =
        v.version >= m.top.version &&
        subsetExists(unanswered, v.version - m.top.version, stockIn(v, 'main') - stockIn(m.top, 'main'), stockIn(v, 'backroom') - stockIn(m.top, 'backroom'));
      if (extra < 0 || v.version < m.top.version) {
        figures.lost += Math.max(-extra, m.top.version - v.version);
        problems.push(
          `epoch ${epoch}: ${m.sku} at version ${v.version}: ${m.acked.length} acked adjustments since version ${m.base.version}, newest acked version ${m.top.version}`,
        );
      } else if (!fromBase || !fromTop) {
        figures.lost++;
        problems.push(
          `epoch ${epoch}: ${m.sku} = main ${stockIn(v, 'main')} backroom ${stockIn(v, 'backroom')} (v${v.version}) is not base (v${m.base.version}) + ` +
            `${m.acked.length} acked + a subset of ${unanswered.length} unanswered [${unanswered.map((d) => `${d.main}/${d.backroom}`).join(' ')}]`,
        );
      } else {
        figures.inflightApplied += extra;
      }
      assert.equal(v.reserved, 0);
      assert.equal(v.onHand, stockIn(v, 'main') + stockIn(v, 'backroom'));
      m.base = v;
      m.top = v;
      m.acked = [];
      m.unanswered.clear();
    }
  }

  const summary =
    `acked ops ${figures.ackedCartOps + figures.ackedAdjustments + figures.ackedUpserts} ` +
    `(cart ${figures.ackedCartOps}, inventory ${figures.ackedAdjustments}, catalog ${figures.ackedUpserts}), ` +
    `kills ${figures.kills}, restarts ${figures.restarts}, unanswered at kill ${figures.inflightAtKill} (applied ${figures.inflightApplied}), ` +
    `lost acknowledged changes ${figures.lost}, unexplained states ${figures.unexplained}`;
  console.log(`crash test: ${summary}`);
  t.diagnostic(summary);
  for (const c of [...clients, ...admins]) await c.close();
  assert.equal(problems.length, 0, `seed ${seed}: ${summary}\n${problems.slice(0, 20).join('\n')}`);
  assert.equal(figures.lost, 0);
  assert.equal(figures.unexplained, 0);
  assert.ok(figures.kills >= 3);
});

/** A loopback port free right now (a restarted server must come back on the same one). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

test('clients reconnecting while the server recovers from kill -9 get the right answer or OVERLOADED, never a wrong one', { timeout: 60_000 }, async (t) => {
  const dataDir = tmpDataDir(t);
  const env = { ...SERVER_ENV, PORT: String(await freePort()) };
  const srv = await spawnServer(dataDir, env);
  const first = await connect(srv.url);
  const { token } = await first.call('auth.guest', {});
  const acked = await first.call('cart.add', { sku: 'soap-bar', qty: 2 });
  const stock = await first.call('inventory.get', { sku: 'soap-bar' });
  await srv.kill9();

  // Like a client whose socket just dropped: reconnect as soon as the port accepts, and ask at once.
  const restarting = spawnServer(dataDir, env);
  t.after(async () => (await restarting).kill9());
  let c: CartwireClient | undefined;
  await until(
    async () => {
      try {
        c = await connect(srv.url);
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 20_000, what: 'the restarted server to accept a connection' },
  );
  const client = c!;
  t.after(() => client.close());
  await client.call('auth.resume', { token });
  const refused: Record<string, number> = {};
  /** Retries while the answer is OVERLOADED; any other error is a wrong answer. */
  const settle = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    let result: T | undefined;
    await until(
      async () => {
        try {
          result = await call();
          return true;
        } catch (err) {
          if (err instanceof CartwireError && err.code === 'OVERLOADED') {
            refused[what] = (refused[what] ?? 0) + 1;
            return false;
          }
          throw new Error(`${what} during recovery: ${String(err)}`, { cause: err });
        }
      },
      { timeoutMs: 20_000, what },
    );
    return result!;
  };
  const [cart, product, inv, added] = await Promise.all([
    settle('cart.get', () => client.call('cart.get', {})),
    settle('catalog.get', () => client.call('catalog.get', { productId: 'soap-bar' })),
    settle('inventory.get', () => client.call('inventory.get', { sku: 'soap-bar' })),
    settle('cart.add', () => client.call('cart.add', { sku: 'lip-balm-plain', qty: 1 })),
  ]);
  await restarting;
  t.diagnostic(`OVERLOADED while recovering: ${JSON.stringify(refused)}`);
  assert.ok(cart.version === acked.version || cart.version === acked.version + 1, `cart version ${cart.version}`);
  assert.deepEqual(
    cart.items.find((l) => l.sku === 'soap-bar'),
    acked.items[0],
  );
  assert.equal(product.variants[0].sku, 'soap-bar');
  assert.equal(product.variants[0].available, stock.available);
  assert.equal(inv.onHand, stock.onHand);
  assert.deepEqual(
    added.items.map((l) => [l.sku, l.qty]),
    [
      ['soap-bar', 2],
      ['lip-balm-plain', 1],
    ],
  );
  assert.equal(added.version, acked.version + 1);
});
