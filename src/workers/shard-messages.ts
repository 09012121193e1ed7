// Messages between the main thread and a shard worker. Requests cross in one message per shard
// per event-loop turn; replies come back as one buffer of encoded response frames per batch.
import type { ProductView, ShardSummary, SnapshotResult } from '../protocol/types.js';

export type { ShardSummary, SnapshotResult };
import type { DomainEvent } from '../actors/actor.js';
import type { PricingConfig } from '../actors/pricing.js';

/** A sku's live price for the shards: sku, productId, name, unitPrice, currency, active. */
export type PriceEntry = [string, string, string, number, string, boolean];

export interface ShardRequest {
  /** The wire id, echoed in the encoded response. */
  id: number;
  /** Actor key: `cart:<userId>`, `sku:<sku>`, `catalog`. */
  key: string;
  cmd: { type: string };
}

/** Cluster mode, for a shard worker. */
export interface ShardClusterOptions {
  servers: string[];
  nodeId: string;
  partitions: number;
  /** Messages of a partition after which it is snapshotted and its journal trimmed (CLUSTER_SNAPSHOT_EVERY). */
  snapshotEvery: number;
}

export interface ShardOptions {
  shard: number;
  dataDir: string;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  /** Snapshot an actor inline once this many journal rows follow its last snapshot. */
  snapshotEvery: number;
  /** Period of the maintenance sweep (passivation, checkpoints). */
  sweepIntervalMs: number;
  /** Period of the idle heap trim of the shard threads (workers/heap-trim.ts); 0: off. */
  idleGcMs: number;
  /** One node: a group commit this soon after the previous one waits to take in more batches (µs; 0: never). */
  commitWindowUs: number;
  /** A checkpoint starts when this many journal rows follow the watermark... */
  checkpointRows: number;
  /** ...or when the last one is this old and rows are waiting. */
  checkpointIntervalMs: number;
  /** Actors unused for this long are written to a snapshot and dropped from memory. */
  passivateAfterMs: number;
  /** Actors in memory beyond which the least recently used leave it (snapshotted first when dirty). */
  maxActors: number;
  /** Guest carts unchanged this long are deleted; 0 keeps them forever. */
  guestCartRetentionMs: number;
  /** Journal rows of audited actors are kept this long after a checkpoint covers them; 0 or unset keeps none. */
  auditRetentionMs?: number;
  /** Test hook: fail every commit whose batch touches this actor key (simulated I/O error). */
  failCommitsFor?: string;
  /** Tax and shipping rules for cart totals. */
  pricing: PricingConfig;
  /** Domain event log rows kept (one per group commit). */
  eventLogKeepRows: number;
  /**
   * Names this process's batches in the shard's commit marker: each group commit records the last
   * batch it covers, so after a worker dies the pool knows which in-flight batches were stored.
   */
  epoch?: string;
  /** Cluster mode: the journal is replicated through NATS JetStream (undefined: one node). */
  cluster?: ShardClusterOptions;
  /** The master keys (hex, current first), or in a cluster the process's key mirror key: orders' sealed address copies are opened with them. */
  masterKeys?: string[];
  /** Test hook: a command touching this actor key kills the worker thread (an uncaught exception). */
  crashOn?: string;
  /** Test hook: `stop` kills the worker thread (an uncaught exception) instead of closing it. */
  crashAtStop?: boolean;
  /** Test hook (cluster mode): this many acquires fail as a catch-up read from an unreachable NATS would. */
  failAcquires?: number;
}

export type ToShard =
  /** `flat`: the batch's requests as written by request-codec.ts. */
  | { t: 'batch'; batch: number; flat: unknown[] }
  | { t: 'snapshot'; ask: number }
  | { t: 'summary'; ask: number }
  | { t: 'passivate'; ask: number; olderThanMs: number }
  | { t: 'inspect'; ask: number; key: string }
  /** Subscriptions ended without a reply (connection closed): one per key occurrence. */
  | { t: 'unwatch'; keys: string[] }
  /** A topic whose actors live on every shard (a user's orders): followed (+1) or not (-1) by one more connection. */
  | { t: 'watch-topic'; ask: number; topic: string; delta: 1 | -1 }
  | { t: 'admin-feed'; on: boolean }
  /** Cluster mode: catch partition `partition` up from the replicated journal, then serve it. */
  | { t: 'acquire'; partition: number; move: number }
  /** Cluster mode: stop serving `partition` (it moves to another node); answered `released`. */
  | { t: 'release'; partition: number; move: number }
  /** A restarted worker gets back what its predecessor counted in memory (watch-mirror.ts). */
  | { t: 'restore-watches'; keys: [string, number][]; topics: [string, number][]; adminFeed: boolean }
  | { t: 'prices'; entries: PriceEntry[] }
  /** Order ids, newest first, of one user or of all (userId undefined), before a (createdAt, orderId) position. */
  | { t: 'orders-page'; ask: number; userId?: string; before?: [number, string]; limit: number }
  /** Recommendation interactions in the event log after row `afterG` (at most `limit` rows). */
  | { t: 'interactions'; ask: number; afterG: number; limit: number }
  /** audit.history: up to `limit` events of `key` from event `index` of journal row `fromG` on. */
  | { t: 'audit-history'; ask: number; key: string; fromG: number; index: number; limit: number }
  /** audit.stateAt: the actor `key` replayed to epoch-ms `at`. */
  | { t: 'audit-state'; ask: number; key: string; at: number }
  /** Every drop on this shard: [dropId, sku] pairs. */
  | { t: 'drops'; ask: number }
  /** The domain events of one user logged after `afterG` (`user.export`), read `limit` rows at a time. */
  | { t: 'user-events'; ask: number; userId: string; afterG: number; limit: number }
  | { t: 'stop' };

export interface ShardStats {
  commitMs: number;
  /** One node: how long the group was held open for its commit window before the commit (ms; 0: not held). */
  windowMs: number;
  rows: number;
  actors: number;
  /** The last group commit failed (disk full, I/O error): the shard answers writes UNAVAILABLE. */
  commitFailing: boolean;
}

export type FromShard =
  | { t: 'ready'; shard: number; stock: [string, number][]; products: ProductView[]; openOrders: string[] }
  | {
      t: 'replies';
      batch: number;
      /** Encoded response frames back to back; frame i spans ends[i-1]..ends[i]. */
      frames: Uint8Array;
      ends: Uint32Array;
      /** Per request: 0 ok, else the index of the error code in OUTCOMES. */
      outcomes: Uint8Array;
      /** Committed availability changes of this shard's skus, for the edge's catalog view. */
      stock: [string, number][] | null;
      products: ProductView[] | null;
      /** Push frames after the commit: frame i spans pushEnds[i-1]..pushEnds[i], to topic pushTopics[i]. */
      pushFrames: Uint8Array | null;
      pushEnds: Uint32Array | null;
      pushTopics: string[] | null;
      /** Domain events logged by this commit. */
      domain: DomainEvent[] | null;
      stats: ShardStats | null;
    }
  /**
   * Answers of `batch` that depend on no change of its group commit (reads of unchanged actors),
   * sent before the commit; the batch's `replies` carry empty frames in their places.
   */
  | { t: 'settled'; batch: number; index: Uint32Array; frames: Uint8Array; ends: Uint32Array; outcomes: Uint8Array }
  /** `error`: the question could not be answered (the worker logged why). */
  | { t: 'answer'; ask: number; value: unknown; error?: string }
  | { t: 'stopped'; shard: number }
  /** A checkpoint completed: how long it took (wall time, batches ran between its steps) and its snapshots. */
  | { t: 'checkpoint'; shard: number; at: number; snapshots: number; durationMs: number }
  /** Cluster mode: the partition is caught up (`read` journal messages applied) and served here; its unfinished orders to resume. */
  | { t: 'acquired'; shard: number; partition: number; move: number; openOrders: string[]; read: number }
  | { t: 'released'; shard: number; partition: number; move: number }
  /** Cluster mode: the move could not be done (the worker logged why); an acquire's partition is not served here. */
  | { t: 'move-failed'; shard: number; partition: number; move: number; error: string }
  /** Cluster mode: another owner appended to these partitions' journals: they are not served here any more. */
  | { t: 'partitions-lost'; shard: number; partitions: number[] };

/** Interactions read from a shard's event log: flat [kind (0 view, 1 cart, 2 purchase), userId, productId, at], and the last row read. */
export interface InteractionsPage {
  flat: (string | number)[];
  lastG: number;
}

/** One page of audit.history from a shard; `next` is where the next page starts ([g, event index]). */
export interface AuditPage {
  items: { seq: number; at: number | null; event: string; data: Record<string, unknown> }[];
  next: [number, number] | null;
}

/** audit.stateAt from a shard: the state after change `seq`, or why there is no answer. */
export type AuditStateAnswer =
  | { ok: true; seq: number; state: unknown }
  | { ok: false; code: 'NOT_FOUND' | 'LIMIT_EXCEEDED' | 'UNAVAILABLE'; message: string; details: Record<string, unknown> };
/** A page of one user's domain events; `lastG` is where the next page starts, `done` when the log ended. */
export interface UserEventsPage {
  events: { name: string; data: Record<string, unknown> }[];
  lastG: number;
  done: boolean;
}
