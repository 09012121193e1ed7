// Checkout: a shipping address (typed, or one saved) and a payment (a saved card, or a test card
// of the built-in gateway), then "Place order".
// One idempotency key per attempt: a retry after a lost answer reuses it (the server returns the
// same order and never charges twice); a definite answer (declined, out of stock) starts a new one.
import type { OpResults } from '@cartwire/client';
import { CartwireError } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../common/session.js';
import { Totals } from './cart-page.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../common/error-note.js';

type Order = OpResults['order.get'];
type Address = OpResults['address.list'][number];
type Card = OpResults['paymentMethod.list'][number];

/** The built-in gateway's test tokens and what each does. */
const TEST_CARDS = [
  ['tok_visa', 'approves'],
  ['tok_mastercard', 'approves'],
  ['tok_chargeDeclined', 'declines'],
  ['tok_insufficientFunds', 'declines: insufficient funds'],
  ['tok_timeout', 'times out'],
] as const;

/** 128 random bits (crypto.randomUUID needs a secure context; a shop on a LAN address is not one). */
const newKey = (): string => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

export function CheckoutPage({ shop }: { shop: Shop }) {
  const [address, setAddress] = useState({ name: '', line1: '', city: '', postalCode: '', country: 'US' });
  const [token, setToken] = useState<string>('tok_visa');
  const [key, setKey] = useState(newKey);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [order, setOrder] = useState<Order | null>(null);
  // Saved addresses and cards of the signed-in user ('' chooses a typed address or a test card).
  const [saved, setSaved] = useState<{ addresses: Address[]; cards: Card[] }>({ addresses: [], cards: [] });
  const [addressId, setAddressId] = useState('');
  const [cardId, setCardId] = useState('');
  const userId = shop.client.session?.userId;
  useEffect(() => {
    let live = true;
    const none = () => [];
    void Promise.all([shop.client.call('address.list', {}).catch(none), shop.client.call('paymentMethod.list', {}).catch(none)]).then(([addresses, cards]) => {
      if (!live) return;
      setSaved({ addresses, cards });
      setAddressId((addresses.find((a) => a.isDefault) ?? addresses[0])?.addressId ?? '');
      setCardId(cards[0]?.paymentMethodId ?? '');
    });
    return () => {
      live = false;
    };
  }, [shop.client, userId]);

  if (order)
    return (
      <section aria-labelledby="placed-title">
        <h1 id="placed-title">Thank you!</h1>
        <p role="status">
          Order <strong class="order-number">{order.orderNumber}</strong> is {order.status}.
        </p>
        <p>
          <a href="#/orders">Your orders</a> · <a href="#/">Keep shopping</a>
        </p>
      </section>
    );
  const cart = shop.cart;
  if (!cart) return <p>Loading your cart…</p>;
  if (cart.items.length === 0)
    return (
      <p>
        Your cart is empty. <a href="#/">Browse the shop</a>
      </p>
    );

  const place = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const payment = cardId ? { paymentMethodId: cardId } : { token };
      const shipping = addressId ? { shippingAddressId: addressId } : { shippingAddress: address };
      const placed = await shop.client.call('checkout', { idempotencyKey: key, payment, ...shipping }, { timeoutMs: 30_000 });
      setOrder(placed);
    } catch (err) {
      setError(errorText(err));
      if (err instanceof CartwireError && err.fromServer) setKey(newKey());
    } finally {
      setBusy(false);
    }
  };
  const field = (name: keyof typeof address, label: string, autocomplete: string) => (
    <label>
      {label}
      <input
        type="text"
        required
        autocomplete={autocomplete}
        value={address[name]}
        onInput={(e) => {
          const value = e.currentTarget.value;
          setAddress((a) => ({ ...a, [name]: value }));
        }}
      />
    </label>
  );
  return (
    <section aria-labelledby="checkout-title">
      <h1 id="checkout-title">Checkout</h1>
      <ul class="summary">
        {cart.items.map((l) => (
          <li key={l.sku}>
            {l.qty} × {l.name}
          </li>
        ))}
      </ul>
      <Totals cart={cart} />
      <form class="checkout" onSubmit={(e) => void place(e)}>
        <fieldset>
          <legend>Shipping address</legend>
          {saved.addresses.length > 0 && (
            <label>
              Saved address
              <select value={addressId} onChange={(e) => setAddressId(e.currentTarget.value)}>
                {saved.addresses.map((a) => (
                  <option key={a.addressId} value={a.addressId}>
                    {a.name}, {a.line1}, {a.city} {a.postalCode}, {a.country}
                  </option>
                ))}
                <option value="">A new address</option>
              </select>
            </label>
          )}
          {addressId === '' && (
            <>
              {field('name', 'Name', 'name')}
              {field('line1', 'Address line 1', 'address-line1')}
              {field('city', 'City', 'address-level2')}
              {field('postalCode', 'Postal code', 'postal-code')}
              {field('country', 'Country', 'country')}
            </>
          )}
        </fieldset>
        <fieldset>
          <legend>Payment</legend>
          {saved.cards.length > 0 && (
            <label>
              Saved card
              <select value={cardId} onChange={(e) => setCardId(e.currentTarget.value)}>
                {saved.cards.map((c) => (
                  <option key={c.paymentMethodId} value={c.paymentMethodId}>
                    {c.brand} ending {c.last4}, expires {String(c.expMonth).padStart(2, '0')}/{c.expYear}
                  </option>
                ))}
                <option value="">A test card</option>
              </select>
            </label>
          )}
          {cardId === '' && (
            <label>
              Test card
              <select value={token} onChange={(e) => setToken(e.currentTarget.value)}>
                {TEST_CARDS.map(([t, what]) => (
                  <option key={t} value={t}>
                    {t} ({what})
                  </option>
                ))}
              </select>
            </label>
          )}
        </fieldset>
        <ErrorNote text={error} />
        <button type="submit" disabled={busy}>
          Place order
        </button>
      </form>
    </section>
  );
}
