// The push table: every `{ push, data }` the server sends, with its data type and the topic it is
// published on. Ops list the pushes they may cause (ops.ts); the shards, the SDK and the docs
// take the names from here.
import { result, type ResultOf } from './result.js';
import type { CartView, DropAdmission, DropPosition, InventoryView, LowStockAlert, OrderView } from './types.js';

export type { LowStockAlert };

/** Data of a domain event: its facts, with `at` (epoch ms) on most of them. */
export type DomainEventData = Record<string, unknown>;

interface PushSpec<D> {
  readonly data: ResultOf<D>;
  /** Who receives it, for the docs. */
  readonly topic: string;
  readonly summary: string;
  /** A domain event of the design's list: logged in the event log, then pushed to the admin feed. */
  readonly domain?: true;
}

const push = <D>(p: PushSpec<D>): PushSpec<D> => p;
const domain = (summary: string): PushSpec<DomainEventData> & { readonly domain: true } => ({
  data: result<DomainEventData>('event data'),
  topic: 'admin',
  summary,
  domain: true,
});

export const Pushes = {
  'cart.updated': push({ data: result<CartView>('cart'), topic: 'cart:<userId>', summary: 'The full cart after each change, one push per version.' }),
  'inventory.updated': push({ data: result<InventoryView>('inventory'), topic: 'sku:<sku>', summary: 'The stock of a sku after each change.' }),
  'inventory.lowStock': push({
    data: result<LowStockAlert>('{ sku, available, lowStockThreshold, version }'),
    topic: 'admin',
    summary: 'Available stock fell to the threshold.',
  }),
  'order.updated': push({ data: result<OrderView>('order'), topic: 'orders:<userId>, admin', summary: 'The full order after each change.' }),
  'drop.position': push({
    data: result<DropPosition>('{ dropId, position, ahead }'),
    topic: 'drops:<userId>',
    summary: "A waiting user's place in a drop moved (at the start, then at most once a second).",
  }),
  'drop.admitted': push({
    data: result<DropAdmission>('{ dropId, sku, admittedAt, expiresAt }'),
    topic: 'drops:<userId>',
    summary: "The user may check out the drop's sku until expiresAt.",
  }),
  user_registered: domain('An account was created.'),
  user_logged_in: domain('An account signed in.'),
  product_viewed: domain('A product page was viewed (event.view).'),
  product_added_to_cart: domain('A cart line grew.'),
  product_removed_from_cart: domain('A cart line shrank or went.'),
  order_created: domain('A checkout created its order.'),
  order_paid: domain('An order was charged and confirmed.'),
  order_shipped: domain('An order left the warehouse.'),
  order_delivered: domain('An order arrived.'),
  payment_processed: domain('The gateway captured a payment.'),
  payment_failed: domain('The gateway declined, or a checkout failed after the order existed.'),
  inventory_updated: domain('An inventory transaction or reservation changed a sku.'),
  price_changed: domain('A catalog upsert changed a variant price.'),
  order_stalled: domain('Not a business fact: an unfinished order is being resumed.'),
  checkout_stalled: domain('Not a business fact: a cart frozen for a checkout passed its deadline.'),
} as const;

export type PushName = keyof typeof Pushes;
export type PushData<P extends PushName> = (typeof Pushes)[P]['data'] extends ResultOf<infer D> ? D : never;
export type DomainEventName = { [P in PushName]: (typeof Pushes)[P] extends { domain: true } ? P : never }[PushName];
export const PushNames = Object.keys(Pushes) as PushName[];

/** A push as it arrives: name and data, typed by name. */
export type PushMessage = { [P in PushName]: { push: P; data: PushData<P> } }[PushName];
