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
import type { ProductView } from '../../protocol/types.js';

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

  get size(): number {
    return this.sorted.length + this.pending.length;
  }

  add(s: string): void {
    this.pending.push(s);
  }

  delete(s: string): void {
    const a = this.get();
    const i = bound(a, s, false);
    if (a[i] === s) a.splice(i, 1);
  }

  get(): string[] {
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

/** First index >= from in the sorted `a` whose value is >= x (> x when strict), galloping. */
function seekIndex(a: readonly string[], from: number, x: string, strict: boolean): number {
  const before = (i: number) => a[i] < x || (strict && a[i] === x);
  if (from >= a.length || !before(from)) return from;
  let step = 1;
  let lo = from;
  let hi = from + 1;
  while (hi < a.length && before(hi)) {
    lo = hi;
    step *= 2;
    hi = from + step;
  }
  hi = Math.min(hi, a.length);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Ids in ascending order that can skip ahead: the next id >= (or >) a target. */
interface IdCursor {
  /** How many ids it holds (at most): the sparsest condition leads the leapfrog. */
  readonly size: number;
  seek(x: string, strict: boolean): string | undefined;
}

class ListCursor implements IdCursor {
  private i = 0;
  constructor(private readonly a: readonly string[]) {}
  get size(): number {
    return this.a.length;
  }
  seek(x: string, strict: boolean): string | undefined {
    this.i = seekIndex(this.a, this.i, x, strict);
    return this.a[this.i];
  }
}

/** The union of a few sorted lists (the tokens a short prefix matches), without building it. */
class UnionCursor implements IdCursor {
  private readonly cursors: ListCursor[];
  readonly size: number;
  constructor(lists: readonly (readonly string[])[]) {
    this.cursors = lists.map((l) => new ListCursor(l));
    this.size = lists.reduce((n, l) => n + l.length, 0);
  }
  seek(x: string, strict: boolean): string | undefined {
    let best: string | undefined;
    for (const c of this.cursors) {
      const v = c.seek(x, strict);
      if (v !== undefined && (best === undefined || v < best)) best = v;
    }
    return best;
  }
}

/** A prefix matching more tokens than this is merged into one list (cached until the catalog changes). */
const UNION_LISTS_MAX = 16;
const PREFIX_CACHE_MAX = 256;

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
  /** token -> sorted productIds whose text has it. */
  private readonly postings = new Map<string, SortedStrings>();
  private readonly tokens = new SortedStrings();
  private readonly byCategory = new Map<string, SortedStrings>();
  private readonly byBrand = new Map<string, SortedStrings>();
  /** Merged id lists of broad prefixes; cleared on every upsert. */
  private readonly prefixCache = new Map<string, string[]>();

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
        this.postings.set(t, (ids = new SortedStrings()));
        this.tokens.add(t);
      }
      ids.add(p.productId);
    }
    addTo(this.byCategory, doc.category, p.productId);
    if (doc.brand !== undefined) addTo(this.byBrand, doc.brand, p.productId);
    this.prefixCache.clear();
  }

  private unindex(doc: Doc): void {
    const id = doc.product.productId;
    for (const t of doc.tokens) this.postings.get(t)?.delete(id);
    this.byCategory.get(doc.category)?.delete(id);
    if (doc.brand !== undefined) this.byBrand.get(doc.brand)?.delete(id);
  }

  /** productIds with a word starting with `prefix`, ascending; undefined when none. */
  private prefixed(prefix: string): IdCursor | undefined {
    const cached = this.prefixCache.get(prefix);
    if (cached) return new ListCursor(cached);
    const tokens = this.tokens.get();
    const lists: string[][] = [];
    for (let i = bound(tokens, prefix, false); i < tokens.length && tokens[i].startsWith(prefix); i++) {
      const l = this.postings.get(tokens[i])!.get();
      if (l.length > 0) lists.push(l);
    }
    if (lists.length === 0) return undefined;
    if (lists.length === 1) return new ListCursor(lists[0]);
    if (lists.length <= UNION_LISTS_MAX) return new UnionCursor(lists);
    const merged = [...new Set(lists.flat())].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (this.prefixCache.size >= PREFIX_CACHE_MAX) this.prefixCache.delete(this.prefixCache.keys().next().value!);
    this.prefixCache.set(prefix, merged);
    return new ListCursor(merged);
  }

  /**
   * One page of matching products in productId order, as stored (the caller adds live stock).
   * Non-admins see `active` products only. Every condition is a cursor over ids in productId
   * order; they leapfrog to the next id all of them share, so a page costs about
   * page x conditions x log(list) whatever the catalog size.
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

    const empty: SearchPage = { ok: true, products: [], nextCursor: null };
    const cursors: IdCursor[] = [];
    if (query.category !== undefined) {
      const l = this.byCategory.get(fold(query.category));
      if (!l) return empty;
      cursors.push(new ListCursor(l.get()));
    }
    if (query.brand !== undefined) {
      const l = this.byBrand.get(fold(query.brand));
      if (!l) return empty;
      cursors.push(new ListCursor(l.get()));
    }
    // A word that prefixes a longer query word adds nothing ("cot cotton").
    for (const w of qWords) {
      if (qWords.some((o) => o !== w && o.startsWith(w))) continue;
      const c = this.prefixed(w);
      if (!c) return empty;
      cursors.push(c);
    }
    if (cursors.length === 0) cursors.push(new ListCursor(this.ids.get()));
    cursors.sort((a, b) => a.size - b.size);

    const priced = query.minPrice !== undefined || query.maxPrice !== undefined;
    const products: ProductView[] = [];
    let more = false;
    let x = after ?? '';
    let strict = after !== undefined;
    for (;;) {
      // Leapfrog: raise the candidate until every condition has it.
      let id = cursors[0].seek(x, strict);
      let agreed = 1;
      for (let i = 1; id !== undefined && agreed < cursors.length; i = (i + 1) % cursors.length) {
        const v = cursors[i].seek(id, false);
        if (v === id) agreed++;
        else {
          id = v;
          agreed = 1;
        }
      }
      if (id === undefined) break;
      x = id;
      strict = true;
      const p = this.docs.get(id)!.product;
      if (!admin && p.status !== 'active') continue;
      if (priced && !p.variants.some((v) => v.price >= min && v.price <= max)) continue;
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

function addTo(index: Map<string, SortedStrings>, key: string, id: string): void {
  let ids = index.get(key);
  if (!ids) index.set(key, (ids = new SortedStrings()));
  ids.add(id);
}
