// The main thread's books of requests sent to the shards and not answered yet: per shard, the
// batch being filled in this event-loop turn, and every batch posted and not answered. The pool
// fills and settles them (shard-pool.ts); a worker's death answers them all (shard-supervision.ts).
import type { ReplySink } from '../transport/dispatch.js';

/** A batch of requests for one shard, in request order: the first `n` slots of its arrays. */
export interface Queued {
  shard: number;
  /** Requests in the batch; the arrays may hold more slots, left from an earlier batch. */
  n: number;
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

/**
 * Answered batches kept for their arrays: at a few requests per batch, five new arrays per batch
 * were most of what the main thread allocated per request. Bounded in count and in slots.
 */
const spare: Queued[] = [];
const MAX_SPARE = 8;
const MAX_SPARE_SLOTS = 1024;
const NO_SINK: ReplySink = { push: () => false, flush: () => undefined };

/** An empty batch for `shard`: a spare one when there is one. */
export function newQueue(shard: number): Queued {
  const q = spare.pop();
  if (q) {
    q.shard = shard;
    return q;
  }
  return { shard, n: 0, flat: [], ids: [], sinks: [], tags: [], starts: [], watches: null, keys: null, answered: null, held: null };
}

/** Appends a request's books to `q` (its command goes to `q.flat` separately). */
export function addToQueue(q: Queued, id: number, sink: ReplySink, tag: number, start: number): void {
  const i = q.n++;
  q.ids[i] = id;
  q.sinks[i] = sink;
  q.tags[i] = tag;
  q.starts[i] = start;
}

/** Gives back a batch that is answered and referenced nowhere else; its sinks are let go. */
export function recycleQueue(q: Queued): void {
  if (spare.length >= MAX_SPARE || q.ids.length > MAX_SPARE_SLOTS) return;
  for (let i = 0; i < q.n; i++) q.sinks[i] = NO_SINK;
  q.n = 0;
  q.flat = []; // posted: the worker has its clone, this one cannot be emptied without freeing it
  q.watches = null;
  q.keys = null;
  q.answered = null;
  q.held = null;
  spare.push(q);
}

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
