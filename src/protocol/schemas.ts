// The building blocks of the op table's argument schemas (TypeBox): identifiers, quantities,
// money, addresses. ops.ts composes them into one args schema per op.
import Type, { type Static } from './typebox.js';
import { Limits } from './errors.js';
import { MEDIA_ID_PATTERN, MediaLimits } from './media.js';

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

export const Empty = Type.Object({}, { additionalProperties: false });
export const strict = { additionalProperties: false } as const;

export const VariantInput = Type.Object({ sku: Sku, price: Money, currency: Type.Optional(Currency), attributes: Type.Optional(Attributes) }, strict);

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
export const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });
/** base64url of a productId (at most 64 bytes): the nextCursor of an earlier catalog.search page. */
export const SearchCursor = Type.String({ minLength: 1, maxLength: 88, pattern: '^[A-Za-z0-9_-]+$' });
/** The nextCursor of an earlier order.list page. */
export const OrderListCursor = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' });

export const ShippingAddressArg = Type.Object(
  {
    name: Text(200),
    line1: Text(200),
    city: Text(100),
    postalCode: Text(20),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  strict,
);

/** Epoch milliseconds (up to the year 275760, the largest Date). */
export const EpochMs = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });
export const DropId = Type.String({ pattern: ID, description: '1-64 chars [A-Za-z0-9._:-]' });
export const AuditActorArg = Type.Union([Type.Literal('inventory'), Type.Literal('cart'), Type.Literal('order'), Type.Literal('coupon')]);
/** A sku, userId, orderId or coupon code, by the actor kind. */
export const AuditKey = Type.String({ pattern: ID, description: 'sku, userId, orderId or coupon code' });
/** The nextCursor of an earlier audit.history page. */
export const AuditCursor = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
/** ISO 3166-1 alpha-2, upper case. */
export const CountryCode = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' });
export const Username = Type.String({ minLength: 3, maxLength: 32, pattern: '^[a-z0-9_]+$' });
export const AddressId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const PaymentMethodId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const UserId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
/** The fields of an address book entry; `address.update` takes each of them as optional. */
export const AddressFields = {
  name: Text(200),
  line1: Text(200),
  line2: Type.Optional(Type.String({ maxLength: 200 })),
  city: Text(100),
  region: Type.Optional(Type.String({ maxLength: 100 })),
  postalCode: Type.String({ minLength: 2, maxLength: 12, pattern: '^[A-Za-z0-9][A-Za-z0-9 -]*$' }),
  country: CountryCode,
  phone: Type.Optional(Type.String({ minLength: 4, maxLength: 32, pattern: '^\\+?[0-9 ()-]+$' })),
  isDefault: Type.Optional(Type.Boolean()),
};
export const PreferencesArg = Type.Object(
  {
    language: Type.Optional(Type.String({ pattern: '^[a-z]{2,3}(-[A-Z]{2})?$' })),
    currency: Type.Optional(Currency),
    marketing: Type.Optional(Type.Boolean()),
    personalizedRecs: Type.Optional(Type.Boolean()),
  },
  strict,
);
/** `address.update`: each field optional; "" clears line2, region and phone. */
export const AddressPatchFields = {
  name: Type.Optional(AddressFields.name),
  line1: Type.Optional(AddressFields.line1),
  line2: AddressFields.line2,
  city: Type.Optional(AddressFields.city),
  region: AddressFields.region,
  postalCode: Type.Optional(AddressFields.postalCode),
  country: Type.Optional(CountryCode),
  phone: Type.Optional(Type.String({ maxLength: 32, pattern: '^(\\+?[0-9 ()-]{4,})?$' })),
  isDefault: AddressFields.isDefault,
};

/** A product image by the id POST /media answered, with its alt text ('' for a decorative image). */
export const ImageArg = Type.Object(
  {
    mediaId: Type.String({ pattern: MEDIA_ID_PATTERN, description: 'the SHA-256 of the bytes, lower-case hex' }),
    alt: Type.String({ maxLength: MediaLimits.ALT_MAX_LENGTH }),
  },
  strict,
);
