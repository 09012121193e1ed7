// What the server sends, sorted: a push goes to every `onPush` handler and then to the
// subscriptions; a response settles the call of its id; an error with `id: null` answers no call
// (a bad frame, a refused batch) and is kept in `unmatched` for tests and tools.
import type { WireError } from './protocol/errors.js';
import type { Calls } from './calls.js';
import { CartwireError } from './errors.js';
import type { PushHandler } from './events.js';
import { messageBytes } from './socket.js';
import type { Subscriptions } from './subscriptions.js';
import { decodeFrame } from './wire.js';

export interface Receivers {
  readonly pushHandlers: Iterable<PushHandler>;
  readonly subs: Pick<Subscriptions, 'onPush'>;
  readonly calls: Pick<Calls, 'answer'>;
  readonly unmatched: { code: string; message: string }[];
  report(err: unknown): void;
}

/** One frame of the current socket. */
export function receiveFrame(data: unknown, to: Receivers): void {
  const bytes = messageBytes(data);
  if (!bytes) return;
  let messages: unknown[];
  try {
    messages = decodeFrame(bytes);
  } catch (err) {
    return to.report(new CartwireError('BAD_FRAME', 'the server sent a frame that is not msgpack', undefined, { cause: err }));
  }
  for (const m of messages) receiveMessage(m as Record<string, unknown>, to);
}

function receiveMessage(m: Record<string, unknown>, to: Receivers): void {
  if (m === null || typeof m !== 'object') return;
  if (typeof m.push === 'string') {
    // A throwing handler must not escape into the socket's callback nor starve the others.
    for (const h of to.pushHandlers) {
      try {
        h(m.push, m.data);
      } catch (err) {
        to.report(err);
      }
    }
    to.subs.onPush(m.push, m.data);
    return;
  }
  if (typeof m.id === 'number') return to.calls.answer(m.id, m);
  const error = m.error as WireError | undefined;
  if (error && m.id === null) to.unmatched.push({ code: error.code, message: error.message });
}
