// From a validated request to the command of the actor that owns it. The edge adds what an
// actor needs from elsewhere (price and availability from the committed catalog view), so
// actors stay pure and never wait on another shard.
import { DEFAULT_WAREHOUSE } from '../actors/inventory-actor.js';
import type { OpArgs, OpName } from '../protocol/schemas.js';
import type { WireError } from '../protocol/errors.js';
import type { CatalogView } from './catalog-view.js';
import type { Identity } from './auth.js';
import { CATALOG_KEY, cartKey, couponKey, normalizeCouponCode, orderKey, skuKey } from '../protocol/keys.js';

export type ShardRoute = { key: string; cmd: { type: string } } | { error: WireError };

const notFound = (sku: string): { error: WireError } => ({ error: { code: 'NOT_FOUND', message: `unknown sku ${sku}`, details: { sku } } });

type Builder = (args: never, who: Identity, catalog: CatalogView) => ShardRoute;

const builders: { [O in OpName]?: (args: OpArgs<O>, who: Identity, catalog: CatalogView) => ShardRoute } = {
  'catalog.upsert': (args) => ({ key: CATALOG_KEY, cmd: { type: 'upsert', product: args } as { type: string } }),
  'inventory.get': (args, _who, catalog) => (catalog.hasSku(args.sku) ? { key: skuKey(args.sku), cmd: { type: 'get' } } : notFound(args.sku)),
  'inventory.adjust': (args, _who, catalog) => {
    if (!catalog.hasSku(args.sku)) return notFound(args.sku);
    const cmd = {
      type: 'adjust', txType: args.type, qty: args.qty, reason: args.reason,
      warehouse: args.warehouse ?? DEFAULT_WAREHOUSE, toWarehouse: args.toWarehouse, referenceId: args.referenceId,
    };
    return { key: skuKey(args.sku), cmd };
  },
  'cart.get': (_args, who) => ({ key: cartKey(who.userId), cmd: { type: 'get' } }),
  'cart.add': (args, who, catalog) => {
    const item = catalog.itemInfo(args.sku);
    return item ? { key: cartKey(who.userId), cmd: { type: 'add', sku: args.sku, qty: args.qty, item } as { type: string } } : notFound(args.sku);
  },
  'cart.setQty': (args, who, catalog) => {
    // Setting 0 removes the line even when the sku has left the catalog since.
    if (args.qty === 0) return { key: cartKey(who.userId), cmd: { type: 'setQty', sku: args.sku, qty: 0 } as { type: string } };
    const item = catalog.itemInfo(args.sku);
    return item ? { key: cartKey(who.userId), cmd: { type: 'setQty', sku: args.sku, qty: args.qty, item } as { type: string } } : notFound(args.sku);
  },
  'cart.remove': (args, who) => ({ key: cartKey(who.userId), cmd: { type: 'remove', sku: args.sku } as { type: string } }),
  'cart.clear': (_args, who) => ({ key: cartKey(who.userId), cmd: { type: 'clear' } }),
  'cart.removeCoupon': (_args, who) => ({ key: cartKey(who.userId), cmd: { type: 'removeCoupon' } }),
  'coupon.upsert': (args) => {
    const code = normalizeCouponCode(args.code);
    return { key: couponKey(code), cmd: { type: 'upsert', terms: { ...args, code } } as { type: string } };
  },
  // A customer asking for another user's order gets NOT_FOUND from the order itself (`as`).
  'order.get': (args, who) => ({ key: orderKey(args.orderId), cmd: { type: 'get', ...(who.role === 'admin' ? {} : { as: who.userId }) } as { type: string } }),
  'order.ship': (args) => ({ key: orderKey(args.orderId), cmd: { type: 'ship', carrier: args.carrier, trackingNumber: args.trackingNumber } as { type: string } }),
  'order.deliver': (args) => ({ key: orderKey(args.orderId), cmd: { type: 'deliver' } }),
  // Logged on the viewer's shard: a durable domain event, no actor state.
  'event.view': (args, who, catalog) => {
    const p = catalog.stored(args.productId, false);
    if (!p) return { error: { code: 'NOT_FOUND', message: `unknown product ${args.productId}`, details: { productId: args.productId } } };
    const event = { name: 'product_viewed', data: { userId: who.userId, productId: args.productId, category: p.category, at: Date.now() } };
    return { key: cartKey(who.userId), cmd: { type: 'log', event } as { type: string } };
  },
};

/** The shard route of an op whose actor is not `edge`. */
export function shardRoute(op: OpName, args: unknown, who: Identity, catalog: CatalogView): ShardRoute {
  const build = builders[op] as Builder | undefined;
  if (!build) return { error: { code: 'INTERNAL', message: `no route for ${op}` } };
  return build(args as never, who, catalog);
}
