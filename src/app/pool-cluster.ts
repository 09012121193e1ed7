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
  /** PARTITIONS: partition p runs on shard p % SHARDS. */
  readonly partitions: number;
  partitionOf(key: string): number;
  /** Whether this node serves the partition now (owned and caught up). */
  serving(p: number): boolean;
  ownerOf(p: number): string | undefined;
  /** Sends request `id` to the node that owns it; `tag` is its op, for the metrics. */
  forward(nodeId: string, key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): void;
  /** A local connection follows (+1) or stops following (-1) a topic published by whichever node commits. */
  interest(topic: string, delta: number): void;
  /** These partitions are not served here any more (`why`): another node owns them, or their shard died. */
  lose(partitions: number[], why: string): void;
}

/** The refusal of a request whose partition no node serves now (it is moving between nodes). */
export const MOVING: Answer<never> = {
  ok: false,
  error: { code: 'UNAVAILABLE', message: 'the partition of this actor is moving between nodes; nothing was changed', details: { retryAfterMs: 200 } },
};

export class PartitionMoves {
  private nextMove = 0;
  /** Moves waiting for their shard's report, by move id. */
  private readonly waiters = new Map<number, { shard: number; resolve: (read: number) => void; reject: (err: Error) => void }>();

  /** Asks `link`'s shard to acquire or release partition `p`; resolves once it reports it done, with the journal messages an acquire read. */
  run(link: ShardLink, p: number, t: 'acquire' | 'release'): Promise<number> {
    if (!link.isUp) return Promise.reject(new ShardUnavailableError(link.shard, link.retryAfterMs()));
    const move = ++this.nextMove;
    return new Promise((resolve, reject) => {
      this.waiters.set(move, { shard: link.shard, resolve, reject });
      link.post({ t, partition: p, move });
    });
  }

  /** A shard reports a move done. */
  settle(m: Extract<FromShard, { t: 'acquired' | 'released' }>): void {
    this.waiters.get(m.move)?.resolve(m.t === 'acquired' ? m.read : 0);
    this.waiters.delete(m.move);
  }

  /** A shard reports a move it could not do. */
  fail(m: Extract<FromShard, { t: 'move-failed' }>): void {
    this.waiters.get(m.move)?.reject(new Error(`shard ${m.shard}: partition ${m.partition}: ${m.error}`));
    this.waiters.delete(m.move);
  }

  /** The worker of `shard` died: its moves will never be reported. */
  failShard(shard: number, retryAfterMs: number): void {
    for (const [move, w] of this.waiters) {
      if (w.shard !== shard) continue;
      this.waiters.delete(move);
      w.reject(new ShardUnavailableError(shard, retryAfterMs));
    }
  }
}
