// The admin dashboard at /admin: the live domain event feed, live charts (orders, revenue,
// payment outcomes), low-stock alerts, inventory adjustments, product, coupon and drop editors,
// the orders with their fulfilment actions, and the audit history of any sku, cart, order or
// coupon. Signs in as an admin over the shop's WebSocket.
import type { CartwireClient } from '@cartwire/client';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import '../common/base.css';
import './admin.css';
import { SignInForm } from '../common/sign-in.js';
import { connect, errorText, forget, remember } from '../common/session.js';
import { AuditPanel } from './audit-panel.js';
import { Charts } from './charts.js';
import { CouponEditor } from './coupon-editor.js';
import { DropEditor } from './drop-editor.js';
import { Feed } from './feed.js';
import { InventoryForm } from './inventory-form.js';
import { LiveEvents, LowStockAlerts } from './live-events.js';
import { OrdersPanel } from './orders-panel.js';
import { ProductEditor } from './product-editor.js';

const TOKEN_KEY = 'cartwire.admin.token';

function Dashboard({ client, signOut }: { client: CartwireClient; signOut: () => void }) {
  const feed = useMemo(() => new Feed(), [client]);
  useEffect(() => feed.follow(client), [feed, client]);
  return (
    <>
      <header class="top">
        <span class="brand">cartwire admin</span>
        <nav aria-label="Admin">
          <a href="/">Storefront</a>
        </nav>
        <div class="account">
          <button type="button" class="secondary" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main class="dashboard">
        <h1 class="visually-hidden">Dashboard</h1>
        <Charts feed={feed} />
        <div class="columns">
          <LiveEvents feed={feed} />
          <div class="stack">
            <LowStockAlerts feed={feed} />
            <InventoryForm client={client} />
          </div>
        </div>
        <OrdersPanel client={client} feed={feed} />
        <div class="columns">
          <ProductEditor client={client} />
          <CouponEditor client={client} />
        </div>
        <div class="columns">
          <AuditPanel client={client} />
          <DropEditor client={client} />
        </div>
      </main>
    </>
  );
}

function App({ client, admin }: { client: CartwireClient; admin: boolean }) {
  const [signedIn, setSignedIn] = useState(admin);
  if (signedIn)
    return (
      <Dashboard
        client={client}
        signOut={() => {
          forget(TOKEN_KEY);
          location.reload();
        }}
      />
    );
  return (
    <main>
      <h1>cartwire admin</h1>
      <SignInForm
        mode="signin"
        submit={async (_mode, f) => {
          const r = await client.call('auth.login', f);
          if (r.role !== 'admin') throw new Error('This account is not an admin.');
          return r;
        }}
        done={(r) => {
          remember(TOKEN_KEY, r);
          setSignedIn(true);
        }}
      />
    </main>
  );
}

async function start(root: HTMLElement): Promise<void> {
  try {
    const { client, session } = await connect(TOKEN_KEY);
    root.textContent = ''; // the loading note
    render(<App client={client} admin={session?.role === 'admin'} />, root);
  } catch (err) {
    root.textContent = `The shop cannot be reached: ${errorText(err)}`;
  }
}

void start(document.getElementById('app')!);
