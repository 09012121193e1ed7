// Reads a shard answers between batches (so every state they see is committed): order pages,
// recommendation interactions from the event log, one actor's state for the admin endpoints.
import { decodeRow, type Journal } from '../../persistence/journal.js';
import type { ShardContext } from '../../actors/actor.js';
import type { InteractionsPage } from '../shard-messages.js';
import type { ActorCells } from './actor-cells.js';
import { orderKey } from '../../protocol/keys.js';

const GET = Object.freeze({ type: 'get' });

export class ShardQueries {
  constructor(
    private readonly journal: Journal,
    private readonly cells: ActorCells,
    private readonly ctx: ShardContext,
  ) {}

  /** A page of orders (their views), newest first, with each one's position for the next page. */
  orderPage(userId: string | undefined, before: [number, string] | undefined, limit: number): { at: number; order: unknown }[] {
    const now = Date.now();
    return this.journal.orderPage(userId, before, limit).map(([orderId, at]) => {
      const cell = this.cells.activate(orderKey(orderId), now);
      return { at, order: cell.type.view(cell.state, GET, this.ctx) };
    });
  }

  /** Views, cart additions and purchases logged after row `afterG`, for recommendations. */
  interactionsPage(afterG: number, limit: number): InteractionsPage {
    const flat: (string | number)[] = [];
    let lastG = afterG;
    for (const row of this.journal.eventsAfter(afterG, limit)) {
      lastG = row.g;
      for (const [name, d] of decodeRow(row.events) as [string, Record<string, unknown>][]) {
        if (name === 'product_viewed') flat.push(0, d.userId as string, d.productId as string, d.at as number);
        else if (name === 'product_added_to_cart') flat.push(1, d.userId as string, d.productId as string, d.at as number);
        else if (name === 'order_paid') for (const l of d.items as { productId: string }[]) flat.push(2, d.userId as string, l.productId, d.at as number);
      }
    }
    return { flat, lastG };
  }

  /** The JSON-ready state of one actor for the admin snapshot endpoints, or undefined if it never existed. */
  inspect(key: string): unknown {
    const cell = this.cells.activate(key, Date.now());
    return cell.seq === 0 ? undefined : cell.type.view(cell.state, GET, this.ctx);
  }
}
