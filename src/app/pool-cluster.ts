// Cluster mode in the pool: the routing it asks where each partition is served (and how a
// request reaches another node), and the partition moves it runs on its shards: acquire (catch
// up from the replicated journal, then serve) and release (stop serving, after the requests
// already sent).
import type { FromShard, ShardRequest } from '../workers/shard-messages.js';
import type { Answer, ReplySink } from '../transport/dispatch.js';
import type { ShardLink } from './shard-link.js';
import { ShardUnavailableError } from './shard-asks.js';

/** Cluster mode: where each partition is served, and how requests reach another node. */
export interface ClusterRouting {
  readonly me: string;
  partitionOf(key: string): number;
  /** Whether this node serves the partition now (owned and caught up). */
  serving(p: number): boolean;
  ownerOf(p: number): string | undefined;
  forward(nodeId: string, key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink): void;
  /** A local connection follows (+1) or stops following (-1) a topic published by whichever node commits. */
  interest(topic: string, delta: number): void;
  /** The journal refused appends to these partitions: another node owns them now. */
  fenced(partitions: number[]): void;
}

/** The refusal of a request whose partition no node serves now (it is moving between nodes). */
export const MOVING: Answer<never> = {
  ok: false,
  error: { code: 'UNAVAILABLE', message: 'the partition of this actor is moving between nodes; nothing was changed', details: { retryAfterMs: 200 } },
};

export class PartitionMoves {
  /** Moves waiting for their shard's report, by `acquired:<p>` or `released:<p>`. */
  private readonly waiters = new Map<string, () => void>();

  /** Asks `link`'s shard to acquire or release partition `p`; resolves once it reports it done. */
  run(link: ShardLink, p: number, t: 'acquire' | 'release'): Promise<void> {
    if (!link.isUp) return Promise.reject(new ShardUnavailableError(link.shard, link.retryAfterMs()));
    const done = t === 'acquire' ? 'acquired' : 'released';
    return new Promise((resolve) => {
      this.waiters.set(`${done}:${p}`, resolve);
      link.post({ t, partition: p });
    });
  }

  /** A shard reports a move done. */
  settle(m: Extract<FromShard, { t: 'acquired' | 'released' }>): void {
    const key = `${m.t}:${m.partition}`;
    this.waiters.get(key)?.();
    this.waiters.delete(key);
  }
}
