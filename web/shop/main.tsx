// The storefront at /: browse and search with live stock, product pages with recommendations,
// a live cart shared by every window of the same user, checkout with the gateway's test cards,
// and the user's orders with live status. Built on @cartwire/client over the shop's WebSocket.
import type { CartView, CartwireClient, Session } from '@cartwire/client';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../common/base.css';
import { SignInForm, type AuthMode } from '../common/sign-in.js';
import { connect, errorText, forget, remember } from '../common/session.js';
import { Browse } from './browse.js';
import { CartPage } from './cart-page.js';
import { CheckoutPage } from './checkout-page.js';
import { DropPage } from './drop-page.js';
import { OrdersPage } from './orders-page.js';
import { ProductPage } from './product-page.js';
import { cartQty, TOKEN_KEY, type Shop } from './shop.js';

/** The view named by the URL's hash: #/, #/product/<id>, #/cart, #/checkout, #/orders, #/drop/<id>. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => {
      setRoute(read());
      window.scrollTo(0, 0);
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function App({ client, initial }: { client: CartwireClient; initial: Session }) {
  const [session, setSession] = useState(initial);
  const [cart, setCart] = useState<CartView | null>(null);
  const [auth, setAuth] = useState<AuthMode | null>(null);
  const [offline, setOffline] = useState(false);
  const route = useRoute();

  // The live cart of whoever is signed in; a sign-in ends the previous identity's subscription.
  useEffect(() => {
    setCart(null);
    const stop = client.subscribe('cart', setCart);
    stop.ready.catch(() => undefined);
    return () => void stop().catch(() => undefined);
  }, [client, session.userId]);
  useEffect(() => client.on('state', (s) => setOffline(s === 'reconnecting')), [client]);

  const shop: Shop = {
    client,
    session,
    cart,
    add: async (sku, qty = 1) => {
      try {
        await client.call('cart.add', { sku, qty });
        return undefined;
      } catch (err) {
        return errorText(err);
      }
    },
  };
  const signOut = async () => {
    forget(TOKEN_KEY);
    setSession(remember(TOKEN_KEY, await client.call('auth.guest', {})));
  };

  const [view, arg] = route;
  const page =
    view === 'product' && arg ? (
      <ProductPage shop={shop} productId={arg} />
    ) : view === 'cart' ? (
      <CartPage shop={shop} />
    ) : view === 'checkout' ? (
      <CheckoutPage shop={shop} />
    ) : view === 'drop' && arg ? (
      <DropPage shop={shop} dropId={arg} />
    ) : view === 'orders' ? (
      <OrdersPage shop={shop} />
    ) : (
      <Browse shop={shop} />
    );
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          cartwire
        </a>
        <nav aria-label="Shop">
          <a href="#/orders">Orders</a>
          <a href="#/cart" class="cart-link">
            Cart{' '}
            <span role="status" aria-label="Cart" class="badge">
              {cartQty(cart)}
            </span>
          </a>
        </nav>
        <div class="account">
          {session.role === 'guest' ? (
            auth === null && (
              <>
                <button type="button" class="secondary" onClick={() => setAuth('signin')}>
                  Sign in
                </button>
                <button type="button" class="secondary" onClick={() => setAuth('register')}>
                  Create account
                </button>
              </>
            )
          ) : (
            <>
              <span class="meta">Signed in</span>
              <button type="button" class="secondary" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      {offline && (
        <p class="banner" role="alert">
          Connection lost: reconnecting…
        </p>
      )}
      {auth && (
        <SignInForm
          mode={auth}
          submit={(mode, f) => (mode === 'signin' ? client.call('auth.login', f) : client.call('auth.register', f))}
          done={(r) => {
            setAuth(null);
            setSession(remember(TOKEN_KEY, r));
          }}
          cancel={() => setAuth(null)}
        />
      )}
      <main>{page}</main>
    </>
  );
}

async function start(root: HTMLElement): Promise<void> {
  try {
    const { client, session } = await connect(TOKEN_KEY);
    const initial = session ?? remember(TOKEN_KEY, await client.call('auth.guest', {}));
    root.textContent = ''; // the loading note
    render(<App client={client} initial={initial} />, root);
  } catch (err) {
    root.textContent = `The shop cannot be reached: ${errorText(err)}`;
  }
}

void start(document.getElementById('app')!);
