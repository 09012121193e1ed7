// The coupon editor (coupon.upsert): percent or amount off, a minimum subtotal, a cap on uses.
import type { CartwireClient, OpResults } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { money } from '../common/format.js';
import { errorText } from '../common/session.js';
import { ErrorNote } from '../common/error-note.js';

type Coupon = OpResults['coupon.upsert'];

export function CouponEditor({ client }: { client: CartwireClient }) {
  const [code, setCode] = useState('');
  const [kind, setKind] = useState<'percent' | 'amount'>('percent');
  const [value, setValue] = useState('10');
  const [minSubtotal, setMinSubtotal] = useState('');
  const [maxRedemptions, setMaxRedemptions] = useState('');
  const [saved, setSaved] = useState<Coupon | null>(null);
  const [error, setError] = useState('');

  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      setSaved(
        await client.call('coupon.upsert', {
          code: code.trim(),
          ...(kind === 'percent' ? { percentOff: Number(value) } : { amountOff: Math.round(Number(value) * 100) }),
          ...(minSubtotal ? { minSubtotal: Math.round(Number(minSubtotal) * 100) } : {}),
          ...(maxRedemptions ? { maxRedemptions: Number(maxRedemptions) } : {}),
        }),
      );
    } catch (err) {
      setSaved(null);
      setError(errorText(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="coupon-title">
      <h2 id="coupon-title">Coupon editor</h2>
      <form class="editor" onSubmit={(e) => void save(e)}>
        <label>
          Coupon code
          <input type="text" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
        </label>
        <label>
          Discount kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as 'percent' | 'amount')}>
            <option value="percent">percent off</option>
            <option value="amount">amount off</option>
          </select>
        </label>
        <label>
          {kind === 'percent' ? 'Percent off' : 'Amount off'}
          <input type="number" required min={0} step={kind === 'percent' ? 1 : 0.01} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </label>
        <label>
          Minimum subtotal
          <input type="number" min={0} step="0.01" value={minSubtotal} onInput={(e) => setMinSubtotal(e.currentTarget.value)} />
        </label>
        <label>
          Maximum redemptions
          <input type="number" min={1} step="1" value={maxRedemptions} onInput={(e) => setMaxRedemptions(e.currentTarget.value)} />
        </label>
        <button type="submit">Save coupon</button>
      </form>
      <ErrorNote text={error} />
      {saved && (
        <p role="status" aria-label="Coupon">
          <strong>{saved.code}</strong>: {saved.percentOff !== undefined ? `${saved.percentOff}% off` : money(saved.amountOff ?? 0, saved.currency)}, redeemed{' '}
          {saved.redeemed}
          {saved.maxRedemptions !== undefined ? ` of ${saved.maxRedemptions}` : ''}
        </p>
      )}
    </section>
  );
}
