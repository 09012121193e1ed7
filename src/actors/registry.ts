// Every actor type by kind. The shard runtime finds the type of a key here, and the main thread's
// `pool.call(key, command)` takes its command and reply types from here: a command can only go
// to an actor of its kind, and its reply has the type that kind's `view` gives that command.
import type { ActorType } from './actor.js';
import { parseKey, type ActorKind } from '../protocol/keys.js';
import { CartActor } from './cart-actor.js';
import { InventoryActor } from './inventory-actor.js';
import { CatalogActor } from './catalog-actor.js';
import { OrderActor } from './order-actor.js';
import { PaymentActor } from './payment-actor.js';
import { CouponActor } from './coupon-actor.js';
import { DropActor } from './drop-actor.js';

export const ActorTypes = {
  cart: CartActor,
  sku: InventoryActor,
  order: OrderActor,
  coupon: CouponActor,
  payment: PaymentActor,
  catalog: CatalogActor,
  drop: DropActor,
} as const satisfies Record<ActorKind, unknown>;

type TypeOf<K extends ActorKind> = (typeof ActorTypes)[K];
/** The commands an actor of kind K accepts. */
export type CommandOf<K extends ActorKind> = TypeOf<K> extends ActorType<infer _S, infer C, infer _E, infer _R> ? C : never;
type ResultsOf<K extends ActorKind> = TypeOf<K> extends ActorType<infer _S, infer _C, infer _E, infer R> ? R : never;
/** The reply of command C to an actor of kind K. */
export type ResultOf<K extends ActorKind, C extends { type: string }> = C['type'] extends keyof ResultsOf<K> ? ResultsOf<K>[C['type']] : never;

// The runtime holds actors of every kind side by side; their types meet only here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorType = ActorType<any, any, any, any>;

/** The actor type and id of a key, or undefined for a key no type owns. */
export function actorTypeOf(key: string): { type: AnyActorType; id: string } | undefined {
  const k = parseKey(key);
  return k && { type: ActorTypes[k.kind], id: k.id };
}
