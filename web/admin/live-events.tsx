// "Live events": every admin-feed message, newest first, naming its type and what it is about.
// A log (role=log, polite by default) holding a real list, so its entries stay list items.
import { time } from '../common/format.js';
import type { Feed } from './feed.js';
import { useFeed } from './use-feed.js';

/** Entries drawn (the feed keeps more for the other panels). */
const SHOWN = 60;

export function LiveEvents({ feed }: { feed: Feed }) {
  useFeed(feed);
  return (
    <section class="panel" aria-labelledby="events-title">
      <h2 id="events-title">Live events</h2>
      <div role="log" aria-label="Live events">
        {feed.entries.length === 0 && <p class="meta">Waiting for the shop to move…</p>}
        <ul class="feed">
          {feed.entries.slice(0, SHOWN).map((e) => (
            <li key={e.n}>
              <span class="meta">{time(e.at)}</span> <strong>{e.type}</strong> {e.subject} <span class="meta">{e.detail}</span>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

export function LowStockAlerts({ feed }: { feed: Feed }) {
  useFeed(feed);
  return (
    <section class="panel" aria-labelledby="low-title">
      <h2 id="low-title">Low stock</h2>
      {feed.alerts.length === 0 ? (
        <p class="meta">No alerts since this page opened.</p>
      ) : (
        <ul class="alerts">
          {feed.alerts.map((a) => (
            <li key={a.sku}>
              <strong>{a.sku}</strong>: {a.available} available (threshold {a.lowStockThreshold}) <span class="meta">{time(a.at)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
