// The load worker's side of push-fanout: S subscribers of one sku's `inventory.updated`, and (on
// one worker) the admin connection changing that sku at a constant rate.
//
// A push carries the sku's new version; the admin's reply to inventory.adjust carries the same
// version. The admin's worker reports each change (version, intended, sent and reply instants,
// epoch ms) to the parent, which relays them to every worker; a subscriber's receipt is turned
// into a latency once its change is known. Epoch ms come from performance.timeOrigin + now(),
// the same clock in every process of the machine.
import { CartwireClient } from '../../src/client/index.js';
import { ArrivalSchedule, totalMs } from './arrivals.js';
import { newHistogram, encodeHistogram } from './histogram.js';
import { RawConn, type Reply } from './raw-client.js';
import type { Interval } from './recorder.js';
import type { Change, FanoutResult, FanoutSpec, FromWorker } from './load-protocol.js';

const epochNow = (): number => performance.timeOrigin + performance.now();
const toUs = (ms: number): number => Math.max(1, Math.round(ms * 1000));

interface Subscriber {
  lastVersion: number;
  open: boolean;
  close(): Promise<unknown>;
}

export class FanoutWorker {
  private readonly subs: Subscriber[] = [];
  private admin: RawConn | CartwireClient | undefined;
  private readonly changes = new Map<number, Change>();
  /** Receipts (epoch ms) of versions whose change is not known yet. */
  private readonly waiting = new Map<number, number[]>();
  /** Deliveries per version of a window change. */
  private readonly received = new Map<number, number>();
  private readonly fromSend = newHistogram();
  private readonly fromReply = newHistogram();
  private interval = newHistogram();
  private intervalCount = 0;
  private beforeReply = 0;
  private delivered = 0;
  private deliveredInWindow = 0;
  private outOfOrder = 0;
  private window = { start: Infinity, end: -Infinity };
  private adjust: FanoutResult['adjust'];

  constructor(
    readonly spec: FanoutSpec,
    private readonly send: (m: FromWorker) => void,
  ) {}

  /** Opens the subscribers (each its own guest) and the admin; every subscription is on when it resolves. */
  async prepare(): Promise<void> {
    const s = this.spec;
    for (let i = 0; i < s.subscribers; i += 16) {
      const group = Array.from({ length: Math.min(16, s.subscribers - i) }, () => this.subscribe());
      this.subs.push(...(await Promise.all(group)));
    }
    if (s.admin) {
      if (s.client === 'sdk') {
        const c = await CartwireClient.connect(s.url, { timeoutMs: 30_000 });
        await c.call('auth.login', { email: s.admin.email, password: s.admin.password });
        this.admin = c;
      } else {
        const c = await RawConn.open(s.url);
        const r = await c.call('auth.login', { email: s.admin.email, password: s.admin.password });
        if (!r.ok) throw new Error(`admin auth.login failed: ${JSON.stringify(r.error)}`);
        this.admin = c;
      }
    }
  }

  private async subscribe(): Promise<Subscriber> {
    const { url, sku, client } = this.spec;
    if (client === 'sdk') {
      const c = await CartwireClient.connect(url, { timeoutMs: 30_000 });
      await c.call('auth.guest', {});
      const sub: Subscriber = { lastVersion: -1, open: true, close: () => c.close() };
      let first = true;
      const off = c.subscribe({ inventory: sku }, (inv) => {
        if (first) {
          first = false; // the subscribe reply, not a push
          sub.lastVersion = inv.version;
          return;
        }
        this.onPush(sub, inv.version, epochNow());
      });
      await off.ready;
      void c.whenClosed().then(() => (sub.open = false));
      return sub;
    }
    const c = await RawConn.open(url);
    const g = await c.call('auth.guest');
    if (!g.ok) throw new Error(`auth.guest failed: ${JSON.stringify(g.error)}`);
    const r = await c.call('inventory.subscribe', { sku });
    if (!r.ok) throw new Error(`inventory.subscribe failed: ${JSON.stringify(r.error)}`);
    const sub: Subscriber = { lastVersion: (r.result as { version: number }).version, open: true, close: () => c.close() };
    c.onFrame = (frames: Reply[]) => {
      const now = epochNow();
      for (const f of frames) if (f.push === 'inventory.updated') this.onPush(sub, (f.data as { version: number }).version, now);
    };
    void c.closed.then(() => (sub.open = false));
    return sub;
  }

  private onPush(sub: Subscriber, version: number, at: number): void {
    if (version <= sub.lastVersion) this.outOfOrder++;
    else sub.lastVersion = version;
    const ch = this.changes.get(version);
    if (ch) this.note(ch, at);
    else {
      const w = this.waiting.get(version);
      if (w) w.push(at);
      else this.waiting.set(version, [at]);
    }
  }

  private note(ch: Change, at: number): void {
    this.interval.recordValue(toUs(at - ch.sent));
    this.intervalCount++;
    if (at >= this.window.start && at < this.window.end) this.deliveredInWindow++;
    if (ch.intended < this.window.start || ch.intended >= this.window.end) return;
    this.delivered++;
    this.received.set(ch.version, (this.received.get(ch.version) ?? 0) + 1);
    this.fromSend.recordValue(toUs(at - ch.sent));
    if (at < ch.replied) this.beforeReply++;
    this.fromReply.recordValue(toUs(at - ch.replied));
  }

  /** Changes relayed by the parent. */
  onChanges(changes: Change[]): void {
    for (const ch of changes) {
      this.changes.set(ch.version, ch);
      const w = this.waiting.get(ch.version);
      if (w) {
        this.waiting.delete(ch.version);
        for (const at of w) this.note(ch, at);
      }
    }
  }

  takeInterval(): Interval {
    const out = { count: this.intervalCount, errors: 0, histogram: encodeHistogram(this.interval) };
    this.interval.reset();
    this.intervalCount = 0;
    return out;
  }

  /** Starts at t0 (epoch ms): the admin's changes run on their schedule; subscribers just listen. */
  go(t0: number): void {
    const { timing } = this.spec;
    this.window = { start: t0 + timing.warmupMs + timing.rampMs, end: t0 + totalMs(timing) };
    if (this.spec.admin)
      void this.runAdmin(t0).catch((err: unknown) => this.send({ t: 'error', message: String((err as { stack?: unknown } | null | undefined)?.stack ?? err) }));
  }

  /** inventory.adjust (set on-hand, alternating two values so every change is one) at the change rate. */
  private async runAdmin(t0: number): Promise<void> {
    const a = this.spec.admin!;
    const { timing, sku } = this.spec;
    const sched = new ArrivalSchedule(timing, a.changeRate, a.changeRate);
    const limit = sched.countBefore(totalMs(timing));
    const hist = newHistogram();
    const errors: Record<string, number> = {};
    let inWindow = 0;
    let batch: Change[] = [];
    const flush = () => {
      if (batch.length) this.send({ t: 'changes', changes: batch });
      batch = [];
    };
    const relay = setInterval(flush, 50);
    const pending: Promise<void>[] = [];
    for (let k = 0; k < limit; k++) {
      const intended = t0 + sched.at(k);
      const wait = intended - epochNow();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const args = { sku, type: 'adjustment', qty: a.baseQty + (k & 1), reason: 'bench push-fanout' };
      const sent = epochNow();
      const done = this.adjustOnce(args).then(
        (version) => {
          const replied = epochNow();
          if (intended >= this.window.start && intended < this.window.end) {
            inWindow++;
            hist.recordValue(toUs(replied - intended));
          }
          batch.push({ version, intended, sent, replied });
        },
        (err: { code?: string }) => {
          const code = err.code ?? 'UNKNOWN';
          errors[code] = (errors[code] ?? 0) + 1;
        },
      );
      pending.push(done);
    }
    await Promise.all(pending);
    clearInterval(relay);
    flush();
    this.adjust = { histogram: encodeHistogram(hist), changes: limit, changesInWindow: inWindow, errors };
    this.send({ t: 'admin-done' });
  }

  private async adjustOnce(args: Record<string, unknown>): Promise<number> {
    const admin = this.admin!;
    if (admin instanceof CartwireClient) return (await admin.call('inventory.adjust', args as never)).version;
    const r = await admin.call('inventory.adjust', args);
    if (!r.ok) throw Object.assign(new Error(`inventory.adjust failed: ${r.error?.code ?? 'no error code'}`), { code: r.error?.code });
    return (r.result as { version: number }).version;
  }

  /** Every change is relayed: count what each subscriber missed, close, report. */
  async finish(): Promise<FanoutResult> {
    let missed = 0;
    const open = this.subs.filter((s) => s.open).length;
    for (const ch of this.changes.values()) {
      if (ch.intended < this.window.start || ch.intended >= this.window.end) continue;
      missed += Math.max(0, open - (this.received.get(ch.version) ?? 0));
    }
    const result: FanoutResult = {
      fromSend: encodeHistogram(this.fromSend),
      fromReply: encodeHistogram(this.fromReply),
      beforeReply: this.beforeReply,
      delivered: this.delivered,
      deliveredInWindow: this.deliveredInWindow,
      missed,
      outOfOrder: this.outOfOrder,
      closedSubscribers: this.subs.length - open,
      subscribers: this.subs.length,
      adjust: this.adjust,
    };
    await Promise.all(this.subs.map((s) => s.close()));
    if (this.admin) await this.admin.close();
    return result;
  }
}
