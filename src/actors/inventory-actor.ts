// The inventory actor: one per sku, single writer, so stock can never be oversold. Every change
// is an inventory transaction with its reason and reference; holds (reservations for checkout)
// carry an expiry that the actor's own timer enforces, so a lost coordinator strands nothing.
import { accept, reject, unchanged, type ActorType, type Decision } from './actor.js';
import type { InventoryTxType } from '../protocol/schemas.js';
import type { InventoryView, WarehouseStock } from '../protocol/types.js';

export const DEFAULT_WAREHOUSE = 'main';
export const DEFAULT_LOW_STOCK_THRESHOLD = 5;

export interface HoldPart {
  warehouse: string;
  qty: number;
}
export interface Hold {
  qty: number;
  parts: HoldPart[];
  expiresAt: number;
}

/** Restocks remembered for idempotency (a cancel or return retried after a crash). */
const RESTOCK_MEMORY_MS = 24 * 3600_000;
/** Holds released by expiry remembered this long, and at most this many (they are rare: a lost coordinator). */
const EXPIRED_MEMORY_MS = 24 * 3600_000;
const EXPIRED_KEPT = 10_000;

export interface Sku {
  sku: string;
  /** Per warehouse on-hand and reserved; insertion-ordered for deterministic allocation. */
  warehouses: Map<string, WarehouseStock>;
  holds: Map<string, Hold>;
  /** Restock references (`cancel:<orderId>`) seen recently, with their time. */
  restocks: Map<string, number>;
  /**
   * Holds its timer released, with their time: a commit of one of them is told so, so a saga
   * resumed after a long downtime can tell "never committed" from "committed before the crash".
   */
  expired: Map<string, number>;
  onHand: number;
  reserved: number;
  lowStockThreshold: number;
  version: number;
  updatedAt: number;
}

export type SkuCommand =
  | { type: 'get' }
  | {
      type: 'adjust';
      txType: InventoryTxType;
      qty: number;
      reason: string;
      warehouse: string;
      toWarehouse?: string;
      referenceId?: string;
    }
  | { type: 'reserve'; holdId: string; qty: number; ttlMs: number }
  | { type: 'release'; holdId: string }
  | { type: 'commit'; holdId: string }
  /** Units of a cancelled or returned order back on the shelf, once per `ref`. */
  | { type: 'restock'; ref: string; qty: number; txType: 'return'; reason: string }
  | { type: 'timer' };

export interface StockChange {
  warehouse: string;
  delta: number;
}

export type SkuEvent =
  /** `restock`: the referenceId is remembered so that the same restock is never counted twice. */
  | { type: 'transaction'; txType: InventoryTxType; reason: string; referenceId?: string; changes: StockChange[]; at: number; restock?: true }
  | { type: 'reserved'; holdId: string; qty: number; parts: HoldPart[]; expiresAt: number; at: number }
  | { type: 'released'; holdId: string; expired: boolean; at: number }
  | { type: 'hold_committed'; holdId: string; at: number };

const ADDS: ReadonlySet<string> = new Set(['purchase', 'return']);
const REMOVES: ReadonlySet<string> = new Set(['sale', 'damage', 'expiry']);

function stock(s: Sku, warehouse: string): WarehouseStock {
  return s.warehouses.get(warehouse) ?? { onHand: 0, reserved: 0 };
}

export function available(s: Sku): number {
  return s.onHand - s.reserved;
}

function decideAdjust(s: Sku, c: Extract<SkuCommand, { type: 'adjust' }>, now: number): Decision<SkuEvent> {
  const w = stock(s, c.warehouse);
  const ref = c.referenceId === undefined ? {} : { referenceId: c.referenceId };
  const tx = (changes: StockChange[]): Decision<SkuEvent> => accept([{ type: 'transaction', txType: c.txType, reason: c.reason, ...ref, changes, at: now }]);
  if (c.txType !== 'adjustment' && c.qty === 0) return reject('BAD_REQUEST', `qty must be at least 1 for ${c.txType}`);
  if (ADDS.has(c.txType)) return tx([{ warehouse: c.warehouse, delta: c.qty }]);
  if (REMOVES.has(c.txType) || c.txType === 'transfer') {
    if (w.onHand - c.qty < w.reserved) {
      return reject('CONFLICT', `on-hand in ${c.warehouse} cannot go below reserved`, {
        sku: s.sku,
        warehouse: c.warehouse,
        onHand: w.onHand,
        reserved: w.reserved,
      });
    }
    if (c.txType !== 'transfer') return tx([{ warehouse: c.warehouse, delta: -c.qty }]);
    if (c.toWarehouse === undefined || c.toWarehouse === c.warehouse) {
      return reject('BAD_REQUEST', 'transfer needs a toWarehouse different from warehouse');
    }
    return tx([
      { warehouse: c.warehouse, delta: -c.qty },
      { warehouse: c.toWarehouse, delta: c.qty },
    ]);
  }
  // adjustment: set on-hand in the warehouse to qty (a stock count).
  if (c.qty < w.reserved) {
    return reject('CONFLICT', `on-hand in ${c.warehouse} cannot go below reserved`, {
      sku: s.sku,
      warehouse: c.warehouse,
      onHand: w.onHand,
      reserved: w.reserved,
    });
  }
  if (c.qty === w.onHand && s.warehouses.has(c.warehouse)) return unchanged();
  return tx([{ warehouse: c.warehouse, delta: c.qty - w.onHand }]);
}

/** Allocates a hold across warehouses in their order, taking what each has free. */
function allocate(s: Sku, qty: number): HoldPart[] {
  const parts: HoldPart[] = [];
  let left = qty;
  for (const [warehouse, w] of s.warehouses) {
    const take = Math.min(left, w.onHand - w.reserved);
    if (take > 0) {
      parts.push({ warehouse, qty: take });
      left -= take;
      if (left === 0) break;
    }
  }
  return parts;
}

export function decide(s: Sku, c: SkuCommand, now: number): Decision<SkuEvent> {
  switch (c.type) {
    case 'get':
      return unchanged();
    case 'adjust':
      return decideAdjust(s, c, now);
    case 'reserve': {
      if (s.holds.has(c.holdId)) return unchanged(); // idempotent: a retried reservation holds once
      if (c.qty > available(s)) return reject('OUT_OF_STOCK', `only ${available(s)} of ${s.sku} available`, { sku: s.sku, available: available(s) });
      return accept([{ type: 'reserved', holdId: c.holdId, qty: c.qty, parts: allocate(s, c.qty), expiresAt: now + c.ttlMs, at: now }]);
    }
    case 'release':
      return s.holds.has(c.holdId) ? accept([{ type: 'released', holdId: c.holdId, expired: false, at: now }]) : unchanged();
    case 'commit':
      // No memory of committed holds (it would grow with every sale), only of expired ones: a saga
      // that retries a commit after a crash reads CONFLICT without `expired` as "done".
      if (!s.holds.has(c.holdId)) {
        if (s.expired.has(c.holdId)) return reject('CONFLICT', `hold ${c.holdId} on ${s.sku} expired`, { sku: s.sku, holdId: c.holdId, expired: true });
        return reject('CONFLICT', `no hold ${c.holdId} on ${s.sku} (committed or released)`, { sku: s.sku, holdId: c.holdId });
      }
      return accept([{ type: 'hold_committed', holdId: c.holdId, at: now }]);
    case 'restock': {
      // An inventory `return` transaction referencing the order's work (cancel, return, unwind).
      if (s.restocks.has(c.ref)) return unchanged();
      const warehouse = s.warehouses.keys().next().value ?? DEFAULT_WAREHOUSE;
      return accept([
        { type: 'transaction', txType: c.txType, reason: c.reason, referenceId: c.ref, changes: [{ warehouse, delta: c.qty }], at: now, restock: true },
      ]);
    }
    case 'timer': {
      const events: SkuEvent[] = [];
      for (const [holdId, h] of s.holds) if (h.expiresAt <= now) events.push({ type: 'released', holdId, expired: true, at: now });
      return accept(events);
    }
  }
}

function change(s: Sku, warehouse: string, dOnHand: number, dReserved: number): void {
  let w = s.warehouses.get(warehouse);
  if (!w) s.warehouses.set(warehouse, (w = { onHand: 0, reserved: 0 }));
  w.onHand += dOnHand;
  w.reserved += dReserved;
  s.onHand += dOnHand;
  s.reserved += dReserved;
}

export function apply(s: Sku, e: SkuEvent): Sku {
  switch (e.type) {
    case 'transaction':
      for (const c of e.changes) change(s, c.warehouse, c.delta, 0);
      if (e.restock) remember(s, e.referenceId!, e.at);
      break;
    case 'reserved':
      s.holds.set(e.holdId, { qty: e.qty, parts: e.parts, expiresAt: e.expiresAt });
      for (const p of e.parts) change(s, p.warehouse, 0, p.qty);
      break;
    case 'released': {
      const h = s.holds.get(e.holdId);
      if (h) for (const p of h.parts) change(s, p.warehouse, 0, -p.qty);
      s.holds.delete(e.holdId);
      if (e.expired) rememberExpired(s, e.holdId, e.at);
      break;
    }
    case 'hold_committed': {
      // The reserved units leave the building: an inventory `sale` referencing the hold.
      const h = s.holds.get(e.holdId);
      if (h) for (const p of h.parts) change(s, p.warehouse, -p.qty, -p.qty);
      s.holds.delete(e.holdId);
      break;
    }
  }
  s.version++;
  s.updatedAt = e.at;
  return s;
}

function rememberExpired(s: Sku, holdId: string, at: number): void {
  s.expired.set(holdId, at);
  for (const [old, when] of s.expired) {
    if (when > at - EXPIRED_MEMORY_MS && s.expired.size <= EXPIRED_KEPT) break; // insertion order = time order
    s.expired.delete(old);
  }
}

function remember(s: Sku, ref: string, at: number): void {
  s.restocks.set(ref, at);
  for (const [old, when] of s.restocks) {
    if (when > at - RESTOCK_MEMORY_MS) break; // insertion order = time order
    s.restocks.delete(old);
  }
}

/** The inventory_updated `change` of an event: a transaction type, or what a checkout did. */
const CHANGE: Record<Exclude<SkuEvent['type'], 'transaction'>, string> = { reserved: 'reservation', released: 'release', hold_committed: 'sale' };

export function view(s: Sku): InventoryView {
  const warehouses: Record<string, WarehouseStock> = {};
  for (const [id, w] of s.warehouses) warehouses[id] = { onHand: w.onHand, reserved: w.reserved };
  return {
    sku: s.sku,
    onHand: s.onHand,
    reserved: s.reserved,
    available: s.onHand - s.reserved,
    lowStockThreshold: s.lowStockThreshold,
    warehouses,
    version: s.version,
    updatedAt: s.updatedAt,
  };
}

export function nextTimer(s: Sku): number | undefined {
  let due: number | undefined;
  for (const h of s.holds.values()) if (due === undefined || h.expiresAt < due) due = h.expiresAt;
  return due;
}

export function create(sku: string): Sku {
  return {
    sku,
    warehouses: new Map(),
    holds: new Map(),
    restocks: new Map(),
    expired: new Map(),
    onHand: 0,
    reserved: 0,
    lowStockThreshold: DEFAULT_LOW_STOCK_THRESHOLD,
    version: 0,
    updatedAt: 0,
  };
}

interface SkuSnapshot {
  warehouses: [string, WarehouseStock][];
  holds: [string, Hold][];
  restocks?: [string, number][];
  expired?: [string, number][];
  lowStockThreshold: number;
  version: number;
  updatedAt: number;
}

/** Every sku command answers the stock as it is after it. */
export type SkuResults = { readonly [T in SkuCommand['type']]: InventoryView };

export const InventoryActor: ActorType<Sku, SkuCommand, SkuEvent, SkuResults> = {
  kind: 'sku',
  pushName: 'inventory.updated',
  create,
  decide,
  apply,
  view,
  nextTimer,
  version: (s) => s.version,
  domain: (before, e) => ({
    name: 'inventory_updated',
    data: {
      sku: before.sku,
      change: e.type === 'transaction' ? e.txType : CHANGE[e.type],
      ...(e.type === 'transaction' ? {} : { referenceId: e.holdId }),
      at: e.at,
    },
  }),
  snapshotWeight: (s) => s.holds.size,
  snapshot: (s): SkuSnapshot => ({
    warehouses: [...s.warehouses],
    holds: [...s.holds],
    restocks: [...s.restocks],
    ...(s.expired.size > 0 ? { expired: [...s.expired] } : {}),
    lowStockThreshold: s.lowStockThreshold,
    version: s.version,
    updatedAt: s.updatedAt,
  }),
  restore(sku, data) {
    const d = data as SkuSnapshot;
    const s = create(sku);
    for (const [id, w] of d.warehouses) change(s, id, w.onHand, w.reserved);
    s.holds = new Map(d.holds);
    s.restocks = new Map(d.restocks ?? []);
    s.expired = new Map(d.expired ?? []);
    s.lowStockThreshold = d.lowStockThreshold;
    s.version = d.version;
    s.updatedAt = d.updatedAt;
    return s;
  },
};
