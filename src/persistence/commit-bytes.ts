// A group commit's rows as one buffer, for the hop from the shard thread to its writer thread:
// one msgpack encoding into a buffer of its own, transferred (not cloned) with the message. The
// encoded events and snapshots are copied into it once; no object graph crosses the threads.
import { Packr, Unpackr } from 'msgpackr';
import type { CommitRows } from './batch-commit.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Flat arrays: fewer objects to build and to walk on both sides. */
type Wire = [
  journal: unknown[],
  snapshots: unknown[],
  timers: unknown[],
  stock: unknown[],
  orders: unknown[],
  domain: Buffer | null,
  marker: number | null,
  meta: (readonly [string, string])[],
];

/** `w` in a buffer that owns its memory (safe to transfer). */
export function encodeCommit(w: CommitRows): Uint8Array {
  const snapshots: unknown[] = [];
  for (const s of w.snapshots) snapshots.push(s.actor, s.seq, s.state);
  const timers: unknown[] = [];
  for (const t of w.timers) timers.push(t.actor, t.due ?? null);
  const stock: unknown[] = [];
  for (const s of w.stock) stock.push(s.sku, s.available);
  const orders: unknown[] = [];
  for (const o of w.orders) orders.push(o.orderId, o.userId, o.createdAt);
  const wire: Wire = [w.journal as unknown[], snapshots, timers, stock, orders, w.domain, w.marker ?? null, w.meta as (readonly [string, string])[]];
  // pack() returns a view of the packer's shared buffer: copy it out so it can be transferred.
  return new Uint8Array(packr.pack(wire));
}

export function decodeCommit(bytes: Uint8Array): CommitRows {
  const [journal, s, t, k, o, domain, marker, meta] = unpackr.unpack(bytes) as Wire;
  const snapshots: { actor: string; seq: number; state: Buffer }[] = [];
  for (let i = 0; i < s.length; i += 3) snapshots.push({ actor: s[i] as string, seq: s[i + 1] as number, state: s[i + 2] as Buffer });
  const timers: { actor: string; due: number | undefined }[] = [];
  for (let i = 0; i < t.length; i += 2) timers.push({ actor: t[i] as string, due: (t[i + 1] as number | null) ?? undefined });
  const stock: { sku: string; available: number }[] = [];
  for (let i = 0; i < k.length; i += 2) stock.push({ sku: k[i] as string, available: k[i + 1] as number });
  const orders: { orderId: string; userId: string; createdAt: number }[] = [];
  for (let i = 0; i < o.length; i += 3) orders.push({ orderId: o[i] as string, userId: o[i + 1] as string, createdAt: o[i + 2] as number });
  return { journal, snapshots, timers, stock, orders, domain, marker: marker ?? undefined, meta };
}
