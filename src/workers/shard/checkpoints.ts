// Checkpoints: snapshot every actor with journal rows no snapshot covers, then move the journal's
// watermark past them, so a restart replays only the short tail. Done in small steps with
// batches running between them; the rows below the watermark are deleted in chunks afterwards.
import type { Journal } from '../../persistence/journal.js';
import { CorruptRecordError } from '../../persistence/checksum.js';
import type { ActorCells, Cell } from './actor-cells.js';
import { log } from '../../log/log.js';

export interface CheckpointRecord {
  at: number;
  snapshots: number;
  durationMs: number;
}

/** What a checkpoint needs from the runtime: its snapshot staging and maintenance commit. */
export interface SnapshotWriter {
  stageSnapshot(cell: Cell): void;
  /** Commits what maintenance staged; false (nothing written) on an I/O error. */
  commitMaintenance(): boolean;
  discardStaged(): void;
}

export class Checkpoints {
  private plan: { upTo: number; keys: string[]; next: number; snapshots: number; startedAt: number } | undefined;
  /** The last completed checkpoint (at start: none yet, timed from now). */
  last: CheckpointRecord = { at: Date.now(), snapshots: 0, durationMs: 0 };

  constructor(
    private readonly shard: number,
    private readonly journal: Journal,
    private readonly cells: ActorCells,
    private readonly writer: SnapshotWriter,
  ) {}

  /**
   * One step: snapshots up to `limit` actors that have journal rows no snapshot covers, and once
   * all of them are done moves the watermark taken when the checkpoint began. Returns true when
   * no checkpoint is left in progress.
   */
  step(limit: number): boolean {
    let plan = this.plan;
    if (!plan) {
      const keys: string[] = [];
      for (const cell of this.cells.values()) if (cell.seq > cell.snapSeq) keys.push(cell.key);
      keys.push(...this.journal.unrecoveredActors());
      plan = this.plan = { upTo: this.journal.position, keys, next: 0, snapshots: 0, startedAt: performance.now() };
    }
    const end = Math.min(plan.keys.length, plan.next + limit);
    try {
      for (; plan.next < end; plan.next++) {
        let cell: Cell;
        try {
          cell = this.cells.activate(plan.keys[plan.next], 0);
        } catch (err) {
          // A quarantined actor (logged by the cells): the journal keeps its rows below the watermark.
          if (err instanceof CorruptRecordError) continue;
          throw err;
        }
        if (cell.seq > cell.snapSeq) {
          this.writer.stageSnapshot(cell);
          plan.snapshots++;
        }
      }
    } catch (err) {
      log.error({ err }, `shard ${this.shard}: checkpoint stopped, journal kept`);
      this.writer.discardStaged();
      this.plan = undefined;
      return true;
    }
    if (!this.writer.commitMaintenance()) {
      this.plan = undefined; // retried by a later sweep; nothing was truncated
      return true;
    }
    if (plan.next < plan.keys.length) return false;
    this.journal.truncate(plan.upTo);
    this.last = { at: Date.now(), snapshots: plan.snapshots, durationMs: performance.now() - plan.startedAt };
    this.plan = undefined;
    return true;
  }

  /** Whether a checkpoint is due: one is in progress, the journal tail is long, or old enough. */
  due(now: number, maxRows: number, maxAgeMs: number): boolean {
    const rows = this.journal.tailRows;
    return this.plan !== undefined || rows >= maxRows || (rows > 0 && now - this.last.at >= maxAgeMs);
  }

  /** A whole checkpoint at once (POST /snapshot, shutdown); returns its snapshot count. */
  all(): number {
    this.plan = undefined;
    while (!this.step(50_000));
    return this.last.snapshots;
  }

  /** Deletes a chunk of journal rows a checkpoint covered; true while more are left. */
  cleanupStep(limit: number): boolean {
    try {
      return this.journal.deleteStep(limit);
    } catch (err) {
      log.warn({ err }, `shard ${this.shard}: journal cleanup failed (retried by a later sweep)`);
      return false;
    }
  }

  /** Deletes up to `limit` of the oldest event log rows beyond `keep`; true while more are left. */
  trimEventLog(keep: number, limit: number): boolean {
    try {
      return this.journal.trimEvents(keep, limit) === limit;
    } catch (err) {
      log.error({ err }, `shard ${this.shard}: event log trim failed`);
      return false;
    }
  }
}
