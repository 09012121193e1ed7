// The server's handler of every op, keyed by the op table: a missing or mistyped handler is a
// compile error. Shard ops are routed to the actor that owns them with the catalog facts the
// actor needs (price, availability), so actors stay pure and never wait on another shard; the
// shard's committed reply goes straight to the connection.
import { DEFAULT_WAREHOUSE } from '../actors/inventory-actor.js';
import type { DomainEvent } from '../actors/actor.js';
import type { CommandOf, ResultOf } from '../actors/registry.js';
import { CATALOG_KEY, cartKey, couponKey, normalizeCouponCode, orderKey, ordersTopic, skuKey, type ActorKey, type ActorKind } from '../protocol/keys.js';
import type { Identity } from '../protocol/types.js';
import { Encoded, ROUTED, fail, type Answer, type Handlers, type Request, type Routed } from '../transport/dispatch.js';
import type { Caller } from './accounts/accounts.js';
import type { Accounts } from './accounts/accounts.js';
import type { AddressBook } from './accounts/address-book.js';
import type { ProfileService } from './accounts/profile-service.js';
import type { CatalogView } from './catalog/catalog-view.js';
import type { CommerceOps } from './commerce/commerce-ops.js';
import type { RecsOps } from './recs/recs-ops.js';
import type { DropOps } from './drops/drop-ops.js';
import type { AuditOps } from './audit/audit-ops.js';
import type { ShardPool } from './shard-pool.js';
import type { MediaService } from './media/media-service.js';
import type { ImageInput } from '../actors/catalog-actor.js';

export interface HandlerDeps {
  pool: ShardPool;
  catalog: CatalogView;
  media: Pick<MediaService, 'describe'>;
  accounts: Accounts;
  profiles: ProfileService;
  book: AddressBook;
  /** Whether a user's interactions may be recorded (preferences.personalizedRecs). */
  personalized: { cached(userId: string): boolean | undefined; get(userId: string): Promise<boolean> };
  commerce: CommerceOps;
  recs: RecsOps;
  drops: DropOps;
  audit: AuditOps;
}

const GET = Object.freeze({ type: 'get' as const });
const NOTHING = Object.freeze({ ok: true as const, result: Object.freeze({}) as Record<string, never> });

/** The caller of an op whose role is `user` or `admin` (the edge has checked it is signed in). */
const user = (req: Request): Identity => req.who!;
const isAdmin = (req: Request): boolean => req.who?.role === 'admin';
/** The caller's cart key, made once per connection and user rather than per request. */
const myCart = (req: Request): ActorKey<'cart'> => req.conn.cartKey(user(req).userId);
const unknownSku = (sku: string) => fail('NOT_FOUND', `unknown sku ${sku}`, { sku });
const unknownProduct = (productId: string) => fail('NOT_FOUND', `unknown product ${productId}`);

/** Where a sign-in comes from: the connection's IP and the guest it was (its cart merges in). */
function caller(req: Request): Caller {
  const guestId = req.who?.role === 'guest' ? req.who.userId : undefined;
  return { ip: req.conn.ip, via: 'ws', ...(guestId === undefined ? {} : { guestId }) };
}

export function createHandlers({ pool, catalog, media, accounts, profiles, book, personalized, commerce, recs, drops, audit }: HandlerDeps): Handlers {
  /** Sends the request to the actor of `key`; its committed reply (typed by kind and command) goes to the connection. */
  const route = <K extends ActorKind, const C extends CommandOf<K>>(req: Request, key: ActorKey<K>, cmd: C): Routed<ResultOf<K, C>> | Answer<never> =>
    pool.submit(key, req.id, cmd, req.conn, req.tag) ?? ROUTED;
  /** (Un)subscribes the connection to an actor; the reply is its object now, as `get` gives it. */
  const follow = <K extends ActorKind>(req: Request, key: ActorKey<K>, on: boolean) => req.follow(key, on) as Routed<ResultOf<K, typeof GET>> | Answer<never>;
  /** A domain event with no actor state behind it, logged with the commit of `key`'s shard. */
  const log = (req: Request, key: ActorKey, event: DomainEvent): Routed<Record<string, never>> | Answer<never> =>
    pool.submit(key, req.id, { type: 'log', event } as { type: string }, req.conn, req.tag) ?? ROUTED;

  return {
    ping: () => ({ ok: true, result: { now: Date.now() } }),
    'auth.guest': () => accounts.guest(),
    'auth.register': (req, a) => accounts.register(a, caller(req)),
    'auth.login': (req, a) => accounts.login(a, caller(req)),
    'auth.resume': (_req, a) => accounts.resume(a.token),

    'catalog.upsert': (req, a) => route(req, CATALOG_KEY, { type: 'upsert', product: a }),
    'catalog.setImages': (req, a) => {
      // Sizes from the media store; an id it no longer holds cannot be set (see MediaService).
      const images: ImageInput[] = [];
      const seen = new Set<string>();
      for (const { mediaId, alt } of a.images) {
        if (seen.has(mediaId)) return fail('BAD_REQUEST', `media ${mediaId} appears twice`, { mediaId });
        seen.add(mediaId);
        const size = media.describe(mediaId);
        if (!size) return fail('NOT_FOUND', `unknown media ${mediaId}`, { mediaId });
        images.push({ mediaId, alt, ...size });
      }
      return route(req, CATALOG_KEY, { type: 'setImages', productId: a.productId, images });
    },
    'catalog.get': (req, a) => {
      const bytes = catalog.productEncoded(a.productId, isAdmin(req));
      return bytes ? new Encoded(bytes) : unknownProduct(a.productId);
    },
    'catalog.search': (req, a) => catalog.searchEncoded(a, isAdmin(req)),

    'inventory.get': (req, a) => (catalog.hasSku(a.sku) ? route(req, skuKey(a.sku), GET) : unknownSku(a.sku)),
    'inventory.adjust': (req, a) => {
      if (!catalog.hasSku(a.sku)) return unknownSku(a.sku);
      return route(req, skuKey(a.sku), {
        type: 'adjust',
        txType: a.type,
        qty: a.qty,
        reason: a.reason,
        warehouse: a.warehouse ?? DEFAULT_WAREHOUSE,
        ...(a.toWarehouse === undefined ? {} : { toWarehouse: a.toWarehouse }),
        ...(a.referenceId === undefined ? {} : { referenceId: a.referenceId }),
      });
    },
    'inventory.subscribe': (req, a) => (catalog.hasSku(a.sku) ? follow(req, skuKey(a.sku), true) : unknownSku(a.sku)),
    'inventory.unsubscribe': (req, a) => (catalog.hasSku(a.sku) ? follow(req, skuKey(a.sku), false) : unknownSku(a.sku)),

    'cart.get': (req) => route(req, myCart(req), GET),
    'cart.add': (req, a) => {
      const item = catalog.itemInfo(a.sku);
      return item ? route(req, myCart(req), { type: 'add', sku: a.sku, qty: a.qty, item }) : unknownSku(a.sku);
    },
    'cart.setQty': (req, a) => {
      // Setting 0 removes the line even when the sku has left the catalog since.
      if (a.qty === 0) return route(req, myCart(req), { type: 'setQty', sku: a.sku, qty: 0 });
      const item = catalog.itemInfo(a.sku);
      return item ? route(req, myCart(req), { type: 'setQty', sku: a.sku, qty: a.qty, item }) : unknownSku(a.sku);
    },
    'cart.remove': (req, a) => route(req, myCart(req), { type: 'remove', sku: a.sku }),
    'cart.clear': (req) => route(req, myCart(req), { type: 'clear' }),
    'cart.subscribe': (req) => follow(req, myCart(req), true),
    'cart.unsubscribe': (req) => follow(req, myCart(req), false),
    'cart.applyCoupon': (req, a) => commerce.applyCoupon(a, user(req)),
    'cart.removeCoupon': (req) => route(req, myCart(req), { type: 'removeCoupon' }),

    'admin.subscribe': (req) => req.adminFeed(true),
    'admin.unsubscribe': (req) => req.adminFeed(false),
    'coupon.upsert': (req, a) => {
      const code = normalizeCouponCode(a.code);
      return route(req, couponKey(code), { type: 'upsert', terms: { ...a, code } });
    },

    checkout: async (req, a) => {
      const who = user(req);
      const refs = await book.checkoutRefs(who, a);
      return refs.ok ? commerce.checkout(a, who, refs.result) : refs;
    },
    // A customer asking for another user's order gets NOT_FOUND from the order itself (`as`).
    'order.get': (req, a) => route(req, orderKey(a.orderId), isAdmin(req) ? GET : { type: 'get', as: user(req).userId }),
    'order.list': (req, a) => commerce.listOrders(a, user(req)),
    'order.cancel': (req, a) => commerce.cancel(a, user(req)),
    'order.ship': (req, a) => route(req, orderKey(a.orderId), { type: 'ship', carrier: a.carrier, trackingNumber: a.trackingNumber }),
    'order.deliver': (req, a) => route(req, orderKey(a.orderId), { type: 'deliver' }),
    'order.refund': (_req, a) => commerce.refund(a),
    'order.return': (_req, a) => commerce.return(a),
    'order.subscribe': (req) => req.followTopic(ordersTopic(user(req).userId)),

    // Logged on the viewer's shard: a durable domain event, no actor state.
    'event.view': (req, a) => {
      const p = catalog.stored(a.productId, false);
      if (!p) return fail('NOT_FOUND', `unknown product ${a.productId}`, { productId: a.productId });
      const who = user(req);
      const event: DomainEvent = { name: 'product_viewed', data: { userId: who.userId, productId: a.productId, category: p.category, at: Date.now() } };
      // personalizedRecs off: the view is not recorded at all.
      const known = personalized.cached(who.userId);
      if (known !== undefined) return known ? log(req, cartKey(who.userId), event) : NOTHING;
      // Not in memory: read first, then logged by a plain call (a routed reply must be sync).
      return personalized.get(who.userId).then((on) => (on ? pool.log(cartKey(who.userId), event) : NOTHING));
    },
    'recs.forUser': (req, a) => recs.forUser(a, user(req)),
    'recs.similar': (req, a) => recs.similar(a, user(req)),

    // Audit history and product drops.
    'audit.history': (_req, a) => audit.history(a),
    'audit.stateAt': (_req, a) => audit.stateAt(a),
    'drop.create': (_req, a) => drops.create(a),
    'drop.join': (req, a) => drops.join(req, a, user(req)),
    // Accounts: profile, address book, payment methods, sessions, export and erasure.
    'user.get': (req) => profiles.get(user(req)),
    'user.update': (req, a) => profiles.update(user(req), a),
    'address.add': (req, a) => book.add(user(req), a),
    'address.update': (req, a) => book.update(user(req), a),
    'address.remove': (req, a) => book.remove(user(req), a.addressId),
    'address.list': (req) => book.list(user(req)),
    'paymentMethod.add': (req, a) => book.addPaymentMethod(user(req), a),
    'paymentMethod.list': (req) => book.paymentMethods(user(req)),
    'paymentMethod.remove': (req, a) => book.removePaymentMethod(user(req), a.paymentMethodId),
    'auth.changePassword': (req, a) => profiles.changePassword(user(req), a, req.conn.ip),
    'auth.logout': (req) => profiles.logout(user(req)),
    'user.export': (req) => profiles.export(user(req)),
    'user.erase': (req, a) => profiles.erase(user(req), a, req.conn.ip),
    'user.list': (_req, a) => profiles.list(a),
    'user.setRole': (_req, a) => profiles.setRole(a),
  };
}
