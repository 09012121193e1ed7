// Subscriptions of one connection to actor topics (`cart:<userId>`, `sku:<sku>`). The uWS topic
// is joined before the shard counts the watch, so no change committed after the subscribe reply
// can be missed; the shard's count is trusted only once its reply says ok, and every counted
// watch is given back exactly once (unsubscribe, close, or a reply that arrives too late).
import type { ReplySink, ShardPort } from './dispatch.js';
import type { Connection } from './connection.js';

/** pending: the watch is on its way to the shard; cancelled: unsubscribed before it was counted. */
type State = 'pending' | 'active' | 'cancelled';

export class Subscriptions {
  private readonly topics = new Map<string, State>();

  /** Topics that count against the per-connection limit. */
  get size(): number {
    return this.topics.size;
  }

  isSubscribed(key: string): boolean {
    const s = this.topics.get(key);
    return s === 'pending' || s === 'active';
  }

  /** Joins the topic and returns the sink for the shard's reply to the watch command. */
  begin(conn: Connection, key: string, pool: Pick<ShardPort, 'unwatch'>): ReplySink {
    conn.ws?.subscribe(key);
    this.topics.set(key, 'pending');
    return {
      push: (frame, id, outcome) => {
        const state = this.topics.get(key);
        if (outcome === 0) {
          if (conn.closed || state !== 'pending') {
            pool.unwatch([key]); // counted, but nobody wants it any more
            if (state === 'cancelled') this.topics.delete(key);
          } else {
            this.topics.set(key, 'active');
          }
        } else if (state === 'pending' || state === 'cancelled') {
          this.topics.delete(key);
          if (state === 'pending' && !conn.closed) conn.ws?.unsubscribe(key);
        }
        return conn.push(frame, id, outcome);
      },
      flush: () => conn.flush(),
    };
  }

  /** Undoes `begin` when the watch never reached a shard (overloaded). */
  abort(conn: Connection, key: string): void {
    this.topics.delete(key);
    conn.ws?.unsubscribe(key);
  }

  /** Leaves the topic; returns true when the shard's count must be given back now. */
  end(conn: Connection, key: string): boolean {
    const state = this.topics.get(key);
    if (state === undefined || state === 'cancelled') return false;
    conn.ws?.unsubscribe(key);
    if (state === 'pending') {
      this.topics.set(key, 'cancelled');
      return false;
    }
    this.topics.delete(key);
    return true;
  }

  /** On close: the counted watches to give back (pending ones are given back by their reply). */
  closeAll(): string[] {
    const active: string[] = [];
    for (const [key, state] of this.topics) if (state === 'active') active.push(key);
    for (const key of active) this.topics.delete(key);
    return active;
  }
}
