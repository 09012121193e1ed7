// Control questions to the shard workers (summaries, snapshots, order pages, ...): each one is
// numbered, the worker's `answer` message settles it, and a worker that dies or stops before
// answering rejects its open questions with ShardUnavailableError.
import type { FromShard, ToShard } from '../workers/shard-messages.js';
import { UnavailableError } from '../transport/dispatch.js';
import type { ShardLink } from './shard-link.js';

/** A control question to a shard whose worker is down, or died before answering it. */
export class ShardUnavailableError extends UnavailableError {
  override name = 'ShardUnavailableError';
  constructor(
    readonly shard: number,
    retryAfterMs: number,
  ) {
    super(`shard ${shard} is restarting`, retryAfterMs);
  }
}

interface PendingAsk {
  shard: number;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class ShardAsks {
  private nextAsk = 1;
  private readonly pending = new Map<number, PendingAsk>();

  /** Posts the question `make` builds to `link`'s worker; resolves with its answer. */
  ask<T>(link: ShardLink, make: (ask: number) => ToShard): Promise<T> {
    const ask = this.nextAsk++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(ask, { shard: link.shard, resolve, reject });
      link.post(make(ask));
    });
  }

  /** The worker of `shard` answered. */
  answer(shard: number, m: Extract<FromShard, { t: 'answer' }>): void {
    const p = this.pending.get(m.ask);
    this.pending.delete(m.ask);
    if (!p) return;
    if (m.error !== undefined) p.reject(new Error(`shard ${shard}: ${m.error}`));
    else p.resolve(m.value);
  }

  /** The worker of `shard` died: its open questions are rejected. */
  failShard(shard: number, retryAfterMs: number): void {
    for (const [ask, p] of this.pending) {
      if (p.shard !== shard) continue;
      this.pending.delete(ask);
      p.reject(new ShardUnavailableError(shard, retryAfterMs));
    }
  }

  /** Questions nobody will answer any more (the workers stopped) are rejected. */
  abandon(): void {
    for (const p of this.pending.values()) p.reject(new ShardUnavailableError(p.shard, 0));
    this.pending.clear();
  }
}
