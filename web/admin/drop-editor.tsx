// Product drops (drop.create): a fair queue for one sku from a start time, admitting a set number
// of users a second, each with a checkout window and a per-user limit.
import type { CartwireClient, OpResults } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { dateTime } from '../common/format.js';
import { errorText } from '../common/session.js';
import { ErrorNote } from '../common/error-note.js';

type Drop = OpResults['drop.create'];

export function DropEditor({ client }: { client: CartwireClient }) {
  const [dropId, setDropId] = useState('');
  const [sku, setSku] = useState('');
  const [startsIn, setStartsIn] = useState('60');
  const [perUserLimit, setPerUserLimit] = useState('1');
  const [rate, setRate] = useState('10');
  const [drop, setDrop] = useState<Drop | null>(null);
  const [error, setError] = useState('');

  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      setDrop(
        await client.call('drop.create', {
          dropId: dropId.trim(),
          sku: sku.trim(),
          startsAt: Date.now() + Math.round(Number(startsIn) * 1000),
          perUserLimit: Number(perUserLimit),
          admitPerSecond: Number(rate),
        }),
      );
    } catch (err) {
      setDrop(null);
      setError(errorText(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="drop-title">
      <h2 id="drop-title">Product drop</h2>
      <form class="editor" onSubmit={(e) => void create(e)}>
        <label>
          Drop id
          <input type="text" required value={dropId} onInput={(e) => setDropId(e.currentTarget.value)} />
        </label>
        <label>
          Drop SKU
          <input type="text" required value={sku} onInput={(e) => setSku(e.currentTarget.value)} />
        </label>
        <label>
          Starts in (seconds)
          <input type="number" min={0} required value={startsIn} onInput={(e) => setStartsIn(e.currentTarget.value)} />
        </label>
        <label>
          Per-user limit
          <input type="number" min={1} required value={perUserLimit} onInput={(e) => setPerUserLimit(e.currentTarget.value)} />
        </label>
        <label>
          Admissions per second
          <input type="number" min={1} required value={rate} onInput={(e) => setRate(e.currentTarget.value)} />
        </label>
        <button type="submit">Create drop</button>
      </form>
      <ErrorNote text={error} />
      {drop && (
        <p role="status" aria-label="Drop">
          <strong>{drop.dropId}</strong> for {drop.sku} starts {dateTime(drop.startsAt)}: shoppers join at{' '}
          <a href={`/#/drop/${encodeURIComponent(drop.dropId)}`}>/#/drop/{drop.dropId}</a>
        </p>
      )}
    </section>
  );
}
