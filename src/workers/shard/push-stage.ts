// What a batch publishes once its commit is durable: push frames for the actors someone watches,
// the admin feed, and the domain events the commit logged. Staged while the batch runs; taken
// only after the commit (the output gate), dropped if it failed.
import type { DomainEvent } from '../../actors/actor.js';
import { ADMIN_TOPIC } from '../../protocol/keys.js';
import { encodePush } from '../../protocol/frames.js';
import type { LowStockAlert } from '../../protocol/pushes.js';

/** Push frames released by a commit, each with its topic (an actor key, a user's orders, or `admin`). */
export interface BatchPushes {
  topics: string[];
  frames: Uint8Array[];
}

export class PushStage {
  /** Subscriptions per topic (connections on the main thread): changes of these are pushed. */
  private readonly watched = new Map<string, number>();
  /** Whether any admin follows the feed. */
  private adminWatch = false;
  private pushes: BatchPushes | null = null;
  private domain: DomainEvent[] | null = null;
  /** Watch changes of the open batch: undone if its commit fails. */
  private readonly batchWatches: [string, number][] = [];

  get watchedCount(): number {
    return this.watched.size;
  }

  get adminFeed(): boolean {
    return this.adminWatch;
  }

  setAdminFeed(on: boolean): void {
    this.adminWatch = on;
  }

  isWatched(topic: string): boolean {
    return this.watched.has(topic);
  }

  watchedTopics(): IterableIterator<string> {
    return this.watched.keys();
  }

  /** Adds `delta` subscriptions to a topic; a topic at zero stops being pushed. */
  watch(topic: string, delta: number): void {
    const n = (this.watched.get(topic) ?? 0) + delta;
    if (n > 0) this.watched.set(topic, n);
    else this.watched.delete(topic);
  }

  /** A watch counted in an actor's turn of the open batch (given back if the batch fails). */
  watchInBatch(topic: string): void {
    this.watch(topic, 1);
    this.batchWatches.push([topic, 1]);
  }

  /**
   * A change of an actor: pushed to its watchers (or always, for per-user topics), and to the
   * admin feed when `toAdmin`. `view` is called only when someone will get the frame.
   */
  change(name: string, topic: string, always: boolean, toAdmin: boolean, view: () => unknown): void {
    const watched = always || this.everything || this.watched.has(topic);
    const admin = toAdmin && this.adminOn;
    if (!watched && !admin) return;
    const frame = encodePush(name, view());
    if (watched) this.stage(topic, frame);
    if (admin) this.stage(ADMIN_TOPIC, frame);
  }

  /** A domain event logged by the open batch (and published on the admin feed after the commit). */
  domainEvent(d: DomainEvent): void {
    (this.domain ??= []).push(d);
    if (this.adminOn) this.stage(ADMIN_TOPIC, encodePush(d.name, d.data));
  }

  lowStock(alert: LowStockAlert): void {
    if (this.adminOn) this.stage(ADMIN_TOPIC, encodePush('inventory.lowStock', alert));
  }

  /**
   * Cluster mode: followers may sit on any node, and watch counts stay on theirs: every change is
   * published (NATS delivers it only to the nodes that subscribed to its topic).
   */
  everything = false;

  private get adminOn(): boolean {
    return this.adminWatch || this.everything;
  }

  get domainEvents(): readonly DomainEvent[] | null {
    return this.domain;
  }

  /** Ends the batch: what it may publish when committed, nothing when not. */
  take(committed: boolean): { pushes: BatchPushes | null; domain: DomainEvent[] | null } {
    const out = committed ? { pushes: this.pushes, domain: this.domain } : { pushes: null, domain: null };
    if (!committed) for (const [topic, delta] of this.batchWatches) this.watch(topic, -delta);
    this.batchWatches.length = 0;
    this.pushes = null;
    this.domain = null;
    return out;
  }

  private stage(topic: string, frame: Uint8Array): void {
    const p = (this.pushes ??= { topics: [], frames: [] });
    p.topics.push(topic);
    p.frames.push(frame);
  }
}
