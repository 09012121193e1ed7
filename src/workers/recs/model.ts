// The model a build produces and serving reads: precomputed neighbours and popularity, all in
// typed arrays. A build is split into shards (one per pool thread): every shard computes its
// residue class of rows into neighbour arrays the main thread allocated in SharedArrayBuffers,
// and shard 0 also returns the interaction matrix and popularity, transferred (not cloned).
import { allocNeighbours, cosineNeighbours, type Neighbours } from './cosine-neighbours.js';
import { featureMatrix, type FeatureColumns } from './content-features.js';
import { decayedPopularity, popularityOrder, userItemMatrix } from './interactions.js';
import { transpose, type Csr } from './sparse.js';
import { rp3betaNeighbours } from './rp3beta.js';
import { easeNeighbours } from './ease.js';
import type { EventColumns } from './event-log.js';

export interface BuildParams {
  /** Weight per kind code (view, cart, purchase). */
  kindWeights: readonly number[];
  itemK: number;
  itemShrink: number;
  userK: number;
  userShrink: number;
  contentK: number;
  contentIdf: boolean;
  /** RP3beta: neighbours per item, walk exponent, popularity penalty (0 neighbours: off). */
  rp3K: number;
  rp3Alpha: number;
  rp3Beta: number;
  /** EASE: neighbours kept per item, L2 penalty, items it runs on at most (0: off). */
  easeK: number;
  easeLambda: number;
  easeMaxItems: number;
  halfLifeMs: number;
  /** Popularity is decayed to this instant. */
  now: number;
}

/** Neighbourhoods and shrink chosen on a MovieLens validation split (docs/recommendations.md). */
export const DEFAULT_BUILD_PARAMS: Omit<BuildParams, 'now'> = {
  kindWeights: [1, 3, 5],
  itemK: 50,
  itemShrink: 20,
  userK: 80,
  userShrink: 5,
  contentK: 50,
  contentIdf: false,
  rp3K: 200,
  rp3Alpha: 0.5,
  rp3Beta: 0.5,
  easeK: 200,
  easeLambda: 500,
  easeMaxItems: 800,
  halfLifeMs: 14 * 24 * 3600_000,
};

/** Where a build's neighbours go: allocated once per build by the caller, filled by the shards. */
export interface NeighbourOutputs {
  itemknn: Neighbours | null;
  userknn: Neighbours | null;
  content: Neighbours | null;
  rp3beta: Neighbours | null;
  ease: Neighbours | null;
}

export interface ShardInput {
  events: EventColumns;
  users: number;
  items: number;
  features: FeatureColumns | null;
  params: BuildParams;
  out: NeighbourOutputs;
  /** This shard computes rows r with r % of === index. */
  shard: { index: number; of: number };
  /** Lanes whose `out` is the previous model's list, kept as it is (not computed again). */
  kept?: { content?: boolean; ease?: boolean };
}

/** What a shard returns; only shard 0 carries the matrix and popularity. */
export interface ShardResult {
  timings: Record<string, number>;
  base: { userItems: Csr; popularity: Float64Array; popOrder: Int32Array } | null;
}

export interface RecsModel {
  users: number;
  items: number;
  builtAt: number;
  /** What each stage took (ms; the slowest shard's figure when split). */
  timings: Record<string, number>;
  /** Weighted user x item interactions: a user's history, and what neighbours consumed. */
  userItems: Csr;
  itemNeighbours: Neighbours | null;
  userNeighbours: Neighbours | null;
  contentNeighbours: Neighbours | null;
  rp3Neighbours: Neighbours | null;
  easeNeighbours: Neighbours | null;
  popularity: Float64Array;
  /** Items with popularity > 0, best first. */
  popOrder: Int32Array;
}

/** Bytes of the buffers a model's arrays view (each buffer once: several arrays may share one). */
export function modelBytes(m: RecsModel): number {
  const buffers = new Set<ArrayBufferLike>();
  const lanes = [m.itemNeighbours, m.userNeighbours, m.contentNeighbours, m.rp3Neighbours, m.easeNeighbours];
  for (const a of [m.userItems.ptr, m.userItems.idx, m.userItems.val, m.popularity, m.popOrder]) buffers.add(a.buffer);
  for (const n of lanes) if (n) for (const a of [n.count, n.idx, n.sim]) buffers.add(a.buffer);
  let bytes = 0;
  for (const b of buffers) bytes += b.byteLength;
  return bytes;
}

/**
 * The shared outputs for a build of this size; a lane with k = 0 is off (null). `keep` lists are
 * the previous model's, reused as they are (the shards are told so through ShardInput.kept).
 */
export function allocOutputs(
  users: number,
  items: number,
  params: BuildParams,
  content: boolean,
  shared: boolean,
  keep: { content?: Neighbours; ease?: Neighbours } = {},
): NeighbourOutputs {
  const list = (rows: number, k: number, on = true) => (on && k > 0 ? allocNeighbours(rows, k, shared) : null);
  return {
    itemknn: list(items, params.itemK),
    userknn: list(users, params.userK),
    content: keep.content ?? list(items, params.contentK, content),
    rp3beta: list(items, params.rp3K),
    ease: keep.ease ?? list(items, params.easeK, params.easeMaxItems > 1),
  };
}

/** Pure: events and catalog features in, this shard's rows of every neighbour list out. */
export function buildShard(input: ShardInput): ShardResult {
  const { events, users, items, features, params, out, shard, kept = {} } = input;
  const timings: Record<string, number> = {};
  const timed = <T>(name: string, f: () => T): T => {
    const t0 = performance.now();
    const r = f();
    timings[name] = performance.now() - t0;
    return r;
  };
  const rows = { stride: shard.of, offset: shard.index };
  const userItems = timed('matrix', () => userItemMatrix(events, users, items, params.kindWeights));
  const itemUsers = timed('transpose', () => transpose(userItems));
  const { itemknn, userknn } = out;
  if (itemknn) timed('itemknn', () => cosineNeighbours(itemUsers, userItems, { k: params.itemK, shrink: params.itemShrink, out: itemknn, ...rows }));
  if (userknn) timed('userknn', () => cosineNeighbours(userItems, itemUsers, { k: params.userK, shrink: params.userShrink, out: userknn, ...rows }));
  if (features && out.content && !kept.content) {
    const content = out.content;
    timed('content', () => {
      const m = featureMatrix(features, items, params.contentIdf);
      cosineNeighbours(m, transpose(m), { k: params.contentK, out: content, ...rows });
    });
  }
  const rp3 = out.rp3beta;
  if (rp3) timed('rp3beta', () => rp3betaNeighbours(userItems, itemUsers, { k: params.rp3K, alpha: params.rp3Alpha, beta: params.rp3Beta, out: rp3, ...rows }));
  // EASE's dense inverse does not split by rows: the last shard runs it whole
  const ease = out.ease;
  if (ease && !kept.ease && shard.index === shard.of - 1)
    timed('ease', () => easeNeighbours(userItems, itemUsers, { k: params.easeK, lambda: params.easeLambda, maxItems: params.easeMaxItems, out: ease }));
  if (shard.index !== 0) return { timings, base: null };
  const popularity = timed('popularity', () => decayedPopularity(events, items, params.kindWeights, params.now, params.halfLifeMs));
  return { timings, base: { userItems, popularity, popOrder: popularityOrder(popularity) } };
}

/** Puts the shards' results together (shard 0 first). */
export function assembleModel(input: Omit<ShardInput, 'shard'>, results: readonly ShardResult[]): RecsModel {
  const base = results[0].base;
  if (!base) throw new Error('assembleModel: shard 0 must come first');
  const timings: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.timings)) timings[k] = Math.max(timings[k] ?? 0, v);
  return {
    users: input.users,
    items: input.items,
    builtAt: input.params.now,
    timings,
    ...base,
    itemNeighbours: input.out.itemknn,
    userNeighbours: input.out.userknn,
    contentNeighbours: input.out.content,
    rp3Neighbours: input.out.rp3beta,
    easeNeighbours: input.out.ease,
  };
}

/** The whole build on this thread (tests, the offline evaluation). */
export function buildModel(input: Omit<ShardInput, 'shard' | 'out'>): RecsModel {
  const out = allocOutputs(input.users, input.items, input.params, input.features !== null, false);
  const whole = { ...input, out };
  return assembleModel(whole, [buildShard({ ...whole, shard: { index: 0, of: 1 } })]);
}

/** Every ArrayBuffer a shard result owns, once each: its transfer list back to the main thread. */
export function resultBuffers(r: ShardResult): ArrayBuffer[] {
  if (!r.base) return [];
  const { userItems: m, popularity, popOrder } = r.base;
  const seen = new Set<ArrayBuffer>();
  for (const a of [m.ptr, m.idx, m.val, popularity, popOrder]) if (a.buffer instanceof ArrayBuffer) seen.add(a.buffer);
  return [...seen];
}
