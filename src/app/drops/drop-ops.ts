// Product drops on the main thread: `drop.create` and `drop.join`, and the checkout gate that
// refuses a drop's sku to anyone not admitted. Each drop is a durable actor (drop-actor.ts);
// this service only keeps which sku belongs to which drop, read back from the shards at start.
import { randomInt } from 'node:crypto';
import { dropsTopic } from '../../actors/drop-actor.js';
import type { OpArgs } from '../../protocol/ops.js';
import type { CartLineView, DropPlace, DropView, Identity } from '../../protocol/types.js';
import { dropKey } from '../../protocol/keys.js';
import { UnavailableError, fail, type Answer, type Request } from '../../transport/dispatch.js';
import type { CatalogView } from '../catalog/catalog-view.js';
import type { ShardPool } from '../shard-pool.js';

/** Drops one server holds at most (LIMIT_EXCEEDED beyond): each gates its sku's checkouts. */
export const MAX_DROPS = 1_000;
const DEFAULTS = { perUserLimit: 1, admitPerSecond: 10, checkoutWindowMs: 300_000 } as const;
/** Ranks are uniform below this (randomInt's largest range): ties are vanishingly rare. */
const RANK_RANGE = 2 ** 48 - 1;

/** What the checkout driver asks before and after a checkout that holds a drop's sku. */
export interface CheckoutGate {
  /**
   * A FORBIDDEN answer when a line is a drop's sku the buyer may not buy now; else undefined, and
   * the lines are claimed for checkout `orderId` (counted against the buyer's limit).
   */
  refuse(userId: string, orderId: string, items: readonly CartLineView[]): Promise<Answer<never> | undefined>;
  /** The checkout `refuse` let through has ended: when not `confirmed`, its claims are given back. */
  settled(userId: string, orderId: string, items: readonly CartLineView[], confirmed: boolean): Promise<void>;
}

export class DropOps implements CheckoutGate {
  /** sku -> dropId of every drop (one drop per sku). */
  private readonly bySku = new Map<string, string>();
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly pool: ShardPool,
    private readonly catalog: CatalogView,
    /** Cluster mode: drops are not served (docs/protocol.md "Product drops"). */
    private readonly cluster: boolean,
  ) {}

  /** Reads every drop's sku from the shards (once; the gate waits for it). */
  load(): Promise<void> {
    return (this.loaded ??= this.pool
      .askAll<[string, string][]>((ask) => ({ t: 'drops', ask }))
      .then((lists) => {
        for (const [dropId, sku] of lists.flat()) this.bySku.set(sku, dropId);
      })
      .catch((err: unknown) => {
        this.loaded = undefined; // asked again by the next caller
        throw err;
      }));
  }

  /** The drops are known, or UNAVAILABLE while a shard that holds some is restarting. */
  private async loadOrRefuse(): Promise<Answer<never> | undefined> {
    try {
      await this.load();
      return undefined;
    } catch (err) {
      if (err instanceof UnavailableError) return fail('UNAVAILABLE', 'a shard is restarting; retry', { retryAfterMs: err.retryAfterMs });
      throw err;
    }
  }

  async create(a: OpArgs<'drop.create'>): Promise<Answer<DropView>> {
    if (this.cluster) return notInCluster();
    if (!this.catalog.hasSku(a.sku)) return fail('NOT_FOUND', `unknown sku ${a.sku}`, { sku: a.sku });
    const unknown = await this.loadOrRefuse();
    if (unknown) return unknown;
    const taken = this.bySku.get(a.sku);
    if (taken !== undefined && taken !== a.dropId) return fail('CONFLICT', `sku ${a.sku} belongs to drop ${taken}`, { sku: a.sku, dropId: taken });
    if (taken === undefined && this.bySku.size >= MAX_DROPS) return fail('LIMIT_EXCEEDED', `at most ${MAX_DROPS} drops`, { maxDrops: MAX_DROPS });
    // Claimed before the actor answers, so two creates racing for one sku cannot both pass.
    this.bySku.set(a.sku, a.dropId);
    const config = {
      sku: a.sku,
      startsAt: a.startsAt,
      perUserLimit: a.perUserLimit ?? DEFAULTS.perUserLimit,
      admitPerSecond: a.admitPerSecond ?? DEFAULTS.admitPerSecond,
      checkoutWindowMs: a.checkoutWindowMs ?? DEFAULTS.checkoutWindowMs,
    };
    const r = await this.pool.call(dropKey(a.dropId), { type: 'create', config });
    if (!r.ok && taken === undefined) this.bySku.delete(a.sku);
    return r;
  }

  /** Joins the caller to the queue; its connection then gets the drop pushes of its user. */
  async join(req: Request, a: OpArgs<'drop.join'>, who: Identity): Promise<Answer<DropPlace>> {
    if (this.cluster) return notInCluster();
    req.listen(dropsTopic(who.userId));
    return this.pool.call(dropKey(a.dropId), { type: 'join', userId: who.userId, rank: randomInt(RANK_RANGE) });
  }

  /**
   * Each drop line of the cart is claimed from its drop (admitted, within the window and the
   * limit), durably, before the saga starts: two checkouts at once cannot both pass the limit,
   * and a crash after the order is confirmed cannot give the units back.
   */
  async refuse(userId: string, orderId: string, items: readonly CartLineView[]): Promise<Answer<never> | undefined> {
    if (this.cluster) return undefined;
    const unknown = await this.loadOrRefuse();
    if (unknown) return unknown;
    const claimed: string[] = [];
    for (const l of items) {
      const dropId = this.bySku.get(l.sku);
      if (dropId === undefined) continue;
      const r = await this.pool.call(dropKey(dropId), { type: 'claim', userId, orderId, qty: l.qty });
      if (!r.ok) {
        await this.release(userId, orderId, claimed);
        return r;
      }
      claimed.push(dropId);
    }
    return undefined;
  }

  async settled(userId: string, orderId: string, items: readonly CartLineView[], confirmed: boolean): Promise<void> {
    if (confirmed) return;
    const drops = items.flatMap((l) => this.bySku.get(l.sku) ?? []);
    await this.release(userId, orderId, drops);
  }

  /** Gives back the units a failed checkout claimed (a release of nothing changes nothing). */
  private async release(userId: string, orderId: string, dropIds: readonly string[]): Promise<void> {
    await Promise.all(dropIds.map((dropId) => this.pool.tell(dropKey(dropId), { type: 'release', userId, orderId })));
  }
}

const notInCluster = () => fail('BAD_REQUEST', 'product drops are not served in cluster mode', { reason: 'cluster' });
