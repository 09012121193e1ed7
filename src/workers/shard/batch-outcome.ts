// What a group commit hands back to the worker: per batch, the encoded replies in request order
// with their outcomes, and (with the first batch) what the commit releases: view updates, pushes
// and domain events. In cluster mode a group commit waits between its two halves (Prepared)
// for the replicated journal.
import type { DomainEvent } from '../../actors/actor.js';
import type { ProductView } from '../../protocol/types.js';
import type { ShardRequest, ShardStats } from '../shard-messages.js';
import type { BatchPushes } from './push-stage.js';

export type { BatchPushes };

/** A group commit between its two halves (see ShardRuntime.prepare and complete). */
export interface Prepared {
  batches: ShardRequest[][];
  frames: Uint8Array[][];
  outcomes: Uint8Array[];
  /** Per batch, per request: 1 when its answer depends on nothing undurable (see CommandRunner.lastSettled). */
  settled: Uint8Array[];
  stock: [string, number][] | null;
  rowCount: number;
  /** Set when running the commands threw (a bug): the batch is answered INTERNAL. */
  bug: unknown;
}

/** Answers of one batch that may leave before its commit: request indexes, frames, outcomes. */
export interface SettledAnswers {
  index: number[];
  frames: Uint8Array[];
  outcomes: number[];
}

export interface BatchOutcome {
  /** One encoded response frame per request, in request order. */
  frames: Uint8Array[];
  /** Per request: 0 for ok, else the index of its error code in OUTCOMES (metrics). */
  outcomes: Uint8Array;
  stock: [string, number][] | null;
  products: ProductView[] | null;
  /** Pushes of the whole group commit (on the first outcome only), released with the replies. */
  pushes: BatchPushes | null;
  /** Domain events of the whole group commit (first outcome only), logged in it. */
  domain: DomainEvent[] | null;
  stats: ShardStats;
}
