// The in-memory search index over the edge's catalog view (catalog.search). It lives on the main
// thread next to CatalogView and is updated incrementally from the same committed product
// updates, so a search never sees a product that is not durable.
//
// Text: the words of a product's name, brand and description, folded (lowercase, accents
// stripped), in a token -> productIds map with a sorted token array beside it; each query word
// is a prefix, found by binary search in the sorted array, and every query word must prefix some
// word of the product. Category and brand have exact (folded) indexes. Results are ordered by
// productId; the cursor is the base64url of the last productId returned, so a page resumes
// strictly after it and pagination neither skips nor repeats products, whatever is added between
// pages.
import type { ProductView } from '../protocol/types.js';

export interface SearchQuery {
  q?: string;
  category?: string;
  brand?: string;
  minPrice?: number;
  maxPrice?: number;
  limit?: number;
  cursor?: string;
}

export const SEARCH_DEFAULT_LIMIT = 20;
export const SEARCH_MAX_LIMIT = 100;
/** Query words beyond this many are refused: each costs a prefix scan. */
export const SEARCH_MAX_WORDS = 16;

export type SearchPage = { ok: true; products: ProductView[]; nextCursor: string | null } | { ok: false; message: string };

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SPLIT = /[^\p{L}\p{N}]+/u;
const MARKS = /\p{M}+/gu;

/** Lowercase with accents stripped ("Crème" -> "creme"). */
export function fold(s: string): string {
  return s.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

/** The distinct words of a text, folded. */
export function words(s: string): string[] {
  const out = new Set<string>();
  for (const w of fold(s).split(SPLIT)) if (w) out.add(w);
  return [...out];
}

export function encodeCursor(productId: string): string {
  return Buffer.from(productId, 'utf8').toString('base64url');
}

/** The productId in a cursor, or undefined when it is not one this server made. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return ID.test(id) && encodeCursor(id) === cursor ? id : undefined;
}

/** First index in the sorted `a` whose value is >= x (or > x when `strict`). */
function bound(a: readonly string[], x: string, strict: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x || (strict && a[mid] === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A sorted set of strings that takes many inserts cheaply: new values wait in `pending` and are
 * merged on the next read (binary insertion for a few, one sort for many).
 */
class SortedStrings {
  private sorted: string[] = [];
  private pending: string[] = [];

  add(s: string): void {
    this.pending.push(s);
  }

  get(): readonly string[] {
    if (this.pending.length > 0) {
      if (this.pending.length <= 32) {
        for (const s of this.pending) this.sorted.splice(bound(this.sorted, s, false), 0, s);
      } else {
        this.sorted.push(...this.pending);
        this.sorted.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      }
      this.pending = [];
    }
    return this.sorted;
  }
}

interface Doc {
  product: ProductView;
  tokens: string[];
  category: string;
  brand: string | undefined;
}

export class CatalogSearch {
  private readonly docs = new Map<string, Doc>();
  /** Every productId, sorted (products are replaced, never removed). */
  private readonly ids = new SortedStrings();
  /** token -> productIds whose text has it; a token's set may become empty, never removed. */
  private readonly postings = new Map<string, Set<string>>();
  private readonly tokens = new SortedStrings();
  private readonly byCategory = new Map<string, Set<string>>();
  private readonly byBrand = new Map<string, Set<string>>();

  get size(): number {
    return this.docs.size;
  }

  /** Indexes a product, replacing its previous version. */
  upsert(p: ProductView): void {
    const before = this.docs.get(p.productId);
    if (before) this.unindex(before);
    else this.ids.add(p.productId);
    const doc: Doc = {
      product: p,
      tokens: words([p.name, p.brand ?? '', p.description ?? ''].join(' ')),
      category: fold(p.category),
      brand: p.brand ? fold(p.brand) : undefined,
    };
    this.docs.set(p.productId, doc);
    for (const t of doc.tokens) {
      let ids = this.postings.get(t);
      if (!ids) {
        this.postings.set(t, (ids = new Set()));
        this.tokens.add(t);
      }
      ids.add(p.productId);
    }
    addTo(this.byCategory, doc.category, p.productId);
    if (doc.brand !== undefined) addTo(this.byBrand, doc.brand, p.productId);
  }

  private unindex(doc: Doc): void {
    const id = doc.product.productId;
    for (const t of doc.tokens) this.postings.get(t)?.delete(id);
    this.byCategory.get(doc.category)?.delete(id);
    if (doc.brand !== undefined) this.byBrand.get(doc.brand)?.delete(id);
  }

  /** productIds with a word starting with `prefix`. */
  private prefixed(prefix: string): Set<string> {
    const tokens = this.tokens.get();
    const out = new Set<string>();
    for (let i = bound(tokens, prefix, false); i < tokens.length && tokens[i].startsWith(prefix); i++) {
      for (const id of this.postings.get(tokens[i])!) out.add(id);
    }
    return out;
  }

  /**
   * One page of matching products in productId order, as stored (the caller adds live stock).
   * Non-admins see `active` products only.
   */
  search(query: SearchQuery, admin: boolean): SearchPage {
    const limit = query.limit ?? SEARCH_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_MAX_LIMIT) return { ok: false, message: `limit must be 1..${SEARCH_MAX_LIMIT}` };
    let after: string | undefined;
    if (query.cursor !== undefined) {
      after = decodeCursor(query.cursor);
      if (after === undefined) return { ok: false, message: 'cursor is not one this server returned' };
    }
    const min = query.minPrice ?? 0;
    const max = query.maxPrice ?? Number.POSITIVE_INFINITY;
    if (min > max) return { ok: false, message: 'minPrice is above maxPrice' };
    const qWords = query.q === undefined ? [] : words(query.q);
    if (qWords.length > SEARCH_MAX_WORDS) return { ok: false, message: `q has more than ${SEARCH_MAX_WORDS} words` };

    // Candidate sets, each a necessary condition; intersected from the smallest.
    const sets: Set<string>[] = [];
    if (query.category !== undefined) sets.push(this.byCategory.get(fold(query.category)) ?? new Set());
    if (query.brand !== undefined) sets.push(this.byBrand.get(fold(query.brand)) ?? new Set());
    // A word that prefixes a longer query word adds nothing ("cot cotton").
    const distinct = qWords.filter((w) => !qWords.some((o) => o !== w && o.startsWith(w)));
    for (const w of distinct) sets.push(this.prefixed(w));

    // Sparse matches: collect and sort them (O(matches)). Dense ones (or no set at all): walk the
    // sorted ids from the cursor and stop after a page (O(page x catalog / matches)).
    const all = this.ids.get();
    sets.sort((a, b) => a.size - b.size);
    const dense = sets.length === 0 || sets[0].size * 16 > all.length;
    let ordered: readonly string[];
    let checks: Set<string>[] = [];
    if (dense) {
      ordered = all;
      checks = sets;
    } else {
      const [first, ...rest] = sets;
      const hits: string[] = [];
      for (const id of first) if ((after === undefined || id > after) && rest.every((s) => s.has(id))) hits.push(id);
      hits.sort(); // default sort: UTF-16 code unit order, the same as `<`
      ordered = hits;
    }
    const start = dense && after !== undefined ? bound(ordered, after, true) : 0;

    const products: ProductView[] = [];
    let more = false;
    for (let i = start; i < ordered.length; i++) {
      const id = ordered[i];
      if (checks.length > 0 && !checks.every((s) => s.has(id))) continue;
      const p = this.docs.get(id)!.product;
      if (!admin && p.status !== 'active') continue;
      if (query.minPrice !== undefined || query.maxPrice !== undefined) {
        if (!p.variants.some((v) => v.price >= min && v.price <= max)) continue;
      }
      if (products.length === limit) {
        more = true;
        break;
      }
      products.push(p);
    }
    const last = products[products.length - 1];
    return { ok: true, products, nextCursor: more && last ? encodeCursor(last.productId) : null };
  }
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new Set()));
  ids.add(id);
}
