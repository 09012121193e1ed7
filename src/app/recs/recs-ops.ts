// Recommendations on the main thread: feeds the RecsService (src/workers/recs/) from committed
// domain events (views, cart additions, purchases) and the catalog view, loads the event logs
// of every shard at start, and answers recs.forUser / recs.similar from the precomputed model
// with the live catalog (active, in stock) and the caller's cart as filters.
import type { DomainEvent } from '../../actors/actor.js';
import type { ProductView } from '../../protocol/types.js';
import type { OpArgs } from '../../protocol/ops.js';
import type { ShardPool } from '../shard-pool.js';
import type { InteractionsPage } from '../../workers/shard-messages.js';
import { RecsService, type Interaction, type ProductFeatures, type RecsCandidateFilter, type Recommendation } from './index.js';
import type { CatalogView } from '../catalog/catalog-view.js';
import type { Identity } from '../../protocol/types.js';
import type { RecommendationView } from '../../protocol/ops.js';
import { fail, type Answer } from '../../transport/dispatch.js';
import { cartKey } from '../../protocol/keys.js';

const KINDS = ['view', 'cart', 'purchase'] as const;
// Small pages: each one holds its shard thread (decoding rows) between the batches of requests.
const LOAD_PAGE = 2_000;
const DEFAULT_LIMIT = 10;

/**
 * Whether a user's interactions may be recorded and used for their recommendations (the user's
 * `preferences.personalizedRecs`). Consulted for every interaction before it is recorded, and by
 * recs.forUser (false: popularity only). The server passes the accounts' mirror of the stored
 * preference; `everyonePersonalized` is the default for a RecsOps without accounts.
 */
export interface PersonalizedRecs {
  /** Runs `then` with the user's flag, now or once it is known (or never: not recorded). */
  when(userId: string, then: (personalized: boolean) => void): unknown;
  get(userId: string): Promise<boolean>;
  /** Resolves once no interaction waits for its user's flag. */
  idle(): Promise<void>;
}
export const everyonePersonalized: PersonalizedRecs = {
  when: (_userId, then) => then(true),
  get: () => Promise.resolve(true),
  idle: () => Promise.resolve(),
};

export class RecsOps {
  private readonly filter: RecsCandidateFilter;
  private loaded = false;

  constructor(
    readonly service: RecsService,
    private readonly catalog: CatalogView,
    private readonly pool: ShardPool,
    private readonly personalized: PersonalizedRecs = everyonePersonalized,
  ) {
    // read only when the catalog changed since the last read (a build or a fallback needs it)
    service.setProducts(() => catalog.allProducts().map(features));
    // Called per candidate: reads the stored products, copies nothing.
    this.filter = {
      eligible: (id) => {
        const p = catalog.stored(id, false);
        return p !== undefined && catalog.inStock(p);
      },
      price: (id) => {
        const p = catalog.stored(id, false);
        return p ? lowestPrice(p) : undefined;
      },
      category: (id) => catalog.stored(id, false)?.category,
    };
  }

  /** Committed interactions from every commit (docs/recommendations.md). */
  onDomain(events: readonly DomainEvent[]): void {
    for (const e of events) {
      const d = e.data;
      if (e.name === 'product_viewed') this.record({ userId: d.userId as string, productId: d.productId as string, kind: 'view', at: d.at as number });
      else if (e.name === 'product_added_to_cart')
        this.record({ userId: d.userId as string, productId: d.productId as string, kind: 'cart', at: d.at as number });
      else if (e.name === 'order_paid') {
        for (const l of d.items as { productId: string }[])
          this.record({ userId: d.userId as string, productId: l.productId, kind: 'purchase', at: d.at as number });
      }
    }
  }

  /** The one way in for interactions: users who turned personalised recommendations off are not recorded. */
  record(i: Interaction): void {
    this.personalized.when(i.userId, (personalized) => {
      if (personalized) this.service.record(i);
    });
  }

  onProducts(products: readonly ProductView[]): void {
    if (products.length > 0) this.service.productsChanged();
  }

  /**
   * Reads the interactions in every shard's event log (or, given `history`, in the cluster's
   * event stream), then builds the first model (in the pool: the server answers meanwhile, with
   * no recommendations until it is ready).
   */
  async load(history?: (each: (events: readonly DomainEvent[]) => void) => Promise<unknown>): Promise<void> {
    this.service.productsChanged();
    // the first build sees every logged event: no automatic build on part of them
    this.service.pause();
    try {
      if (history) await history((events) => this.onDomain(events));
      else await this.readLogs();
      await this.personalized.idle();
      await this.service.rebuild();
    } finally {
      this.service.resume();
    }
    this.loaded = true;
  }

  private async readLogs(): Promise<void> {
    for (let shard = 0; shard < this.pool.shards; shard++) {
      for (let after = 0; ;) {
        const page = await this.pool.askShard<InteractionsPage | undefined>(shard, (ask) => ({ t: 'interactions', ask, afterG: after, limit: LOAD_PAGE }));
        if (!page) return; // the server is stopping
        const f = page.flat;
        for (let i = 0; i < f.length; i += 4)
          this.record({ kind: KINDS[f[i] as number], userId: f[i + 1] as string, productId: f[i + 2] as string, at: f[i + 3] as number });
        if (page.lastG === after) break;
        after = page.lastG;
      }
    }
  }

  get ready(): boolean {
    return this.loaded;
  }

  async forUser(args: OpArgs<'recs.forUser'>, who: Identity): Promise<Answer<RecommendationView[]>> {
    const exclude = await this.inCart(who.userId);
    if (!exclude.ok) return exclude;
    const ctx = args.context;
    if (ctx?.priceRange && ctx.priceRange.min > ctx.priceRange.max) return fail('BAD_REQUEST', 'args.context.priceRange.min is above max');
    const personal = await this.personalized.get(who.userId);
    return { ok: true, result: this.service.forUser(who.userId, args.limit ?? DEFAULT_LIMIT, this.filter, exclude.ids, ctx, personal) };
  }

  async similar(args: OpArgs<'recs.similar'>, who: Identity): Promise<Answer<RecommendationView[]>> {
    if (!this.catalog.stored(args.productId, false)) return fail('NOT_FOUND', `unknown product ${args.productId}`, { productId: args.productId });
    const exclude = await this.inCart(who.userId);
    if (!exclude.ok) return exclude;
    exclude.ids.add(args.productId);
    const recs: Recommendation[] = this.service.similar(args.productId, args.limit ?? DEFAULT_LIMIT, this.filter, exclude.ids);
    return { ok: true, result: recs };
  }

  /** The products in the caller's cart, read from the cart actor (never recommended). */
  private async inCart(userId: string): Promise<{ ok: true; ids: Set<string> } | Extract<Answer<never>, { ok: false }>> {
    const r = await this.pool.call(cartKey(userId), { type: 'get' });
    return r.ok ? { ok: true, ids: new Set(r.result.items.map((l) => l.productId)) } : r;
  }
}

function lowestPrice(p: ProductView): number {
  let min = Infinity;
  for (const v of p.variants) if (v.price < min) min = v.price;
  return min;
}

function features(p: ProductView): ProductFeatures {
  const f: ProductFeatures = { productId: p.productId, category: p.category, price: lowestPrice(p), name: p.name, createdAt: p.createdAt };
  if (p.brand !== undefined) f.brand = p.brand;
  if (p.attributes !== undefined) f.attributes = p.attributes;
  return f;
}
