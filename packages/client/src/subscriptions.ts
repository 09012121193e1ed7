// Topics the SDK follows for the application: one wire subscription per topic whatever the number
// of handlers, pushes held while the subscribe reply is on its way, stale versions dropped, and
// every topic subscribed again (fresh full object) after a reconnect.
import type { CartView, InventoryView, OrderView } from './protocol/types.js';
import { CartwireError, closedError, retryAfterMs } from './errors.js';

/** `'cart'` (the caller's cart), `'orders'` (the caller's orders), `{ inventory: sku }`, or `'admin'` (the admin feed). */
export type Topic = 'cart' | 'orders' | 'admin' | { inventory: string };

/** One message of the admin feed (`inventory.lowStock`, domain events). */
export interface AdminEvent {
  push: string;
  data: unknown;
}

export type TopicValue<T extends Topic> = T extends 'cart' ? CartView : T extends 'orders' ? OrderView : T extends 'admin' ? AdminEvent : InventoryView;

export interface SubscribeOptions {
  /** Called when the subscription ends for good on an error (e.g. the sku is gone after a reconnect). */
  onError?: (err: CartwireError) => void;
}

/** Calling it unsubscribes (resolves once the server confirmed, or at once when offline). */
export interface Subscription {
  (): Promise<void>;
  /** Settles once the handler got the current object (admin: once the feed is on); rejects if refused. */
  readonly ready: Promise<void>;
  readonly topic: Topic;
}

/** What the registry needs from the client. */
export interface SubscriptionsHost {
  /** An internal request on the current connection; rejects with a CartwireError. */
  request(op: string, args: Record<string, unknown>): Promise<unknown>;
  /** Connected and (re-)authenticated: requests go out now. */
  isReady(): boolean;
  /** Signed in (guest, customer or admin) on this connection. */
  hasSession(): boolean;
  /** The signed-in user's id, if any. */
  userId(): string | undefined;
  /** Closed for good: nothing will ever be delivered again. */
  isClosed(): boolean;
  report(err: unknown): void;
  retryDelay(attempt: number): number;
}

interface Spec {
  key: string;
  sub: [string, Record<string, unknown>];
  unsub: [string, Record<string, unknown>];
  /** Carries `version`: stale pushes are dropped. The admin feed mixes objects and is not. */
  versioned: boolean;
  /** The caller's own objects (cart, orders, admin feed): subscribed once the client is signed in. */
  needsSession: boolean;
  /** Several objects on one topic (orders): stale pushes are dropped per object, by this field. */
  perObject?: 'orderId';
}

function specOf(topic: Topic): Spec {
  if (topic === 'cart') return { key: 'cart', sub: ['cart.subscribe', {}], unsub: ['cart.unsubscribe', {}], versioned: true, needsSession: true };
  if (topic === 'admin') return { key: 'admin', sub: ['admin.subscribe', {}], unsub: ['admin.unsubscribe', {}], versioned: false, needsSession: true };
  // v1 has no order.unsubscribe: unsubscribing drops the pushes here (they stop with the connection).
  if (topic === 'orders') return { key: 'orders', sub: ['order.subscribe', {}], unsub: ['', {}], versioned: false, perObject: 'orderId', needsSession: true };
  if (topic && typeof topic === 'object' && typeof topic.inventory === 'string') {
    const args = { sku: topic.inventory };
    return {
      key: `inventory:${topic.inventory}`,
      sub: ['inventory.subscribe', args],
      unsub: ['inventory.unsubscribe', args],
      versioned: true,
      needsSession: true,
    };
  }
  throw new TypeError(`topic must be 'cart', 'orders', 'admin' or { inventory: sku }, got ${JSON.stringify(topic)}`);
}

/** The topic a push belongs to: versioned objects by name, everything else is the admin feed. */
function keyOfPush(push: string, data: unknown): string {
  if (push === 'cart.updated') return 'cart';
  if (push === 'order.updated') return 'orders';
  if (push === 'inventory.updated') return `inventory:${String((data as { sku?: unknown })?.sku)}`;
  return 'admin';
}

/** A cart push of another user (after a login switched identities) is never "stale" against ours. */
const identityOf = (data: unknown): unknown => (data as { userId?: unknown; sku?: unknown })?.userId ?? (data as { sku?: unknown })?.sku;
const versionOf = (data: unknown): number | undefined => {
  const v = (data as { version?: unknown })?.version;
  return typeof v === 'number' ? v : undefined;
};

/** Transient refusals: the subscription is retried after a backoff while connected. */
const TRANSIENT = new Set(['OVERLOADED', 'RATE_LIMITED', 'INTERNAL', 'TIMEOUT']);

interface Listener {
  handler: (value: never) => void;
  onError?: (err: CartwireError) => void;
  waiter?: { resolve(): void; reject(err: CartwireError): void };
}

interface Entry {
  spec: Spec;
  listeners: Set<Listener>;
  status: 'idle' | 'pending' | 'active';
  /** Bumped on every disconnect: replies and retry timers of an older connection are ignored. */
  gen: number;
  attempt: number;
  last?: { version: number | undefined; identity: unknown; value: unknown };
  /** Pushes that arrived while the subscribe reply was on its way. */
  held: { push: string; data: unknown }[];
  /** perObject topics: the last version delivered per object. */
  versions?: Map<unknown, number | undefined>;
}

export class Subscriptions {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly host: SubscriptionsHost) {}

  get size(): number {
    return this.entries.size;
  }

  add<T extends Topic>(topic: T, handler: (value: TopicValue<T>) => void, opts: SubscribeOptions = {}): Subscription {
    const spec = specOf(topic);
    let entry = this.entries.get(spec.key);
    if (!entry) {
      entry = { spec, listeners: new Set(), status: 'idle', gen: 0, attempt: 0, held: [] };
      this.entries.set(spec.key, entry);
    }
    const listener: Listener = { handler, onError: opts.onError };
    entry.listeners.add(listener);
    const ready = new Promise<void>((resolve, reject) => {
      if (this.host.isClosed()) return reject(closedError(spec.sub[0], undefined, false));
      if (entry.status === 'active' && (entry.last || !spec.versioned)) {
        // Already followed: this handler starts from the object the others saw last.
        const last = entry.last;
        queueMicrotask(() => {
          if (last && entry.listeners.has(listener)) this.call(listener, last.value);
          resolve();
        });
        return;
      }
      listener.waiter = { resolve, reject };
      if (entry.status === 'idle' && this.canStart(entry)) this.start(entry);
    });
    ready.catch(() => {}); // the caller may not await it; the error also reaches opts.onError
    const unsubscribe = (): Promise<void> => this.remove(entry, listener);
    return Object.assign(unsubscribe, { ready, topic });
  }

  private async remove(entry: Entry, listener: Listener): Promise<void> {
    if (!entry.listeners.delete(listener)) return;
    listener.waiter?.resolve();
    if (entry.listeners.size > 0 || !this.isFollowed(entry)) return;
    this.entries.delete(entry.spec.key);
    const wasOn = entry.status !== 'idle';
    entry.status = 'idle';
    entry.gen++;
    if (wasOn && this.host.isReady() && entry.spec.unsub[0]) await this.host.request(...entry.spec.unsub).then(noop, noop); // a close ends it anyway
  }

  /** After (re-)authentication or a sign-in: every followed topic not on yet is subscribed. */
  resubscribeAll(): void {
    for (const entry of this.entries.values()) if (entry.status === 'idle' && this.canStart(entry)) this.start(entry);
  }

  /** Connected, and signed in when the topic is the caller's own: a subscribe before sign-in waits for it. */
  private canStart(entry: Entry): boolean {
    return this.host.isReady() && (!entry.spec.needsSession || this.host.hasSession());
  }

  /** The connection dropped: the server forgot our subscriptions. */
  disconnected(): void {
    for (const entry of this.entries.values()) {
      entry.status = 'idle';
      entry.gen++;
      entry.held = [];
    }
  }

  /** Closed for good: pending `ready` promises reject with `err`. */
  closed(err: CartwireError): void {
    for (const entry of this.entries.values()) for (const l of entry.listeners) settle(l, err);
    this.entries.clear();
  }

  /** A push from the wire. Returns false when it was dropped as stale or unfollowed. */
  onPush(push: string, data: unknown): boolean {
    if (push !== 'order.updated') return this.route(keyOfPush(push, data), push, data);
    // An admin's feed carries every user's orders: 'orders' takes only the caller's own, the feed all.
    const own = (data as { userId?: unknown })?.userId === this.host.userId() && this.route('orders', push, data);
    return this.route('admin', push, data) || own;
  }

  private route(key: string, push: string, data: unknown): boolean {
    const entry = this.entries.get(key);
    if (!entry || entry.status === 'idle') return false;
    if (entry.status === 'pending') {
      entry.held.push({ push, data });
      return true;
    }
    return this.offer(entry, push, data);
  }

  private start(entry: Entry): void {
    const gen = entry.gen;
    entry.status = 'pending';
    entry.held = [];
    this.host.request(...entry.spec.sub).then(
      (value) => {
        if (entry.gen !== gen || !this.isFollowed(entry)) return;
        this.onReply(entry, value);
      },
      (err: CartwireError) => {
        if (entry.gen !== gen || !this.isFollowed(entry) || err.code === 'CLOSED') return; // the reconnect resubscribes
        this.onRefused(entry, err);
      },
    );
  }

  /** The subscribe reply is the current object: always delivered, then the held pushes newer than it. */
  private onReply(entry: Entry, value: unknown): void {
    entry.status = 'active';
    entry.attempt = 0;
    const held = entry.held;
    entry.held = [];
    if (entry.spec.versioned) {
      entry.last = { version: versionOf(value), identity: identityOf(value), value };
      this.deliver(entry, value);
    }
    for (const l of entry.listeners) settle(l);
    for (const h of held) this.offer(entry, h.push, h.data);
  }

  private onRefused(entry: Entry, err: CartwireError): void {
    entry.status = 'idle';
    if (TRANSIENT.has(err.code)) {
      const gen = entry.gen;
      setTimeout(
        () => {
          if (entry.gen === gen && entry.status === 'idle' && this.isFollowed(entry) && this.canStart(entry)) this.start(entry);
        },
        Math.max(retryAfterMs(err), this.host.retryDelay(++entry.attempt)),
      );
      return;
    }
    // Refused for good (NOT_FOUND, FORBIDDEN, LIMIT_EXCEEDED...): the topic is dropped.
    this.entries.delete(entry.spec.key);
    let told = false;
    for (const l of entry.listeners) {
      told ||= l.waiter !== undefined || l.onError !== undefined;
      settle(l, err);
      l.onError?.(err);
    }
    if (!told) this.host.report(err); // a resubscription after a reconnect: nobody awaits it
  }

  private offer(entry: Entry, push: string, data: unknown): boolean {
    if (entry.spec.perObject) {
      const id = (data as Record<string, unknown>)?.[entry.spec.perObject];
      const version = versionOf(data);
      const seen = (entry.versions ??= new Map());
      if (version !== undefined && (seen.get(id) ?? -1) >= version) return false;
      seen.set(id, version);
      this.deliver(entry, data);
      return true;
    }
    if (!entry.spec.versioned) {
      this.deliver(entry, { push, data });
      return true;
    }
    const version = versionOf(data);
    const identity = identityOf(data);
    const last = entry.last;
    if (last && version !== undefined && last.version !== undefined && identity === last.identity && version <= last.version) return false;
    entry.last = { version, identity, value: data };
    this.deliver(entry, data);
    return true;
  }

  /** Replies and retry timers of a topic that was dropped (and maybe followed anew since) are ignored. */
  private isFollowed(entry: Entry): boolean {
    return this.entries.get(entry.spec.key) === entry;
  }

  /** To every handler; a copy, since a handler may unsubscribe while we loop. */
  private deliver(entry: Entry, value: unknown): void {
    for (const l of [...entry.listeners]) this.call(l, value);
  }

  private call(l: Listener, value: unknown): void {
    try {
      l.handler(value as never);
    } catch (err) {
      this.host.report(err);
    }
  }
}

function settle(l: Listener, err?: CartwireError): void {
  const w = l.waiter;
  l.waiter = undefined;
  if (!w) return;
  if (err) w.reject(err);
  else w.resolve();
}

const noop = (): void => {};
