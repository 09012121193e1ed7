// The main thread's side of the shards: routes requests by actor key, sends each shard one
// message per event-loop turn, and hands the committed replies back to their sinks. A shard
// whose backlog passes the limit answers OVERLOADED instead of queueing without bound.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { decodeValue } from '../protocol/frames.js';
import type { ProductView, ShardSummary, SnapshotResult } from '../protocol/types.js';
import type { FromShard, PriceEntry, ShardOptions, ShardRequest, ShardStats, ToShard } from '../workers/shard-messages.js';
import type { DomainEvent } from '../actors/actor.js';
import type { CommandOf, ResultOf } from '../actors/registry.js';
import { appendRequest } from '../workers/request-codec.js';
import { CATALOG_KEY, stableHash, type ActorKey, type ActorKind } from '../protocol/keys.js';
import type { Answer, ReplySink, ShardPort } from '../transport/dispatch.js';
import type { ShardAdminPort } from '../transport/http-routes.js';

export interface PoolHooks {
  /** Committed stock and catalog changes, for the edge's catalog view. */
  onViews(stock: [string, number][] | null, products: ProductView[] | null): void;
  /** Per request: its op tag, latency in seconds and outcome index (0 ok). */
  onDone(tag: number, seconds: number, outcome: number): void;
  onStats(shard: number, stats: ShardStats): void;
  onCheckpoint(durationMs: number, snapshots: number): void;
  /** Committed push frames: frame i spans ends[i-1]..ends[i] and goes to topics[i]. */
  onPushes(topics: string[], frames: Uint8Array, ends: Uint32Array): void;
  /** Domain events of a commit (after it): metrics, recommendations, the checkout driver. */
  onDomain(events: DomainEvent[]): void;
  onFatal(message: string): void;
}

interface Queued {
  /** The requests, flattened for a cheap structured clone (request-codec.ts). */
  flat: unknown[];
  ids: number[];
  sinks: ReplySink[];
  tags: number[];
  starts: number[];
}

const MAX_BATCHES_IN_FLIGHT = 2;

const OVERLOADED: Answer<never> = { ok: false, error: { code: 'OVERLOADED', message: 'the shard owning this actor is over its backlog limit; retry later' } };

const newQueue = (): Queued => ({ flat: [], ids: [], sinks: [], tags: [], starts: [] });

export class ShardPool implements ShardPort, ShardAdminPort {
  private readonly ports: MessagePort[] = [];
  private readonly workers: Worker[] = [];
  private readonly queued: Queued[];
  private readonly inflight = new Map<number, Queued>();
  private readonly backlog: number[];
  /** Batches posted to each shard and not answered yet. */
  private readonly batchesOut: number[];
  private nextBatch = 1;
  private nextAsk = 1;
  private readonly asks = new Map<number, (v: unknown) => void>();
  private flushScheduled = false;
  private stopping = false;
  /** Orders whose saga or work was unfinished when the shards started (to resume). */
  readonly openOrders: string[] = [];

  /** Set at construction, or later by `setHooks` when the workers were spawned first (main.ts). */
  private hooks: PoolHooks | undefined;
  /** Messages that came before the hooks were set (a prespawned pool), replayed by `setHooks`. */
  private early: [number, FromShard][] = [];
  private ready: Promise<void>[] | undefined;

  constructor(
    readonly shards: number,
    private readonly maxBacklog: number,
    hooks?: PoolHooks,
  ) {
    this.hooks = hooks;
    this.queued = Array.from({ length: shards }, newQueue);
    this.backlog = new Array(shards).fill(0);
    this.batchesOut = new Array(shards).fill(0);
  }

  shardOf(key: string): number {
    return stableHash(key) % this.shards;
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
  spawn(base: Omit<ShardOptions, 'shard'>): void {
    if (this.ready) return;
    const catalogShard = this.shardOf(CATALOG_KEY);
    this.ready = [];
    for (let shard = 0; shard < this.shards; shard++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(new URL('../workers/shard/shard-worker.js', import.meta.url), {
        workerData: { opts: { ...base, shard }, port: port2, catalogHere: shard === catalogShard },
        transferList: [port2],
      });
      this.workers.push(worker);
      this.ports.push(port1);
      worker.on('error', (err) => this.fatal(`shard ${shard} crashed: ${err.stack ?? err}`));
      worker.on('exit', (code) => {
        if (!this.stopping) this.fatal(`shard ${shard} exited unexpectedly (code ${code})`);
      });
      this.ready.push(
        new Promise((resolve) => {
          port1.on('message', (m: FromShard) => {
            this.receive(shard, m);
            if (m.t === 'ready') resolve();
          });
        }),
      );
    }
  }

  /** Starts the workers (unless spawned already); resolves once every shard has opened its database. */
  async start(base: Omit<ShardOptions, 'shard'>): Promise<void> {
    this.spawn(base);
    await Promise.all(this.ready!);
  }

  private receive(shard: number, m: FromShard): void {
    if (!this.hooks) {
      this.early.push([shard, m]);
      return;
    }
    if (m.t === 'ready') {
      this.hooks.onViews(m.stock, m.products);
      this.openOrders.push(...m.openOrders);
    } else this.onMessage(shard, m);
  }

  private fatal(message: string): void {
    if (this.hooks) return this.hooks.onFatal(message);
    console.error(`cartwire: ${message}`);
    process.exit(70);
  }

  /** Queues request `id` for the shard owning `key`. False when that shard is overloaded. */
  submit(key: string, id: number, cmd: ShardRequest['cmd'], sink: ReplySink, tag: number): boolean {
    const shard = this.shardOf(key);
    const q = this.queued[shard];
    if (this.backlog[shard] + q.ids.length >= this.maxBacklog) return false;
    appendRequest(q.flat, id, key, cmd);
    q.ids.push(id);
    q.sinks.push(sink);
    q.tags.push(tag);
    q.starts.push(performance.now());
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One message per shard per event-loop turn: everything read from sockets in this turn.
      setImmediate(this.flush);
    }
    return true;
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
    if (q.ids.length === 0) return;
    const batch = this.nextBatch++;
    this.inflight.set(batch, q);
    this.backlog[shard] += q.ids.length;
    this.batchesOut[shard]++;
    this.queued[shard] = newQueue();
    this.post(shard, { t: 'batch', batch, flat: q.flat });
  }

  private post(shard: number, m: ToShard): void {
    this.ports[shard].postMessage(m);
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
      this.backlog[shard] -= q.ids.length;
      this.batchesOut[shard]--;
      this.send(shard);
      const dirty: ReplySink[] = [];
      const now = performance.now();
      let start = 0;
      for (let i = 0; i < q.ids.length; i++) {
        const end = m.ends[i];
        if (q.sinks[i].push(m.frames.subarray(start, end), q.ids[i], m.outcomes[i])) dirty.push(q.sinks[i]);
        start = end;
        hooks.onDone(q.tags[i], (now - q.starts[i]) / 1000, m.outcomes[i]);
      }
      for (const s of dirty) s.flush();
      if (m.pushTopics) hooks.onPushes(m.pushTopics, m.pushFrames!, m.pushEnds!);
      if (m.domain) hooks.onDomain(m.domain);
      if (this.inflight.size === 0) this.onIdle?.();
    } else if (m.t === 'checkpoint') {
      hooks.onCheckpoint(m.durationMs, m.snapshots);
    } else if (m.t === 'answer') {
      this.asks.get(m.ask)?.(m.value);
      this.asks.delete(m.ask);
    }
  }

  /**
   * Runs a command for the server itself (the checkout driver, sign-in merges, demo seeding) and
   * resolves with its committed answer, typed by the actor's kind and the command; a shard over
   * its backlog answers OVERLOADED. Never rejects.
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
      if (!this.submit(key, 0, cmd, sink, -1)) resolve(OVERLOADED);
    });
  }

  /** Ends subscriptions whose connection went away: each key once per subscription. */
  unwatch(keys: Iterable<string>): void {
    const byShard = new Map<number, string[]>();
    for (const key of keys) {
      const shard = this.shardOf(key);
      let list = byShard.get(shard);
      if (!list) byShard.set(shard, (list = []));
      list.push(key);
    }
    for (const [shard, list] of byShard) this.post(shard, { t: 'unwatch', keys: list });
  }

  /** One more (or one less) connection follows `topic` on every shard; resolves once all of them count it. */
  async watchTopic(topic: string, delta: 1 | -1): Promise<void> {
    if (this.stopping) return;
    await this.askAll((ask) => ({ t: 'watch-topic', ask, topic, delta }));
  }

  /** Turns the admin feed (low stock, domain events) on or off in every shard. */
  adminFeed(on: boolean): void {
    for (let shard = 0; shard < this.shards; shard++) this.post(shard, { t: 'admin-feed', on });
  }

  /** Sends every shard the live prices of changed skus. */
  prices(entries: PriceEntry[]): void {
    if (entries.length === 0) return;
    for (let shard = 0; shard < this.shards; shard++) this.post(shard, { t: 'prices', entries });
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
    return this.askOne(key, (ask) => ({ t: 'inspect', ask, key }));
  }

  /** Asks every shard a control question and collects the answers in shard order. */
  askAll<T>(make: (ask: number) => ToShard): Promise<T[]> {
    return Promise.all(this.ports.map((_, shard) => this.askShard<T>(shard, make)));
  }

  askShard<T>(shard: number, make: (ask: number) => ToShard): Promise<T> {
    const ask = this.nextAsk++;
    return new Promise<T>((resolve) => {
      this.asks.set(ask, resolve as (v: unknown) => void);
      this.post(shard, make(ask));
    });
  }

  askOne<T>(key: string, make: (ask: number) => ToShard): Promise<T> {
    return this.askShard<T>(this.shardOf(key), make);
  }

  private onIdle?: () => void;

  /** Waits until every queued and in-flight batch is answered, then stops the workers (they snapshot and close). */
  async stop(): Promise<void> {
    this.flush();
    if (this.inflight.size > 0 || this.queued.some((q) => q.ids.length > 0)) await new Promise<void>((resolve) => (this.onIdle = resolve));
    this.stopping = true;
    await Promise.all(
      this.workers.map(
        (w, shard) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            this.ports[shard].on('message', (m: FromShard) => {
              if (m.t === 'stopped') void w.terminate();
            });
            this.post(shard, { t: 'stop' });
          }),
      ),
    );
    this.abandonAsks();
  }

  /** Stops the workers at once, without draining (a start that failed half-way). */
  async terminate(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.abandonAsks();
  }

  /** Control questions nobody will answer any more (the workers stopped) resolve with undefined. */
  private abandonAsks(): void {
    for (const resolve of this.asks.values()) resolve(undefined);
    this.asks.clear();
  }

  /** Total requests sent to shards and not yet answered (mailbox depth). */
  depth(shard: number): number {
    return this.backlog[shard] + this.queued[shard].ids.length;
  }
}
