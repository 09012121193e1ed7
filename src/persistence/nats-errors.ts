// What a failed NATS request or JetStream write means, told by the client library's error classes
// and JetStream's API codes rather than by their messages (which change between releases).
import { ClosedConnectionError, ConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamApiCodes } from '@nats-io/jetstream';
import { ConnectionDroppedError } from './nats-streams.js';

/** Nobody subscribes to the subject: the request reached no one, so nothing ran. */
export function noResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

/** A compare-and-set write lost (the subject's last sequence was not the one expected), or a KV create found the key. */
export function wrongLastSequence(err: unknown): boolean {
  if (!(err instanceof JetStreamApiError)) return false;
  return err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

/**
 * NATS did not serve the request: no connection (dropped, closed, draining), no answer in time,
 * nobody listening, or a stream without a leader. Anything else a request rejects with is an
 * answer (a lost compare-and-set) or a bug.
 */
export function natsUnavailable(err: unknown): boolean {
  return (
    err instanceof ConnectionDroppedError ||
    err instanceof TimeoutError ||
    err instanceof RequestError ||
    err instanceof NoRespondersError ||
    err instanceof ClosedConnectionError ||
    err instanceof DrainingConnectionError ||
    err instanceof ConnectionError ||
    (err instanceof JetStreamApiError && err.status === 503)
  );
}
