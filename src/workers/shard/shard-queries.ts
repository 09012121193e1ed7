// Reads a shard answers between batches (so every state they see is committed): order pages,
// recommendation interactions from the event log, one actor's state for the admin endpoints.
import { CorruptRecordError, type Journal } from '../../persistence/journal.js';
import { decodeRow } from '../../persistence/row-codec.js';
import type { ShardContext } from '../../actors/actor.js';
import type { InteractionsPage, UserEventsPage } from '../shard-messages.js';
import type { ActorCells, Cell } from './actor-cells.js';
import { orderKey } from '../../protocol/keys.js';

const GET = Object.freeze({ type: 'get' });

export class ShardQueries {
  constructor(
    private readonly journal: Journal,
    private readonly cells: ActorCells,
    private readonly ctx: ShardContext,
  ) {}

  /**
   * A page of orders (their views), newest first, with each one's position for the next page. A
   * quarantined order (corrupt records, see actor-cells.ts) is left out, and the page filled from
   * the next ones: one damaged order must not fail every list that would show it.
   */
  orderPage(
    userId: string | undefined,
    before: [number, string] | undefined,
    limit: number,
    keep?: (key: string) => boolean,
  ): { at: number; order: unknown }[] {
    const now = Date.now();
    const page: { at: number; order: unknown }[] = [];
    let from = before;
    for (;;) {
      const wanted = limit - page.length;
      const ids = this.journal.orderPage(userId, from, wanted);
      for (const [orderId, at] of ids) {
        from = [at, orderId];
        if (keep && !keep(orderKey(orderId))) continue; // cluster mode: another node serves it now
        let cell: Cell;
        try {
          cell = this.cells.activate(orderKey(orderId), now);
        } catch (err) {
          if (err instanceof CorruptRecordError) continue;
          throw err;
        }
        page.push({ at, order: cell.type.view(cell.state, GET, this.ctx) });
      }
      if (ids.length < wanted || page.length >= limit) return page;
    }
  }

  /**
   * Views, cart additions and purchases logged after row `afterG`, for recommendations. A damaged
   * event log row (checksum, or a row from before checksums that does not decode) is skipped with
   * a log line, never thrown.
   */
  interactionsPage(afterG: number, limit: number): InteractionsPage {
    const flat: (string | number)[] = [];
    const { rows, lastG } = this.journal.eventsAfter(afterG, limit);
    for (const row of rows) {
      const mark = flat.length;
      try {
        for (const [name, d] of decodeRow(row.events) as [string, Record<string, unknown>][]) {
          if (name === 'product_viewed') flat.push(0, d.userId as string, d.productId as string, d.at as number);
          else if (name === 'product_added_to_cart') flat.push(1, d.userId as string, d.productId as string, d.at as number);
          else if (name === 'order_paid') for (const l of d.items as { productId: string }[]) flat.push(2, d.userId as string, l.productId, d.at as number);
        }
      } catch (err) {
        flat.length = mark; // nothing of a row that cannot be read
        this.journal.reportEventRow(row.g, `cannot be decoded (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return { flat, lastG };
  }

  /** One user's domain events among the next `limit` rows of the event log. */
  userEventsPage(userId: string, afterG: number, limit: number): UserEventsPage {
    const events: UserEventsPage['events'] = [];
    const { rows, lastG } = this.journal.eventsAfter(afterG, limit);
    for (const row of rows) {
      try {
        for (const [name, data] of decodeRow(row.events) as [string, Record<string, unknown>][]) if (data.userId === userId) events.push({ name, data });
      } catch (err) {
        this.journal.reportEventRow(row.g, `cannot be decoded (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return { events, lastG, done: lastG === afterG };
  }

  /**
   * The JSON-ready state of one actor for the admin snapshot endpoints, or undefined if it never
   * existed. A quarantined actor answers `{ quarantined: { reason: 'corrupt', table, row, seq,
   * problem } }`: where its damaged record is.
   */
  inspect(key: string): unknown {
    let cell: Cell;
    try {
      cell = this.cells.activate(key, Date.now());
    } catch (err) {
      if (!(err instanceof CorruptRecordError)) throw err;
      return { quarantined: { reason: 'corrupt', table: err.table, row: err.rowId, seq: err.seq ?? null, problem: err.problem } };
    }
    const view: unknown = cell.seq === 0 ? undefined : cell.type.view(cell.state, GET, this.ctx);
    this.cells.release(cell);
    return view;
  }
}
