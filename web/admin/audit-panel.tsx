// Audit: the journaled history of one sku, cart, order or coupon (audit.history, oldest first,
// page by page), and its state at a chosen time (audit.stateAt), so "why is the stock of X what
// it is" has an answer on screen.
import type { CartwireClient, OpArgs, OpResults } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { dateTime } from '../common/format.js';
import { errorText } from '../common/session.js';
import { ErrorNote } from '../common/error-note.js';

type Kind = OpArgs<'audit.history'>['actor'];
type Entry = OpResults['audit.history']['items'][number];
type State = OpResults['audit.stateAt'];

const KINDS: { kind: Kind; label: string }[] = [
  { kind: 'inventory', label: 'sku (inventory)' },
  { kind: 'cart', label: 'cart (user id)' },
  { kind: 'order', label: 'order (order id)' },
  { kind: 'coupon', label: 'coupon (code)' },
];
/** Entries held on screen (older pages beyond are dropped from the top). */
const MAX_SHOWN = 500;

/** `datetime-local` value of an epoch-ms time, in local time, to the second. */
const localInput = (ms: number): string => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
};

const facts = (data: Record<string, unknown>): string => {
  const text = JSON.stringify(data);
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
};

export function AuditPanel({ client }: { client: CartwireClient }) {
  const [kind, setKind] = useState<Kind>('inventory');
  const [key, setKey] = useState('');
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [at, setAt] = useState(() => localInput(Date.now()));
  const [state, setState] = useState<State | null>(null);
  const [error, setError] = useState('');

  const history = async (cursor?: string) => {
    setError('');
    try {
      const page = await client.call('audit.history', { actor: kind, key: key.trim(), limit: 50, ...(cursor ? { cursor } : {}) });
      setEntries((old) => (cursor ? [...(old ?? []), ...page.items].slice(-MAX_SHOWN) : page.items));
      setNext(page.nextCursor);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const stateAt = async (ms: number) => {
    setError('');
    try {
      setState(await client.call('audit.stateAt', { actor: kind, key: key.trim(), at: ms }));
    } catch (err) {
      setState(null);
      setError(errorText(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setState(null);
          void history();
        }}
      >
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Key
          <input type="text" required value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
        <button type="submit">Show history</button>
      </form>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          const ms = new Date(at).getTime();
          if (Number.isFinite(ms)) void stateAt(ms);
        }}
      >
        <label>
          State at
          <input type="datetime-local" step={1} required value={at} onInput={(e) => setAt(e.currentTarget.value)} />
        </label>
        <button type="submit" class="secondary" disabled={!key.trim()}>
          Show state
        </button>
      </form>
      <ErrorNote text={error} />
      {state && (
        <div role="region" aria-label="State at time">
          <p>
            {state.key} at {dateTime(state.at)}, after change {state.seq}:
          </p>
          <pre class="state">{state.state === null ? 'did not exist yet' : JSON.stringify(state.state, null, 2)}</pre>
        </div>
      )}
      {entries && (
        <div class="scroll">
          <table aria-label="History">
            <thead>
              <tr>
                <th scope="col">Change</th>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Facts</th>
                <th scope="col">
                  <span class="visually-hidden">State</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {entries.length === 0 && (
                <tr>
                  <td colSpan={5}>No history.</td>
                </tr>
              )}
              {entries.map((e, i) => (
                <tr key={`${e.seq}-${i}`}>
                  <td>{e.seq}</td>
                  <td>{e.at === null ? '' : dateTime(e.at)}</td>
                  <td>{e.event}</td>
                  <td class="facts">{facts(e.data)}</td>
                  <td>
                    {e.at !== null && (
                      <button type="button" class="secondary" aria-label={`State after change ${e.seq}`} onClick={() => void stateAt(e.at!)}>
                        State after
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {next && (
            <button type="button" class="secondary" onClick={() => void history(next)}>
              More history
            </button>
          )}
        </div>
      )}
    </section>
  );
}
