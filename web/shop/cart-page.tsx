// The cart: quantities, removal, a coupon, totals, and the way to checkout. Every change comes
// back as the full cart through the live subscription (also to the user's other windows).
import { useState } from 'preact/hooks';
import { money } from '../common/format.js';
import { errorText } from '../common/session.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../common/error-note.js';

export function CartPage({ shop }: { shop: Shop }) {
  const { cart, client } = shop;
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const run = async (p: Promise<unknown>) => {
    setError('');
    try {
      await p;
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (!cart) return <p>Loading your cart…</p>;
  const c = cart.currency;
  return (
    <section aria-labelledby="cart-title">
      <h1 id="cart-title">Your cart</h1>
      <ErrorNote text={error} />
      {cart.items.length === 0 ? (
        <p>
          Your cart is empty. <a href="#/">Browse the shop</a>
        </p>
      ) : (
        <table class="lines">
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Quantity</th>
              <th scope="col">Price</th>
              <th scope="col">
                <span class="visually-hidden">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {cart.items.map((l) => (
              <tr key={l.sku}>
                <td>
                  <a href={`#/product/${encodeURIComponent(l.productId)}`}>{l.name}</a> <span class="meta">{l.sku}</span>
                </td>
                <td>
                  <input
                    type="number"
                    min={0}
                    max={999}
                    aria-label={`Quantity of ${l.name}`}
                    value={l.qty}
                    onChange={(e) => {
                      const qty = Number(e.currentTarget.value);
                      if (Number.isInteger(qty) && qty >= 0 && qty <= 999) void run(client.call('cart.setQty', { sku: l.sku, qty }));
                    }}
                  />
                </td>
                <td>{money(l.lineTotal, c)}</td>
                <td>
                  <button type="button" class="secondary" aria-label={`Remove ${l.name}`} onClick={() => void run(client.call('cart.remove', { sku: l.sku }))}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="row coupon"
        onSubmit={(e) => {
          e.preventDefault();
          if (code.trim()) void run(client.call('cart.applyCoupon', { code: code.trim() }).then(() => setCode('')));
        }}
      >
        <label>
          Coupon code
          <input type="text" value={code} autocomplete="off" onInput={(e) => setCode(e.currentTarget.value)} />
        </label>
        <button type="submit" class="secondary">
          Apply coupon
        </button>
        {cart.coupon && (
          <button type="button" class="secondary" onClick={() => void run(client.call('cart.removeCoupon', {}))}>
            Remove coupon {cart.coupon}
          </button>
        )}
      </form>
      <Totals cart={cart} />
      {cart.items.length > 0 && (
        <p>
          <a class="button" href="#/checkout">
            Checkout
          </a>
        </p>
      )}
    </section>
  );
}

export function Totals({ cart }: { cart: NonNullable<Shop['cart']> }) {
  const c = cart.currency;
  return (
    <dl class="totals">
      <div>
        <dt>Subtotal</dt>
        <dd>{money(cart.subtotal, c)}</dd>
      </div>
      {cart.discount > 0 && (
        <div>
          <dt>Discount{cart.coupon ? ` (${cart.coupon})` : ''}</dt>
          <dd>−{money(cart.discount, c)}</dd>
        </div>
      )}
      <div>
        <dt>Tax</dt>
        <dd>{money(cart.tax, c)}</dd>
      </div>
      <div>
        <dt>Shipping</dt>
        <dd>{money(cart.shipping, c)}</dd>
      </div>
      <div class="total">
        <dt>Total</dt>
        <dd>{money(cart.total, c)}</dd>
      </div>
    </dl>
  );
}
