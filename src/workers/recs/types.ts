// The recommendation module's public shapes (what the server's ops and event feed use).
// Everything past RecsService works on dense integer ids and typed arrays; strings stay here.

export type InteractionKind = 'view' | 'cart' | 'purchase';
/** Kinds in the order of their code in the event log (kind code = index). */
export const INTERACTION_KINDS = ['view', 'cart', 'purchase'] as const satisfies readonly InteractionKind[];

export interface Interaction {
  userId: string;
  productId: string;
  kind: InteractionKind;
  /** Epoch ms. */
  at: number;
}

export interface ProductFeatures {
  productId: string;
  category: string;
  brand?: string;
  attributes?: Record<string, string>;
  /** Minor units, lowest variant. <= 0 means unknown: no price-band feature. */
  price: number;
  /** Epoch ms the product was created: the newest come first in the last fallback (0 or absent: oldest). */
  createdAt?: number;
  /** Display name for reasons ("viewed together with <name>"); the id is used without it. */
  name?: string;
}

export interface RecsCandidateFilter {
  /** Active and in stock. */
  eligible(productId: string): boolean;
  price(productId: string): number | undefined;
  category(productId: string): string | undefined;
}

export type RecsAlgorithm = 'itemknn' | 'userknn' | 'content' | 'rp3beta' | 'ease' | 'popularity' | 'newest' | 'hybrid';

export interface Recommendation {
  productId: string;
  score: number;
  reason: string;
  algorithm: RecsAlgorithm;
}

export interface RecsContext {
  category?: string;
  priceRange?: { min: number; max: number };
}
