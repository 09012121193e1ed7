// A shard's work between batches: passivation (idle actors, and the least recently used over the
// cap), checkpoints and the cleanup after them, guest cart retention, and the probe that finds
// the disk writable again after a failed commit. Each step commits on its own, in one small
// transaction, so a big sweep never stalls the shard for long.
import type { SnapshotResult } from '../../protocol/types.js';
import { GuestCartRetention } from '../../persistence/retention.js';
import type { Cell } from './actor-cells.js';
import { Checkpoints, type CheckpointRecord } from './checkpoints.js';
import type { ShardState } from './shard-state.js';
import { log } from '../../log/log.js';

export class ShardMaintenance {
  private readonly checkpoints: Checkpoints;
  private readonly retention: GuestCartRetention;

  constructor(private readonly s: ShardState) {
    this.checkpoints = new Checkpoints(s.opts.shard, s.journal, s.cells, {
      stageSnapshot: (cell) => s.stageSnapshot(cell),
      commitMaintenance: () => this.commit(),
      discardStaged: () => s.writes.clear(),
    });
    this.retention = new GuestCartRetention(s.db);
  }

  get lastCheckpoint(): CheckpointRecord {
    return this.checkpoints.last;
  }

  /** One step of a checkpoint (see checkpoints.ts); true when none is left in progress. */
  checkpointStep(limit: number): boolean {
    return this.checkpoints.step(limit);
  }

  checkpointDue(now: number): boolean {
    return this.checkpoints.due(now, this.s.opts.checkpointRows, this.s.opts.checkpointIntervalMs);
  }

  /** A whole checkpoint at once (POST /snapshot, shutdown). */
  snapshotAll(): SnapshotResult {
    const t0 = performance.now();
    const actors = this.checkpoints.all();
    return { shard: this.s.opts.shard, actors, durationMs: performance.now() - t0 };
  }

  /**
   * Looks at the next `limit` guest carts and deletes those unchanged since `before` (epoch ms):
   * not in memory, no timer (no checkout in progress), no journal rows waiting. Returns how many
   * went, and whether the look reached the last guest cart (the next starts from the first).
   */
  expireGuestCarts(before: number, limit: number): { deleted: number; wrapped: boolean } {
    const { cells, timers, journal } = this.s;
    try {
      const look = this.retention.look(before, limit);
      const stale = look.stale.filter((key) => !cells.get(key) && timers.dueOf(key) === undefined && !journal.hasPendingRows(key));
      if (stale.length > 0) this.retention.delete(stale);
      for (const key of stale) cells.forget(key);
      return { deleted: stale.length, wrapped: look.wrapped };
    } catch (err) {
      log.warn({ err }, `shard ${this.s.opts.shard}: guest cart retention failed (retried later)`);
      return { deleted: 0, wrapped: true };
    }
  }

  /**
   * Journal rows a checkpoint covered, event log rows past the limit and audit history past its
   * retention, a chunk at a time; true while more are left.
   */
  cleanupStep(limit: number): boolean {
    return this.checkpoints.cleanupStep(limit) || this.checkpoints.trimEventLog(this.s.opts.eventLogKeepRows, limit) || this.trimHistory(limit);
  }

  private trimHistory(limit: number): boolean {
    // 0 keeps none: history kept under an earlier setting goes too.
    const keepMs = Math.max(0, this.s.opts.auditRetentionMs ?? 0);
    try {
      return this.s.journal.trimHistory(Date.now() - keepMs, limit) === limit;
    } catch (err) {
      log.warn({ err }, `shard ${this.s.opts.shard}: audit history trim failed (retried by a later sweep)`);
      return false;
    }
  }

  /**
   * Drops up to `limit` actors idle for `olderThanMs`, snapshotting those with unsnapshotted rows
   * first (one transaction per call, so a big sweep never stalls the shard for long).
   */
  passivate(now: number, olderThanMs: number, limit: number): number {
    return this.dropFromMemory(this.s.cells.idle(now, olderThanMs, limit));
  }

  /**
   * Over `maxActors` in memory: passivates up to `limit` of the least recently used, whatever
   * their idle time. Returns how many left memory.
   */
  enforceActorCap(maxActors: number, limit: number): number {
    const over = this.s.cells.size - maxActors;
    return over > 0 ? this.dropFromMemory(this.s.cells.leastRecent(Math.min(over, limit))) : 0;
  }

  /** Snapshots the cells that have rows no snapshot covers (one transaction), then drops them all; nothing when that fails. */
  dropFromMemory(cells: Cell[]): number {
    if (cells.length === 0) return 0;
    for (const cell of cells) if (cell.seq > cell.snapSeq) this.s.stageSnapshot(cell);
    if (!this.commit()) return 0;
    this.s.cells.drop(cells);
    return cells.length;
  }

  /** Commits what a maintenance step staged; false (nothing written) on an I/O error. */
  private commit(): boolean {
    const s = this.s;
    try {
      if (!s.writes.empty) s.journal.commit(s.writes);
      s.afterCommit();
      return true;
    } catch (err) {
      log.error({ err }, `shard ${s.opts.shard}: snapshot write failed`);
      return false;
    } finally {
      s.writes.clear();
    }
  }

  /**
   * After a failed commit: SQLite rolled the transaction back, but the frames it wrote may sit in
   * the WAL file; truncating the WAL (a checkpoint) makes sure a later crash cannot bring them
   * back as committed. True when the journal is writable again; while not, the probe retries.
   */
  scrubJournal(): boolean {
    try {
      this.s.journal.scrub();
      return true;
    } catch (err) {
      log.warn({ err }, `shard ${this.s.opts.shard}: journal still not writable`);
      return false;
    }
  }
}
