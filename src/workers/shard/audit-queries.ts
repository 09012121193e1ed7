// Audit reads a shard answers between batches (docs/protocol.md "Audit"): an actor's journaled
// events page by page, its state replayed to a point in time, and the drops it holds. The rows
// come from the history table and the journal (persistence/audit-history.ts), checked against
// their checksums; the shard owns its SQLite file, so these never run on the main thread.
import type { ShardContext } from '../../actors/actor.js';
import { actorTypeOf } from '../../actors/registry.js';
import type { Drop } from '../../actors/drop-actor.js';
import { Limits } from '../../protocol/errors.js';
import { TAG_JOURNAL, rowChecksum } from '../../persistence/checksum.js';
import type { HistoryRow } from '../../persistence/audit-history.js';
import { CorruptRecordError, type Journal } from '../../persistence/journal.js';
import { decodeRow } from '../../persistence/row-codec.js';
import type { AuditPage, AuditStateAnswer } from '../shard-messages.js';
import type { ActorCells } from './actor-cells.js';

const GET = Object.freeze({ type: 'get' });
/** Stored bytes one page reads at most (its frame stays well under 64 KiB plus the keys). */
const PAGE_BYTES = 48 * 1024;
/** Rows read and replayed between two yields to the shard's batches (about 10 ms). */
const REPLAY_CHUNK = 1_000;
/** What a replay cut short by a stop tells its asker to wait: about a restart. */
const STOPPED_RETRY_MS = 1_000;

type Entry = AuditPage['items'][number];

export class AuditQueries {
  constructor(
    private readonly journal: Journal,
    private readonly cells: ActorCells,
    private readonly ctx: ShardContext,
  ) {}

  /** Up to `limit` events of `key`, oldest first, from event `index` of row `fromG` on. */
  history(key: string, fromG: number, index: number, limit: number): AuditPage {
    const items: Entry[] = [];
    let bytes = 0;
    let from = fromG;
    for (;;) {
      // One row more than the events still wanted: whether a next page exists is then known.
      const want = limit - items.length + 1;
      const rows = this.journal.actorRows(key, from, want);
      for (const row of rows) {
        const events = this.decode(key, row);
        for (let i = row.g === fromG ? index : 0; i < events.length; i++) {
          if (items.length >= limit || (bytes >= PAGE_BYTES && items.length > 0)) return { items, next: [row.g, i] };
          items.push(entry(row.seq, events[i]));
        }
        bytes += row.events.length;
        from = row.g + 1;
      }
      if (rows.length < want) return { items, next: null };
    }
  }

  /**
   * The actor replayed from its first event up to the last change made at or before `at`. It
   * yields to the shard's batches between chunks of rows (a long replay takes seconds): rows are
   * only ever appended or moved to the history under the same position, so the reads stay whole.
   */
  async stateAt(key: string, at: number): Promise<AuditStateAnswer> {
    const t = actorTypeOf(key)!;
    let state: unknown = t.type.create(t.id);
    let seq = 0;
    let read = 0;
    for (let from = 0; ;) {
      const rows = this.journal.actorRows(key, from, REPLAY_CHUNK);
      for (const row of rows) {
        if (++read > Limits.AUDIT_REPLAY_MAX_ROWS) {
          return refuse('LIMIT_EXCEEDED', `replaying more than ${Limits.AUDIT_REPLAY_MAX_ROWS} changes is refused`, {
            maxRows: Limits.AUDIT_REPLAY_MAX_ROWS,
          });
        }
        // An actor deleted and made anew (an expired guest cart) starts again from nothing.
        if (row.seq === 1) state = t.type.create(t.id);
        else if (row.seq !== seq + 1) return this.trimmed(key, row);
        const events = this.decode(key, row);
        if (events.some(isUnreadable)) return refuse('NOT_FOUND', 'a stored change of this actor is damaged', { reason: 'corrupt', row: row.g });
        const first = events[0] as { at?: unknown } | undefined;
        if (typeof first?.at === 'number' && first.at > at) return this.answer(t.type, state, seq);
        for (const e of events) state = t.type.apply(state, e);
        seq = row.seq;
      }
      if (rows.length < REPLAY_CHUNK) break;
      from = rows[rows.length - 1].g + 1;
      await new Promise((resolve) => setImmediate(resolve));
      // The shard stopped between two chunks: its database is closed. The pool answers the asker
      // (the port is closed too); this only ends the replay without reading the closed file.
      if (!this.journal.isOpen) return refuse('UNAVAILABLE', 'the shard stopped during the replay; retry', { retryAfterMs: STOPPED_RETRY_MS });
    }
    if (read === 0 && this.exists(key)) return refuse('NOT_FOUND', 'the history of this actor is past its retention', { reason: 'retention' });
    return this.answer(t.type, state, seq);
  }

  /** Every drop on this shard with its sku: stored ones, ones waiting in the journal, ones in memory. */
  drops(): [string, string][] {
    const keys = new Set<string>();
    for (const actor of this.journal.snapshotKeys('drop:')) keys.add(actor);
    for (const actor of this.journal.unrecoveredActors()) if (actor.startsWith('drop:')) keys.add(actor);
    for (const cell of this.cells.values()) if (cell.key.startsWith('drop:')) keys.add(cell.key);
    const out: [string, string][] = [];
    for (const key of keys) {
      try {
        const cell = this.cells.activate(key, Date.now());
        const d = cell.state as Drop;
        if (d.config) out.push([d.dropId, d.config.sku]);
        this.cells.release(cell);
      } catch (err) {
        if (!(err instanceof CorruptRecordError)) throw err; // a quarantined drop gates nothing
      }
    }
    return out;
  }

  private answer(type: NonNullable<ReturnType<typeof actorTypeOf>>['type'], state: unknown, seq: number): AuditStateAnswer {
    return { ok: true, seq, state: seq === 0 ? null : type.view(state, GET, this.ctx) };
  }

  private trimmed(key: string, row: HistoryRow): AuditStateAnswer {
    const first = this.decode(key, row)[0] as { at?: unknown } | undefined;
    const earliestAt = typeof first?.at === 'number' ? first.at : null;
    return refuse('NOT_FOUND', 'the start of this actor is past the history retention', { reason: 'retention', earliestSeq: row.seq, earliestAt });
  }

  private exists(key: string): boolean {
    try {
      const cell = this.cells.activate(key, Date.now());
      const found = cell.seq > 0;
      this.cells.release(cell);
      return found;
    } catch (err) {
      if (err instanceof CorruptRecordError) return true;
      throw err;
    }
  }

  /** A row's events; a row that fails its checksum or decoding reads as one `unreadable` event. */
  private decode(key: string, row: HistoryRow): unknown[] {
    if (row.crc !== null && rowChecksum(TAG_JOURNAL, key, row.seq, row.events) !== row.crc) return [unreadable(row.g)];
    try {
      const v = decodeRow(row.events);
      return Array.isArray(v) ? v : [unreadable(row.g)];
    } catch {
      return [unreadable(row.g)];
    }
  }
}

const unreadable = (g: number) => ({ type: 'unreadable', row: g });
const isUnreadable = (e: unknown): boolean => (e as { type?: unknown }).type === 'unreadable';

function entry(seq: number, e: unknown): Entry {
  const { type, at, ...data } = e as { type?: unknown; at?: unknown };
  return { seq, at: typeof at === 'number' ? at : null, event: typeof type === 'string' ? type : 'unknown', data };
}

function refuse(code: Extract<AuditStateAnswer, { ok: false }>['code'], message: string, details: Record<string, unknown>): AuditStateAnswer {
  return { ok: false, code, message, details };
}
