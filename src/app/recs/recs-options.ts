// RecsService options: defaults and validation. A bad value fails at construction with a message
// naming the option, never later inside a build in the pool.
import type { InteractionKind } from '../../workers/recs/types.js';
import { INTERACTION_KINDS } from '../../workers/recs/types.js';
import { DEFAULT_BUILD_PARAMS, type BuildParams } from '../../workers/recs/model.js';
import { DEFAULT_FEATURE_WEIGHTS, type FeatureWeights } from '../../workers/recs/content-features.js';
import type { BlendWeights } from './scorer.js';

export interface RecsServiceOptions {
  /** Interaction weight per kind (default view 1, cart 3, purchase 5); each > 0. */
  weights?: Record<InteractionKind, number>;
  /**
   * A build starts when there are new events and the live model is older (since it went live)
   * than `rebuildCostFactor` x the last build's duration, at least `rebuildMinMs` and at most
   * `rebuildIntervalMs` (docs/recommendations.md, "Freshness"). Default factor 2.
   */
  rebuildCostFactor?: number;
  /** The floor of that wait (default 1 s). */
  rebuildMinMs?: number;
  /** The ceiling of that wait (default 60 s; 0 = no automatic build by time). */
  rebuildIntervalMs?: number;
  /** This many new events start a build once the floor has passed, without the cost-scaled wait (default 0: off). */
  rebuildEveryEvents?: number;
  /** Neighbours kept per item (default 50). */
  topK?: number;
  /** Build threads (default 1); a build is split into this many shards that run in parallel. */
  poolThreads?: number;
  now?: () => number;
  /** Neighbours kept per user (default 80). */
  userK?: number;
  /** Cosine shrink term for item-item and user-user (default: item 20, user 5). */
  shrink?: number;
  /** Popularity half-life (default 14 days). */
  halfLifeMs?: number;
  /** Weights of the hybrid blend for forUser and similar. */
  blend?: Partial<BlendWeights>;
  similarBlend?: Partial<BlendWeights>;
  featureWeights?: Partial<FeatureWeights>;
  /** The event log keeps at most this many events (the oldest half goes when full; default 5M). */
  maxEvents?: number;
  /**
   * Users remembered by id at most (default 2M, up to 2^24): past it, users with no event left in
   * the log are forgotten, and the oldest events too if the log still names more than half of it.
   */
  maxUsers?: number;
  /** nice(2) increment of the build threads, so builds yield the cores to request work (default 10). */
  poolNice?: number;
  /** V8 heap limit of a build thread, MiB (default 2048): a runaway build fails alone. */
  poolHeapMb?: number;
}

/** Blend chosen on a MovieLens validation split (docs/recommendations.md). */
export const DEFAULT_BLEND: BlendWeights = { itemknn: 0.1, userknn: 0, content: 0.1, rp3beta: 0.25, ease: 1, popularity: 0 };
export const DEFAULT_SIMILAR_BLEND: BlendWeights = { itemknn: 1, userknn: 0, content: 0.3, rp3beta: 0, ease: 0, popularity: 0 };

export interface ResolvedOptions {
  kindWeights: number[];
  rebuildEveryEvents: number;
  rebuildIntervalMs: number;
  rebuildMinMs: number;
  rebuildCostFactor: number;
  poolThreads: number;
  poolNice: number;
  poolHeapMb: number;
  maxEvents: number;
  maxUsers: number;
  now: () => number;
  build: Omit<BuildParams, 'now'>;
  blend: BlendWeights;
  similarBlend: BlendWeights;
  featureWeights: FeatureWeights;
}

/** The freshness rule: factor x the last build's duration, at least the floor, at most the interval. */
export function freshnessWaitMs(lastBuildMs: number, o: Pick<ResolvedOptions, 'rebuildCostFactor' | 'rebuildMinMs' | 'rebuildIntervalMs'>): number {
  return Math.min(o.rebuildIntervalMs, Math.max(o.rebuildMinMs, o.rebuildCostFactor * lastBuildMs));
}

export function recsOptionError(path: string, rule: string, got: unknown): Error {
  return new TypeError(`recs.${path} must be ${rule}, got ${JSON.stringify(got) ?? String(got)}`);
}

const positiveInt = (path: string, v: unknown, dflt: number, min = 1): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw recsOptionError(path, min === 0 ? 'a non-negative integer' : `an integer >= ${min}`, v);
  return v;
};
/** The users' interner's table (an Int32Array twice as long) stays within 128 MiB. */
const MAX_USERS_LIMIT = 2 ** 24;
const maxUsers = (v: unknown): number => {
  const n = positiveInt('maxUsers', v, 2_000_000, 2);
  if (n > MAX_USERS_LIMIT) throw recsOptionError('maxUsers', `an integer 2..${MAX_USERS_LIMIT}`, v);
  return n;
};
const positive = (path: string, v: unknown, dflt: number, allowZero = false): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
    throw recsOptionError(path, allowZero ? 'a finite number >= 0' : 'a finite number > 0', v);
  return v;
};
const weights = <T extends object>(path: string, given: Partial<T> | undefined, dflt: T): T => {
  const out = { ...dflt };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (!(k in dflt)) throw recsOptionError(`${path}.${k}`, `one of ${Object.keys(dflt).join(', ')}`, k);
    (out as Record<string, number>)[k] = positive(`${path}.${k}`, v, 0, true);
  }
  return out;
};

export function resolveOptions(o: RecsServiceOptions = {}): ResolvedOptions {
  const kinds = { view: 1, cart: 3, purchase: 5, ...o.weights };
  const kindWeights = INTERACTION_KINDS.map((k) => positive(`weights.${k}`, kinds[k], 1));
  const blend = weights('blend', o.blend, DEFAULT_BLEND);
  const similarBlend = weights('similarBlend', o.similarBlend, DEFAULT_SIMILAR_BLEND);
  // a lane neither blend reads is not built (k = 0)
  const used = (c: keyof BlendWeights, k: number) => (blend[c] > 0 || similarBlend[c] > 0 ? k : 0);
  return {
    kindWeights,
    rebuildEveryEvents: positiveInt('rebuildEveryEvents', o.rebuildEveryEvents, 0, 0),
    rebuildIntervalMs: positiveInt('rebuildIntervalMs', o.rebuildIntervalMs, 60_000, 0),
    rebuildMinMs: positiveInt('rebuildMinMs', o.rebuildMinMs, 1_000, 0),
    rebuildCostFactor: positive('rebuildCostFactor', o.rebuildCostFactor, 2, true),
    poolThreads: positiveInt('poolThreads', o.poolThreads, 1),
    poolNice: positiveInt('poolNice', o.poolNice, 10, 0),
    poolHeapMb: positiveInt('poolHeapMb', o.poolHeapMb, 2048, 64),
    maxEvents: positiveInt('maxEvents', o.maxEvents, 5_000_000, 2),
    maxUsers: maxUsers(o.maxUsers),
    now: o.now ?? Date.now,
    build: {
      ...DEFAULT_BUILD_PARAMS,
      kindWeights,
      itemK: used('itemknn', positiveInt('topK', o.topK, DEFAULT_BUILD_PARAMS.itemK)),
      userK: used('userknn', positiveInt('userK', o.userK, DEFAULT_BUILD_PARAMS.userK)),
      contentK: used('content', DEFAULT_BUILD_PARAMS.contentK),
      rp3K: used('rp3beta', DEFAULT_BUILD_PARAMS.rp3K),
      easeK: used('ease', DEFAULT_BUILD_PARAMS.easeK),
      itemShrink: positive('shrink', o.shrink, DEFAULT_BUILD_PARAMS.itemShrink, true),
      userShrink: positive('shrink', o.shrink, DEFAULT_BUILD_PARAMS.userShrink, true),
      halfLifeMs: positive('halfLifeMs', o.halfLifeMs, DEFAULT_BUILD_PARAMS.halfLifeMs),
    },
    blend,
    similarBlend,
    featureWeights: weights('featureWeights', o.featureWeights, DEFAULT_FEATURE_WEIGHTS),
  };
}
