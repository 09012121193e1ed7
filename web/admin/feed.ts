// The admin feed as the dashboard keeps it: the newest events (bounded), per-second counters for
// the charts, low-stock alerts, and the orders it has seen change.
import type { AdminEvent, CartwireClient, OpResults } from '@cartwire/client';
import { money } from '../common/format.js';

export type Order = OpResults['order.get'];

export interface FeedEntry {
  n: number;
  type: string;
  /** The id or number of what the event is about. */
  subject: string;
  detail: string;
  at: number;
}

export interface LowStock {
  sku: string;
  available: number;
  lowStockThreshold: number;
  at: number;
}

/** One second of the charts. */
export interface Bucket {
  orders: number;
  revenue: number;
  paid: number;
  failed: number;
}

const MAX_ENTRIES = 200;
const MAX_ALERTS = 50;
/** Seconds the charts show. */
export const WINDOW_S = 120;

type Data = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

/** What an event is about: an order's number, else the first id it carries. */
export function subjectOf(data: Data): string {
  for (const k of ['orderNumber', 'orderId', 'sku', 'productId', 'code', 'userId']) if (str(data[k])) return str(data[k]);
  return '';
}

function detailOf(type: string, d: Data): string {
  if (type === 'order.updated') return str(d.status);
  if (type === 'inventory.lowStock') return `${str(d.available)} left`;
  const amount = d.total ?? d.amount;
  if ((type === 'order_paid' || type === 'payment_processed' || type === 'payment_failed') && typeof amount === 'number') {
    const sum = money(amount, typeof d.currency === 'string' ? d.currency : 'USD');
    return type === 'payment_failed' ? `${sum} ${str(d.reason ?? d.code)}` : sum;
  }
  if (type === 'inventory_updated') return str((d.change as Data | undefined)?.type);
  if (type === 'product_added_to_cart' || type === 'product_removed_from_cart') return `qty ${str(d.qty)}`;
  return '';
}

export class Feed {
  entries: FeedEntry[] = [];
  alerts: LowStock[] = [];
  /** Orders changed since the dashboard opened, by id (the orders panel merges them). */
  readonly orders = new Map<string, Order>();
  private readonly buckets = new Map<number, Bucket>();
  private readonly listeners = new Set<() => void>();
  private n = 0;

  /** Follows the admin feed of `client`; returns the function that stops. */
  follow(client: CartwireClient): () => void {
    const sub = client.subscribe('admin', (e) => this.take(e));
    sub.ready.catch(() => undefined);
    return () => void sub().catch(() => undefined);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  take(e: AdminEvent): void {
    const data = (e.data ?? {}) as Data;
    const at = typeof data.at === 'number' ? data.at : Date.now();
    this.entries = [{ n: ++this.n, type: e.push, subject: subjectOf(data), detail: detailOf(e.push, data), at }, ...this.entries].slice(0, MAX_ENTRIES);
    const b = this.bucket(Math.floor(Date.now() / 1000));
    if (e.push === 'order_created') b.orders++;
    if (e.push === 'order_paid' && typeof data.total === 'number') b.revenue += data.total;
    if (e.push === 'payment_processed') b.paid++;
    if (e.push === 'payment_failed') b.failed++;
    if (e.push === 'inventory.lowStock') {
      const alert = { sku: str(data.sku), available: Number(data.available), lowStockThreshold: Number(data.lowStockThreshold), at };
      this.alerts = [alert, ...this.alerts.filter((a) => a.sku !== alert.sku)].slice(0, MAX_ALERTS);
    }
    if (e.push === 'order.updated' && typeof data.orderId === 'string') {
      this.orders.delete(data.orderId);
      this.orders.set(data.orderId, data as unknown as Order);
      if (this.orders.size > MAX_ENTRIES) this.orders.delete(this.orders.keys().next().value!);
    }
    for (const fn of this.listeners) fn();
  }

  /** The charts' columns: seconds (epoch), then each counter, over the last WINDOW_S seconds. */
  series(nowS = Math.floor(Date.now() / 1000)): { t: number[]; orders: number[]; revenue: number[]; paid: number[]; failed: number[] } {
    const out = { t: [] as number[], orders: [] as number[], revenue: [] as number[], paid: [] as number[], failed: [] as number[] };
    for (let s = nowS - WINDOW_S + 1; s <= nowS; s++) {
      const b = this.buckets.get(s);
      out.t.push(s);
      out.orders.push(b?.orders ?? 0);
      out.revenue.push((b?.revenue ?? 0) / 100);
      out.paid.push(b?.paid ?? 0);
      out.failed.push(b?.failed ?? 0);
    }
    return out;
  }

  private bucket(s: number): Bucket {
    let b = this.buckets.get(s);
    if (!b) {
      this.buckets.set(s, (b = { orders: 0, revenue: 0, paid: 0, failed: 0 }));
      for (const old of this.buckets.keys()) if (old <= s - WINDOW_S) this.buckets.delete(old);
    }
    return b;
  }
}
