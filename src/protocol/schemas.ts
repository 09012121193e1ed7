// Argument schemas of the wire protocol, declared once (TypeBox) and shared by the server's edge
// validation, the SDK's types, the docs and the tests.
import Type, { type Static } from 'typebox';
import { Limits } from './errors.js';

const ID = '^[A-Za-z0-9._:-]{1,64}$';

export const Sku = Type.String({ pattern: ID, description: '1-64 chars [A-Za-z0-9._:-]' });
export const ProductId = Type.String({ pattern: ID, description: '1-64 chars [A-Za-z0-9._:-]' });
export const WarehouseId = Type.String({ pattern: ID });
export const Qty = Type.Integer({ minimum: 1, maximum: Limits.LINE_MAX_QTY });
export const QtyOrZero = Type.Integer({ minimum: 0, maximum: Limits.LINE_MAX_QTY });
/** Money: integer minor units. Capped so that 100 lines x 999 x price stays an exact double. */
export const Money = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });
export const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
/** Surrounding whitespace is allowed: the server trims and lowercases emails before use. */
export const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^\\s*[^\\s@]+@[^\\s@]+\\s*$' });
export const Password = Type.String({ minLength: Limits.PASSWORD_MIN_LENGTH, maxLength: Limits.PASSWORD_MAX_LENGTH });
export const Attributes = Type.Record(Type.String({ pattern: '^.{1,64}$' }), Type.String({ maxLength: 256 }), {
  maxProperties: 32,
});

const Empty = Type.Object({}, { additionalProperties: false });
const strict = { additionalProperties: false } as const;

export const VariantInput = Type.Object(
  { sku: Sku, price: Money, currency: Type.Optional(Currency), attributes: Type.Optional(Attributes) },
  strict,
);

export const ProductStatusArg = Type.Union([Type.Literal('active'), Type.Literal('draft'), Type.Literal('archived')]);

export const InventoryTxType = Type.Union([
  Type.Literal('purchase'),
  Type.Literal('return'),
  Type.Literal('sale'),
  Type.Literal('damage'),
  Type.Literal('expiry'),
  Type.Literal('adjustment'),
  Type.Literal('transfer'),
]);
export type InventoryTxType = Static<typeof InventoryTxType>;

export const CouponCode = Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$', description: '1-32 chars [A-Za-z0-9_-], case-insensitive' });
export const OrderId = Type.String({ pattern: ID });
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

export const ShippingAddressArg = Type.Object(
  { name: Text(200), line1: Text(200), city: Text(100), postalCode: Text(20), country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }) },
  strict,
);

export const Args = {
  ping: Empty,
  'auth.guest': Empty,
  'auth.register': Type.Object(
    { email: Email, password: Password, name: Type.Optional(Type.String({ minLength: 1, maxLength: Limits.NAME_MAX_LENGTH })) },
    strict,
  ),
  // Any length up to the maximum: a short password is just a wrong one (same answer as any other).
  'auth.login': Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: Limits.PASSWORD_MAX_LENGTH }) }, strict),
  'auth.resume': Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, strict),
  'catalog.upsert': Type.Object(
    {
      productId: ProductId,
      name: Type.String({ minLength: 1, maxLength: 200 }),
      category: Type.String({ minLength: 1, maxLength: 64 }),
      brand: Type.Optional(Type.String({ maxLength: 64 })),
      description: Type.Optional(Type.String({ maxLength: 4000 })),
      attributes: Type.Optional(Attributes),
      status: Type.Optional(ProductStatusArg),
      variants: Type.Array(VariantInput, { minItems: 1, maxItems: 100 }),
    },
    strict,
  ),
  'catalog.get': Type.Object({ productId: ProductId }, strict),
  'catalog.search': Type.Object(
    {
      q: Type.Optional(Type.String({ maxLength: 200 })),
      category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      brand: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      minPrice: Type.Optional(Money),
      maxPrice: Type.Optional(Money),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      // base64url of a productId (at most 64 bytes): the nextCursor of an earlier page.
      cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 88, pattern: '^[A-Za-z0-9_-]+$' })),
    },
    strict,
  ),
  'inventory.get': Type.Object({ sku: Sku }, strict),
  'inventory.adjust': Type.Object(
    {
      sku: Sku,
      type: InventoryTxType,
      // 0 is meaningful only for `adjustment` (set on-hand to zero); the actor rejects it elsewhere.
      qty: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
      reason: Type.String({ minLength: 1, maxLength: 200 }),
      warehouse: Type.Optional(WarehouseId),
      toWarehouse: Type.Optional(WarehouseId),
      referenceId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    },
    strict,
  ),
  'cart.get': Empty,
  'cart.add': Type.Object({ sku: Sku, qty: Qty }, strict),
  'cart.setQty': Type.Object({ sku: Sku, qty: QtyOrZero }, strict),
  'cart.remove': Type.Object({ sku: Sku }, strict),
  'cart.clear': Empty,
  'cart.subscribe': Empty,
  'cart.unsubscribe': Empty,
  'inventory.subscribe': Type.Object({ sku: Sku }, strict),
  'inventory.unsubscribe': Type.Object({ sku: Sku }, strict),
  'admin.subscribe': Empty,
  'admin.unsubscribe': Empty,
  'coupon.upsert': Type.Object(
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
  'cart.applyCoupon': Type.Object({ code: CouponCode }, strict),
  'cart.removeCoupon': Empty,
  checkout: Type.Object(
    {
      idempotencyKey: Type.String({ minLength: 1, maxLength: 128 }),
      payment: Type.Object({ token: Type.String({ minLength: 1, maxLength: 64 }) }, strict),
      shippingAddress: ShippingAddressArg,
    },
    strict,
  ),
  'order.get': Type.Object({ orderId: OrderId }, strict),
  'order.list': Type.Object(
    { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' })) },
    strict,
  ),
  'order.cancel': Type.Object({ orderId: OrderId }, strict),
  'order.ship': Type.Object({ orderId: OrderId, carrier: Type.Optional(Text(64)), trackingNumber: Type.Optional(Text(128)) }, strict),
  'order.deliver': Type.Object({ orderId: OrderId }, strict),
  'order.refund': Type.Object(
    { orderId: OrderId, amount: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })), reason: Type.Optional(Text(200)) },
    strict,
  ),
  'order.return': Type.Object({ orderId: OrderId }, strict),
  'order.subscribe': Empty,
  'event.view': Type.Object({ productId: ProductId }, strict),
  'recs.forUser': Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      context: Type.Optional(
        Type.Object(
          { category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), priceRange: Type.Optional(Type.Object({ min: Money, max: Money }, strict)) },
          strict,
        ),
      ),
    },
    strict,
  ),
  'recs.similar': Type.Object({ productId: ProductId, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }, strict),
} as const;

export type OpName = keyof typeof Args;
export type OpArgs<O extends OpName> = Static<(typeof Args)[O]>;
