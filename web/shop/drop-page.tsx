// A product drop (#/drop/<dropId>): join the fair queue, watch the place move with the server's
// drop.position pushes, and buy the sku once admitted, before the checkout window closes.
import type { OpResults } from '@cartwire/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import { time } from '../common/format.js';
import { errorText } from '../common/session.js';
import type { Shop } from './shop.js';
import { ErrorNote } from '../common/error-note.js';

type Place = OpResults['drop.join'];

interface Admission {
  sku: string;
  expiresAt: number;
}

export function DropPage({ shop, dropId }: { shop: Shop; dropId: string }) {
  const [place, setPlace] = useState<Place | null>(null);
  const [admission, setAdmission] = useState<Admission | null>(null);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const joined = useRef(false);
  const { client } = shop;

  const join = async () => {
    setError('');
    try {
      setPlace(await client.call('drop.join', { dropId }));
      joined.current = true;
    } catch (err) {
      setError(errorText(err));
    }
  };

  useEffect(() => {
    // The SDK hands drop pushes to every push listener; this page takes its own drop's.
    const off = client.onPush((push, data) => {
      const d = data as { dropId?: string; position?: number; ahead?: number; sku?: string; expiresAt?: number };
      if (d.dropId !== dropId) return;
      if (push === 'drop.position' && typeof d.position === 'number')
        setPlace((p) => (p && !p.admitted ? { ...p, position: d.position!, ahead: d.ahead ?? null } : p));
      if (push === 'drop.admitted' && typeof d.sku === 'string' && typeof d.expiresAt === 'number') {
        setAdmission({ sku: d.sku, expiresAt: d.expiresAt });
        setPlace((p) => (p ? { ...p, admitted: true, position: 0, ahead: 0, expiresAt: d.expiresAt } : p));
      }
    });
    // Pushes follow a connection: after a reconnect, joining again (same place) resumes them.
    const rejoin = client.on('state', (s) => {
      if (s === 'open' && joined.current) void join();
    });
    return () => {
      off();
      rejoin();
    };
  }, [client, dropId]);

  const expiresAt = admission?.expiresAt ?? place?.expiresAt;
  const buy = async (sku: string) => {
    setNote('');
    setNote((await shop.add(sku)) ?? 'Added to your cart');
  };
  return (
    <section aria-labelledby="drop-title">
      <h1 id="drop-title">Product drop {dropId}</h1>
      <ErrorNote text={error} />
      {!place ? (
        <>
          <p>Everyone who joins before the start gets a fair random place when it starts; later joiners queue behind in order.</p>
          <button type="button" onClick={() => void join()}>
            Join the drop
          </button>
        </>
      ) : place.admitted ? (
        <div class="panel">
          <p role="status" aria-label="Queue position">
            It is your turn!
          </p>
          {expiresAt !== undefined && (
            <p>
              Check out before <time dateTime={new Date(expiresAt).toISOString()}>{time(expiresAt)}</time>.
            </p>
          )}
          {admission && (
            <button type="button" onClick={() => void buy(admission.sku)}>
              Add to cart
            </button>
          )}
          <p class="note" aria-live="polite">
            {note}
          </p>
          <a class="button" href="#/checkout">
            Checkout
          </a>
        </div>
      ) : place.position === null ? (
        <p role="status" aria-label="Queue position">
          You are in. Places are drawn at the start ({time(place.startsAt)}).
        </p>
      ) : (
        <div class="panel">
          <p>
            Your place in the queue:{' '}
            <strong role="status" aria-label="Queue position" class="badge">
              {place.position}
            </strong>
          </p>
          <p class="meta">{place.ahead === 1 ? '1 person ahead of you' : `${place.ahead ?? 0} people ahead of you`}</p>
        </div>
      )}
    </section>
  );
}
