// What a stopped server's shard files say about money and domain events: the gateway simulator's
// ledger (payment actors, rebuilt from snapshot + journal) and the durable domain event log.
// Read-only connections of their own: they see what is committed (the ledgers are read after the
// server has exited).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeRow } from '../../src/persistence/row-codec.js';
import { PaymentActor, type PaymentCharge, type PaymentEvent } from '../../src/actors/payment-actor.js';

function shardFiles(dataDir: string): string[] {
  return readdirSync(dataDir)
    .filter((f) => /^shard-\d+\.db$/.test(f))
    .map((f) => join(dataDir, f));
}

/** What `read` returns from each shard file, on a read-only connection of its own (only what is committed). */
export function withShards<T>(dataDir: string, read: (db: Database.Database) => T[]): T[] {
  const out: T[] = [];
  for (const file of shardFiles(dataDir)) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      out.push(...read(db));
    } finally {
      db.close();
    }
  }
  return out;
}

/** Every payment ledger on disk, by orderId (an order the gateway never saw has none). */
export function paymentLedgers(dataDir: string): Map<string, PaymentCharge> {
  const ledgers = new Map<string, PaymentCharge>();
  const rows = withShards(dataDir, (db) => {
    const snaps = db.prepare<[], { actor: string; seq: number; state: Buffer }>("SELECT actor, seq, state FROM snapshots WHERE actor LIKE 'payment:%'").all();
    const journal = db
      .prepare<[], { actor: string; seq: number; events: Buffer }>("SELECT actor, seq, events FROM journal WHERE actor LIKE 'payment:%' ORDER BY g")
      .all();
    return [{ snaps, journal }];
  });
  for (const { snaps, journal } of rows) {
    const seqOf = new Map<string, number>();
    const state = new Map<string, ReturnType<typeof PaymentActor.create>>();
    for (const s of snaps) {
      const orderId = s.actor.slice('payment:'.length);
      state.set(orderId, PaymentActor.restore(orderId, decodeRow(s.state)));
      seqOf.set(orderId, s.seq);
    }
    for (const r of journal) {
      const orderId = r.actor.slice('payment:'.length);
      if (r.seq <= (seqOf.get(orderId) ?? 0)) continue; // already in the snapshot
      let s = state.get(orderId);
      if (!s) state.set(orderId, (s = PaymentActor.create(orderId)));
      for (const e of decodeRow(r.events) as PaymentEvent[]) PaymentActor.apply(s, e);
    }
    for (const [orderId, s] of state) if (s.charge) ledgers.set(orderId, s.charge);
  }
  return ledgers;
}

/** Money that moved and stayed moved: an approved charge minus its refunds. */
export const keptAmount = (c: PaymentCharge | undefined): number => (c && c.status === 'approved' ? c.amount - c.refunded : 0);

export type LoggedEvent = { name: string; data: Record<string, unknown> };

/** Every domain event in the shards' durable event logs. */
export function loggedEvents(dataDir: string): LoggedEvent[] {
  return withShards(dataDir, (db) =>
    db
      .prepare<[], { events: Buffer }>('SELECT events FROM event_log ORDER BY g')
      .all()
      .flatMap((r) => (decodeRow(r.events) as [string, Record<string, unknown>][]).map(([name, data]) => ({ name, data }))),
  );
}

/** The events journaled for one actor key (its snapshot is not replayed: tests look at the tail). */
export function actorJournal(dataDir: string, key: string): Record<string, unknown>[] {
  return withShards(dataDir, (db) =>
    db
      .prepare<[string], { events: Buffer }>('SELECT events FROM journal WHERE actor = ? ORDER BY g')
      .all(key)
      .flatMap((r) => decodeRow(r.events) as Record<string, unknown>[]),
  );
}

/** The inventory events journaled for one sku. */
export const skuJournal = (dataDir: string, sku: string): Record<string, unknown>[] => actorJournal(dataDir, `sku:${sku}`);

/** Deletes an actor's durable timer from a stopped server's shard files (simulates a coordinator that never comes back). */
export function dropTimer(dataDir: string, actor: string): number {
  let n = 0;
  for (const file of shardFiles(dataDir)) {
    const db = new Database(file, { fileMustExist: true });
    try {
      n += db.prepare('DELETE FROM timers WHERE actor = ?').run(actor).changes;
    } finally {
      db.close();
    }
  }
  return n;
}
