// Actor keys and push topics. A key names its actor's kind and id (`cart:<userId>`); the shard
// that owns an actor is a hash of its key, and a topic is where its changes are published.
// Keys are branded by kind, so a command can only be sent to an actor of the kind it is for.

/** Every kind of actor the shards hold (`payment` is the built-in gateway's ledger, internal). */
export const ActorKinds = ['cart', 'sku', 'order', 'coupon', 'payment', 'catalog', 'drop'] as const;
export type ActorKind = (typeof ActorKinds)[number];

/** An actor key of kind K: a string at run time, a kind at compile time. */
export type ActorKey<K extends ActorKind = ActorKind> = string & { readonly __actor: K };

const key = <K extends ActorKind>(kind: K, id: string): ActorKey<K> => `${kind}:${id}` as ActorKey<K>;

/** The single catalog actor (every product: a sku belongs to exactly one product). */
export const CATALOG_KEY = 'catalog' as ActorKey<'catalog'>;
export const cartKey = (userId: string): ActorKey<'cart'> => key('cart', userId);
export const skuKey = (sku: string): ActorKey<'sku'> => key('sku', sku);
export const orderKey = (orderId: string): ActorKey<'order'> => key('order', orderId);
export const paymentKey = (orderId: string): ActorKey<'payment'> => key('payment', orderId);
export const dropKey = (dropId: string): ActorKey<'drop'> => key('drop', dropId);
/** Coupon codes are case-insensitive: the key holds the trimmed, upper-cased code. */
export const couponKey = (code: string): ActorKey<'coupon'> => key('coupon', normalizeCouponCode(code));

export function normalizeCouponCode(code: string): string {
  return code.trim().toUpperCase();
}

/** The kind and id of a key, or undefined for a key of no kind. */
export function parseKey(k: string): { kind: ActorKind; id: string } | undefined {
  if (k === CATALOG_KEY) return { kind: 'catalog', id: CATALOG_KEY };
  const colon = k.indexOf(':');
  if (colon <= 0) return undefined;
  const kind = k.slice(0, colon) as ActorKind;
  return kind !== 'catalog' && ActorKinds.includes(kind) ? { kind, id: k.slice(colon + 1) } : undefined;
}

/** Topic of a user's order pushes (`order.subscribe`): an order lives on any shard. */
export const ordersTopic = (userId: string): string => `orders:${userId}`;
/** Topic of the admin feed (`admin.subscribe`): low stock, orders and domain events. */
export const ADMIN_TOPIC = 'admin';
/** Subscribers of an actor's changes (`cart.subscribe`, `inventory.subscribe`) follow its key. */
export const actorTopic = (k: ActorKey): string => k;

/** FNV-1a over the key's UTF-16 code units: stable across processes, restarts and nodes. */
export function stableHash(k: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < k.length; i++) {
    h ^= k.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A key's partition in cluster mode: the same on every node, shard and worker. */
export const partitionOfKey = (key: string, partitions: number): number => stableHash(key) % partitions;
