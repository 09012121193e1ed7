// One node of a cluster (NATS_URL set): its NATS connection, the partitions it owns, the requests
// it forwards to other owners and serves for them, and the pushes and catalog view updates that
// cross nodes. The server wires it in; without NATS_URL none of this exists.
import type { ClusterConfig } from '../../config.js';
import { encodeError } from '../../protocol/frames.js';
import { outcomeIndex } from '../../protocol/errors.js';
import { stableHash } from '../../protocol/keys.js';
import { JOURNAL_STREAM, journalSubject } from '../../persistence/replicated-journal.js';
import { KvUserStore } from '../../persistence/kv-user-store.js';
import type { UserStore } from '../../persistence/user-store.js';
import type { ShardPool } from '../shard-pool.js';
import type { ClusterRouting } from '../pool-cluster.js';
import { clusterJwtSecret, openCluster, type NatsCluster } from './nats-cluster.js';
import { Ownership } from './ownership.js';
import { Forwarder } from './forwarder.js';
import { Relay, type ViewUpdate } from './relay.js';
import { EventStream } from './event-stream.js';
import { Packr, Unpackr } from 'msgpackr';
import type { OrderPageItem, OrderPeers, OrdersQuery } from '../commerce/commerce-ops.js';
import { log } from '../../log/log.js';

const UNAVAILABLE = outcomeIndex('UNAVAILABLE');
const ORDERS_PAGE = 'cw.orders.page';
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export class ClusterNode {
  readonly users: UserStore;
  /** The cluster's domain event log (CW_EVENTS). */
  readonly events: EventStream;
  private ownership: Ownership | undefined;
  private forwarder: Forwarder | undefined;
  private relay: Relay | undefined;

  private constructor(private readonly c: NatsCluster) {
    this.users = new KvUserStore(c.users);
    this.events = new EventStream(c.nc, c.js, c.jsm, c.config.nodeId);
  }

  /** Connects to NATS (a clear error naming NATS_URL when it cannot) and checks the cluster's settings. */
  static async open(config: ClusterConfig): Promise<ClusterNode> {
    return new ClusterNode(await openCluster(config));
  }

  get nodeId(): string {
    return this.c.config.nodeId;
  }

  readonly partitionOf = (key: string): number => stableHash(key) % this.c.config.partitions;

  jwtSecret(configured: string | undefined): Promise<string> {
    return clusterJwtSecret(this.c, configured);
  }

  /**
   * Routes the pool by partition owner, serves requests forwarded here, delivers pushes to this
   * node's connections. Call before the pool starts its workers.
   */
  attach(pool: ShardPool, deliver: (topic: string, frame: Uint8Array) => void, onForwarded: (outcome: number) => void): void {
    const forwarder = (this.forwarder = new Forwarder(this.c.nc, onForwarded));
    const relay = (this.relay = new Relay(this.c.nc, deliver));
    const ownership = (this.ownership = new Ownership(this.c, {
      acquire: (p) => pool.acquirePartition(p),
      release: (p) => pool.releasePartition(p),
      lost: (p, why) => {
        log.warn(`cluster: partition ${p} lost (${why}); this node stops serving it`);
        pool.releasePartition(p).catch(() => undefined);
      },
    }));
    const routing: ClusterRouting = {
      me: this.nodeId,
      partitionOf: this.partitionOf,
      serving: (p) => ownership.serving(p),
      ownerOf: (p) => ownership.ownerOf(p),
      forward: (node, key, id, cmd, sink) => forwarder.forward(node, key, id, cmd, sink),
      interest: (topic, delta) => relay.interest(topic, delta),
      partitions: this.c.config.partitions,
      lose: (ps, why) => {
        for (const p of ps) ownership.lose(p, why);
      },
    };
    pool.useCluster(routing);
    forwarder.listen(this.nodeId, (key, id, cmd, sink) => {
      // Served here only while this node owns the partition: never forwarded on (no ping-pong).
      const refused = ownership.serving(this.partitionOf(key)) ? pool.submitLocal(key, id, cmd, sink, -1) : MOVING;
      if (refused && !refused.ok) {
        const e = refused.error;
        sink.push(encodeError(id, e.code, e.message, e.details), id, UNAVAILABLE);
        sink.flush();
      }
    });
  }

  /**
   * Joins the cluster: takes the partitions this node is preferred for (caught up before they are
   * served), then asks the other nodes for the catalog view they are authoritative for.
   */
  async start(views: { apply: (u: ViewUpdate) => void; own: (serving: (key: string) => boolean) => ViewUpdate }): Promise<void> {
    const ownership = this.ownership!;
    const relay = this.relay!;
    relay.followViews(views.apply, () => views.own((key) => ownership.serving(this.partitionOf(key))));
    await ownership.start();
    await relay.syncViews(views.apply);
  }

  /**
   * order.list across nodes: this node answers others with the pages of the partitions it
   * serves (`local`), and asks them for theirs.
   */
  serveOrderPages(local: (q: OrdersQuery) => Promise<OrderPageItem[][]>): OrderPeers {
    const nc = this.c.nc;
    nc.subscribe(ORDERS_PAGE, {
      callback: (err, msg) => {
        if (err) return;
        local(unpackr.unpack(msg.data) as OrdersQuery).then(
          (pages) => msg.respond(packr.pack(pages)),
          (e: unknown) => log.error({ err: e }, 'cluster: an order page for another node failed'),
        );
      },
    });
    return {
      orderPages: async (q) => {
        const others = (this.ownership?.liveNodes().length ?? 1) - 1;
        if (others <= 0) return [];
        const out: OrderPageItem[][] = [];
        try {
          const answers = await nc.requestMany(ORDERS_PAGE, packr.pack(q), { maxWait: 2_000, strategy: 'count', maxMessages: others });
          for await (const m of answers) out.push(...(unpackr.unpack(m.data) as OrderPageItem[][]));
        } catch (err) {
          if (!/no responders/i.test(String((err as Error).message))) throw err;
        }
        return out;
      },
    };
  }

  /** A committed change's push frame, for every node's connections following the topic. */
  publishPush(topic: string, frame: Uint8Array): void {
    this.relay?.publish(topic, frame);
  }

  publishViews(u: ViewUpdate): void {
    this.relay?.publishViews(u);
  }

  /** Readiness: connected to NATS and a full ownership round done recently. */
  healthy(): boolean {
    const o = this.ownership;
    return !this.c.nc.isClosed() && o !== undefined && Date.now() - o.lastRound < 3 * this.c.config.leaseMs;
  }

  /** GET /cluster: nodes, partitions and their owners, lease ages, how far each partition's journal is. */
  async status(): Promise<unknown> {
    const o = this.ownership!;
    const stream = await this.c.jsm.streams.info(JOURNAL_STREAM).catch(() => undefined);
    return {
      nodeId: this.nodeId,
      nodes: o.liveNodes(),
      partitions: this.c.config.partitions,
      replicas: this.c.config.replicas,
      leaseMs: this.c.config.leaseMs,
      lastOwnershipRoundMsAgo: Date.now() - o.lastRound,
      journal: stream
        ? { stream: JOURNAL_STREAM, messages: stream.state.messages, lastSeq: stream.state.last_seq, subjectPrefix: journalSubject(0).slice(0, -1) }
        : null,
      owners: o.status(),
    };
  }

  /** Leaves: hands its partitions over (drained), then disconnects. */
  async leave(): Promise<void> {
    await this.ownership?.stop();
  }

  async close(): Promise<void> {
    this.forwarder?.close();
    this.relay?.close();
    this.events.close();
    await this.c.nc.drain().catch(() => this.c.nc.close());
  }
}

const MOVING = {
  ok: false as const,
  error: {
    code: 'UNAVAILABLE' as const,
    message: 'this node does not own the partition of this actor (it moved); nothing was changed',
    details: { retryAfterMs: 200 },
  },
};
