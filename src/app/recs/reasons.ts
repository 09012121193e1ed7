// The human side of a result: which algorithm produced it and one sentence why.
import type { Scored } from './scorer.js';
import type { RecsAlgorithm } from '../../workers/recs/types.js';

export interface ReasonContext {
  /** Display name of a dense item id (product name, else its id). */
  name(item: number): string;
  /** Category for "popular in ..." (the request's context, else the product's own). */
  category(item: number): string | undefined;
  /** forUser speaks of the user's history; similar of the product asked about. */
  mode: 'user' | 'item';
}

export function algorithmOf(s: Scored): RecsAlgorithm {
  return s.contributors > 1 ? 'hybrid' : s.top;
}

/** The reason follows the component that contributed most to the score. */
export function reasonOf(s: Scored, ctx: ReasonContext): string {
  switch (s.top) {
    case 'itemknn':
    case 'rp3beta':
      return `viewed together with ${ctx.name(s.source)}`;
    case 'content':
      return ctx.mode === 'user' ? `similar to ${ctx.name(s.source)} you viewed` : `similar to ${ctx.name(s.source)}`;
    case 'ease':
      return `goes with ${ctx.name(s.source)}`;
    case 'userknn':
      return 'customers like you bought this';
    case 'popularity': {
      const c = ctx.category(s.item);
      return c === undefined ? 'popular right now' : `popular in ${c}`;
    }
    case 'newest': {
      const c = ctx.category(s.item);
      return c === undefined ? 'new in the shop' : `new in ${c}`;
    }
  }
}
