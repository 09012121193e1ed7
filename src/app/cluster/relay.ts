// What every node must hear of a change committed on another: pushes to the topics its
// connections follow (a subject per topic, subscribed only while a local connection follows it),
// and the catalog read model's stock and product updates (one subject, every node).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Packr, Unpackr } from 'msgpackr';
import type { ProductView } from '../../protocol/types.js';
import { noResponders } from '../../persistence/nats-errors.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const VIEWS = 'cw.views';
const VIEWS_SYNC = 'cw.views.sync';

/** Topics hold '.' (a sku may); NATS splits subjects on it, so it travels as '~' (never in a key). */
export const pushSubject = (topic: string): string => `cw.push.${topic.replaceAll('.', '~')}`;

export interface ViewUpdate {
  stock: [string, number][] | null;
  products: ProductView[] | null;
}

export class Relay {
  private readonly topics = new Map<string, { n: number; sub: Subscription }>();
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    /** Delivers a push frame to this node's connections following `topic`. */
    private readonly deliver: (topic: string, frame: Uint8Array) => void,
  ) {}

  /** Publishes a committed change's push frame to every node following the topic (this one too). */
  publish(topic: string, frame: Uint8Array): void {
    this.nc.publish(pushSubject(topic), frame);
  }

  /** One more (or one less) local connection follows `topic`. */
  interest(topic: string, delta: number): void {
    const t = this.topics.get(topic);
    if (t) {
      t.n += delta;
      if (t.n <= 0) {
        t.sub.unsubscribe();
        this.topics.delete(topic);
      }
      return;
    }
    if (delta <= 0) return;
    const sub = this.nc.subscribe(pushSubject(topic), { callback: (err, msg) => void (err || this.deliver(topic, msg.data)) });
    this.topics.set(topic, { n: delta, sub });
  }

  /** Committed stock and product changes of this node's shards, for every other node's read model. */
  publishViews(u: ViewUpdate): void {
    this.nc.publish(VIEWS, packr.pack(u));
  }

  /**
   * Applies other nodes' view updates as they come, and answers a joining node's request for the
   * state this node is authoritative for (`own()`: the stock of its partitions, the catalog if it
   * holds it).
   */
  followViews(apply: (u: ViewUpdate) => void, own: () => ViewUpdate): void {
    this.subs.push(this.nc.subscribe(VIEWS, { callback: (err, msg) => void (err || apply(unpackr.unpack(msg.data) as ViewUpdate)) }));
    this.subs.push(this.nc.subscribe(VIEWS_SYNC, { callback: (err, msg) => void (err || msg.respond(packr.pack(own()))) }));
  }

  /**
   * Asks the `others` live nodes for their authoritative views (a node that just started), and
   * waits for all of them up to `waitMs`: a busy node answers late, and a view it did not give
   * would leave its products unknown here until they change.
   */
  async syncViews(apply: (u: ViewUpdate) => void, others: number, waitMs = 5_000): Promise<number> {
    if (others <= 0) return 0;
    let n = 0;
    try {
      const answers = await this.nc.requestMany(VIEWS_SYNC, new Uint8Array(0), { maxWait: waitMs, strategy: 'count', maxMessages: others });
      for await (const m of answers) {
        apply(unpackr.unpack(m.data) as ViewUpdate);
        n++;
      }
    } catch (err) {
      // The first node of a cluster: nobody else to ask.
      if (!noResponders(err)) throw err;
    }
    return n;
  }

  close(): void {
    for (const { sub } of this.topics.values()) sub.unsubscribe();
    for (const s of this.subs) s.unsubscribe();
  }
}
