// The shard workers' lives, as the pool sees them. They are spawned together, each supervised by
// its link (shard-link.ts restarts a worker that dies, with a backoff), and the pool is ready
// once every one has opened its database. When a worker dies, every request it held is answered
// at once: UNAVAILABLE when its batch was not committed (nothing changed), UNAVAILABLE with
// `applied: true` when the shard's commit marker says it was (the answer was lost, not the
// change). Requests queued for it and control questions to it are answered too, and new ones
// are refused until the restarted worker is up; that one first gets back what the dead worker
// knew only in memory.
import { encodeError } from '../protocol/frames.js';
import { outcomeIndex, type WireError } from '../protocol/errors.js';
import { readCommitMarker } from '../persistence/shard-db.js';
import type { ShardOptions } from '../workers/shard-messages.js';
import type { Answer, ReplySink } from '../transport/dispatch.js';
import { ShardLink, type LinkEvents } from './shard-link.js';
import { newQueue, type Queued, type RequestBooks } from './pending-requests.js';
import type { PoolHooks } from './pool-hooks.js';
import type { ShardAsks } from './shard-asks.js';
import type { WatchMirror } from './watch-mirror.js';
import { log } from '../log/log.js';

const UNAVAILABLE_OUTCOME = outcomeIndex('UNAVAILABLE');
const RESTARTING = 'the shard owning this actor is restarting; nothing was changed';

/** The answer to a request for a shard whose worker is down or restarting. */
export function restarting(retryAfterMs: number): Answer<never> {
  const error: WireError = { code: 'UNAVAILABLE', message: RESTARTING, details: { retryAfterMs } };
  return { ok: false, error };
}

export class ShardSupervision {
  /** One link per shard, in shard order (the pool routes through this same array). */
  readonly links: ShardLink[] = [];
  /** Marks this process's batches in the shards' commit markers (a marker of an earlier run means nothing). */
  readonly epoch = `${process.pid}-${Date.now()}`;
  /** Where the shard databases (and their commit markers) are, once spawned. */
  private dataDir: string | undefined;
  private firstReady: Promise<void>[] | undefined;
  private readonly readyResolvers: (() => void)[] = [];

  constructor(
    private readonly shards: number,
    private readonly maxHeapMb: number,
    private readonly books: RequestBooks,
    private readonly asks: ShardAsks,
    private readonly watches: WatchMirror,
  ) {}

  get spawned(): boolean {
    return this.firstReady !== undefined;
  }

  /** Starts the worker threads without waiting for them; `eventsOf` is what each shard's link reports to. */
  spawn(base: Omit<ShardOptions, 'shard' | 'epoch'>, catalogShard: number, eventsOf: (shard: number) => LinkEvents): void {
    this.dataDir = base.dataDir;
    this.firstReady = [];
    for (let shard = 0; shard < this.shards; shard++) {
      this.firstReady.push(new Promise((resolve) => (this.readyResolvers[shard] = resolve)));
      const link = new ShardLink(
        shard,
        { opts: { ...base, shard, epoch: this.epoch }, catalogHere: shard === catalogShard, maxHeapMb: this.maxHeapMb },
        eventsOf(shard),
      );
      this.links.push(link);
      link.start();
    }
  }

  /** Resolves once every shard spawned has been ready once. */
  allReady(): Promise<void[]> {
    return Promise.all(this.firstReady!);
  }

  /** A worker reported ready (after its start or a restart). */
  ready(shard: number): void {
    this.readyResolvers[shard]?.();
  }

  get allUp(): boolean {
    return this.links.every((l) => l.isUp);
  }

  downShards(): { shard: number; reason: string; backInMs: number }[] {
    const now = Date.now();
    return this.links.filter((l) => !l.isUp).map((l) => ({ shard: l.shard, reason: l.lastCrash ?? l.state, backInMs: Math.max(0, l.backAt - now) }));
  }

  restarts(shard: number): number {
    return this.links[shard]?.restarts ?? 0;
  }

  /** The worker of `shard` died: everything it held is answered now; `hooks` (unset in a pool spawned before them) get the metrics. */
  down(shard: number, reason: string, restartInMs: number, hooks: PoolHooks | undefined, replicated = false): void {
    log.error(`shard ${shard} ${reason.split('\n')[0]}; restarting in ${restartInMs} ms (acknowledged data is on disk)`);
    const retryAfterMs = this.links[shard].retryAfterMs();
    const books = this.books;
    let committed = 0;
    try {
      committed = this.dataDir !== undefined ? readCommitMarker(this.dataDir, shard, this.epoch) : 0;
    } catch (err) {
      log.error({ err }, `shard ${shard}: cannot read its commit marker; in-flight requests answered as not applied`);
    }
    const answered: ReplySink[] = [];
    for (const [batch, q] of books.inflight) {
      if (q.shard !== shard) continue;
      books.inflight.delete(batch);
      // Replicated (cluster mode): a batch the local store lacks may still be in the stream.
      this.refuseAll(q, retryAfterMs, batch <= committed ? true : replicated ? 'unknown' : false, answered, hooks);
      if (q.held) answered.push(...q.held); // their settled answers wait in them, unsent
    }
    books.backlog[shard] = 0;
    books.batchesOut[shard] = 0;
    const q = books.queued[shard];
    books.queued[shard] = newQueue(shard);
    this.refuseAll(q, retryAfterMs, false, answered, hooks);
    for (const s of answered) s.flush();
    this.asks.failShard(shard, retryAfterMs);
  }

  /** A restarted worker is up: it gets back which keys and topics connections follow, and the admin feed. */
  restore(link: ShardLink): void {
    const w = this.watches.of(link.shard);
    link.post({ t: 'restore-watches', keys: w.keys, topics: w.topics, adminFeed: this.watches.adminFeed });
  }

  private refuseAll(q: Queued, retryAfterMs: number, applied: boolean | 'unknown', dirty: ReplySink[], hooks: PoolHooks | undefined): void {
    const message =
      applied === true
        ? 'the shard stopped after storing this change, before answering; read the object again'
        : applied === 'unknown'
          ? 'the shard stopped before answering; the change may have been stored: read the object again'
          : RESTARTING;
    const details = applied === false ? { retryAfterMs } : { retryAfterMs, applied };
    const now = performance.now();
    for (let i = 0; i < q.n; i++) {
      if (q.answered?.[i] === 1) continue; // answered before the commit: a read of durable state
      if (q.sinks[i].push(encodeError(q.ids[i], 'UNAVAILABLE', message, details), q.ids[i], UNAVAILABLE_OUTCOME)) dirty.push(q.sinks[i]);
      hooks?.onDone(q.tags[i], (now - q.starts[i]) / 1000, UNAVAILABLE_OUTCOME);
    }
  }
}
