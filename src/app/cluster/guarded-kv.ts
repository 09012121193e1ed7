// The accounts buckets as a client's request meets them: a sign-in, a profile read or a
// checkout's account read needs NATS, and when NATS does not serve it (the connection dropped, a
// server hung, a stream between leaders) the request is answered UNAVAILABLE with a retry hint,
// not INTERNAL (`details.applied: "unknown"` when a change was sent and its answer lost). One in
// flight when the connection drops, or made while it is down, fails at once instead of waiting
// out its timeout. Answers such as a lost compare-and-set pass through unchanged.
import type { ErasableKv } from '../../persistence/kv-data-keys.js';
import type { ConnectionWatch } from '../../persistence/nats-streams.js';
import { natsUnavailable, noResponders } from '../../persistence/nats-errors.js';
import { UnavailableError } from '../../transport/dispatch.js';

/** How long a client is told to wait before retrying. */
const RETRY_AFTER_MS = 1_000;
/** The bucket's methods that make requests (each returns a promise); the rest are left as they are. */
const READS = new Set<PropertyKey>(['get', 'keys', 'watch', 'history', 'status']);
const WRITES = new Set<PropertyKey>(['put', 'create', 'update', 'delete', 'purge']);
const notConnected = () => Promise.reject(new UnavailableError('the accounts store (NATS) is not connected; retry', RETRY_AFTER_MS));

/** A request's failure as the client is told it: a change sent whose answer was lost may have been made. */
function unavailable(err: unknown, write: boolean): never {
  if (!natsUnavailable(err)) throw err;
  const message = `the accounts store (NATS) did not answer (${(err as Error).message}); retry`;
  throw new UnavailableError(message, RETRY_AFTER_MS, write && !noResponders(err) ? 'unknown' : undefined);
}

function guard<T>(watch: ConnectionWatch, p: Promise<T>, write: boolean): Promise<T> {
  return watch.guard(p).catch((err: unknown) => unavailable(err, write));
}

/** `bucket` whose requests are guarded (the KV's own calls inside them are not wrapped again). */
export function guardedKv(bucket: ErasableKv, watch: ConnectionWatch): ErasableKv {
  const wrapped = new Map<PropertyKey, unknown>();
  const kv = new Proxy(bucket.kv, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      const write = WRITES.has(prop);
      if (typeof v !== 'function' || !(write || READS.has(prop))) return v;
      let w = wrapped.get(prop);
      if (!w) {
        w = (...args: unknown[]) => {
          if (watch.down) return notConnected();
          return guard(watch, (v as (...a: unknown[]) => Promise<unknown>).apply(target, args), write);
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
  return {
    kv,
    erase: (revision) => (watch.down ? notConnected() : guard(watch, bucket.erase(revision), true)),
  };
}
