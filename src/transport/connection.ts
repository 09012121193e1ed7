// One client connection: who it is, which request ids are in flight, and the responses waiting
// to be written. Responses that become ready together leave as one frame (an array frame when
// there are several), written while the socket is corked.
import type { ReplySink } from './dispatch.js';
import { joinFrames, joinFramesInto, joinedSize } from '../protocol/frames.js';
import type { Identity } from '../protocol/types.js';
import { cartKey, type ActorKey } from '../protocol/keys.js';
import type { ServerSocket } from './transport.js';
import { Subscriptions } from './subscriptions.js';
import { IdSet } from './id-set.js';
import type { TokenBucket } from './rate-limit.js';

/**
 * One buffer the edge joins a connection's responses into, reused by every flush: the transport
 * copies what it sends before `send` returns, so a flush allocates nothing but a view. A join
 * larger than this gets a buffer of its own.
 */
const JOIN_BYTES = 256 * 1024;
const joinBuffer = new Uint8Array(JOIN_BYTES);

function joinForSend(frames: readonly Uint8Array[], n: number): Uint8Array {
  return joinedSize(frames, n) <= JOIN_BYTES ? joinFramesInto(frames, joinBuffer, n) : joinFrames(frames.slice(0, n));
}

/**
 * Slots of the queue a connection keeps between flushes; one that once held more gives its
 * arrays back after the flush (a pipelining client may have thousands of answers in one write).
 */
const KEPT_SLOTS = 64;
const NO_FRAME = new Uint8Array(0);

export interface SocketData {
  conn: Connection;
}

export class Connection implements ReplySink {
  identity: Identity | undefined;
  /**
   * Set while an auth op of this connection runs (argon2, token checks are async): requests
   * admitted meanwhile wait here as [id, op, args] triples and run, in order, under the identity
   * it produced — a client may send `auth.resume` and its first cart op in one frame.
   */
  authQueue: unknown[] | undefined;
  /** Frame bytes of the requests in `authQueue` (bounded: MAX_AUTH_QUEUE_BYTES in edge.ts). */
  authQueueBytes = 0;
  /** Ids answered by no frame yet: a second request with one of them is BAD_REQUEST. */
  readonly inflight = new IdSet();
  badFrames = 0;
  readonly subs = new Subscriptions();
  /** Whether this (admin) connection follows the admin feed. */
  adminFeed = false;
  /** The order-push topic this connection follows (order.subscribe), if any. */
  ordersTopic: string | undefined;
  /** The drop-push topic of this connection's user (drop.join), if any. */
  dropsTopic: string | undefined;
  closed = false;
  /**
   * Responses queued since the last flush: the first `outCount` slots. The arrays are kept from
   * flush to flush (emptying them with `length = 0` would free their backing stores and every
   * flush would allocate them again).
   */
  private readonly out: Uint8Array[] = [];
  /** Ids to release from `inflight` once `out` is written (-1: nothing to release). */
  private readonly outIds: number[] = [];
  private outCount = 0;
  ws: ServerSocket<SocketData> | undefined;
  /** The frame `flush` hands to the corked send (one bound callback per connection, not per flush). */
  private sending: Uint8Array | undefined;
  private readonly sendCorked = (): void => {
    this.ws!.send(this.sending!, true);
  };

  private cartKeyUser: string | undefined;
  private cartKeyOfUser: ActorKey<'cart'> | undefined;

  /**
   * The cart key of `userId` (this connection's user): made once, not per cart op; a new
   * string per request would also be flattened again for the shard hash.
   */
  cartKey(userId: string): ActorKey<'cart'> {
    if (userId !== this.cartKeyUser || this.cartKeyOfUser === undefined) {
      this.cartKeyUser = userId;
      this.cartKeyOfUser = cartKey(userId);
    }
    return this.cartKeyOfUser;
  }

  /**
   * @param ip the client's key for per-IP limits (rate-limit.ts ipKey)
   * @param rate the connection's request bucket; undefined when the limit is off
   */
  constructor(
    readonly ip: string,
    readonly rate?: TokenBucket,
  ) {}

  /** Queues a response; true if the connection had nothing queued (the caller flushes it). */
  push(frame: Uint8Array, id = -1, _outcome = 0): boolean {
    if (this.closed) return false;
    const n = this.outCount++;
    this.out[n] = frame;
    this.outIds[n] = id;
    return n === 0;
  }

  /** Requests in flight with no response queued yet (an error answered without an id makes it one less). */
  waiting(): number {
    return Math.max(0, this.inflight.size - this.outCount);
  }

  flush(): void {
    const n = this.outCount;
    if (n === 0) return;
    const out = this.out;
    if (!this.closed && this.ws) {
      this.sending = n === 1 ? out[0] : joinForSend(out, n);
      this.ws.cork(this.sendCorked);
      this.sending = undefined;
    }
    const ids = this.outIds;
    for (let i = 0; i < n; i++) {
      if (ids[i] >= 0) this.inflight.delete(ids[i]);
      out[i] = NO_FRAME; // the reply buffers behind the frames are not kept alive by the queue
    }
    this.outCount = 0;
    if (out.length > KEPT_SLOTS) {
      out.length = 0;
      ids.length = 0;
    }
  }
}
