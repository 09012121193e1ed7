// The account ops of the op table (ops.ts spreads them in): profile and preferences, the address
// book, payment methods, sessions, export and erasure, and the admin's user list.
import Type, { type TSchema } from './typebox.js';
import { Limits } from './errors.js';
import { result } from './result.js';
import { AddressFields, AddressId, AddressPatchFields, Empty, Password, PaymentMethodId, PreferencesArg, Text, UserId, Username, strict } from './schemas.js';
import type { OpSpec } from './ops.js';
import type { AuthResult, Page } from './types.js';
import type { AddressView, PaymentMethodView, UserExport, UserListItem, UserView } from './types.js';

const op = <A extends TSchema, R>(spec: OpSpec<A, R>): OpSpec<A, R> => spec;

const user = result<UserView>('user');
const address = result<AddressView>('address');
const addresses = result<AddressView[]>('[address]');
const paymentMethod = result<PaymentMethodView>('paymentMethod');
const paymentMethods = result<PaymentMethodView[]>('[paymentMethod]');
export const AccountOps = {
  'user.get': op({
    args: Empty,
    result: user,
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: "The caller's profile and preferences.",
  }),
  'user.update': op({
    args: Type.Object(
      { name: Type.Optional(Text(Limits.NAME_MAX_LENGTH)), username: Type.Optional(Username), preferences: Type.Optional(PreferencesArg) },
      strict,
    ),
    result: user,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['CONFLICT'],
    pushes: [],
    summary: 'Change name, username (unique) or preferences.',
  }),
  'address.add': op({
    args: Type.Object(AddressFields, strict),
    result: address,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: [],
    pushes: [],
    summary: 'Add an address to the book (at most 20; the first one is the default).',
  }),
  'address.update': op({
    args: Type.Object({ addressId: AddressId, ...AddressPatchFields }, strict),
    result: address,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Change fields of an address (line2, region, phone: "" clears).',
  }),
  'address.remove': op({
    args: Type.Object({ addressId: AddressId }, strict),
    result: addresses,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Remove an address; answers the book that remains.',
  }),
  'address.list': op({
    args: Empty,
    result: addresses,
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'The address book, the default first.',
  }),
  'paymentMethod.add': op({
    args: Type.Object(
      {
        cardNumber: Type.String({ pattern: '^[0-9]{12,19}$' }),
        expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
        expYear: Type.Integer({ minimum: 2000, maximum: 2100 }),
        cvc: Type.String({ pattern: '^[0-9]{3,4}$' }),
      },
      strict,
    ),
    result: paymentMethod,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: [],
    pushes: [],
    summary: 'Tokenize a card with the built-in gateway; only brand, last4 and expiry are kept.',
  }),
  'paymentMethod.list': op({
    args: Empty,
    result: paymentMethods,
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Saved payment methods (summaries only).',
  }),
  'paymentMethod.remove': op({
    args: Type.Object({ paymentMethodId: PaymentMethodId }, strict),
    result: paymentMethods,
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND'],
    pushes: [],
    summary: 'Remove a payment method; answers those that remain.',
  }),
  'auth.changePassword': op({
    args: Type.Object({ oldPassword: Type.String({ minLength: 1, maxLength: Limits.PASSWORD_MAX_LENGTH }), newPassword: Password }, strict),
    result: result<AuthResult>('{ token, userId, role }'),
    role: 'user',
    owner: 'app',
    writes: true,
    session: true,
    errors: ['FORBIDDEN'],
    pushes: [],
    summary: 'New password; every earlier token stops working, this connection gets a new one.',
  }),
  'auth.logout': op({
    args: Empty,
    result: result<Record<string, never>>('{}'),
    role: 'user',
    owner: 'app',
    writes: true,
    errors: [],
    pushes: [],
    summary: 'Every token of the caller stops working, on every connection (this one included).',
  }),
  'user.export': op({
    args: Empty,
    result: result<UserExport>('{ user, addresses, paymentMethods, orders, events }'),
    role: 'user',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Every stored fact about the caller.',
  }),
  'user.erase': op({
    args: Type.Object({ password: Type.String({ minLength: 1, maxLength: Limits.PASSWORD_MAX_LENGTH }) }, strict),
    result: result<Record<string, never>>('{}'),
    role: 'user',
    owner: 'app',
    writes: true,
    errors: ['FORBIDDEN'],
    pushes: [],
    summary: "Erase the caller's personal data for good (customers); orders stay for the books.",
  }),
  'user.list': op({
    args: Type.Object(
      {
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        cursor: Type.Optional(UserId),
        q: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
      },
      strict,
    ),
    result: result<Page<UserListItem>>('{ items: [user], nextCursor }'),
    role: 'admin',
    owner: 'app',
    writes: false,
    errors: [],
    pushes: [],
    summary: 'Accounts by id; q: an exact email, username or user id.',
  }),
  'user.setRole': op({
    args: Type.Object({ userId: UserId, role: Type.Union([Type.Literal('customer'), Type.Literal('admin')]) }, strict),
    result: user,
    role: 'admin',
    owner: 'app',
    writes: true,
    errors: ['NOT_FOUND', 'CONFLICT'],
    pushes: [],
    summary: "Make an account a customer or an admin; the account's earlier tokens stop working.",
  }),
} as const;
