// One client connection: who it is, which request ids are in flight, and the responses waiting
// to be written. Responses that become ready together leave as one frame (an array frame when
// there are several), written while the socket is corked.
import type { ReplySink } from './dispatch.js';
import { joinFrames, joinFramesInto, joinedSize } from '../protocol/frames.js';
import type { Identity } from '../protocol/types.js';
import type { ServerSocket } from './transport.js';
import { Subscriptions } from './subscriptions.js';
import type { TokenBucket } from './rate-limit.js';

/**
 * One buffer the edge joins a connection's responses into, reused by every flush: the transport
 * copies what it sends before `send` returns, so a flush allocates nothing but a view. A join
 * larger than this gets a buffer of its own.
 */
const JOIN_BYTES = 256 * 1024;
const joinBuffer = new Uint8Array(JOIN_BYTES);

function joinForSend(frames: readonly Uint8Array[]): Uint8Array {
  return joinedSize(frames) <= JOIN_BYTES ? joinFramesInto(frames, joinBuffer) : joinFrames(frames);
}

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
  readonly inflight = new Set<number>();
  badFrames = 0;
  readonly subs = new Subscriptions();
  /** Whether this (admin) connection follows the admin feed. */
  adminFeed = false;
  /** The order-push topic this connection follows (order.subscribe), if any. */
  ordersTopic: string | undefined;
  /** The drop-push topic of this connection's user (drop.join), if any. */
  dropsTopic: string | undefined;
  closed = false;
  private readonly out: Uint8Array[] = [];
  /** Ids to release from `inflight` once `out` is written (-1: nothing to release). */
  private readonly outIds: number[] = [];
  ws: ServerSocket<SocketData> | undefined;
  /** The frame `flush` hands to the corked send (one bound callback per connection, not per flush). */
  private sending: Uint8Array | undefined;
  private readonly sendCorked = (): void => {
    this.ws!.send(this.sending!, true);
  };

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
    this.out.push(frame);
    this.outIds.push(id);
    return this.out.length === 1;
  }

  /** Requests in flight with no response queued yet (an error answered without an id makes it one less). */
  waiting(): number {
    return Math.max(0, this.inflight.size - this.out.length);
  }

  flush(): void {
    const n = this.out.length;
    if (n === 0) return;
    if (!this.closed && this.ws) {
      this.sending = n === 1 ? this.out[0] : joinForSend(this.out);
      this.ws.cork(this.sendCorked);
      this.sending = undefined;
    }
    for (const id of this.outIds) if (id >= 0) this.inflight.delete(id);
    this.out.length = 0;
    this.outIds.length = 0;
  }
}
