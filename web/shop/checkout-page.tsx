// Checkout: a shipping address and a test card of the built-in gateway, then "Place order".
// One idempotency key per attempt: a retry after a lost answer reuses it (the server returns the
// same order and never charges twice); a definite answer (declined, out of stock) starts a new one.
import type { OpResults } from '@cartwire/client';
import { CartwireError } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { errorText } from '../shared/session.js';
import { Totals } from './cart-page.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../shared/error-note.js';

type Order = OpResults['order.get'];

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
      const placed = await shop.client.call('checkout', { idempotencyKey: key, payment: { token }, shippingAddress: address }, { timeoutMs: 30_000 });
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
          {field('name', 'Name', 'name')}
          {field('line1', 'Address line 1', 'address-line1')}
          {field('city', 'City', 'address-level2')}
          {field('postalCode', 'Postal code', 'postal-code')}
          {field('country', 'Country', 'country')}
        </fieldset>
        <fieldset>
          <legend>Payment</legend>
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
        </fieldset>
        <ErrorNote text={error} />
        <button type="submit" disabled={busy}>
          Place order
        </button>
      </form>
    </section>
  );
}
