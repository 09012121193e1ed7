// What a failed NATS request or JetStream write means, told by the client library's error classes
// and JetStream's API codes rather than by their messages (which change between releases).
import { NoRespondersError, RequestError } from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamApiCodes } from '@nats-io/jetstream';

/** Nobody subscribes to the subject: the request reached no one, so nothing ran. */
export function noResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

/** A compare-and-set write lost (the subject's last sequence was not the one expected), or a KV create found the key. */
export function wrongLastSequence(err: unknown): boolean {
  if (!(err instanceof JetStreamApiError)) return false;
  return err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}
