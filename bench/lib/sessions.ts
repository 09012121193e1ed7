// Session workloads for the load workers: each connection is one buyer (or reader) running a
// script of dependent requests, closed loop (the next request waits for the previous answer):
// checkout (fill the cart in one batch frame, then checkout), flash-sale (buy 1 unit at a time
// until OUT_OF_STOCK, mixed payment tokens), recs (recs.forUser readers, event.view writers that
// keep the models rebuilding, and one ping prober for the server's responsiveness). The worker
// reports encoded histograms and counts; the parent merges them (LoadGroup.session).
import { RawConn, type Reply } from './raw-client.js';
import { encodeHistogram, newHistogram, type Histogram } from './histogram.js';

export type SessionKind = 'checkout' | 'flash-sale' | 'recs';

export interface SessionSpec {
  kind: SessionKind;
  url: string;
  connections: number;
  connOffset: number;
  /** Epoch-ms offsets from go's t0: the measured window [windowStartMs, windowEndMs). */
  windowStartMs: number;
  windowEndMs: number;
  /** checkout: the skus of each cart (one line each). flash-sale: [the sku]. */
  skus?: string[];
  /**
   * checkout, open model: buyer sessions arriving per second on this worker (the k-th at
   * t0 + (k + rateOffset) / rate), each on an idle connection or queued for the next one.
   */
  rate?: number;
  rateOffset?: number;
  /** flash-sale: token shares, [token, weight][]; and the give-up time after t0. */
  tokens?: [string, number][];
  giveUpMs?: number;
  /** recs: connections (of this worker's) that send event.view instead of recs.forUser; the ping period. */
  viewers?: number;
  productIds?: string[];
  pingEveryMs?: number;
  recsLimit?: number;
  /** Seed (recs): event.views per connection before `ready`, pipelined; a new guest every `viewsPerGuest`. */
  seedViews?: number;
  viewsPerGuest?: number;
}

export interface SessionResult {
  /** Histograms by name (encoded), µs. */
  histograms: Record<string, string>;
  /** Answers by op and code: `checkout:OK`, `checkout:PAYMENT_DECLINED`, ... */
  counts: Record<string, number>;
  /** Answers inside the window by op (ok or not). */
  inWindow: Record<string, number>;
  /** flash-sale: epoch ms of every confirmed checkout; and of the first checkout send. */
  confirmedAt?: number[];
  firstSendAt?: number;
  /** Per second after t0: measured answers (checkout / recs.forUser), and their latency (encoded). */
  perSecond: number[];
  perSecondHist: (string | null)[];
}

const GUEST_ADDRESS = { name: 'Bench Buyer', line1: '1 Load St', city: 'Springfield', postalCode: '12345', country: 'US' };

/** Picks a token by weight for a uniform u in [0, 1). */
export function pickToken(tokens: [string, number][], u: number): string {
  const total = tokens.reduce((a, [, w]) => a + w, 0);
  let x = u * total;
  for (const [t, w] of tokens) {
    if (x < w) return t;
    x -= w;
  }
  return tokens[tokens.length - 1][0];
}

class Rec {
  readonly hist = new Map<string, Histogram>();
  readonly counts: Record<string, number> = {};
  readonly inWindow: Record<string, number> = {};
  readonly perSecond: number[] = [];
  readonly perSecondHist: Histogram[] = [];
  constructor(
    private readonly t0: number,
    private readonly ws: number,
    private readonly we: number,
  ) {}
  /** Records one answer of `op` sent at `sent` (performance.now()), answered now. */
  answer(op: string, sent: number, r: Reply | undefined, measured = true, lateAnswersToo = false): boolean {
    const now = performance.now();
    const code = r === undefined ? 'LOST' : r.ok ? 'OK' : (r.error?.code ?? 'UNKNOWN');
    this.counts[`${op}:${code}`] = (this.counts[`${op}:${code}`] ?? 0) + 1;
    // Sent (or intended) in the window; answered in it too, unless late answers count (open model).
    const inWin = sent >= this.t0 + this.ws && sent < this.t0 + this.we && (lateAnswersToo || now <= this.t0 + this.we);
    if (!inWin) return false;
    this.inWindow[op] = (this.inWindow[op] ?? 0) + 1;
    if (measured) {
      const sec = Math.floor((now - this.t0) / 1000);
      this.perSecond[sec] = (this.perSecond[sec] ?? 0) + 1;
      (this.perSecondHist[sec] ??= newHistogram()).recordValue(Math.max(1, Math.round((now - sent) * 1000)));
    }
    let h = this.hist.get(op);
    if (!h) this.hist.set(op, (h = newHistogram()));
    h.recordValue(Math.max(1, Math.round((now - sent) * 1000)));
    return true;
  }
  result(): SessionResult {
    return {
      histograms: Object.fromEntries([...this.hist].map(([k, h]) => [k, encodeHistogram(h)])),
      counts: this.counts,
      inWindow: this.inWindow,
      perSecond: Array.from(this.perSecond, (x) => x ?? 0),
      perSecondHist: Array.from(this.perSecondHist, (h) => (h ? encodeHistogram(h) : null)),
    };
  }
}

/** One request; undefined when the connection closed first. */
const call = (c: RawConn, op: string, args: Record<string, unknown>) => c.call(op, args).catch(() => undefined);

/** Several requests in one batch frame, awaited together (undefined when the connection closed first). */
function callBatch(c: RawConn, reqs: { op: string; args: Record<string, unknown> }[]): Promise<(Reply | undefined)[]> {
  // RawConn.call sends one frame per request; a batch goes through onFrame matching by id.
  const ids = reqs.map(() => c.nextId());
  return new Promise((resolve) => {
    const got = new Map<number, Reply>();
    const prev = c.onFrame;
    c.onFrame = (replies) => {
      for (const r of replies) if (typeof r.id === 'number' && ids.includes(r.id)) got.set(r.id, r);
      if (got.size === ids.length) {
        c.onFrame = prev;
        resolve(ids.map((id) => got.get(id)));
      }
    };
    void c.closed.then(() => resolve(ids.map((id) => got.get(id))));
    c.send(reqs.map((r, i) => ({ id: ids[i], ...r })));
  });
}

export class SessionWorker {
  private conns: RawConn[] = [];
  constructor(readonly spec: SessionSpec) {}

  async prepare(): Promise<void> {
    const s = this.spec;
    for (let i = 0; i < s.connections; i += 16) {
      const group = Array.from({ length: Math.min(16, s.connections - i) }, async () => {
        const c = await RawConn.open(s.url);
        const r = await c.call('auth.guest', {});
        if (!r.ok) throw new Error(`auth.guest failed: ${JSON.stringify(r.error)}`);
        return c;
      });
      this.conns.push(...(await Promise.all(group)));
    }
    if (s.kind === 'flash-sale') {
      // Everyone holds 1 unit in the cart before the start: at go, every buyer checks out at once.
      await Promise.all(this.conns.map((c) => c.call('cart.add', { sku: s.skus![0], qty: 1 })));
    }
    if (s.kind === 'recs' && s.seedViews) await this.seed(s.seedViews);
  }

  /** Pipelined event.views (32 in flight per connection) over the product ids. */
  private async seed(perConn: number): Promise<void> {
    const ids = this.spec.productIds!;
    await Promise.all(
      this.conns.map(async (c, ci) => {
        let sent = 0;
        let seedOf = (this.spec.connOffset + ci) * 7919;
        const perGuest = this.spec.viewsPerGuest ?? perConn;
        while (sent < perConn) {
          if (sent > 0 && sent % perGuest === 0) {
            // The next guest on this connection: many users, each with a short history.
            const g = await c.call('auth.guest', {});
            if (!g.ok) throw new Error(`auth.guest failed: ${JSON.stringify(g.error)}`);
            seedOf += 104_729;
          }
          const n = Math.min(32, perConn - sent, perGuest - (sent % perGuest));
          // Each guest views a few products only (its taste: 6 products, 7 apart in the list, from
          // its own start), so that most of the catalog is still unseen and can be recommended.
          const reqs = Array.from({ length: n }, (_, j) => {
            const k = sent + j;
            const p = ids[(seedOf + (k % 6) * 7) % ids.length];
            return { op: 'event.view', args: { productId: p } };
          });
          await callBatch(c, reqs);
          sent += n;
        }
      }),
    );
  }

  async go(t0Epoch: number): Promise<SessionResult> {
    const s = this.spec;
    const t0 = t0Epoch - performance.timeOrigin;
    await new Promise((r) => setTimeout(r, Math.max(0, t0 - performance.now())));
    const rec = new Rec(t0, s.windowStartMs, s.windowEndMs);
    const end = t0 + s.windowEndMs;
    let out: SessionResult;
    if (s.kind === 'checkout' && s.rate) {
      await this.openBuyers(rec, t0, end);
      out = rec.result();
    } else if (s.kind === 'checkout') {
      await Promise.all(this.conns.map((c, i) => this.buyer(c, i, rec, end)));
      out = rec.result();
    } else if (s.kind === 'flash-sale') {
      const confirmedAt: number[] = [];
      const firstSendAt = Date.now();
      await Promise.all(this.conns.map((c, i) => this.flashBuyer(c, i, rec, t0 + (s.giveUpMs ?? 60_000), confirmedAt)));
      out = { ...rec.result(), confirmedAt, firstSendAt };
    } else {
      const viewers = s.viewers ?? 0;
      let stop = false;
      const ping = this.conns.length > viewers ? this.pinger(this.conns[this.conns.length - 1], rec, end, () => stop) : Promise.resolve();
      const readers = this.conns.slice(viewers, this.conns.length - 1);
      await Promise.all([...this.conns.slice(0, viewers).map((c, i) => this.viewer(c, i, rec, end)), ...readers.map((c) => this.reader(c, rec, end))]);
      stop = true;
      await ping;
      out = rec.result();
    }
    await Promise.all(this.conns.map((c) => c.close()));
    return out;
  }

  /** checkout: 3 cart.adds in one frame, then checkout with a fresh key and tok_visa. */
  private async buyer(c: RawConn, i: number, rec: Rec, end: number): Promise<void> {
    const skus = this.spec.skus!;
    let k = 0;
    while (performance.now() < end && c.open) {
      const t1 = performance.now();
      const adds = await callBatch(
        c,
        skus.map((sku) => ({ op: 'cart.add', args: { sku, qty: 1 } })),
      );
      // The fill is one measure: send of the frame -> last add answered.
      const failed = adds.find((r) => !r?.ok);
      rec.answer('cart.fill', t1, failed ?? adds[adds.length - 1], false);
      const t2 = performance.now();
      const key = `b${this.spec.connOffset + i}-${k++}-${Math.random().toString(36).slice(2, 8)}`;
      const r = await call(c, 'checkout', { idempotencyKey: key, payment: { token: 'tok_visa' }, shippingAddress: GUEST_ADDRESS });
      rec.answer('checkout', t2, r);
    }
  }

  /**
   * checkout, open model: sessions due at a constant rate from t0 to the end, each on an idle
   * connection (a guest with one cart runs one session at a time) or queued until one is idle.
   * `session` runs intended start -> checkout answered (CO-corrected: the queueing counts),
   * `session.actual` from the actual start; sessions intended in the window count whenever they
   * end (up to 15 s after). Sessions still queued at the end count as `session:NOT_STARTED`.
   */
  private openBuyers(rec: Rec, t0: number, end: number): Promise<void> {
    const rate = this.spec.rate!;
    const offset = this.spec.rateOffset ?? 0;
    const queue: number[] = [];
    const idle = this.conns.map((_, i) => i).reverse();
    const keys = this.conns.map(() => 0);
    let k = 0;
    let running = 0;
    let scheduling = true;
    return new Promise<void>((resolve) => {
      const maybeDone = () => {
        if (scheduling || running > 0) return;
        rec.counts['session:NOT_STARTED'] = (rec.counts['session:NOT_STARTED'] ?? 0) + queue.length;
        resolve();
      };
      const start = (ci: number, intended: number) => {
        running++;
        void this.openSession(ci, intended, rec, keys[ci]++).then(() => {
          running--;
          const next = queue.shift();
          if (next !== undefined && performance.now() < end + 15_000) start(ci, next);
          else idle.push(ci);
          maybeDone();
        });
      };
      const tick = () => {
        const now = performance.now();
        for (;;) {
          const due = t0 + ((k + offset) / rate) * 1000;
          if (due > now || due >= end) break;
          k++;
          const ci = idle.pop();
          if (ci !== undefined) start(ci, due);
          else queue.push(due);
        }
        const nextDue = t0 + ((k + offset) / rate) * 1000;
        if (nextDue < end) setTimeout(tick, Math.max(0, nextDue - performance.now()));
        else {
          // Past the end, queued sessions still start (their latency counts) for up to 15 s.
          scheduling = false;
          maybeDone();
        }
      };
      tick();
    });
  }

  private async openSession(ci: number, intended: number, rec: Rec, n: number): Promise<void> {
    const c = this.conns[ci];
    if (!c.open) return;
    const skus = this.spec.skus!;
    const t1 = performance.now();
    const adds = await callBatch(
      c,
      skus.map((sku) => ({ op: 'cart.add', args: { sku, qty: 1 } })),
    );
    const failed = adds.find((r) => !r?.ok);
    rec.answer('cart.fill', t1, failed ?? adds[adds.length - 1], false);
    const t2 = performance.now();
    const key = `o${this.spec.connOffset + ci}-${n}-${Math.random().toString(36).slice(2, 8)}`;
    const r = await call(c, 'checkout', { idempotencyKey: key, payment: { token: 'tok_visa' }, shippingAddress: GUEST_ADDRESS });
    rec.answer('checkout', t2, r);
    rec.answer('session', intended, r, false, true);
    rec.answer('session.actual', t1, r, false, true);
  }

  /** flash-sale: checkout the unit held; on success add 1 more; stop at OUT_OF_STOCK. */
  private async flashBuyer(c: RawConn, i: number, rec: Rec, giveUp: number, confirmedAt: number[]): Promise<void> {
    const sku = this.spec.skus![0];
    const tokens = this.spec.tokens!;
    let k = 0;
    while (performance.now() < giveUp && c.open) {
      const t = performance.now();
      const key = `f${this.spec.connOffset + i}-${k++}`;
      const r = await call(c, 'checkout', { idempotencyKey: key, payment: { token: pickToken(tokens, Math.random()) }, shippingAddress: GUEST_ADDRESS });
      rec.answer('checkout', t, r);
      if (!r) return;
      if (r.ok) {
        confirmedAt.push(Date.now());
        const t2 = performance.now();
        const a = await call(c, 'cart.add', { sku, qty: 1 });
        rec.answer('cart.add', t2, a, false);
        if (!a?.ok) return; // OUT_OF_STOCK at the add: sold out for this buyer
        continue;
      }
      if (r.error?.code === 'OUT_OF_STOCK' || r.error?.code === 'CART_EMPTY') return;
      // PAYMENT_DECLINED (declined or timeout), FRAUD_SUSPECTED, CONFLICT...: the unit is still in the cart; try again.
    }
  }

  private async reader(c: RawConn, rec: Rec, end: number): Promise<void> {
    const limit = this.spec.recsLimit ?? 10;
    while (performance.now() < end && c.open) {
      const t = performance.now();
      const r = await call(c, 'recs.forUser', { limit });
      rec.answer('recs.forUser', t, r);
      // What came back: items summed, and empty lists counted (`recs.items:OK`, `recs.empty:OK`).
      const n = r?.ok && Array.isArray(r.result) ? r.result.length : 0;
      rec.counts['recs.items:OK'] = (rec.counts['recs.items:OK'] ?? 0) + n;
      if (r?.ok && n === 0) rec.counts['recs.empty:OK'] = (rec.counts['recs.empty:OK'] ?? 0) + 1;
    }
  }

  private async viewer(c: RawConn, i: number, rec: Rec, end: number): Promise<void> {
    const ids = this.spec.productIds!;
    let k = (this.spec.connOffset + i) * 31;
    while (performance.now() < end && c.open) {
      const t = performance.now();
      const rs = await callBatch(
        c,
        Array.from({ length: 16 }, () => ({ op: 'event.view', args: { productId: ids[k++ % ids.length] } })),
      );
      for (const r of rs) rec.answer('event.view', t, r, false);
    }
  }

  private async pinger(c: RawConn, rec: Rec, end: number, stopped: () => boolean): Promise<void> {
    const every = this.spec.pingEveryMs ?? 10;
    while (performance.now() < end && !stopped() && c.open) {
      const t = performance.now();
      const r = await call(c, 'ping', {});
      rec.answer('ping', t, r, false);
      const wait = every - (performance.now() - t);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }
}

/**
 * Sell-out time: from the first checkout send to the `units`-th confirmation (epoch ms), or
 * undefined when fewer than `units` were confirmed.
 */
export function sellOutMs(firstSendAt: number, confirmedAt: number[], units: number): number | undefined {
  if (confirmedAt.length < units || units <= 0) return undefined;
  const sorted = [...confirmedAt].sort((a, b) => a - b);
  return sorted[units - 1] - firstSendAt;
}

/**
 * Skus whose owning shard (stableHash('sku:' + sku) % shards) differ: up to `n` skus, the first of
 * each shard in list order, cycling over shards. Fewer when the list covers fewer shards.
 */
export function skusOnDistinctShards(skus: string[], shards: number, n: number, hash: (k: string) => number): string[] {
  const byShard = new Map<number, string>();
  for (const s of skus) {
    const shard = hash(`sku:${s}`) % shards;
    if (!byShard.has(shard)) byShard.set(shard, s);
  }
  const firsts = [...byShard.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const out = firsts.slice(0, n);
  // More lines than shards: fill from the rest of the list, spread over the shards already used.
  for (const s of skus) {
    if (out.length >= n) break;
    if (!out.includes(s)) out.push(s);
  }
  return out;
}
