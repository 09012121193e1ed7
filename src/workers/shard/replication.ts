// Cluster mode inside a shard worker: the partitions this shard serves, the replicated journal
// every group commit goes through before its answers leave, and the catch-up of a partition this
// node takes over. On a single node none of this runs.
import { stableHash } from '../../protocol/keys.js';
import type { WireError } from '../../protocol/errors.js';
import { ReplicatedJournal, type PartitionMessage } from '../../persistence/replicated-journal.js';
import type { ShardClusterOptions } from '../shard-messages.js';
import type { BatchOutcome, ShardRuntime } from './shard-runtime.js';
import { log } from '../../log/log.js';

/** How long a client waits before retrying a request for a partition that is moving. */
const MOVING_RETRY_MS = 200;

export class Replication {
  private readonly owned = new Set<number>();
  /** Partitions this shard was fenced from by another owner since the last `takeLost`. */
  private lost: number[] = [];

  private constructor(
    private readonly runtime: ShardRuntime,
    private readonly journal: ReplicatedJournal,
    private readonly partitions: number,
  ) {}

  static async open(runtime: ShardRuntime, o: ShardClusterOptions, writer: string): Promise<Replication> {
    return new Replication(runtime, await ReplicatedJournal.open(o.servers, writer), o.partitions);
  }

  readonly partitionOf = (key: string): number => stableHash(key) % this.partitions;

  serves(key: string): boolean {
    return this.owned.has(this.partitionOf(key));
  }

  /** The refusal of a request for a partition this shard does not serve (moved, or not yet caught up). */
  static readonly moving: WireError = {
    code: 'UNAVAILABLE',
    message: 'the partition of this actor is moving between nodes; nothing was changed',
    details: { retryAfterMs: MOVING_RETRY_MS },
  };

  /**
   * Replicates the rows a prepared batch staged, one message per partition. Resolves with the
   * refusal to answer when any partition could not take its rows (nothing of the batch is then
   * applied), or undefined once every message is stored.
   */
  async replicate(): Promise<WireError | undefined> {
    const rows = this.runtime.stagedRows();
    if (rows.length === 0) return undefined;
    const groups = new Map<number, PartitionMessage>();
    for (let i = 0; i < rows.length; i += 3) {
      const p = this.partitionOf(rows[i] as string);
      let m = groups.get(p);
      if (!m) groups.set(p, (m = { rows: [] }));
      m.rows.push(rows[i] as string, rows[i + 1] as number, rows[i + 2] as Buffer);
    }
    const results = await this.journal.append(groups);
    let refusal: WireError | undefined;
    for (const r of results) {
      if (r.ok) this.runtime.stagePartitionPosition(r.p, r.seq);
      else {
        if (r.fenced) this.fence(r.p);
        refusal ??= {
          code: 'UNAVAILABLE',
          message: `the journal did not take the change (${r.error}); nothing was changed`,
          details: { retryAfterMs: MOVING_RETRY_MS },
        };
      }
    }
    return refusal;
  }

  /** Another owner wrote to `p`: this shard stops serving it at once. */
  private fence(p: number): void {
    if (!this.owned.delete(p)) return;
    this.lost.push(p);
    log.warn(`partition ${p}: another owner appended to its journal; this node stops serving it (fenced)`);
  }

  takeLost(): number[] {
    const l = this.lost;
    this.lost = [];
    for (const p of l) {
      this.runtime.dropPartition(p, this.partitionOf);
      this.journal.forget(p);
    }
    return l;
  }

  /**
   * Takes partition `p` over: applies every message stored after this node's local position,
   * then serves it. Returns the view updates and the orders to resume.
   */
  async acquire(p: number): Promise<{ out: BatchOutcome | undefined; openOrders: string[] }> {
    const from = this.runtime.partitionPosition(p);
    let out: BatchOutcome | undefined;
    const pending: (readonly [string, number, Buffer])[] = [];
    let pendingAt = from;
    const flush = () => {
      if (pending.length === 0 && pendingAt === from) return;
      out = this.runtime.absorbReplicated(p, pending.splice(0), pendingAt);
    };
    await this.journal.catchUp(p, from, (seq, m) => {
      for (let i = 0; i < m.rows.length; i += 3) pending.push([m.rows[i] as string, m.rows[i + 1] as number, m.rows[i + 2] as Buffer]);
      pendingAt = seq;
      // Absorbed in chunks: one local transaction per few thousand rows.
      if (pending.length >= 3_000) flush();
    });
    flush();
    this.runtime.loadPartitionTimers(p, this.partitionOf);
    this.owned.add(p);
    return { out, openOrders: this.runtime.openOrdersOf(p, this.partitionOf) };
  }

  /** Gives partition `p` up (it moves to another node): its actors leave memory. */
  release(p: number): void {
    this.owned.delete(p);
    this.journal.forget(p);
    this.runtime.dropPartition(p, this.partitionOf);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
