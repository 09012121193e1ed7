// What the shard pool reports to the rest of the server (server.ts wires it): committed view
// changes, per-request metrics, pushes and domain events once their commit is durable, and the
// shard workers going down and coming back.
import type { DomainEvent } from '../actors/actor.js';
import type { ProductView } from '../protocol/types.js';
import type { ShardStats } from '../workers/shard-messages.js';

export interface PoolHooks {
  /** Committed stock and catalog changes, for the edge's catalog view. */
  onViews(stock: [string, number][] | null, products: ProductView[] | null): void;
  /** Per request: its op tag, latency in seconds and outcome index (0 ok). */
  onDone(tag: number, seconds: number, outcome: number): void;
  onStats(shard: number, stats: ShardStats): void;
  onCheckpoint(durationMs: number, snapshots: number): void;
  /** Committed push frames: frame i spans ends[i-1]..ends[i] and goes to topics[i]. */
  onPushes(topics: string[], frames: Uint8Array, ends: Uint32Array): void;
  /** Domain events of a commit (after it): metrics, recommendations, the checkout driver. */
  onDomain(events: DomainEvent[]): void;
  /** A shard (re)started: its orders left unfinished, to resume. */
  onShardUp(shard: number, openOrders: string[], restarted: boolean): void;
  /** A shard's worker died; it restarts after `restartInMs`. */
  onShardDown(shard: number, reason: string, restartInMs: number): void;
}
