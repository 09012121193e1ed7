// Cluster mode inside a shard worker: the partitions this shard serves, the replicated journal
// every group commit goes through before its answers leave, and the catch-up of a partition this
// node takes over. On a single node none of this runs.
import { partitionOfKey } from '../../protocol/keys.js';
import type { WireError } from '../../protocol/errors.js';
import { PurgedError, ReplicatedJournal, type PartitionMessage } from '../../persistence/replicated-journal.js';
import { SnapshotGoneError, type SnapshotEntry, type SnapshotHead } from '../../persistence/partition-snapshots.js';
import type { ShardClusterOptions } from '../shard-messages.js';
import type { BatchOutcome, ShardRuntime } from './shard-runtime.js';
import { log } from '../../log/log.js';

/** How long a client waits before retrying a request for a partition that is moving. */
const MOVING_RETRY_MS = 200;
/** At most one snapshot of a partition this often, however busy it is. */
const SNAPSHOT_MIN_INTERVAL_MS = 5_000;
/** A catch-up that keeps finding its messages purged (snapshots moving on under it) gives up after this many tries. */
const CATCH_UP_TRIES = 5;

export class Replication {
  private readonly owned = new Set<number>();
  /** Releases per partition: a catch-up that a release overtook must not start serving after it. */
  private readonly releases = new Map<number, number>();
  /** Partitions this shard was fenced from by another owner since the last `takeLost`. */
  private lost: number[] = [];
  /** Per served partition: its messages since its last snapshot, and when that was taken. */
  private readonly sinceSnapshot = new Map<number, { messages: number; at: number }>();
  /** The snapshot head each partition had when this shard last read or wrote it. */
  private readonly heads = new Map<number, SnapshotHead | undefined>();
  private snapshotting = false;

  private constructor(
    private readonly runtime: ShardRuntime,
    private readonly journal: ReplicatedJournal,
    private readonly partitions: number,
    /** Messages of a partition after which its state is snapshotted and its journal trimmed. */
    private readonly snapshotEvery: number,
  ) {}

  static async open(runtime: ShardRuntime, o: ShardClusterOptions, writer: string): Promise<Replication> {
    return new Replication(runtime, await ReplicatedJournal.open(o.servers, writer), o.partitions, o.snapshotEvery);
  }

  readonly partitionOf = (key: string): number => partitionOfKey(key, this.partitions);

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
   * Replicates the rows a prepared batch staged, one message per partition (several for one too
   * large for NATS). Resolves with the refusal to answer when any partition could not take its
   * rows (nothing of the batch is then applied here), or undefined once every message is stored.
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
    const refused = results.filter((r) => !r.ok);
    if (refused.length === 0) {
      for (const r of results) {
        if (!r.ok) continue;
        this.runtime.stagePartitionPosition(r.p, r.seq);
        const since = this.sinceSnapshot.get(r.p);
        if (since) since.messages++;
      }
      return undefined;
    }
    for (const r of refused) if (r.fenced) this.fence(r.p, 'another owner appended to its journal');
    // Refused, so nothing of the group is applied here; but what the journal did store is the
    // partitions' history, which the next owner applies. Each partition that stored a part is
    // given up, so this node too catches up on it before serving it again.
    const stored = results.filter((r) => r.ok || r.stored);
    for (const r of stored) this.fence(r.p, 'a group commit was refused after the journal stored rows of it here; they are read back');
    const why = refused.length === 1 ? refused[0].error : `${refused[0].error}, and ${refused.length - 1} more partitions`;
    return stored.length === 0
      ? { code: 'UNAVAILABLE', message: `the journal did not take the change (${why}); nothing was changed`, details: { retryAfterMs: MOVING_RETRY_MS } }
      : {
          code: 'UNAVAILABLE',
          message: `the journal took only part of the change (${why}); it may have been made`,
          details: { retryAfterMs: MOVING_RETRY_MS, applied: 'unknown' },
        };
  }

  /** `p` cannot be served from this node's store as it is (fenced by another owner, or behind its journal): it stops serving it at once. */
  private fence(p: number, why: string): void {
    if (!this.owned.delete(p)) return;
    this.lost.push(p);
    log.warn(`partition ${p}: ${why}; this node stops serving it`);
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
   * Takes partition `p` over: installs its replicated snapshot when that is newer than this
   * node's store, applies every message stored after, then serves it. A snapshot written meanwhile
   * may purge the messages being read: the catch-up then starts again from that snapshot.
   * Returns the view updates and the orders to resume.
   */
  async acquire(p: number): Promise<{ out: BatchOutcome | undefined; openOrders: string[]; read: number }> {
    const releases = this.releases.get(p) ?? 0;
    const store = this.journal.snapshots();
    let out: BatchOutcome | undefined;
    let read: number;
    for (let attempt = 1; ; attempt++) {
      try {
        let from = this.runtime.partitionPosition(p);
        const head = await store.head(p);
        this.heads.set(p, head);
        if (head && head.pos > from) {
          out = this.runtime.installPartitionSnapshot(p, await store.read(p, head), head.pos);
          from = head.pos;
        }
        const caught = await this.catchUp(p, from);
        out = caught.out ?? out;
        read = caught.messages;
        break;
      } catch (err) {
        if (attempt < CATCH_UP_TRIES && (err instanceof PurgedError || err instanceof SnapshotGoneError)) continue;
        // Not served here: what was absorbed stays stored, but its actors and their timers leave
        // the shard (a timer would fire, be refused as moving, and come back every second).
        this.journal.forget(p);
        this.runtime.dropPartition(p, this.partitionOf);
        throw err;
      }
    }
    // Released while catching up (the lease was lost meanwhile): what was absorbed stays stored,
    // but the partition is not served and its timers do not run here.
    if ((this.releases.get(p) ?? 0) !== releases) {
      this.journal.forget(p);
      this.runtime.dropPartition(p, this.partitionOf);
      return { out, openOrders: [], read };
    }
    this.runtime.loadPartitionTimers(p, this.partitionOf);
    this.owned.add(p);
    // A long tail read here is snapshotted soon, so the next owner reads less.
    this.sinceSnapshot.set(p, { messages: read, at: 0 });
    return { out, openOrders: this.runtime.openOrdersOf(p, this.partitionOf), read };
  }

  /** Applies partition `p`'s messages after `from`, in chunks of a few thousand rows per local commit. */
  private async catchUp(p: number, from: number): Promise<{ out: BatchOutcome | undefined; messages: number }> {
    let out: BatchOutcome | undefined;
    const pending: (readonly [string, number, Buffer])[] = [];
    let pendingAt = from;
    let messages = 0;
    const flush = () => {
      if (pending.length === 0 && pendingAt === from) return;
      out = this.runtime.absorbReplicated(p, pending.splice(0), pendingAt);
    };
    try {
      await this.journal.catchUp(p, from, (seq, m) => {
        for (let i = 0; i < m.rows.length; i += 3) pending.push([m.rows[i] as string, m.rows[i + 1] as number, m.rows[i + 2] as Buffer]);
        pendingAt = seq;
        messages++;
        if (pending.length >= 3_000) flush();
      });
    } finally {
      // What was read before a purge interrupted is a prefix of the partition: kept.
      flush();
    }
    return { out, messages };
  }

  /** The served partitions due for a snapshot: enough messages since the last one, and not too soon. */
  snapshotsDue(now: number): Set<number> {
    const due = new Set<number>();
    if (this.snapshotting) return due;
    for (const [p, s] of this.sinceSnapshot) {
      if (this.owned.has(p) && s.messages >= this.snapshotEvery && now - s.at >= SNAPSHOT_MIN_INTERVAL_MS) due.add(p);
    }
    return due;
  }

  /**
   * Snapshots partitions `ps`: their state is read now (the caller runs it with no batch in
   * flight), then stored and the journal trimmed in the background, one partition at a time.
   */
  snapshot(ps: Set<number>, now: number): void {
    const built = this.runtime.partitionSnapshotEntries(ps, this.partitionOf);
    const jobs: { p: number; pos: number; entries: SnapshotEntry[] }[] = [];
    for (const [p, entries] of built) {
      jobs.push({ p, pos: this.runtime.partitionPosition(p), entries });
      this.sinceSnapshot.set(p, { messages: 0, at: now });
    }
    if (jobs.length === 0) return;
    this.snapshotting = true;
    void this.store(jobs).finally(() => (this.snapshotting = false));
  }

  private async store(jobs: { p: number; pos: number; entries: SnapshotEntry[] }[]): Promise<void> {
    const store = this.journal.snapshots();
    for (const { p, pos, entries } of jobs) {
      if (!this.owned.has(p) || pos === 0) continue;
      try {
        const over = this.heads.has(p) ? this.heads.get(p) : await store.head(p);
        this.heads.set(p, (await store.write(p, pos, entries, over, (q, below) => this.journal.trim(q, below))) ?? (await store.head(p)));
      } catch (err) {
        this.heads.delete(p);
        log.error({ err }, `partition ${p}: its snapshot could not be stored (the journal is kept whole)`);
      }
    }
  }

  /** Gives partition `p` up (it moves to another node): its actors leave memory. */
  release(p: number): void {
    this.releases.set(p, (this.releases.get(p) ?? 0) + 1);
    this.owned.delete(p);
    this.sinceSnapshot.delete(p);
    this.heads.delete(p);
    this.journal.forget(p);
    this.runtime.dropPartition(p, this.partitionOf);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
