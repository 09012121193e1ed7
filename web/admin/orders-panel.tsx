// Every order, newest first, kept live by the feed's order.updated, with the fulfilment actions
// each status allows: ship, deliver, refund (what remains), return (after delivery).
import type { CartwireClient } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';
import { dateTime, money } from '../common/format.js';
import { errorText } from '../common/session.js';
import type { Feed, Order } from './feed.js';
import { useFeed } from './use-feed.js';
import { ErrorNote } from '../common/error-note.js';

const SHOWN = 30;

export function OrdersPanel({ client, feed }: { client: CartwireClient; feed: Feed }) {
  useFeed(feed);
  const [listed, setListed] = useState<Order[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    client.call('order.list', { limit: SHOWN }).then(
      (page) => setListed(page.items),
      (err) => setError(errorText(err)),
    );
  }, [client]);

  // The feed's copy of an order is newer than the listed one (pushes follow every change).
  const byId = new Map(listed.map((o) => [o.orderId, o]));
  for (const o of feed.orders.values()) {
    const old = byId.get(o.orderId);
    if (!old || old.version <= o.version) byId.set(o.orderId, o);
  }
  const orders = [...byId.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, SHOWN);

  const act = async (op: 'order.ship' | 'order.deliver' | 'order.refund' | 'order.return', orderId: string) => {
    setError('');
    try {
      const o = await client.call(op, { orderId });
      setListed((l) => [o, ...l.filter((x) => x.orderId !== o.orderId)]);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const button = (label: string, op: Parameters<typeof act>[0], o: Order) => (
    <button type="button" class="secondary" aria-label={`${label} ${o.orderNumber}`} onClick={() => void act(op, o.orderId)}>
      {label}
    </button>
  );
  return (
    <section class="panel" aria-labelledby="orders-title">
      <h2 id="orders-title">Orders</h2>
      <ErrorNote text={error} />
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Status</th>
              <th scope="col">Total</th>
              <th scope="col">Placed</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {orders.map((o) => {
              const refundable = o.payment.status === 'approved' || o.payment.status === 'partially_refunded';
              return (
                <tr key={o.orderId}>
                  <td>
                    <strong>{o.orderNumber}</strong>
                    {o.review && <span class="error"> review</span>}
                  </td>
                  <td class="status">{o.status}</td>
                  <td>{money(o.totals.total, o.currency)}</td>
                  <td>{dateTime(o.createdAt)}</td>
                  <td class="row">
                    {(o.status === 'confirmed' || o.status === 'processing') && button('Ship', 'order.ship', o)}
                    {o.status === 'shipped' && button('Deliver', 'order.deliver', o)}
                    {o.status === 'delivered' && button('Return', 'order.return', o)}
                    {refundable && o.status !== 'cancelled' && o.status !== 'refunded' && o.status !== 'returned' && button('Refund', 'order.refund', o)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
