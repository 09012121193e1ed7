// Actor keys name their type: `cart:<userId>`, `sku:<sku>`, `catalog`. The shard runtime finds
// the actor type of a key here.
import type { ActorType } from './actor.js';
import { CATALOG_KEY } from '../protocol/keys.js';
import { CartActor } from './cart-actor.js';
import { InventoryActor } from './inventory-actor.js';
import { CatalogActor } from './catalog-actor.js';
import { OrderActor } from './order-actor.js';
import { PaymentActor } from './payment-actor.js';
import { CouponActor } from './coupon-actor.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorType = ActorType<any, any, any>;


/** The actor type and id of a key, or undefined for a key no type owns. */
export function actorTypeOf(key: string): { type: AnyActorType; id: string } | undefined {
  if (key.startsWith('cart:')) return { type: CartActor, id: key.slice(5) };
  if (key.startsWith('sku:')) return { type: InventoryActor, id: key.slice(4) };
  if (key.startsWith('order:')) return { type: OrderActor, id: key.slice(6) };
  if (key.startsWith('payment:')) return { type: PaymentActor, id: key.slice(8) };
  if (key.startsWith('coupon:')) return { type: CouponActor, id: key.slice(7) };
  if (key === CATALOG_KEY) return { type: CatalogActor, id: CATALOG_KEY };
  return undefined;
}
