// The op table: one row per wire operation with its args schema, result type, required role,
// owner, the errors it may answer besides the common ones, and the pushes it may cause. The
// edge's validation, role check and dispatch, the server's handler map, the SDK's types and
// docs/protocol.md all derive from this table; nothing else lists the operations.
import Type, { type Static, type TSchema } from './typebox.js';
import { Limits, type ErrorCode } from './errors.js';
import { result, type ResultOf } from './result.js';
import type { PushName } from './pushes.js';
import { AccountOps } from './account-ops.js';
import {
  AddressId,
  Attributes,
  AuditActorArg,
  AuditCursor,
  AuditKey,
  CouponCode,
  Currency,
  DropId,
  Email,
  EpochMs,
  Empty,
  ImageArg,
  InventoryTxType,
  Money,
  OrderId,
  OrderListCursor,
  PaymentMethodId,
  Password,
  ProductId,
  ProductStatusArg,
  Qty,
  QtyOrZero,
  SearchCursor,
  ShippingAddressArg,
  Sku,
  Text,
  VariantInput,
  WarehouseId,
  strict,
} from './schemas.js';
import { MediaLimits } from './media.js';
import type {
  AuditEntry,
  AuditState,
  AuthResult,
  CartView,
  CouponView,
  DropPlace,
  DropView,
  InventoryView,
  OrderView,
  Page,
  ProductView,
  RecommendationView,
  Role,
} from './types.js';

export type { AuditEntry, AuditState, AuthResult, CouponView, DropPlace, DropView, Page, RecommendationView };

/** Who may call an op. `user` is any signed-in role (guest, customer, admin). */
export type RequiredRole = 'anonymous' | 'user' | 'admin';
export type { Role };

/**
 * Who answers: `edge` on the main thread from the connection and the committed catalog view;
 * `app` a main-thread service that may call several actors (accounts, checkout, search of
 * orders, recommendations); otherwise the actor kind whose single writer serializes the op.
 */
export type Owner = 'edge' | 'app' | 'cart' | 'sku' | 'catalog' | 'order' | 'coupon';

export interface OpSpec<A extends TSchema = TSchema, R = unknown> {
  readonly args: A;
  readonly result: ResultOf<R>;
  readonly role: RequiredRole;
  readonly owner: Owner;
  /** True when the op may change state: its answer waits for the commit (the output gate). */
  readonly writes: boolean;
  /** Changes who the connection is: requests behind it wait for its answer. */
  readonly session?: true;
  /** Errors this op may answer besides those every op may (see `COMMON_ERRORS`). */
  readonly errors: readonly ErrorCode[];
  readonly pushes: readonly PushName[];
  readonly summary: string;
}

const op = <A extends TSchema, R>(spec: OpSpec<A, R>): OpSpec<A, R> => spec;

/** Errors any op may answer: malformed, limits, overload, restarts, bugs. */
export const COMMON_ERRORS: readonly ErrorCode[] = ['BAD_REQUEST', 'RATE_LIMITED', 'LIMIT_EXCEEDED', 'OVERLOADED', 'UNAVAILABLE', 'INTERNAL'];
/** Errors of ops that need a signed-in connection, and of admin ops. */
export const ROLE_ERRORS: Readonly<Record<RequiredRole, readonly ErrorCode[]>> = {
  anonymous: [],
  user: ['UNAUTHENTICATED'],
  admin: ['UNAUTHENTICATED', 'FORBIDDEN'],
};

type Nothing = Record<string, never>;

const cart = result<CartView>('cart');
const inventory = result<InventoryView>('inventory');
const order = result<OrderView>('order');
const nothing = result<Nothing>('{}');
const auth = result<AuthResult>('{ token, userId, role }');
const recs = result<RecommendationView[]>('[{ productId, score, reason, algorithm }]');

const CART_CHANGE: readonly PushName[] = ['cart.updated', 'product_added_to_cart', 'product_removed_from_cart'];
const LINE_ERRORS: readonly ErrorCode[] = ['NOT_FOUND', 'OUT_OF_STOCK', 'LIMIT_EXCEEDED', 'CONFLICT'];
const ORDER_WORK: readonly PushName[] = ['order.updated', 'inventory.updated', 'inventory_updated'];
const Limit = (max: number) => Type.Optional(Type.Integer({ minimum: 1, maximum: max }));

export const Ops = {
  ping: op({
    args: Empty,
    result: result<{ now: number }>('{ now }'),
    role: 'anonymous',
    owner: 'edge',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Server time; the transport ceiling.',
  }),
  'auth.guest': op({
    args: Empty,
    result: auth,
    role: 'anonymous',
    owner: 'app',
    writes: false,
    session: true,
    errors: [],
    pushes: [],
    summary: 'A new guest identity and its token.',
  }),
  'auth.register': op({
    args: Type.Object({ email: Email, password: Password, name: Type.Optional(Type.String({ minLength: 1, maxLength: Limits.NAME_MAX_LENGTH })) }, strict),
    result: auth,
    role: 'anonymous',
    owner: 'app',
    writes: true,
    session: true,
    errors: ['CONFLICT'],
    pushes: ['user_registered', 'cart.updated'],
    summary: 'Create a customer account and sign in; a guest cart merges in.',
  }),
  'auth.login': op({
    // Any length up to the maximum: a short password is just a wrong one (same answer as any other).
    args: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: Limits.PASSWORD_MAX_LENGTH }) }, strict),
    result: auth,
    role: 'anonymous',
    owner: 'app',
    writes: true,
    session: true,
    errors: ['UNAUTHENTICATED'],
    pushes: ['user_logged_in', 'cart.updated'],
    summary: 'Sign in with email and password; a guest cart merges in.',
  }),
  'auth.resume': op({
    args: Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, strict),
    result: result<{ userId: string; role: Role }>('{ userId, role }'),
    role: 'anonymous',
    owner: 'app',
    writes: false,
    session: true,
    errors: ['UNAUTHENTICATED'],
    pushes: [],
    summary: 'Authenticate this connection with a token.',
  }),
  'catalog.upsert': op({
    args: Type.Object(
      {
        productId: ProductId,
        name: Text(200),
        category: Text(64),
        brand: Type.Optional(Type.String({ maxLength: 64 })),
        description: Type.Optional(Type.String({ maxLength: 4000 })),
        attributes: Type.Optional(Attributes),
        status: Type.Optional(ProductStatusArg),
        variants: Type.Array(VariantInput, { minItems: 1, maxItems: 100 }),
      },
      strict,
    ),
    result: result<ProductView>('product'),
    role: 'admin',
    owner: 'catalog',
    writes: true,
    errors: ['CONFLICT'],
    pushes: ['price_changed', 'cart.updated'],
    summary: 'Create or replace a product.',
  }),
  'catalog.setImages': op({
    args: Type.Object(
      { productId: ProductId, images: Type.Array(ImageArg, { maxItems: MediaLimits.MAX_IMAGES_PER_PRODUCT, description: 'in display order' }) },
      strict,
    ),
    result: result<ProductView>('product'),
    role: 'admin',
    owner: 'catalog',
    writes: true,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Replace the images of a product (uploaded with POST /media), in display order.',
  }),
  'catalog.get': op({
    args: Type.Object({ productId: ProductId }, strict),
    result: result<ProductView>('product'),
    role: 'anonymous',
    owner: 'edge',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'A product with live availability.',
  }),
  'catalog.search': op({
    args: Type.Object(
      {
        q: Type.Optional(Type.String({ maxLength: 200 })),
        category: Type.Optional(Text(64)),
        brand: Type.Optional(Text(64)),
        minPrice: Type.Optional(Money),
        maxPrice: Type.Optional(Money),
        limit: Limit(100),
        cursor: Type.Optional(SearchCursor),
      },
      strict,
    ),
    result: result<Page<ProductView>>('{ items: [product], nextCursor }'),
    role: 'anonymous',
    owner: 'edge',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Products by text, category, brand and price; cursor pages.',
  }),
  'inventory.get': op({
    args: Type.Object({ sku: Sku }, strict),
    result: inventory,
    role: 'user',
    owner: 'sku',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Stock of one sku.',
  }),
  'inventory.adjust': op({
    args: Type.Object(
      {
        sku: Sku,
        type: InventoryTxType,
        // 0 is meaningful only for `adjustment` (set on-hand to zero); the actor rejects it elsewhere.
        qty: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
        reason: Text(200),
        warehouse: Type.Optional(WarehouseId),
        toWarehouse: Type.Optional(WarehouseId),
        referenceId: Type.Optional(Text(128)),
      },
      strict,
    ),
    result: inventory,
    role: 'admin',
    owner: 'sku',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ['inventory.updated', 'inventory.lowStock', 'inventory_updated'],
    summary: 'Record an inventory transaction.',
  }),
  'cart.get': op({ args: Empty, result: cart, role: 'user', owner: 'cart', writes: false, errors: [], pushes: [], summary: "The caller's cart." }),
  'cart.add': op({
    args: Type.Object({ sku: Sku, qty: Qty }, strict),
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: LINE_ERRORS,
    pushes: CART_CHANGE,
    summary: 'Add qty of a sku to its line.',
  }),
  'cart.setQty': op({
    args: Type.Object({ sku: Sku, qty: QtyOrZero }, strict),
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: LINE_ERRORS,
    pushes: CART_CHANGE,
    summary: 'Set a line quantity (0 removes).',
  }),
  'cart.remove': op({
    args: Type.Object({ sku: Sku }, strict),
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: ['CONFLICT'],
    pushes: CART_CHANGE,
    summary: 'Remove a line.',
  }),
  'cart.clear': op({
    args: Empty,
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: ['CONFLICT'],
    pushes: CART_CHANGE,
    summary: 'Remove every line.',
  }),
  'cart.subscribe': op({
    args: Empty,
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: false,
    errors: [],
    pushes: ['cart.updated'],
    summary: 'The cart now, then a cart.updated push per version.',
  }),
  'cart.unsubscribe': op({
    args: Empty,
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Stop cart.updated pushes; returns the cart.',
  }),
  'inventory.subscribe': op({
    args: Type.Object({ sku: Sku }, strict),
    result: inventory,
    role: 'user',
    owner: 'sku',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: ['inventory.updated'],
    summary: 'The stock now, then an inventory.updated push per version.',
  }),
  'inventory.unsubscribe': op({
    args: Type.Object({ sku: Sku }, strict),
    result: inventory,
    role: 'user',
    owner: 'sku',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Stop inventory.updated pushes; returns the stock.',
  }),
  'admin.subscribe': op({
    args: Empty,
    result: nothing,
    role: 'admin',
    owner: 'edge',
    writes: false,
    errors: [],
    pushes: [
      'inventory.lowStock',
      'order.updated',
      'user_registered',
      'user_logged_in',
      'product_viewed',
      'product_added_to_cart',
      'product_removed_from_cart',
      'order_created',
      'order_paid',
      'order_shipped',
      'order_delivered',
      'payment_processed',
      'payment_failed',
      'inventory_updated',
      'price_changed',
      'order_stalled',
      'checkout_stalled',
    ],
    summary: 'Feed of inventory.lowStock, order.updated and domain events.',
  }),
  'admin.unsubscribe': op({
    args: Empty,
    result: nothing,
    role: 'admin',
    owner: 'edge',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Stop the admin feed.',
  }),
  'coupon.upsert': op({
    args: Type.Object(
      {
        code: CouponCode,
        percentOff: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        amountOff: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
        currency: Type.Optional(Currency),
        minSubtotal: Type.Optional(Money),
        expiresAt: Type.Optional(Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 })),
        maxRedemptions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
      },
      strict,
    ),
    result: result<CouponView>('coupon'),
    role: 'admin',
    owner: 'coupon',
    writes: true,
    errors: [],
    pushes: [],
    summary: 'Create or change a coupon (its redemption count stays).',
  }),
  'cart.applyCoupon': op({
    args: Type.Object({ code: CouponCode }, strict),
    result: cart,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ['cart.updated'],
    summary: 'Apply a coupon to the cart (one at a time).',
  }),
  'cart.removeCoupon': op({
    args: Empty,
    result: cart,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: ['CONFLICT'],
    pushes: ['cart.updated'],
    summary: 'Remove the coupon.',
  }),
  checkout: op({
    args: Type.Object(
      {
        idempotencyKey: Text(128),
        payment: Type.Union([Type.Object({ token: Text(64) }, strict), Type.Object({ paymentMethodId: PaymentMethodId }, strict)]),
        shippingAddress: Type.Optional(ShippingAddressArg),
        /** In place of shippingAddress: an address of the caller's book (the order keeps a copy). */
        shippingAddressId: Type.Optional(AddressId),
      },
      strict,
    ),
    result: order,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['CART_EMPTY', 'OUT_OF_STOCK', 'PAYMENT_DECLINED', 'FRAUD_SUSPECTED', 'CONFLICT', 'NOT_FOUND', 'FORBIDDEN'],
    pushes: [
      'order.updated',
      'cart.updated',
      'inventory.updated',
      'inventory.lowStock',
      'order_created',
      'order_paid',
      'payment_processed',
      'payment_failed',
      'inventory_updated',
    ],
    summary: 'Reserve, score, charge, commit and confirm the cart as an order; idempotent per key.',
  }),
  'order.get': op({
    args: Type.Object({ orderId: OrderId }, strict),
    result: order,
    role: 'user',
    owner: 'order',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'One order (own orders; admins any).',
  }),
  'order.list': op({
    args: Type.Object({ limit: Limit(100), cursor: Type.Optional(OrderListCursor) }, strict),
    result: result<Page<OrderView>>('{ items: [order], nextCursor }'),
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Orders newest first (own; admins all), cursor pages.',
  }),
  'order.cancel': op({
    args: Type.Object({ orderId: OrderId }, strict),
    result: order,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ORDER_WORK,
    summary: 'Cancel an own order before shipping: refunds and restocks.',
  }),
  'order.ship': op({
    args: Type.Object({ orderId: OrderId, carrier: Type.Optional(Text(64)), trackingNumber: Type.Optional(Text(128)) }, strict),
    result: order,
    role: 'admin',
    owner: 'order',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ['order.updated', 'order_shipped'],
    summary: 'Mark an order shipped.',
  }),
  'order.deliver': op({
    args: Type.Object({ orderId: OrderId }, strict),
    result: order,
    role: 'admin',
    owner: 'order',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ['order.updated', 'order_delivered'],
    summary: 'Mark a shipped order delivered.',
  }),
  'order.refund': op({
    args: Type.Object(
      { orderId: OrderId, amount: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })), reason: Type.Optional(Text(200)) },
      strict,
    ),
    result: order,
    role: 'admin',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ['order.updated'],
    summary: 'Refund part or all of what remains of the capture.',
  }),
  'order.return': op({
    args: Type.Object({ orderId: OrderId }, strict),
    result: order,
    role: 'admin',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: ORDER_WORK,
    summary: 'A delivered order came back: restock and refund what remains.',
  }),
  'order.subscribe': op({
    args: Empty,
    result: nothing,
    role: 'user',
    owner: 'edge',
    writes: false,
    errors: [],
    pushes: ['order.updated'],
    summary: "order.updated pushes for the caller's orders.",
  }),
  'event.view': op({
    args: Type.Object({ productId: ProductId }, strict),
    result: nothing,
    role: 'user',
    owner: 'cart',
    writes: true,
    errors: ['NOT_FOUND'],
    pushes: ['product_viewed'],
    summary: 'Record product_viewed (recommendations).',
  }),
  'recs.forUser': op({
    args: Type.Object(
      {
        limit: Limit(100),
        context: Type.Optional(
          Type.Object({ category: Type.Optional(Text(64)), priceRange: Type.Optional(Type.Object({ min: Money, max: Money }, strict)) }, strict),
        ),
      },
      strict,
    ),
    result: recs,
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Recommendations for the caller (hybrid; popularity when cold).',
  }),
  'recs.similar': op({
    args: Type.Object({ productId: ProductId, limit: Limit(100) }, strict),
    result: recs,
    role: 'user',
    owner: 'app',
    writes: false,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Products similar to one (item-item and content).',
  }),
  // Audit history and product drops (docs/protocol.md "Audit", "Product drops").
  'audit.history': op({
    args: Type.Object({ actor: AuditActorArg, key: AuditKey, limit: Limit(Limits.AUDIT_PAGE_MAX), cursor: Type.Optional(AuditCursor) }, strict),
    result: result<Page<AuditEntry>>('{ items: [{ seq, at, event, data, by? }], nextCursor }'),
    role: 'admin',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: "An actor's journaled events, oldest first, cursor pages.",
  }),
  'audit.stateAt': op({
    args: Type.Object({ actor: AuditActorArg, key: AuditKey, at: EpochMs }, strict),
    result: result<AuditState>('{ actor, key, at, seq, state }'),
    role: 'admin',
    owner: 'app',
    writes: false,
    errors: ['NOT_FOUND', 'LIMIT_EXCEEDED'],
    pushes: [],
    summary: 'An actor replayed to its state at an epoch-ms time.',
  }),
  'drop.create': op({
    args: Type.Object(
      {
        dropId: DropId,
        sku: Sku,
        startsAt: EpochMs,
        perUserLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: Limits.LINE_MAX_QTY })),
        admitPerSecond: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        checkoutWindowMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
      },
      strict,
    ),
    result: result<DropView>('drop'),
    role: 'admin',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: [],
    summary: 'Create a product drop: a fair queue for one sku.',
  }),
  'drop.join': op({
    args: Type.Object({ dropId: DropId }, strict),
    result: result<DropPlace>('{ dropId, position, ahead, admitted, expiresAt?, startsAt }'),
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'LIMIT_EXCEEDED'],
    pushes: ['drop.position', 'drop.admitted'],
    summary: "Join a drop's queue (a second join keeps the first place).",
  }),
  // Accounts: profile, address book, payment methods, sessions, export and erasure.
  ...AccountOps,
} as const;

export type OpName = keyof typeof Ops;
export type OpArgs<O extends OpName> = Static<(typeof Ops)[O]['args']>;
export type OpResult<O extends OpName> = (typeof Ops)[O]['result'] extends ResultOf<infer R> ? R : never;
/** Result type of each op, for the SDK's typed `call`. */
export type OpResults = { [O in OpName]: OpResult<O> };
export const OpNames = Object.keys(Ops) as OpName[];

/** Every error an op may answer: its own, its role's and the common ones. */
export function opErrors(name: OpName): ErrorCode[] {
  const spec: OpSpec = Ops[name];
  return [...new Set([...spec.errors, ...ROLE_ERRORS[spec.role], ...COMMON_ERRORS])];
}
