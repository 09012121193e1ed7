// Stock changes by hand: every one is an inventory transaction with a reason (inventory.adjust).
import type { CartwireClient, InventoryView, OpArgs } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { errorText } from '../common/session.js';
import { ErrorNote } from '../common/error-note.js';

type Kind = OpArgs<'inventory.adjust'>['type'];
const KINDS: Kind[] = ['purchase', 'return', 'sale', 'damage', 'expiry', 'adjustment', 'transfer'];

export function InventoryForm({ client }: { client: CartwireClient }) {
  const [sku, setSku] = useState('');
  const [type, setType] = useState<Kind>('purchase');
  const [qty, setQty] = useState('1');
  const [reason, setReason] = useState('');
  const [to, setTo] = useState('');
  const [result, setResult] = useState<InventoryView | null>(null);
  const [error, setError] = useState('');

  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const args = { sku: sku.trim(), type, qty: Number(qty), reason: reason.trim() || 'manual', ...(type === 'transfer' ? { toWarehouse: to.trim() } : {}) };
      setResult(await client.call('inventory.adjust', args));
    } catch (err) {
      setResult(null);
      setError(errorText(err));
    }
  };
  const look = async () => {
    setError('');
    try {
      setResult(await client.call('inventory.get', { sku: sku.trim() }));
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="inv-title">
      <h2 id="inv-title">Inventory</h2>
      <form class="row" onSubmit={(e) => void submit(e)}>
        <label>
          SKU
          <input type="text" required value={sku} onInput={(e) => setSku(e.currentTarget.value)} />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.currentTarget.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Quantity
          <input type="number" min={0} required value={qty} onInput={(e) => setQty(e.currentTarget.value)} />
        </label>
        <label>
          Reason
          <input type="text" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
        {type === 'transfer' && (
          <label>
            To warehouse
            <input type="text" required value={to} onInput={(e) => setTo(e.currentTarget.value)} />
          </label>
        )}
        <button type="submit">Adjust stock</button>
        <button type="button" class="secondary" disabled={!sku.trim()} onClick={() => void look()}>
          Show stock
        </button>
      </form>
      <ErrorNote text={error} />
      {result && (
        <p role="status" aria-label="Stock">
          <strong>{result.sku}</strong>: on hand {result.onHand}, reserved {result.reserved}, available {result.available} (low at {result.lowStockThreshold})
        </p>
      )}
    </section>
  );
}
