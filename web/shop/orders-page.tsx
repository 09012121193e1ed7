// The user's orders, newest first, with their status kept live by order.updated pushes.
import type { OpResults } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';
import { dateTime, money } from '../common/format.js';
import { errorText } from '../common/session.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../common/error-note.js';

type Order = OpResults['order.get'];

export function OrdersPage({ shop }: { shop: Shop }) {
  const [orders, setOrders] = useState<Order[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let current = true;
    shop.client.call('order.list', { limit: 50 }).then(
      (page) => current && setOrders(page.items),
      (err) => current && setError(errorText(err)),
    );
    const stop = shop.client.subscribe('orders', (o) => {
      setOrders((list) => {
        const rest = (list ?? []).filter((x) => x.orderId !== o.orderId);
        return [o, ...rest].sort((a, b) => b.createdAt - a.createdAt).slice(0, 50);
      });
    });
    stop.ready.catch(() => undefined);
    return () => {
      current = false;
      void stop().catch(() => undefined);
    };
  }, [shop.client, shop.session.userId]);

  const cancel = async (orderId: string) => {
    try {
      await shop.client.call('order.cancel', { orderId });
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">Your orders</h1>
      <ErrorNote text={error} />
      {orders === null ? (
        <p>Loading…</p>
      ) : orders.length === 0 ? (
        <p>No orders yet.</p>
      ) : (
        <ul class="orders">
          {orders.map((o) => (
            <li key={o.orderId} aria-label={`Order ${o.orderNumber}`}>
              <strong>{o.orderNumber}</strong> <span class={`status ${o.status}`}>{o.status}</span> · {money(o.totals.total, o.currency)} ·{' '}
              {dateTime(o.createdAt)}
              <div class="meta">{o.items.map((l) => `${l.qty} × ${l.name}`).join(', ')}</div>
              {(o.status === 'confirmed' || o.status === 'pending' || o.status === 'processing') && (
                <button type="button" class="secondary" aria-label={`Cancel order ${o.orderNumber}`} onClick={() => void cancel(o.orderId)}>
                  Cancel
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
