// What one group commit writes, staged while its batch runs: journal rows, snapshots, timers, the
// stock view, the orders index, the batch's domain events and meta rows. The journal writes all
// of it in one transaction (Journal.commit).
import { encodeRow } from './row-codec.js';

/** What one batch changed; filled by the shard runtime, written by `commit`. */
export class BatchWrites {
  /** Flat triples: actor key, seq, encoded events. */
  readonly journal: unknown[] = [];
  readonly snapshots: { actor: string; seq: number; state: Buffer }[] = [];
  readonly timers: { actor: string; due: number | undefined }[] = [];
  readonly stock: { sku: string; available: number }[] = [];
  readonly orders: { orderId: string; userId: string; createdAt: number }[] = [];
  /** Encoded domain events of the batch (one event_log row), or null. */
  domain: Buffer | null = null;
  /** The last main-thread batch this commit covers (the commit marker), if any. */
  marker: number | undefined;
  /** meta rows written with the commit (cluster mode: replicated positions). */
  readonly meta: [string, string][] = [];

  get empty(): boolean {
    return (
      this.journal.length === 0 &&
      this.snapshots.length === 0 &&
      this.timers.length === 0 &&
      this.stock.length === 0 &&
      this.domain === null &&
      this.meta.length === 0
    );
  }

  /** Journal rows whose events are already encoded (replicated from another node). */
  appendEncoded(actor: string, seq: number, events: Buffer): void {
    this.journal.push(actor, seq, events);
  }

  appendEvents(actor: string, seq: number, events: readonly unknown[]): void {
    this.journal.push(actor, seq, encodeRow(events));
  }

  clear(): void {
    this.journal.length = 0;
    this.snapshots.length = 0;
    this.timers.length = 0;
    this.stock.length = 0;
    this.orders.length = 0;
    this.domain = null;
    this.marker = undefined;
    this.meta.length = 0;
  }
}
