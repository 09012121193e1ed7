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
  /** Counts of events not yet in the counters (bounded: event names and currencies are a few). */
  private readonly pending = {
    events: new Map<string, number>(),
    revenue: new Map<string, number>(),
    ordersCreated: 0,
    ordersCompleted: 0,
    cartAdditions: 0,
    productsViewed: 0,
    paymentsProcessed: 0,
    paymentsFailed: 0,
  };

  constructor(r: client.Registry) {
    this.ordersCreated = new client.Counter({
      name: 'cartwire_orders_created_total',
      help: 'Orders created (checkouts that passed the cart freeze).',
      registers: [r],
      collect: this.collect,
    });
    this.ordersCompleted = new client.Counter({
      name: 'cartwire_orders_completed_total',
      help: 'Orders confirmed (paid).',
      registers: [r],
      collect: this.collect,
    });
    this.revenue = new client.Counter({
      name: 'cartwire_revenue_minor_units_total',
      help: 'Confirmed order totals in minor units, by currency (refunds not subtracted).',
      labelNames: ['currency'],
      registers: [r],
      collect: this.collect,
    });
    this.payments = new client.Counter({
      name: 'cartwire_payments_total',
      help: 'Checkout payments by outcome (processed, failed).',
      labelNames: ['outcome'],
      registers: [r],
      collect: this.collect,
    });
    this.cartAdditions = new client.Counter({
      name: 'cartwire_cart_additions_total',
      help: 'product_added_to_cart events (units added).',
      registers: [r],
      collect: this.collect,
    });
    this.productsViewed = new client.Counter({ name: 'cartwire_products_viewed_total', help: 'product_viewed events.', registers: [r], collect: this.collect });
    this.domainEvents = new client.Counter({
      name: 'cartwire_domain_events_total',
      help: 'Domain events logged, by name.',
      labelNames: ['event'],
      registers: [r],
      collect: this.collect,
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

  /**
   * Counts committed events. Every commit brings some (a cart add is one), so they are summed
   * here as plain numbers and handed to prom-client when /metrics is read (`collect` of each
   * counter): an `inc` hashes its labels and allocates on every call.
   */
  onDomain(events: readonly DomainEvent[]): void {
    const n = this.pending;
    for (const e of events) {
      n.events.set(e.name, (n.events.get(e.name) ?? 0) + 1);
      switch (e.name) {
        case 'order_created':
          n.ordersCreated++;
          break;
        case 'order_paid': {
          n.ordersCompleted++;
          const currency = e.data.currency as string;
          n.revenue.set(currency, (n.revenue.get(currency) ?? 0) + (e.data.total as number));
          break;
        }
        case 'payment_processed':
          n.paymentsProcessed++;
          break;
        case 'payment_failed':
          n.paymentsFailed++;
          break;
        case 'product_added_to_cart':
          n.cartAdditions += e.data.qty as number;
          break;
        case 'product_viewed':
          n.productsViewed++;
          break;
      }
    }
  }

  /** Moves the counts summed since the last read into the counters (any counter's read moves them all). */
  private readonly collect = (): void => {
    const n = this.pending;
    for (const [name, k] of n.events) this.eventCounter(name).inc(k);
    n.events.clear();
    for (const [currency, total] of n.revenue) this.revenue.labels(currency).inc(total);
    n.revenue.clear();
    const add = (c: client.Counter, k: number) => k > 0 && c.inc(k);
    add(this.ordersCreated, n.ordersCreated);
    add(this.ordersCompleted, n.ordersCompleted);
    add(this.cartAdditions, n.cartAdditions);
    add(this.productsViewed, n.productsViewed);
    if (n.paymentsProcessed > 0) this.payments.labels('processed').inc(n.paymentsProcessed);
    if (n.paymentsFailed > 0) this.payments.labels('failed').inc(n.paymentsFailed);
    n.ordersCreated = n.ordersCompleted = n.cartAdditions = n.productsViewed = n.paymentsProcessed = n.paymentsFailed = 0;
  };

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
