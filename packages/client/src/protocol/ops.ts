// Made from src/protocol/ops.ts and pushes.ts by `npm run sdk:protocol`; edit the original, not this copy.
// The SDK's view of the op and push tables: argument and result types by op, data by push.
import type {
  AddressView,
  AuthResult,
  CartView,
  CouponView,
  InventoryView,
  LowStockAlert,
  OrderView,
  Page,
  PaymentMethodView,
  ProductView,
  RecommendationView,
  Role,
  UserExport,
  UserListItem,
  UserView,
} from './types.js';

export type { AddressView, AuthResult, CouponView, LowStockAlert, Page, PaymentMethodView, RecommendationView, Role, UserExport, UserListItem, UserView };
import type { AuditEntry, AuditState, DropAdmission, DropPlace, DropPosition, DropView } from './types.js';
export type { AuditEntry, AuditState, DropAdmission, DropPlace, DropPosition, DropView };

/** Arguments of every op. */
export interface OpArgsByName {
  'user.get': object;
  'user.update': { name?: string | undefined; username?: string | undefined; preferences?: { currency?: string | undefined; language?: string | undefined; marketing?: boolean | undefined; personalizedRecs?: boolean | undefined; } | undefined; };
  'address.add': { line2?: string | undefined; region?: string | undefined; phone?: string | undefined; isDefault?: boolean | undefined; name: string; line1: string; city: string; postalCode: string; country: string; };
  'address.update': { name?: string | undefined; line1?: string | undefined; city?: string | undefined; postalCode?: string | undefined; country?: string | undefined; line2?: string | undefined; region?: string | undefined; phone?: string | undefined; isDefault?: boolean | undefined; addressId: string; };
  'address.remove': { addressId: string; };
  'address.list': object;
  'paymentMethod.add': { cardNumber: string; expMonth: number; expYear: number; cvc: string; };
  'paymentMethod.list': object;
  'paymentMethod.remove': { paymentMethodId: string; };
  'auth.changePassword': { oldPassword: string; newPassword: string; };
  'auth.logout': object;
  'user.export': object;
  'user.erase': { password: string; };
  'user.list': { q?: string | undefined; limit?: number | undefined; cursor?: string | undefined; };
  'user.setRole': { userId: string; role: 'admin' | 'customer'; };
  'ping': object;
  'auth.guest': object;
  'auth.register': { name?: string | undefined; email: string; password: string; };
  'auth.login': { email: string; password: string; };
  'auth.resume': { token: string; };
  'catalog.upsert': { brand?: string | undefined; description?: string | undefined; attributes?: Record<string, string> | undefined; status?: 'active' | 'draft' | 'archived' | undefined; name: string; productId: string; category: string; variants: { attributes?: Record<string, string> | undefined; currency?: string | undefined; sku: string; price: number; }[]; };
  'catalog.setImages': { productId: string; images: { mediaId: string; alt: string; }[]; };
  'catalog.get': { productId: string; };
  'catalog.search': { category?: string | undefined; brand?: string | undefined; q?: string | undefined; minPrice?: number | undefined; maxPrice?: number | undefined; limit?: number | undefined; cursor?: string | undefined; };
  'inventory.get': { sku: string; };
  'inventory.adjust': { warehouse?: string | undefined; toWarehouse?: string | undefined; referenceId?: string | undefined; sku: string; type: 'purchase' | 'return' | 'sale' | 'damage' | 'expiry' | 'adjustment' | 'transfer'; qty: number; reason: string; };
  'cart.get': object;
  'cart.add': { sku: string; qty: number; };
  'cart.setQty': { sku: string; qty: number; };
  'cart.remove': { sku: string; };
  'cart.clear': object;
  'cart.subscribe': object;
  'cart.unsubscribe': object;
  'inventory.subscribe': { sku: string; };
  'inventory.unsubscribe': { sku: string; };
  'admin.subscribe': object;
  'admin.unsubscribe': object;
  'coupon.upsert': { currency?: string | undefined; percentOff?: number | undefined; amountOff?: number | undefined; minSubtotal?: number | undefined; expiresAt?: number | undefined; maxRedemptions?: number | undefined; code: string; };
  'cart.applyCoupon': { code: string; };
  'cart.removeCoupon': object;
  'checkout': { shippingAddress?: { name: string; line1: string; city: string; postalCode: string; country: string; } | undefined; shippingAddressId?: string | undefined; idempotencyKey: string; payment: { token: string; } | { paymentMethodId: string; }; };
  'order.get': { orderId: string; };
  'order.list': { limit?: number | undefined; cursor?: string | undefined; };
  'order.cancel': { orderId: string; };
  'order.ship': { carrier?: string | undefined; trackingNumber?: string | undefined; orderId: string; };
  'order.deliver': { orderId: string; };
  'order.refund': { reason?: string | undefined; amount?: number | undefined; orderId: string; };
  'order.return': { orderId: string; };
  'order.subscribe': object;
  'event.view': { productId: string; };
  'recs.forUser': { limit?: number | undefined; context?: { category?: string | undefined; priceRange?: { min: number; max: number; } | undefined; } | undefined; };
  'recs.similar': { limit?: number | undefined; productId: string; };
  'audit.history': { limit?: number | undefined; cursor?: string | undefined; actor: 'cart' | 'order' | 'coupon' | 'inventory'; key: string; };
  'audit.stateAt': { actor: 'cart' | 'order' | 'coupon' | 'inventory'; key: string; at: number; };
  'drop.create': { perUserLimit?: number | undefined; admitPerSecond?: number | undefined; checkoutWindowMs?: number | undefined; sku: string; dropId: string; startsAt: number; };
  'drop.join': { dropId: string; };
}

/** Results of every op. */
export interface OpResults {
  'user.get': UserView;
  'user.update': UserView;
  'address.add': AddressView;
  'address.update': AddressView;
  'address.remove': AddressView[];
  'address.list': AddressView[];
  'paymentMethod.add': PaymentMethodView;
  'paymentMethod.list': PaymentMethodView[];
  'paymentMethod.remove': PaymentMethodView[];
  'auth.changePassword': AuthResult;
  'auth.logout': { [x: string]: never; };
  'user.export': UserExport;
  'user.erase': { [x: string]: never; };
  'user.list': Page<UserListItem>;
  'user.setRole': UserView;
  'ping': { now: number; };
  'auth.guest': AuthResult;
  'auth.register': AuthResult;
  'auth.login': AuthResult;
  'auth.resume': { userId: string; role: Role; };
  'catalog.upsert': ProductView;
  'catalog.setImages': ProductView;
  'catalog.get': ProductView;
  'catalog.search': Page<ProductView>;
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
  'admin.subscribe': { [x: string]: never; };
  'admin.unsubscribe': { [x: string]: never; };
  'coupon.upsert': CouponView;
  'cart.applyCoupon': CartView;
  'cart.removeCoupon': CartView;
  'checkout': OrderView;
  'order.get': OrderView;
  'order.list': Page<OrderView>;
  'order.cancel': OrderView;
  'order.ship': OrderView;
  'order.deliver': OrderView;
  'order.refund': OrderView;
  'order.return': OrderView;
  'order.subscribe': { [x: string]: never; };
  'event.view': { [x: string]: never; };
  'recs.forUser': RecommendationView[];
  'recs.similar': RecommendationView[];
  'audit.history': Page<AuditEntry>;
  'audit.stateAt': AuditState;
  'drop.create': DropView;
  'drop.join': DropPlace;
}

/** Data of every push. */
export interface PushDataByName {
  'cart.updated': CartView;
  'inventory.updated': InventoryView;
  'inventory.lowStock': LowStockAlert;
  'order.updated': OrderView;
  'drop.position': DropPosition;
  'drop.admitted': DropAdmission;
  'user_registered': { [x: string]: unknown; };
  'user_logged_in': { [x: string]: unknown; };
  'product_viewed': { [x: string]: unknown; };
  'product_added_to_cart': { [x: string]: unknown; };
  'product_removed_from_cart': { [x: string]: unknown; };
  'order_created': { [x: string]: unknown; };
  'order_paid': { [x: string]: unknown; };
  'order_shipped': { [x: string]: unknown; };
  'order_delivered': { [x: string]: unknown; };
  'payment_processed': { [x: string]: unknown; };
  'payment_failed': { [x: string]: unknown; };
  'inventory_updated': { [x: string]: unknown; };
  'price_changed': { [x: string]: unknown; };
  'order_stalled': { [x: string]: unknown; };
  'checkout_stalled': { [x: string]: unknown; };
}

export type OpName = keyof OpArgsByName;
export type OpArgs<O extends OpName> = OpArgsByName[O];
export type OpResult<O extends OpName> = OpResults[O];
export type PushName = keyof PushDataByName;
export type PushData<P extends PushName> = PushDataByName[P];
// Unused imports are kept so that every shape a result names resolves here.
export type { CartView, InventoryView, OrderView, ProductView };
