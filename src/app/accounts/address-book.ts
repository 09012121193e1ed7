// The address book and saved payment methods of a user (a guest keeps its own too), and the
// lookup checkout does when it is given their ids. All of it lives in the sealed profile.
import type { OpArgs } from '../../protocol/ops.js';
import type { Identity, ShippingAddress } from '../../protocol/types.js';
import type { AddressView, PaymentMethodView } from '../../protocol/types.js';
import { randomId } from '../../protocol/ids.js';
import { fail, type Answer } from '../../transport/dispatch.js';
import { tokenizeCard } from '../commerce/card-tokenizer.js';
import { notFound, type AccountRecords } from './account-records.js';
import type { Profile, StoredPaymentMethod } from './user-vault.js';

export const MAX_ADDRESSES = 20;
export const MAX_PAYMENT_METHODS = 20;

const OPTIONAL_FIELDS = ['line2', 'region', 'phone'] as const;

/** The book with the default first, as the wire shows it. */
const listed = (p: Profile): AddressView[] => [...p.addresses].sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
export const summary = ({ paymentMethodId, brand, last4, expMonth, expYear }: StoredPaymentMethod): PaymentMethodView => ({
  paymentMethodId,
  brand,
  last4,
  expMonth,
  expYear,
});

/** What checkout needs from saved ids: the gateway token and the address as it is now. */
export interface CheckoutRefs {
  token: string;
  address: ShippingAddress;
}

export class AddressBook {
  constructor(private readonly records: AccountRecords) {}

  async list(who: Identity): Promise<Answer<AddressView[]>> {
    const r = await this.records.read(who);
    return 'error' in r ? { ok: false, error: r.error } : { ok: true, result: listed(r.profile) };
  }

  add(who: Identity, a: OpArgs<'address.add'>): Promise<Answer<AddressView>> {
    return this.records.mutate(who, (p) => {
      if (p.addresses.length >= MAX_ADDRESSES)
        return { error: { code: 'LIMIT_EXCEEDED', message: `an address book holds at most ${MAX_ADDRESSES} addresses` } };
      const { isDefault, ...fields } = a;
      const address: AddressView = { addressId: randomId('adr', 12), ...dropEmpty(fields), isDefault: isDefault === true || p.addresses.length === 0 };
      if (address.isDefault) for (const o of p.addresses) o.isDefault = false;
      p.addresses.push(address);
      return { profile: p, result: () => address };
    });
  }

  update(who: Identity, a: OpArgs<'address.update'>): Promise<Answer<AddressView>> {
    return this.records.mutate(who, (p) => {
      const address = p.addresses.find((x) => x.addressId === a.addressId);
      if (!address) return notFound('address');
      const { addressId: _id, isDefault, ...fields } = a;
      Object.assign(address, fields);
      for (const k of OPTIONAL_FIELDS) if (address[k] === '') delete address[k];
      if (isDefault === true) for (const o of p.addresses) o.isDefault = o === address;
      else if (isDefault === false) address.isDefault = false;
      return { profile: p, result: () => address };
    });
  }

  remove(who: Identity, addressId: string): Promise<Answer<AddressView[]>> {
    return this.records.mutate(who, (p) => {
      const i = p.addresses.findIndex((x) => x.addressId === addressId);
      if (i < 0) return notFound('address');
      const [gone] = p.addresses.splice(i, 1);
      // The default went: the next one takes its place, so checkout by default keeps working.
      if (gone.isDefault && p.addresses.length > 0) p.addresses[0].isDefault = true;
      return { profile: p, result: () => listed(p) };
    });
  }

  async paymentMethods(who: Identity): Promise<Answer<PaymentMethodView[]>> {
    const r = await this.records.read(who);
    return 'error' in r ? { ok: false, error: r.error } : { ok: true, result: r.profile.paymentMethods.map(summary) };
  }

  /** Tokenizes the card; its number and cvc go no further than this call. */
  addPaymentMethod(who: Identity, a: OpArgs<'paymentMethod.add'>): Promise<Answer<PaymentMethodView>> {
    const card = tokenizeCard(a.cardNumber, a.expMonth, a.expYear, new Date());
    if ('refused' in card) return Promise.resolve(fail('BAD_REQUEST', card.refused));
    return this.records.mutate(who, (p) => {
      if (p.paymentMethods.length >= MAX_PAYMENT_METHODS) {
        return { error: { code: 'LIMIT_EXCEEDED', message: `at most ${MAX_PAYMENT_METHODS} payment methods are kept` } };
      }
      const pm: StoredPaymentMethod = {
        paymentMethodId: randomId('pm', 12),
        brand: card.brand,
        last4: card.last4,
        expMonth: a.expMonth,
        expYear: a.expYear,
        gatewayToken: card.gatewayToken,
      };
      p.paymentMethods.push(pm);
      return { profile: p, result: () => summary(pm) };
    });
  }

  removePaymentMethod(who: Identity, paymentMethodId: string): Promise<Answer<PaymentMethodView[]>> {
    return this.records.mutate(who, (p) => {
      const i = p.paymentMethods.findIndex((x) => x.paymentMethodId === paymentMethodId);
      if (i < 0) return notFound('payment method');
      p.paymentMethods.splice(i, 1);
      return { profile: p, result: () => p.paymentMethods.map(summary) };
    });
  }

  /**
   * Resolves checkout's saved ids (another user's id is NOT_FOUND: it is looked up in the
   * caller's own profile only). Undefined fields mean the request carried them inline.
   */
  async checkoutRefs(who: Identity, a: OpArgs<'checkout'>): Promise<Answer<Partial<CheckoutRefs>>> {
    const pmId = 'paymentMethodId' in a.payment ? a.payment.paymentMethodId : undefined;
    if ((a.shippingAddress === undefined) === (a.shippingAddressId === undefined)) {
      return fail('BAD_REQUEST', 'checkout takes exactly one of args.shippingAddress and args.shippingAddressId');
    }
    if (pmId === undefined && a.shippingAddressId === undefined) return { ok: true, result: {} };
    const r = await this.records.read(who);
    if ('error' in r) return { ok: false, error: r.error };
    const out: Partial<CheckoutRefs> = {};
    if (pmId !== undefined) {
      const pm = r.profile.paymentMethods.find((x) => x.paymentMethodId === pmId);
      if (!pm) return fail('NOT_FOUND', 'payment method not found');
      out.token = pm.gatewayToken;
    }
    if (a.shippingAddressId !== undefined) {
      const ad = r.profile.addresses.find((x) => x.addressId === a.shippingAddressId);
      if (!ad) return fail('NOT_FOUND', 'address not found');
      const { addressId: _id, isDefault: _d, ...copy } = ad;
      out.address = copy;
    }
    return { ok: true, result: out };
  }
}

/** Optional fields given as "" are left out. */
function dropEmpty<T extends Record<string, unknown>>(fields: T): T {
  const out = { ...fields };
  for (const k of OPTIONAL_FIELDS) if (out[k] === '') delete out[k];
  return out;
}
