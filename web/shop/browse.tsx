// The shop window: search, a category filter, "For you", and the matching products with live stock.
import type { ProductView } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../common/session.js';
import { ProductCard } from './product-card.js';
import { Recommendations } from './recommendations.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../common/error-note.js';

/** One page of results: each shown card keeps one stock subscription (a connection may hold 100). */
const PAGE = 24;

export function Browse({ shop }: { shop: Shop }) {
  const [q, setQ] = useState('');
  const [category, setCategory] = useState('');
  const [categories, setCategories] = useState<string[]>([]);
  const [items, setItems] = useState<ProductView[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    // The categories of the whole catalog, for the filter.
    shop.client.call('catalog.search', { limit: 100 }).then(
      (page) => setCategories([...new Set(page.items.map((p) => p.category))].sort()),
      () => undefined,
    );
  }, [shop.client]);

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      const args = { limit: PAGE, ...(q.trim() ? { q: q.trim() } : {}), ...(category ? { category } : {}) };
      shop.client.call('catalog.search', args).then(
        (page) => {
          if (!current) return;
          setError('');
          setItems(page.items);
          setNext(page.nextCursor);
        },
        (err) => current && setError(errorText(err)),
      );
    }, 150); // a search per pause in typing, not per key
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [shop.client, q, category]);

  const more = async () => {
    if (!next) return;
    const args = { limit: PAGE, cursor: next, ...(q.trim() ? { q: q.trim() } : {}), ...(category ? { category } : {}) };
    try {
      const page = await shop.client.call('catalog.search', args);
      setItems((old) => [...(old ?? []), ...page.items].slice(-PAGE * 3));
      setNext(page.nextCursor);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="browse-title">
      <h1 id="browse-title" class="visually-hidden">
        Products
      </h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input type="search" value={q} placeholder="tee, boots, coffee…" onInput={(e) => setQ(e.currentTarget.value)} />
        </label>
        <label>
          Category
          <select value={category} onChange={(e) => setCategory(e.currentTarget.value)}>
            <option value="">All</option>
            {categories.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote text={error} />
      {!q && !category && <Recommendations shop={shop} title="For you" />}
      <div class="grid">
        {items === null ? (
          <p>Loading products…</p>
        ) : items.length === 0 ? (
          <p>No products match.</p>
        ) : (
          items.map((p) => <ProductCard key={p.productId} shop={shop} product={p} />)
        )}
      </div>
      {next && (
        <button type="button" class="secondary" onClick={() => void more()}>
          More products
        </button>
      )}
    </section>
  );
}
