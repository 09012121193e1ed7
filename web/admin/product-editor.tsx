// The product editor: load a product by id (or start a new one), edit it, save (catalog.upsert).
// Prices are typed in major units and sent as integer minor units.
import type { CartwireClient, ProductView } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { errorText } from '../common/session.js';
import { ErrorNote } from '../common/error-note.js';

interface VariantRow {
  sku: string;
  price: string;
  attributes?: Record<string, string>;
}
const STATUSES = ['active', 'draft', 'archived'] as const;

export function ProductEditor({ client }: { client: CartwireClient }) {
  const [productId, setProductId] = useState('');
  const [fields, setFields] = useState({ name: '', category: '', brand: '', description: '' });
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('active');
  const [variants, setVariants] = useState<VariantRow[]>([{ sku: '', price: '' }]);
  const [note, setNote] = useState('');
  const [error, setError] = useState('');

  const show = (p: ProductView) => {
    setFields({ name: p.name, category: p.category, brand: p.brand ?? '', description: p.description ?? '' });
    setStatus(p.status);
    setVariants(p.variants.map((v) => ({ sku: v.sku, price: (v.price / 100).toFixed(2), attributes: v.attributes })));
  };
  const load = async () => {
    setError('');
    setNote('');
    try {
      show(await client.call('catalog.get', { productId: productId.trim() }));
      setNote('Loaded');
    } catch (err) {
      setError(errorText(err));
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    setNote('');
    try {
      const saved = await client.call('catalog.upsert', {
        productId: productId.trim(),
        name: fields.name,
        category: fields.category,
        ...(fields.brand ? { brand: fields.brand } : {}),
        ...(fields.description ? { description: fields.description } : {}),
        status,
        variants: variants.map((v) => ({ sku: v.sku.trim(), price: Math.round(Number(v.price) * 100), ...(v.attributes ? { attributes: v.attributes } : {}) })),
      });
      show(saved);
      setNote(`Saved ${saved.productId}`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const text = (key: keyof typeof fields, label: string, required = false) => (
    <label>
      {label}
      <input type="text" required={required} value={fields[key]} onInput={(e) => setFields({ ...fields, [key]: e.currentTarget.value })} />
    </label>
  );
  const setVariant = (i: number, patch: Partial<VariantRow>) => setVariants(variants.map((v, j) => (j === i ? { ...v, ...patch } : v)));

  return (
    <section class="panel" aria-labelledby="product-title">
      <h2 id="product-title">Product editor</h2>
      <form class="editor" onSubmit={(e) => void save(e)}>
        <div class="row">
          <label>
            Product id
            <input type="text" required value={productId} onInput={(e) => setProductId(e.currentTarget.value)} />
          </label>
          <button type="button" class="secondary" disabled={!productId.trim()} onClick={() => void load()}>
            Load product
          </button>
        </div>
        {text('name', 'Product name', true)}
        {text('category', 'Category', true)}
        {text('brand', 'Brand')}
        {text('description', 'Description')}
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as (typeof STATUSES)[number])}>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Variants</legend>
          {variants.map((v, i) => (
            <div class="row" key={i}>
              <label>
                Variant {i + 1} SKU
                <input type="text" required value={v.sku} onInput={(e) => setVariant(i, { sku: e.currentTarget.value })} />
              </label>
              <label>
                Variant {i + 1} price
                <input type="number" required min={0} step="0.01" value={v.price} onInput={(e) => setVariant(i, { price: e.currentTarget.value })} />
              </label>
              {variants.length > 1 && (
                <button type="button" class="secondary" aria-label={`Remove variant ${i + 1}`} onClick={() => setVariants(variants.filter((_, j) => j !== i))}>
                  Remove
                </button>
              )}
            </div>
          ))}
          <button type="button" class="secondary" onClick={() => setVariants([...variants, { sku: '', price: '' }])}>
            Add variant
          </button>
        </fieldset>
        <button type="submit">Save product</button>
      </form>
      <p class="note" aria-live="polite">
        {note}
      </p>
      <ErrorNote text={error} />
    </section>
  );
}
