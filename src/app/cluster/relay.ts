// What every node must hear of a change committed on another: pushes to the topics its
// connections follow (a subject per topic, subscribed only while a local connection follows it),
// and the catalog read model's stock and product updates (one subject, every node).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Packr, Unpackr } from 'msgpackr';
import type { ProductView } from '../../protocol/types.js';
import { noResponders } from '../../persistence/nats-errors.js';
import { payloadLimit } from '../../persistence/nats-streams.js';
import { log } from '../../log/log.js';

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

/** One message of a node's answer to a joining node: part `part` of `of`. */
interface SyncPart {
  node: string;
  part: number;
  of: number;
  view: ViewUpdate;
}

/** A sync part's own fields around its view. */
const PART_ROOM = 256;

/**
 * `u` as parts packed within `limit` bytes each: whole when it fits, else its stock and products
 * cut in halves until each part does (each entry is the latest value of its sku or product, so
 * the parts apply in any order). A single entry over the limit is left out, logged.
 */
export function viewParts(u: ViewUpdate, limit: number): { view: ViewUpdate; bytes: Uint8Array }[] {
  const data = packr.pack(u);
  if (data.length <= limit) return [{ view: u, bytes: data }];
  const stock = u.stock ?? [];
  const products = u.products ?? [];
  const n = stock.length + products.length;
  if (n <= 1) {
    log.error(`cluster: a catalog or stock view of ${data.length} bytes is over NATS's max_payload; other nodes miss it until it changes`);
    return [];
  }
  const mid = n >> 1;
  const part = (from: number, to: number): ViewUpdate => {
    const s = stock.slice(Math.min(from, stock.length), Math.min(to, stock.length));
    const p = products.slice(Math.max(0, from - stock.length), Math.max(0, to - stock.length));
    return { stock: s.length > 0 ? s : null, products: p.length > 0 ? p : null };
  };
  return [...viewParts(part(0, mid), limit), ...viewParts(part(mid, n), limit)];
}

/** Another node's views message, or undefined (logged) when it is not one: a bad one is skipped, never thrown. */
function decodeViews(data: Uint8Array): SyncPart | ViewUpdate | undefined {
  try {
    const v = unpackr.unpack(data) as unknown;
    if (typeof v === 'object' && v !== null && ('of' in v ? 'view' in v : 'stock' in v || 'products' in v)) return v as SyncPart | ViewUpdate;
  } catch {
    // not msgpack
  }
  log.warn(`cluster: a views message of ${data.length} bytes from another node is not one; skipped`);
  return undefined;
}

export class Relay {
  private readonly topics = new Map<string, { n: number; sub: Subscription }>();
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: string,
    /** Delivers a push frame to this node's connections following `topic`. */
    private readonly deliver: (topic: string, frame: Uint8Array) => void,
  ) {}

  /** Publishes a committed change's push frame to every node following the topic (this one too). */
  publish(topic: string, frame: Uint8Array): void {
    this.send(pushSubject(topic), frame);
  }

  /** What one message may carry. */
  private get limit(): number {
    return payloadLimit(this.nc);
  }

  /** Publishes, never throwing into the caller (the shard pool's reply loop): a failure is logged. */
  private send(subject: string, data: Uint8Array): void {
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      log.error({ err }, `cluster: a message on ${subject} could not be published (${data.length} bytes)`);
    }
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
    for (const part of viewParts(u, this.limit)) this.send(VIEWS, part.bytes);
  }

  /**
   * Applies other nodes' view updates as they come, and answers a joining node's request for the
   * state this node is authoritative for (`own()`: the stock of its partitions, the catalog if it
   * holds it).
   */
  followViews(apply: (u: ViewUpdate) => void, own: () => ViewUpdate): void {
    this.subs.push(
      this.nc.subscribe(VIEWS, {
        callback: (err, msg) => {
          const u = err ? undefined : decodeViews(msg.data);
          if (u && !('of' in u)) apply(u);
        },
      }),
    );
    this.subs.push(
      this.nc.subscribe(VIEWS_SYNC, {
        callback: (err, msg) => {
          if (err) return;
          // Whole in one message as nodes always answered, or, when a catalog's views outgrow
          // one, in parts within max_payload that the asker counts.
          const parts = viewParts(own(), this.limit - PART_ROOM);
          const messages =
            parts.length === 1
              ? [parts[0].bytes]
              : parts.map(({ view }, part) => packr.pack({ node: this.nodeId, part, of: parts.length, view } satisfies SyncPart));
          for (const m of messages) {
            try {
              msg.respond(m);
            } catch (e) {
              log.warn({ err: e }, "cluster: this node's views could not be sent to a joining node");
            }
          }
        },
      }),
    );
  }

  /**
   * Asks the `others` live nodes for their authoritative views (a node that just started), and
   * waits for all of them up to `waitMs`: a busy node answers late, and a view it did not give
   * would leave its products unknown here until they change.
   */
  async syncViews(apply: (u: ViewUpdate) => void, others: number, waitMs = 5_000): Promise<number> {
    if (others <= 0) return 0;
    /** Parts still missing per node that answered. */
    const left = new Map<string, number>();
    let whole = 0;
    try {
      const answers = await this.nc.requestMany(VIEWS_SYNC, new Uint8Array(0), { maxWait: waitMs, strategy: 'timer' });
      for await (const m of answers) {
        const a = decodeViews(m.data);
        if (!a) continue;
        if (!('of' in a)) {
          whole++; // a node's views in one message
          apply(a);
        } else {
          apply(a.view);
          const n = (left.get(a.node) ?? a.of) - 1;
          left.set(a.node, n);
          if (n === 0) whole++;
        }
        if (whole >= others) break;
      }
    } catch (err) {
      // The first node of a cluster: nobody else to ask.
      if (!noResponders(err)) throw err;
    }
    return whole;
  }

  close(): void {
    for (const { sub } of this.topics.values()) sub.unsubscribe();
    for (const s of this.subs) s.unsubscribe();
  }
}
