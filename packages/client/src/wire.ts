// Frames of the SDK: standard MessagePack (no msgpackr records or extensions on the wire), a
// batch is an array of at most 256 requests and a frame is at most 64 KiB (PROTOCOL.md
// "Transport"; a bigger frame would get the connection closed with 1009).
import { Packr, Unpackr } from 'msgpackr';
import { Limits } from './protocol/errors.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export interface WireRequest {
  id: number;
  op: string;
  args: unknown;
}

/** Anything that carries the request map it sends. */
export interface Sendable {
  readonly msg: WireRequest;
}

export interface Encoded<R> {
  frames: Uint8Array[];
  /** Requests of each frame, in the order of `frames`. */
  parts: R[][];
  /** Requests that do not fit in a frame on their own. */
  tooBig: { request: R; bytes: number }[];
}

/**
 * Packs requests into as few frames as the limits allow: chunks of `maxBatch`, halved until each
 * frame fits `maxBytes`. One request alone is sent as a map, not a one-element array.
 */
export function encodeRequests<R extends Sendable>(requests: R[], maxBatch: number = Limits.MAX_BATCH, maxBytes: number = Limits.MAX_FRAME_BYTES): Encoded<R> {
  const out: Encoded<R> = { frames: [], parts: [], tooBig: [] };
  const pack = (part: R[]): void => {
    // msgpackr hands out views of a buffer it never rewrites, so frames stay valid until sent.
    const bytes = packr.pack(part.length === 1 ? part[0].msg : part.map(msgOf));
    if (bytes.byteLength <= maxBytes) {
      out.frames.push(bytes);
      out.parts.push(part);
    } else if (part.length === 1) {
      out.tooBig.push({ request: part[0], bytes: bytes.byteLength });
    } else {
      const half = Math.ceil(part.length / 2);
      pack(part.slice(0, half));
      pack(part.slice(half));
    }
  };
  for (let i = 0; i < requests.length; i += maxBatch) pack(requests.slice(i, i + maxBatch));
  return out;
}

const msgOf = (r: Sendable): WireRequest => r.msg;

/** A decoded frame: one message or an array of them (responses and pushes). */
export function decodeFrame(bytes: Uint8Array): unknown[] {
  const value = unpackr.unpack(bytes) as unknown;
  return Array.isArray(value) ? value : [value];
}
