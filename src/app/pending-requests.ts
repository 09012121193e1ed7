// The main thread's books of requests sent to the shards and not answered yet: per shard, the
// batch being filled in this event-loop turn, and every batch posted and not answered. The pool
// fills and settles them (shard-pool.ts); a worker's death answers them all (shard-supervision.ts).
import type { ReplySink } from '../transport/dispatch.js';

/** A batch of requests for one shard, in request order. */
export interface Queued {
  shard: number;
  /** The requests, flattened for a cheap structured clone (request-codec.ts). */
  flat: unknown[];
  ids: number[];
  sinks: ReplySink[];
  tags: number[];
  starts: number[];
  /** Indexes of `watch` requests: counted in the watch mirror once the shard says ok. */
  watches: number[] | null;
  keys: string[] | null;
  /** Per request: 1 once answered ahead of the batch's commit (a read of durable state); null while none was. */
  answered: Uint8Array | null;
  /** Sinks holding settled answers unsent until the batch's other answers join them; null while none. */
  held: ReplySink[] | null;
}

export const newQueue = (shard: number): Queued => ({
  shard,
  flat: [],
  ids: [],
  sinks: [],
  tags: [],
  starts: [],
  watches: null,
  keys: null,
  answered: null,
  held: null,
});

/** The books themselves: the pool's own arrays and map, shared with its failure handling. */
export interface RequestBooks {
  /** Per shard: the batch being filled. */
  readonly queued: Queued[];
  /** Posted batches not answered yet, by batch number. */
  readonly inflight: Map<number, Queued>;
  /** Per shard: requests posted and not answered. */
  readonly backlog: number[];
  /** Per shard: batches posted and not answered. */
  readonly batchesOut: number[];
}
