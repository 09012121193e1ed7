// What one shard holds, shared by all of its work: the batch path (shard-runtime.ts and
// command-runner.ts), maintenance between batches (shard-maintenance.ts) and, in cluster mode,
// the partitions it serves (partition-store.ts). All of them stage into the same BatchWrites and
// commit through the same journal, so a commit's snapshots and timers reach the cells and the
// queue one way.
import type Database from 'better-sqlite3';
import { parseKey } from '../../protocol/keys.js';
import { openShardDb } from '../../persistence/shard-db.js';
import { Journal } from '../../persistence/journal.js';
import { BatchWrites } from '../../persistence/batch-writes.js';
import { encodeRow } from '../../persistence/row-codec.js';
import type { ShardOptions } from '../shard-messages.js';
import { TimerQueue } from './timer-queue.js';
import { ActorCells, type Cell } from './actor-cells.js';

export class ShardState {
  readonly db: Database.Database;
  readonly journal: Journal;
  readonly cells: ActorCells;
  readonly timers = new TimerQueue();
  /** What the next commit writes: a batch's rows, or a maintenance step's snapshots. */
  readonly writes = new BatchWrites();
  /** Actors the open batch changed: reloaded from disk if its commit fails. */
  readonly touched = new Set<Cell>();

  constructor(readonly opts: ShardOptions) {
    this.db = openShardDb(opts.dataDir, opts.shard, opts.synchronous);
    this.journal = new Journal(this.db, opts.epoch);
    // Cluster mode keeps its journal on JetStream, purged below partition snapshots: no audit history.
    this.journal.keepHistory((opts.auditRetentionMs ?? 0) > 0 && opts.cluster === undefined);
    this.cells = new ActorCells(this.journal);
    for (const t of this.journal.timers()) this.timers.set(t.actor, t.due);
  }

  /** The orders whose saga or work is unfinished (their timers are set); only those `keep` accepts, if given. */
  openOrders(keep?: (key: string) => boolean): string[] {
    const out: string[] = [];
    for (const k of this.timers.keys()) {
      const parsed = parseKey(k);
      if (parsed?.kind === 'order' && (keep === undefined || keep(k))) out.push(parsed.id);
    }
    return out;
  }

  stageSnapshot(cell: Cell): void {
    this.writes.snapshots.push({ actor: cell.key, seq: cell.seq, state: encodeRow(cell.type.snapshot(cell.state)) });
  }

  /** After a commit: the snapshots and timers it wrote are the cells' and the queue's from now on. */
  afterCommit(): void {
    for (const s of this.writes.snapshots) {
      const cell = this.cells.get(s.actor);
      if (cell) cell.snapSeq = s.seq;
    }
    for (const t of this.writes.timers) this.timers.set(t.actor, t.due);
  }
}
