// The seed's business metrics, counted from committed domain events (so a figure never counts
// something that did not happen): orders created and completed, revenue by currency, payment
// successes and failures, cart additions, products viewed; and active users (signed-in
// identities with an open connection).
import client from 'prom-client';
import type { DomainEvent } from '../../actors/actor.js';

export class BusinessMetrics {
  private readonly ordersCreated: client.Counter;
  private readonly ordersCompleted: client.Counter;
  private readonly revenue: client.Counter<'currency'>;
  private readonly payments: client.Counter<'outcome'>;
  private readonly cartAdditions: client.Counter;
  private readonly productsViewed: client.Counter;
  private readonly domainEvents: client.Counter<'event'>;
  private readonly users = new Map<string, number>();
  private readonly eventChildren = new Map<string, client.Counter.Internal>();

  constructor(r: client.Registry) {
    this.ordersCreated = new client.Counter({
      name: 'cartwire_orders_created_total',
      help: 'Orders created (checkouts that passed the cart freeze).',
      registers: [r],
    });
    this.ordersCompleted = new client.Counter({ name: 'cartwire_orders_completed_total', help: 'Orders confirmed (paid).', registers: [r] });
    this.revenue = new client.Counter({
      name: 'cartwire_revenue_minor_units_total',
      help: 'Confirmed order totals in minor units, by currency (refunds not subtracted).',
      labelNames: ['currency'],
      registers: [r],
    });
    this.payments = new client.Counter({
      name: 'cartwire_payments_total',
      help: 'Checkout payments by outcome (processed, failed).',
      labelNames: ['outcome'],
      registers: [r],
    });
    this.cartAdditions = new client.Counter({ name: 'cartwire_cart_additions_total', help: 'product_added_to_cart events (units added).', registers: [r] });
    this.productsViewed = new client.Counter({ name: 'cartwire_products_viewed_total', help: 'product_viewed events.', registers: [r] });
    this.domainEvents = new client.Counter({
      name: 'cartwire_domain_events_total',
      help: 'Domain events logged, by name.',
      labelNames: ['event'],
      registers: [r],
    });
    const users = this.users;
    new client.Gauge({
      name: 'cartwire_active_users',
      help: 'Distinct signed-in users with at least one open connection.',
      registers: [r],
      collect() {
        this.set(users.size);
      },
    });
  }

  onDomain(events: readonly DomainEvent[]): void {
    for (const e of events) {
      this.eventCounter(e.name).inc();
      switch (e.name) {
        case 'order_created':
          this.ordersCreated.inc();
          break;
        case 'order_paid':
          this.ordersCompleted.inc();
          this.revenue.labels(e.data.currency as string).inc(e.data.total as number);
          break;
        case 'payment_processed':
          this.payments.labels('processed').inc();
          break;
        case 'payment_failed':
          this.payments.labels('failed').inc();
          break;
        case 'product_added_to_cart':
          this.cartAdditions.inc(e.data.qty as number);
          break;
        case 'product_viewed':
          this.productsViewed.inc();
          break;
      }
    }
  }

  /** Label children made once per event name (prom-client hashes the labels on every labels() call). */
  private eventCounter(name: string): client.Counter.Internal {
    let c = this.eventChildren.get(name);
    if (!c) this.eventChildren.set(name, (c = this.domainEvents.labels(name)));
    return c;
  }

  /** A connection of `userId` signed in (+1) or went away (-1). */
  userConnection(userId: string, delta: 1 | -1): void {
    const n = (this.users.get(userId) ?? 0) + delta;
    if (n > 0) this.users.set(userId, n);
    else this.users.delete(userId);
  }
}
