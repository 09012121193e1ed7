// The main thread's recommendation service. record() appends to a shared event log; builds run
// in a Piscina pool and swap in a new model when done; forUser/similar answer from the live
// model's precomputed neighbours (tens of microseconds) and never wait for a build. When the
// model has too little to say (no model yet, a new user, a thin model, a narrow filter), the
// answer falls back to popularity, then to the newest products: never empty while an eligible
// product exists.
import { Piscina } from 'piscina';
import { EventLog } from '../../workers/recs/event-log.js';
import { encodeFeatures, type FeatureColumns } from '../../workers/recs/content-features.js';
import { allocOutputs, assembleModel, modelBytes, type RecsModel, type ShardInput, type ShardResult } from '../../workers/recs/model.js';
import { Scorer, type Scored } from './scorer.js';
import { algorithmOf, reasonOf } from './reasons.js';
import { newUserCache } from './user-cache.js';
import { freshnessWaitMs, resolveOptions, type RecsServiceOptions, type ResolvedOptions } from './recs-options.js';
import { INTERACTION_KINDS } from '../../workers/recs/types.js';
import { FlatInterner, MapInterner } from './interners.js';
import type { Neighbours } from '../../workers/recs/cosine-neighbours.js';
import type { Interaction, ProductFeatures, Recommendation, RecsCandidateFilter, RecsContext } from '../../workers/recs/types.js';

/** Candidates memoised per user (at least), and users memoised per model. */
const MEMO_MIN = 50;
const MEMO_USERS = 20_000;

/** EASE's weights are kept across automatic builds until they are this many times their own build time old. */
const EASE_REFRESH_FACTOR = 10;
/** Growth room below this is kept when the service is trimmed: not worth a copy. */
const TRIM_MIN_BYTES = 2 ** 20;

const KIND_CODE = new Map<string, number>(INTERACTION_KINDS.map((k, i) => [k, i]));

export interface RecsStats {
  modelAgeMs: number;
  lastBuildMs: number;
  builds: number;
  events: number;
  logEvents: number;
  users: number;
  poolUtilization: number;
  memoryBytes: { log: number; users: number; model: number };
}

export class RecsService {
  private readonly o: ResolvedOptions;
  private readonly pool: Piscina;
  private readonly log: EventLog;
  /** Users of the log's rows: record() interns here. Bounded (maxUsers): full, it is replaced by a new one, never renumbered in place. */
  private users = new FlatInterner();
  /** Users of the live model's rows: the interner it was built from (`users` unless forgetUsers() replaced that since). */
  private modelUsers = this.users;
  private readonly items = new MapInterner();
  private readonly displayName = new Map<number, string>();
  private features: FeatureColumns | null = null;
  /** The catalog, read when a build starts or a fallback needs it, only after productsChanged(). */
  private productSource: () => readonly ProductFeatures[] = () => [];
  private productsDirty = false;
  private catalogRead: readonly ProductFeatures[] | null = null;
  /** Item ids, newest product first (the last fallback); null: to be computed from the source. */
  private newestOrder: Int32Array | null = null;
  private model: RecsModel | null = null;
  private scorer: Scorer | null = null;
  private readonly memo = newUserCache(MEMO_USERS);
  private inFlight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private queuedFull = false;
  private sinceBuild = 0;
  private events = 0;
  private builds = 0;
  private lastBuildMs = 0;
  /** The last build without the lanes it computed only now and then (EASE, content): the freshness wait scales with this. */
  private lastFastMs = 0;
  /** When EASE was last computed (performance.now()) and how long it took. */
  private easeAt = 0;
  private lastEaseMs = 0;
  /** The catalog features the live model's content lane was computed from. */
  private builtFeatures: FeatureColumns | null = null;
  /** performance.now() when the live model went live (the freshness wait counts from there). */
  private liveSince = performance.now();
  /** The one pending freshness check (a bounded timer: at most one). */
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private closed = false;
  /** The last failed automatic build (record/timer triggered), for diagnosis. */
  lastError: unknown = null;

  constructor(opts: RecsServiceOptions = {}) {
    this.o = resolveOptions(opts);
    this.log = new EventLog(this.o.maxEvents);
    this.pool = new Piscina({
      filename: new URL('../../workers/recs/build-task.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.o.poolThreads,
      idleTimeout: 30_000,
      niceIncrement: this.o.poolNice,
      // A build that outgrows its heap dies alone (the build fails, the old model keeps serving).
      resourceLimits: { maxOldGenerationSizeMb: this.o.poolHeapMb },
    });
  }

  /** O(1): interns the ids and appends to the log; may start a background build. */
  record(i: Interaction): void {
    const kind = KIND_CODE.get(i.kind);
    if (kind === undefined) throw new TypeError(`recs.record: unknown interaction kind ${JSON.stringify(i.kind)}`);
    this.log.append(this.userId(i.userId), this.items.intern(i.productId), kind, i.at);
    this.events++;
    this.sinceBuild++;
    const every = this.o.rebuildEveryEvents;
    if (every > 0 && this.sinceBuild >= every && !this.inFlight && !this.paused && performance.now() - this.liveSince >= this.o.rebuildMinMs)
      this.autoRebuild();
    else this.schedule();
  }

  /**
   * The catalog (content features, display names, the newest-first fallback): a list, or a
   * function that gives it. A function is called only after productsChanged(), once per build or
   * fallback that needs it, so a burst of catalog changes costs one read, not one per change.
   */
  setProducts(products: readonly ProductFeatures[] | (() => readonly ProductFeatures[])): void {
    this.productSource = typeof products === 'function' ? products : () => products;
    this.productsChanged();
  }

  /** The catalog changed: read it again when next needed. O(1). */
  productsChanged(): void {
    this.productsDirty = true;
    this.newestOrder = null;
    this.catalogRead = null;
  }

  /**
   * Holds automatic builds (record-, count- and time-triggered) until resume(): loading the
   * event logs at start records every past event, and the first build should see them all.
   */
  pause(): void {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  /**
   * How long the live model may age before new events rebuild it: `rebuildCostFactor` x the last
   * build's duration, at least `rebuildMinMs`, at most `rebuildIntervalMs`. Cheap builds (a small
   * shop) come within about a second of the events; an expensive one keeps the pool busy at most
   * 1 / (1 + factor) of the time.
   */
  rebuildWaitMs(): number {
    return freshnessWaitMs(this.lastFastMs, this.o);
  }

  /**
   * The user's recommendations: the blend, then popularity, then the newest products (each step
   * fills what the one before left). `personalized: false` skips the blend (popularity only).
   */
  forUser(
    userId: string,
    limit: number,
    filter: RecsCandidateFilter,
    exclude: ReadonlySet<string>,
    context?: RecsContext,
    personalized = true,
  ): Recommendation[] {
    if (limit <= 0) return [];
    const scorer = this.scorer;
    const user = personalized ? (this.modelUsers.get(userId) ?? -1) : -1;
    const inContext = this.contextTest(filter, context);
    const picked = new Set<number>();
    const accept = (j: number) => {
      const pid = this.items.name(j);
      return !picked.has(j) && !exclude.has(pid) && inContext(pid) && filter.eligible(pid);
    };
    const out: Scored[] = [];
    const fill = (more: Scored[]) => {
      for (const s of more) {
        out.push(s);
        picked.add(s.item);
      }
    };
    if (scorer) fill(this.userCandidates(scorer, user, limit, accept));
    // cold start, or too few neighbours passed the filter: popularity fills the rest
    const seen = new Set(scorer?.history(user).idx);
    const unseen = (j: number) => !seen.has(j) && accept(j);
    if (scorer && out.length < limit) fill(scorer.popular(limit - out.length, unseen));
    // no model yet, or a thin one: the newest products
    if (out.length < limit) fill(this.newest(limit - out.length, unseen));
    const category = (j: number) => context?.category ?? filter.category(this.items.name(j));
    return out.map((s) => this.present(s, 'user', category));
  }

  /** Products like this one: the item lanes, then its category's popular and newest, then any popular and newest. */
  similar(productId: string, limit: number, filter: RecsCandidateFilter, exclude: ReadonlySet<string>): Recommendation[] {
    if (limit <= 0) return [];
    const scorer = this.scorer;
    const item = this.items.get(productId) ?? -1;
    const picked = new Set<number>();
    const accept = (j: number) => {
      const pid = this.items.name(j);
      return pid !== productId && !picked.has(j) && !exclude.has(pid) && filter.eligible(pid);
    };
    const out: Scored[] = [];
    const fill = (more: Scored[]) => {
      for (const s of more) {
        out.push(s);
        picked.add(s.item);
      }
    };
    if (scorer) fill(scorer.similar(item, limit, this.o.similarBlend, accept));
    const category = filter.category(productId);
    const sameCategory = (j: number) => accept(j) && filter.category(this.items.name(j)) === category;
    // a product with no neighbours yet (new, or never viewed with others): its category's best
    // sellers and newest, then the shop's
    if (scorer && out.length < limit && category !== undefined) fill(scorer.popular(limit - out.length, sameCategory));
    if (out.length < limit && category !== undefined) fill(this.newest(limit - out.length, sameCategory));
    if (scorer && out.length < limit) fill(scorer.popular(limit - out.length, accept));
    if (out.length < limit) fill(this.newest(limit - out.length, accept));
    return out.map((s) => this.present(s, 'item', (j) => filter.category(this.items.name(j))));
  }

  /** Builds a model from every event so far in the pool, every lane afresh; resolves once it is live. */
  rebuild(): Promise<void> {
    return this.request(true);
  }

  /**
   * `events`: recorded since start; `logEvents`: kept in the log; `users`: interned (<= maxUsers);
   * `memoryBytes`: the buffers of the event log, of the users' interner (the live model's too while
   * it is another) and of the live model.
   */
  stats(): RecsStats {
    const users = this.users.bytes + (this.modelUsers === this.users ? 0 : this.modelUsers.bytes);
    return {
      modelAgeMs: this.model ? this.o.now() - this.model.builtAt : -1,
      lastBuildMs: this.lastBuildMs,
      builds: this.builds,
      events: this.events,
      logEvents: this.log.count,
      users: this.users.size,
      poolUtilization: this.pool.utilization,
      memoryBytes: { log: this.log.bytes, users, model: this.model ? modelBytes(this.model) : 0 },
    };
  }

  /**
   * Gives back the growth room of the log and of the users' interner where it is over 1 MiB, for a
   * quiet moment (the next burst grows them again); returns the bytes of buffers dropped.
   */
  trim(): number {
    return this.log.fit(TRIM_MIN_BYTES) + this.users.fit(TRIM_MIN_BYTES);
  }

  /** Stage timings (ms) of the live model's build. */
  buildTimings(): Record<string, number> {
    return { ...this.model?.timings };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([this.inFlight, this.queued]);
    await this.pool.destroy();
  }

  /** The user's best blended items that pass `accept`, from the memo when it has enough. */
  private userCandidates(scorer: Scorer, user: number, limit: number, accept: (j: number) => boolean): Scored[] {
    if (user < 0) return [];
    const size = Math.max(MEMO_MIN, 3 * limit);
    let memo = this.memo.get(user);
    if (memo === undefined || memo.build !== this.builds || (memo.size < size && memo.items.length === memo.size)) {
      memo = { size, items: scorer.forUser(user, size, this.o.blend, () => true), build: this.builds };
      this.memo.set(user, memo);
    }
    const out: Scored[] = [];
    for (const s of memo.items) if (out.length < limit && accept(s.item)) out.push(s);
    // the filter ate too much of a full memo: walk the neighbourhood with the filter itself
    if (out.length < limit && memo.items.length === memo.size) return scorer.forUser(user, limit, this.o.blend, accept);
    return out;
  }

  /** The log's dense id of `userId`, interning it; a new user past maxUsers first forgets others. */
  private userId(userId: string): number {
    const known = this.users.get(userId);
    if (known !== undefined) return known;
    if (this.users.size >= this.o.maxUsers) this.forgetUsers();
    return this.users.intern(userId);
  }

  /**
   * The interner is full: a new one takes only the users the newest events name, at most half of
   * maxUsers (normally every user with an event left in the log; if the log names more, its oldest
   * events go too), and the log is rewritten to their new ids. O(log + users), at most once per
   * maxUsers / 2 new users. The live model and a running build keep the interner and the log
   * buffers they were made from, so their ids stay valid until the next build replaces them.
   */
  private forgetUsers(): void {
    const old = this.users;
    const { from, named } = this.log.newestUsers(this.o.maxUsers >> 1, old.size);
    const next = new FlatInterner();
    const renumber = new Int32Array(old.size).fill(-1);
    for (let u = 0; u < old.size; u++) if (named[u] === 1) renumber[u] = next.add(old.name(u));
    this.log.rewrite(from, renumber);
    this.users = next;
  }

  /** Arms the freshness timer when there are new events and nothing is building or armed. */
  private schedule(): void {
    if (this.timer || this.inFlight || this.paused || this.closed || this.sinceBuild === 0 || this.o.rebuildIntervalMs === 0) return;
    const due = this.liveSince + this.rebuildWaitMs() - performance.now();
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.sinceBuild > 0 && !this.inFlight && !this.paused) this.autoRebuild();
      },
      Math.max(0, due),
    ).unref();
  }

  /** Reads the catalog again if it changed: names, content features, newest-first order. */
  /** The catalog as last read from the source (read again only after productsChanged()). */
  private catalog(): readonly ProductFeatures[] {
    return (this.catalogRead ??= this.productSource());
  }

  /** Names and content features, when the catalog changed: once per build that needs them. */
  private refreshProducts(): void {
    if (!this.productsDirty) return;
    this.productsDirty = false;
    const products = this.catalog();
    for (const p of products) if (p.name !== undefined) this.displayName.set(this.items.intern(p.productId), p.name);
    this.features = products.length > 0 ? encodeFeatures(products, (id) => this.items.intern(id), this.o.featureWeights) : null;
  }

  /** Item ids, newest product first (equal times: later in the catalog first, as it lists in creation order). */
  private newestItems(): Int32Array {
    if (this.newestOrder === null) {
      // one sort per catalog change, only when a fallback needs it (~ms for 10k products)
      const order = this.catalog().map((p, at) => ({ item: this.items.intern(p.productId), createdAt: p.createdAt ?? 0, at }));
      order.sort((a, b) => b.createdAt - a.createdAt || b.at - a.at);
      this.newestOrder = Int32Array.from(order, (o) => o.item);
    }
    return this.newestOrder;
  }

  /** The newest products that `accept` takes: the last fallback, so that answers are never empty. */
  private newest(limit: number, accept: (j: number) => boolean): Scored[] {
    const order = this.newestItems();
    const out: Scored[] = [];
    for (let r = 0; r < order.length && out.length < limit; r++) {
      const j = order[r];
      // scores below popularity's (which are > 0 and <= 1): newer first
      if (accept(j)) out.push({ item: j, score: 1 / (order.length + 1 + r), top: 'newest', contributors: 1, source: -1 });
    }
    return out;
  }

  private autoRebuild(): void {
    this.request(false).catch((err: unknown) => {
      this.lastError = err;
    });
  }

  private request(full: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new Error('recs: service is closed'));
    if (!this.inFlight) return this.start(full);
    // a build is running on older events: queue exactly one more after it (callers share it)
    this.queuedFull ||= full;
    this.queued ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        const queuedFull = this.queuedFull;
        this.queuedFull = false;
        return this.start(queuedFull);
      });
    return this.queued;
  }

  private start(full: boolean): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const p = this.build(full).finally(() => {
      if (this.inFlight === p) this.inFlight = null;
      // events that came during the build wait their turn from now
      if (!this.queued) this.schedule();
    });
    this.inFlight = p;
    return p;
  }

  /** `full`: every lane computed again (rebuild()); automatic builds may keep content and EASE. */
  private async build(full: boolean): Promise<void> {
    const t0 = performance.now();
    this.refreshProducts();
    const params = { ...this.o.build, now: this.o.now() };
    const userIds = this.users; // the interner of these rows, whatever forgetUsers() does meanwhile
    const users = userIds.size;
    const items = this.items.size;
    const features = this.features;
    // Lanes that do not follow a shopper's own interactions are kept from the live model when they
    // can be: content while the catalog is unchanged, EASE (the dearest) until it is due again.
    // The history rows, popularity and the other lanes are rebuilt every time.
    const prev = this.model;
    const keep: { content?: Neighbours; ease?: Neighbours } = {};
    if (prev?.contentNeighbours && features === this.builtFeatures) keep.content = prev.contentNeighbours;
    if (prev?.easeNeighbours && !full && performance.now() - this.easeAt < this.easeRefreshMs()) keep.ease = prev.easeNeighbours;
    const input: Omit<ShardInput, 'shard'> = {
      events: this.log.snapshot(),
      users,
      items,
      features,
      params,
      out: allocOutputs(users, items, params, features !== null, true, keep),
      kept: { content: keep.content !== undefined, ease: keep.ease !== undefined },
    };
    this.sinceBuild = 0;
    const of = this.o.poolThreads;
    const shards = Array.from({ length: of }, (_, index) => this.pool.run({ ...input, shard: { index, of } }) as Promise<ShardResult>);
    const model = assembleModel(input, await Promise.all(shards));
    if (this.closed) return;
    this.builtFeatures = features;
    const slow = (model.timings.ease ?? 0) + (model.timings.content ?? 0);
    if (model.timings.ease !== undefined) [this.easeAt, this.lastEaseMs] = [performance.now(), model.timings.ease];
    this.model = model;
    this.modelUsers = userIds;
    this.scorer = new Scorer(model);
    this.builds++; // the memos of the model before are misses from now on
    this.liveSince = performance.now();
    this.lastBuildMs = this.liveSince - t0;
    this.lastFastMs = Math.max(0, this.lastBuildMs - slow);
  }

  /** EASE is computed again once its weights are this old: at most 1 / EASE_REFRESH_FACTOR of a thread's time. */
  private easeRefreshMs(): number {
    const ceiling = this.o.rebuildIntervalMs > 0 ? this.o.rebuildIntervalMs : Infinity;
    return Math.min(ceiling, Math.max(this.o.rebuildMinMs, EASE_REFRESH_FACTOR * this.lastEaseMs));
  }

  private present(s: Scored, mode: 'user' | 'item', category: (j: number) => string | undefined): Recommendation {
    const name = (j: number) => this.displayName.get(j) ?? this.items.name(j);
    return {
      productId: this.items.name(s.item),
      score: s.score,
      reason: reasonOf(s, { name, category, mode }),
      algorithm: algorithmOf(s),
    };
  }

  private contextTest(filter: RecsCandidateFilter, ctx: RecsContext | undefined): (pid: string) => boolean {
    const cat = ctx?.category;
    const range = ctx?.priceRange;
    if (cat === undefined && range === undefined) return () => true;
    return (pid) => {
      if (cat !== undefined && filter.category(pid) !== cat) return false;
      if (range === undefined) return true;
      const price = filter.price(pid);
      return price !== undefined && price >= range.min && price <= range.max;
    };
  }
}
