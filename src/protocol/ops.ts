// The op table: one row per wire operation. It drives edge validation and routing on the server,
// the SDK's method types and docs/protocol.md; nothing else lists the operations.
import { Args, type OpName } from './schemas.js';
import type { CartView, InventoryView, OrderView, ProductView } from './types.js';

/** What coupon.upsert returns. */
export interface CouponView {
  code: string;
  percentOff?: number;
  amountOff?: number;
  currency?: string;
  minSubtotal?: number;
  expiresAt?: number;
  maxRedemptions?: number;
  redeemed: number;
  held: number;
  version: number;
  updatedAt: number;
}

/** Who may call an op. `user` is any signed-in role (guest, customer, admin). */
export type RequiredRole = 'anonymous' | 'user' | 'admin';
export type Role = 'guest' | 'customer' | 'admin';

/**
 * Which actor owns the op: the request goes to the shard of that actor's key. `edge` ops are
 * answered on the main thread (auth, ping, reads of the committed catalog view).
 */
export type ActorKind = 'edge' | 'cart' | 'sku' | 'catalog' | 'order' | 'coupon';

export interface OpSpec {
  readonly role: RequiredRole;
  readonly actor: ActorKind;
  /** True when the op may change state: its reply waits for the group commit. */
  readonly writes: boolean;
  readonly summary: string;
}

export const Ops = {
  ping: { role: 'anonymous', actor: 'edge', writes: false, summary: 'Server time; the transport ceiling.' },
  'auth.guest': { role: 'anonymous', actor: 'edge', writes: false, summary: 'A new guest identity and its token.' },
  'auth.register': { role: 'anonymous', actor: 'edge', writes: true, summary: 'Create a customer account and sign in; a guest cart merges in.' },
  'auth.login': { role: 'anonymous', actor: 'edge', writes: true, summary: 'Sign in with email and password; a guest cart merges in.' },
  'auth.resume': { role: 'anonymous', actor: 'edge', writes: false, summary: 'Authenticate this connection with a token.' },
  'catalog.upsert': { role: 'admin', actor: 'catalog', writes: true, summary: 'Create or replace a product.' },
  'catalog.get': { role: 'anonymous', actor: 'edge', writes: false, summary: 'A product with live availability.' },
  'catalog.search': { role: 'anonymous', actor: 'edge', writes: false, summary: 'Products by text, category, brand and price; cursor pages.' },
  'inventory.get': { role: 'user', actor: 'sku', writes: false, summary: 'Stock of one sku.' },
  'inventory.adjust': { role: 'admin', actor: 'sku', writes: true, summary: 'Record an inventory transaction.' },
  'cart.get': { role: 'user', actor: 'cart', writes: false, summary: "The caller's cart." },
  'cart.add': { role: 'user', actor: 'cart', writes: true, summary: 'Add qty of a sku to its line.' },
  'cart.setQty': { role: 'user', actor: 'cart', writes: true, summary: 'Set a line quantity (0 removes).' },
  'cart.remove': { role: 'user', actor: 'cart', writes: true, summary: 'Remove a line.' },
  'cart.clear': { role: 'user', actor: 'cart', writes: true, summary: 'Remove every line.' },
  'cart.subscribe': { role: 'user', actor: 'cart', writes: false, summary: 'The cart now, then a cart.updated push per version.' },
  'cart.unsubscribe': { role: 'user', actor: 'cart', writes: false, summary: 'Stop cart.updated pushes; returns the cart.' },
  'inventory.subscribe': { role: 'user', actor: 'sku', writes: false, summary: 'The stock now, then an inventory.updated push per version.' },
  'inventory.unsubscribe': { role: 'user', actor: 'sku', writes: false, summary: 'Stop inventory.updated pushes; returns the stock.' },
  'admin.subscribe': { role: 'admin', actor: 'edge', writes: false, summary: 'Feed of inventory.lowStock and domain events.' },
  'admin.unsubscribe': { role: 'admin', actor: 'edge', writes: false, summary: 'Stop the admin feed.' },
  'coupon.upsert': { role: 'admin', actor: 'coupon', writes: true, summary: 'Create or change a coupon (its redemption count stays).' },
  'cart.applyCoupon': { role: 'user', actor: 'edge', writes: true, summary: 'Apply a coupon to the cart (one at a time).' },
  'cart.removeCoupon': { role: 'user', actor: 'cart', writes: true, summary: 'Remove the coupon.' },
  checkout: { role: 'user', actor: 'edge', writes: true, summary: 'Reserve, score, charge, commit and confirm the cart as an order; idempotent per key.' },
  'order.get': { role: 'user', actor: 'order', writes: false, summary: 'One order (own orders; admins any).' },
  'order.list': { role: 'user', actor: 'edge', writes: false, summary: 'Orders newest first (own; admins all), cursor pages.' },
  'order.cancel': { role: 'user', actor: 'edge', writes: true, summary: 'Cancel an own order before shipping: refunds and restocks.' },
  'order.ship': { role: 'admin', actor: 'order', writes: true, summary: 'Mark an order shipped.' },
  'order.deliver': { role: 'admin', actor: 'order', writes: true, summary: 'Mark a shipped order delivered.' },
  'order.refund': { role: 'admin', actor: 'edge', writes: true, summary: 'Refund part or all of what remains of the capture.' },
  'order.return': { role: 'admin', actor: 'edge', writes: true, summary: 'A delivered order came back: restock and refund what remains.' },
  'order.subscribe': { role: 'user', actor: 'edge', writes: false, summary: 'order.updated pushes for the caller\'s orders.' },
  'event.view': { role: 'user', actor: 'cart', writes: true, summary: 'Record product_viewed (recommendations).' },
  'recs.forUser': { role: 'user', actor: 'edge', writes: false, summary: 'Recommendations for the caller (hybrid; popularity when cold).' },
  'recs.similar': { role: 'user', actor: 'edge', writes: false, summary: 'Products similar to one (item-item and content).' },
} as const satisfies Record<OpName, OpSpec>;

export const OpNames = Object.keys(Ops) as OpName[];

export interface AuthResult {
  token: string;
  userId: string;
  role: Role;
}

/** Result type of each op, for the SDK's typed `call`. */
export interface OpResults {
  ping: { now: number };
  'auth.guest': AuthResult;
  'auth.register': AuthResult;
  'auth.login': AuthResult;
  'auth.resume': { userId: string; role: Role };
  'catalog.upsert': ProductView;
  'catalog.get': ProductView;
  'catalog.search': { items: ProductView[]; nextCursor: string | null };
  'inventory.get': InventoryView;
  'inventory.adjust': InventoryView;
  'cart.get': CartView;
  'cart.add': CartView;
  'cart.setQty': CartView;
  'cart.remove': CartView;
  'cart.clear': CartView;
  'cart.subscribe': CartView;
  'cart.unsubscribe': CartView;
  'inventory.subscribe': InventoryView;
  'inventory.unsubscribe': InventoryView;
  'admin.subscribe': Record<string, never>;
  'admin.unsubscribe': Record<string, never>;
  'coupon.upsert': CouponView;
  'cart.applyCoupon': CartView;
  'cart.removeCoupon': CartView;
  checkout: OrderView;
  'order.get': OrderView;
  'order.list': { items: OrderView[]; nextCursor: string | null };
  'order.cancel': OrderView;
  'order.ship': OrderView;
  'order.deliver': OrderView;
  'order.refund': OrderView;
  'order.return': OrderView;
  'order.subscribe': Record<string, never>;
  'event.view': Record<string, never>;
  'recs.forUser': RecommendationView[];
  'recs.similar': RecommendationView[];
}

/** One recommended product and why. */
export interface RecommendationView {
  productId: string;
  score: number;
  reason: string;
  algorithm: 'itemknn' | 'userknn' | 'content' | 'popularity' | 'hybrid';
}

export { Args };
export type { OpName };
