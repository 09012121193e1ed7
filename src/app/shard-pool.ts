// The main thread's side of the shards: routes requests by actor key, sends each shard one
// message per event-loop turn, and hands the committed replies back to their sinks. A shard
// whose backlog passes the limit answers OVERLOADED instead of queueing without bound; a shard
// whose worker died answers UNAVAILABLE until its restarted worker has recovered. Control
// questions to the shards are in shard-asks.ts, the reactions to a worker's death and return in
// shard-supervision.ts, cluster-mode routing and partition moves in pool-cluster.ts.
import { decodeValue } from '../protocol/frames.js';
import type { ProductView, ShardSummary, SnapshotResult } from '../protocol/types.js';
import type { FromShard, PriceEntry, ShardOptions, ShardRequest, ToShard } from '../workers/shard-messages.js';
import type { DomainEvent } from '../actors/actor.js';
import type { CommandOf, ResultOf } from '../actors/registry.js';
import { appendRequest } from '../workers/request-codec.js';
import { ADMIN_TOPIC, CATALOG_KEY, partitionOfKey, stableHash, type ActorKey, type ActorKind } from '../protocol/keys.js';
import type { Answer, ReplySink, ShardPort } from '../transport/dispatch.js';
import type { ShardAdminPort } from '../transport/http-routes.js';
import type { ShardLink } from './shard-link.js';
import { WatchMirror } from './watch-mirror.js';
import { addToQueue, newQueue, recycleQueue, type Queued } from './pending-requests.js';
import { ShardAsks, ShardUnavailableError } from './shard-asks.js';
import { ShardSupervision, restarting } from './shard-supervision.js';
import type { PoolHooks } from './pool-hooks.js';
import { MOVING, PartitionMoves, type ClusterRouting } from './pool-cluster.js';
import { log } from '../log/log.js';

export interface PoolOptions {
  shards: number;
  /** Requests queued or in flight per shard beyond which new ones get OVERLOADED. */
  maxBacklog: number;
  /** V8 heap limit of each shard worker, MiB. */
  maxHeapMb: number;
  /** Cluster mode: the partitions of the key space (a key's shard is its partition's). */
  partitions?: number;
}

const MAX_BATCHES_IN_FLIGHT = 2;

const OVERLOADED: Answer<never> = { ok: false, error: { code: 'OVERLOADED', message: 'the shard owning this actor is over its backlog limit; retry later' } };

export class ShardPool implements ShardPort, ShardAdminPort {
  readonly shards: number;
  private readonly links: ShardLink[];
  private readonly queued: Queued[];
  private readonly inflight = new Map<number, Queued>();
  private readonly backlog: number[];
  /** Batches posted to each shard and not answered yet. */
  private readonly batchesOut: number[];
  private nextBatch = 1;
  private readonly asks = new ShardAsks();
  private readonly supervision: ShardSupervision;
  private flushScheduled = false;
  private stopping = false;
  private readonly watches: WatchMirror;
  private readonly maxBacklog: number;

  /** Set at construction, or later by `setHooks` when the workers were spawned first (main.ts). */
  private hooks: PoolHooks | undefined;
  /** Messages that came before the hooks were set (a prespawned pool), replayed by `setHooks`. */
  private early: [number, FromShard][] = [];
  private onIdle?: () => void;

  constructor(opts: PoolOptions, hooks?: PoolHooks) {
    this.shards = opts.shards;
    this.maxBacklog = opts.maxBacklog;
    this.partitions = opts.partitions;
    this.hooks = hooks;
    this.queued = Array.from({ length: opts.shards }, (_, s) => newQueue(s));
    this.backlog = new Array<number>(opts.shards).fill(0);
    this.batchesOut = new Array<number>(opts.shards).fill(0);
    this.watches = new WatchMirror(opts.shards);
    const books = { queued: this.queued, inflight: this.inflight, backlog: this.backlog, batchesOut: this.batchesOut };
    this.supervision = new ShardSupervision(opts.shards, opts.maxHeapMb, books, this.asks, this.watches);
    this.links = this.supervision.links;
  }

  /**
   * In cluster mode a key's shard is its partition's, known before the cluster's routing is set
   * (the workers, the catalog's among them, are spawned first).
   */
  shardOf(key: string): number {
    return (this.partitions === undefined ? stableHash(key) : partitionOfKey(key, this.partitions)) % this.shards;
  }

  private cluster: ClusterRouting | undefined;
  private readonly partitions: number | undefined;
  private readonly partitionMoves = new PartitionMoves();

  /** Cluster mode: routing by partition owner; set before the workers start. */
  useCluster(routing: ClusterRouting): void {
    this.cluster = routing;
  }

  /** Cluster mode: catches partition `p` up on its shard and resolves once it is served there, with the journal messages it read. */
  acquirePartition(p: number): Promise<number> {
    return this.partitionMoves.run(this.links[p % this.shards], p, 'acquire');
  }

  /** Cluster mode: the shard of `p` stops serving it, after the requests already sent to it. */
  async releasePartition(p: number): Promise<void> {
    await this.partitionMoves.run(this.links[p % this.shards], p, 'release');
  }

  setHooks(hooks: PoolHooks): void {
    this.hooks = hooks;
    const early = this.early;
    this.early = [];
    for (const [shard, m] of early) this.receive(shard, m);
  }

  /**
   * Starts the worker threads without waiting for them: they import their code and open their
   * databases while the main thread loads the rest of the server (main.ts), which takes as long.
   */
  spawn(base: Omit<ShardOptions, 'shard' | 'epoch'>): void {
    if (this.supervision.spawned) return;
    this.supervision.spawn(base, this.shardOf(CATALOG_KEY), (shard) => ({
      message: (m) => this.receive(shard, m),
      down: (reason, inMs) => this.onDown(shard, reason, inMs),
    }));
  }

  /** Starts the workers (unless spawned already); resolves once every shard has opened its database. */
  async start(base: Omit<ShardOptions, 'shard' | 'epoch'>): Promise<void> {
    this.spawn(base);
    await this.supervision.allReady();
  }

  /** Whether every shard's worker is up (for /readyz). */
  get allUp(): boolean {
    return this.supervision.allUp;
  }

  /** Shards that are not serving, with why (for /readyz and logs). */
  downShards(): { shard: number; reason: string; backInMs: number }[] {
    return this.supervision.downShards();
  }

  /** Worker restarts per shard since start (for metrics). */
  restarts(shard: number): number {
    return this.supervision.restarts(shard);
  }

  private receive(shard: number, m: FromShard): void {
    if (!this.hooks) {
      this.early.push([shard, m]);
      return;
    }
    if (m.t === 'ready') return this.onReady(shard, m.stock, m.products, m.openOrders);
    this.onMessage(shard, m);
  }

  private onReady(shard: number, stock: [string, number][], products: ProductView[], openOrders: string[]): void {
    const hooks = this.hooks!;
    const link = this.links[shard];
    const restarted = link.restarts > 0;
    if (restarted) this.supervision.restore(link);
    hooks.onViews(stock, products);
    hooks.onShardUp(shard, openOrders, restarted);
    this.supervision.ready(shard);
    if (restarted) log.info(`shard ${shard} serving again after restart ${link.restarts}`);
  }

  /** A shard's worker died: what it held is answered now (shard-supervision.ts); new requests are refused until it is back. */
  private onDown(shard: number, reason: string, restartInMs: number): void {
    this.supervision.down(shard, reason, restartInMs, this.hooks, this.cluster !== undefined);
    const c = this.cluster;
    if (c) {
      // The partitions of the dead worker are not served by anyone now: their leases are given
      // up, and taken (caught up again from the replicated journal) once the worker is back.
      this.partitionMoves.failShard(shard, this.links[shard].retryAfterMs());
      const mine: number[] = [];
      for (let p = shard; p < c.partitions; p += this.shards) mine.push(p);
      c.lose(mine, `its shard ${shard} stopped`);
    }
    this.hooks?.onShardDown(shard, reason, restartInMs);
    if (this.inflight.size === 0) this.onIdle?.();
  }

  /** Queues request `id` for the shard owning `key`; a refusal (OVERLOADED, UNAVAILABLE) when it cannot take it now. */
  submit(key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): Answer<never> | undefined {
    const c = this.cluster;
    if (c) {
      const p = c.partitionOf(key);
      if (cmd.type === 'watch') c.interest(key, 1);
      if (!c.serving(p)) {
        const owner = c.ownerOf(p);
        if (owner === undefined || owner === c.me) {
          if (cmd.type === 'watch') c.interest(key, -1);
          return MOVING;
        }
        c.forward(owner, key, id, cmd, sink, tag);
        return undefined;
      }
    }
    return this.submitLocal(key, id, cmd, sink, tag);
  }

  /** Queues request `id` for the local shard owning `key`. */
  submitLocal(key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): Answer<never> | undefined {
    const shard = this.shardOf(key);
    const link = this.links[shard];
    if (link.state !== 'up' && (link.restarts > 0 || link.state === 'down')) return restarting(link.retryAfterMs());
    const q = this.queued[shard];
    if (this.backlog[shard] + q.n >= this.maxBacklog) return OVERLOADED;
    if (cmd.type === 'watch') {
      (q.watches ??= []).push(q.n);
      (q.keys ??= []).push(key);
    }
    appendRequest(q.flat, id, key, cmd);
    addToQueue(q, id, sink, tag, performance.now());
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One message per shard per event-loop turn: everything read from sockets in this turn.
      setImmediate(this.flush);
    }
    return undefined;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (let shard = 0; shard < this.shards; shard++) {
      // At most two batches per shard in flight: one committing, one ready behind it. While the
      // shard is busy its queue grows, so under load fewer and larger messages cross threads.
      if (this.batchesOut[shard] < MAX_BATCHES_IN_FLIGHT) this.send(shard);
    }
  };

  private send(shard: number): void {
    const q = this.queued[shard];
    if (q.n === 0) return;
    const batch = this.nextBatch++;
    this.inflight.set(batch, q);
    this.backlog[shard] += q.n;
    this.batchesOut[shard]++;
    this.queued[shard] = newQueue(shard);
    this.links[shard].post({ t: 'batch', batch, flat: q.flat });
  }

  private onMessage(shard: number, m: FromShard): void {
    const hooks = this.hooks!; // receive() calls this only once the hooks are set
    if (m.t === 'replies') {
      if (m.stock || m.products) hooks.onViews(m.stock, m.products);
      if (m.stats) hooks.onStats(shard, m.stats);
      if (m.batch < 0) {
        // Timer batches: nobody waits for the replies; their pushes still go out.
        if (m.pushTopics) hooks.onPushes(m.pushTopics, m.pushFrames!, m.pushEnds!);
        if (m.domain) hooks.onDomain(m.domain);
        return;
      }
      const q = this.inflight.get(m.batch);
      if (!q) return;
      this.inflight.delete(m.batch);
      this.backlog[shard] -= q.n;
      this.batchesOut[shard]--;
      this.send(shard);
      // Counted before the sinks run: a subscription cancelled meanwhile gives it back from its sink.
      if (q.watches) for (let j = 0; j < q.watches.length; j++) if (m.outcomes[q.watches[j]] === 0) this.watches.add(shard, q.keys![j], 1);
      const dirty: ReplySink[] = [];
      const now = performance.now();
      const answered = q.answered;
      let start = 0;
      for (let i = 0; i < q.n; i++) {
        const end = m.ends[i];
        if (answered === null || answered[i] === 0) {
          if (q.sinks[i].push(m.frames.subarray(start, end), q.ids[i], m.outcomes[i])) dirty.push(q.sinks[i]);
          hooks.onDone(q.tags[i], (now - q.starts[i]) / 1000, m.outcomes[i]);
        }
        start = end;
      }
      if (q.held) for (const s of q.held) dirty.push(s); // settled answers kept for this write (flushing twice is harmless)
      recycleQueue(q);
      for (const s of dirty) s.flush();
      if (m.pushTopics) hooks.onPushes(m.pushTopics, m.pushFrames!, m.pushEnds!);
      if (m.domain) hooks.onDomain(m.domain);
      if (this.inflight.size === 0) this.onIdle?.();
    } else if (m.t === 'settled') {
      this.onSettled(m);
    } else if (m.t === 'checkpoint') {
      hooks.onCheckpoint(m.durationMs, m.snapshots);
    } else if (m.t === 'acquired' || m.t === 'released') {
      if (m.t === 'acquired') hooks.onShardUp(shard, m.openOrders, false);
      this.partitionMoves.settle(m);
    } else if (m.t === 'move-failed') {
      this.partitionMoves.fail(m);
    } else if (m.t === 'partitions-lost') {
      this.cluster?.lose(m.partitions, 'the journal refused an append (another owner wrote to it)');
    } else if (m.t === 'answer') {
      this.asks.answer(shard, m);
    }
  }

  /**
   * Answers a shard released before its batch's commit: they depend on nothing it writes. They
   * leave at once to a connection that waits for nothing else; one that still waits for other
   * answers gets them together, at the latest with this batch's commit: one more socket write
   * (and one more frame back from a pipelining client) per connection and batch costs the edge
   * more than the early answer saves.
   */
  private onSettled(m: Extract<FromShard, { t: 'settled' }>): void {
    const q = this.inflight.get(m.batch);
    if (!q) return;
    const hooks = this.hooks!;
    const answered = (q.answered ??= new Uint8Array(q.n));
    const touched: ReplySink[] = [];
    const now = performance.now();
    let start = 0;
    for (let k = 0; k < m.index.length; k++) {
      const i = m.index[k];
      const end = m.ends[k];
      answered[i] = 1;
      if (q.sinks[i].push(m.frames.subarray(start, end), q.ids[i], m.outcomes[k])) touched.push(q.sinks[i]);
      hooks.onDone(q.tags[i], (now - q.starts[i]) / 1000, m.outcomes[k]);
      start = end;
    }
    for (const s of touched) {
      if ((s.waiting?.() ?? 0) > 0) (q.held ??= []).push(s);
      else s.flush();
    }
  }

  /**
   * Runs a command for the server itself (the checkout driver, sign-in merges, demo seeding) and
   * resolves with its committed answer, typed by the actor's kind and the command; a shard that
   * cannot take it answers OVERLOADED or UNAVAILABLE. Never rejects.
   */
  call<K extends ActorKind, const C extends CommandOf<K>>(key: ActorKey<K>, cmd: C): Promise<Answer<ResultOf<K, C>>> {
    return this.ask(key, cmd);
  }

  /** Like `call`, for a caller that needs only ok or the error: the shard skips encoding the object. */
  tell<K extends ActorKind, const C extends CommandOf<K>>(key: ActorKey<K>, cmd: C): Promise<Answer<null>> {
    return this.ask(key, { ...cmd, quiet: true });
  }

  /** Logs a domain event on the shard of `key` (durable with its commit, then on the admin feed). */
  log(key: ActorKey, event: DomainEvent): Promise<Answer<Record<string, never>>> {
    return this.ask(key, { type: 'log', event } as ShardRequest['cmd']);
  }

  private ask<R>(key: string, cmd: ShardRequest['cmd']): Promise<Answer<R>> {
    return new Promise((resolve) => {
      let frame: Uint8Array | undefined;
      const sink: ReplySink = {
        push: (f) => ((frame = f), true),
        // The shard encoded `{ id, ok, result | error }`: an Answer with an id.
        flush: () => resolve(decodeValue(frame!) as Answer<R>),
      };
      const refused = this.submit(key, 0, cmd, sink, -1);
      if (refused) resolve(refused);
    });
  }

  /** Ends subscriptions whose connection went away: each key once per subscription. */
  unwatch(keys: Iterable<string>): void {
    const byShard = new Map<number, string[]>();
    for (const key of keys) {
      const shard = this.shardOf(key);
      this.watches.add(shard, key, -1);
      this.cluster?.interest(key, -1);
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(key);
    }
    for (const [shard, list] of byShard) this.links[shard].post({ t: 'unwatch', keys: list });
  }

  /** One more (or one less) connection follows `topic` on every shard; resolves once all of them count it. */
  async watchTopic(topic: string, delta: 1 | -1): Promise<void> {
    if (this.stopping) return;
    this.watches.addTopic(topic, delta);
    this.cluster?.interest(topic, delta);
    // A shard that is down counts it when it comes back (the mirror restores it).
    await Promise.allSettled(this.links.filter((l) => l.isUp).map((l) => this.askShard(l.shard, (ask) => ({ t: 'watch-topic', ask, topic, delta }))));
  }

  /** Turns the admin feed (low stock, domain events) on or off in every shard. */
  adminFeed(on: boolean): void {
    if (this.cluster && on !== this.watches.adminFeed) this.cluster.interest(ADMIN_TOPIC, on ? 1 : -1);
    this.watches.adminFeed = on;
    for (const l of this.links) l.post({ t: 'admin-feed', on });
  }

  /** Sends the live prices of changed skus to every shard (or one that just restarted). */
  prices(entries: PriceEntry[], shard?: number): void {
    if (entries.length === 0) return;
    for (const l of this.links) if (shard === undefined || l.shard === shard) l.post({ t: 'prices', entries });
  }

  /** Per-shard summaries for `GET /snapshot`. */
  summary(): Promise<ShardSummary[]> {
    return this.askAll((ask) => ({ t: 'summary', ask }));
  }

  /** Snapshots every actor of every shard now (`POST /snapshot`). */
  snapshotAll(): Promise<SnapshotResult[]> {
    return this.askAll((ask) => ({ t: 'snapshot', ask }));
  }

  /** The JSON-ready state of one actor, or null when it never existed. */
  inspect(key: string): Promise<unknown> {
    return this.askShard(this.shardOf(key), (ask) => ({ t: 'inspect', ask, key }));
  }

  /** Asks every shard a control question and collects the answers in shard order; rejects if one is down. */
  askAll<T>(make: (ask: number) => ToShard): Promise<T[]> {
    return Promise.all(this.links.map((l) => this.askShard<T>(l.shard, make)));
  }

  /** A control question to one shard; rejects with ShardUnavailableError while it is down. */
  askShard<T>(shard: number, make: (ask: number) => ToShard): Promise<T> {
    const link = this.links[shard];
    if (this.stopping || link.state === 'down' || (link.state === 'starting' && link.restarts > 0)) {
      return Promise.reject(new ShardUnavailableError(shard, link.retryAfterMs()));
    }
    return this.asks.ask(link, make);
  }

  /** Waits until every queued and in-flight batch is answered, then stops the workers (they snapshot and close). */
  async stop(): Promise<void> {
    this.flush();
    if (this.inflight.size > 0 || this.queued.some((q) => q.n > 0)) await new Promise<void>((resolve) => (this.onIdle = resolve));
    this.stopping = true;
    await Promise.all(this.links.map((l) => l.stop()));
    this.asks.abandon();
  }

  /** Stops the workers at once, without draining (a start that failed half-way). */
  async terminate(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.links.map((l) => l.terminate()));
    this.asks.abandon();
  }

  /** Total requests sent to shards and not yet answered (mailbox depth). */
  depth(shard: number): number {
    return this.backlog[shard] + this.queued[shard].n;
  }
}
