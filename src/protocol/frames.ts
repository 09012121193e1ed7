// Response and push frames as the server writes them: standard msgpack only (no msgpackr
// records), so any msgpack library can read them. Shared by the edge (main thread) and the shard
// workers, which encode replies where they are decided.
import { Packr, Unpackr } from 'msgpackr';
import type { ErrorCode, WireError } from './errors.js';

const packr = new Packr({ useRecords: false });
const objects = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export function isWireId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffffffff;
}

export function encodeOk(id: number, result: unknown): Uint8Array {
  return packr.pack({ id, ok: true, result });
}

/** An ok response whose result is already encoded (a cached reply body), without re-encoding it. */
export function encodeOkEncoded(id: number, result: Uint8Array): Uint8Array {
  // `result` is the last key: the header packed with a nil result ends in that one nil byte.
  const head = packr.pack({ id, ok: true, result: null });
  const out = new Uint8Array(head.length - 1 + result.length);
  out.set(head.subarray(0, head.length - 1));
  out.set(result, head.length - 1);
  return out;
}

export function encodeError(id: number | null, code: ErrorCode, message: string, details?: Record<string, unknown>): Uint8Array {
  const error: WireError = details ? { code, message, details } : { code, message };
  return packr.pack({ id, ok: false, error });
}

export function encodePush(push: string, data: unknown): Uint8Array {
  return packr.pack({ push, data });
}

export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeValue(bytes: Uint8Array): unknown {
  return objects.unpack(bytes);
}

/**
 * Joins encoded responses into one array frame: msgpack values concatenate, so the frame is an
 * array header followed by the responses as they are, with no re-encoding.
 */
export function joinFrames(frames: readonly Uint8Array[]): Uint8Array {
  return joinFramesInto(frames, new Uint8Array(joinedSize(frames)));
}

/** Bytes of the array frame `joinFrames` makes of `frames`. */
export function joinedSize(frames: readonly Uint8Array[]): number {
  const n = frames.length;
  let size = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  for (const f of frames) size += f.length;
  return size;
}

/** `joinFrames` into `out` (at least `joinedSize(frames)` bytes); returns the frame's view of it. */
export function joinFramesInto(frames: readonly Uint8Array[], out: Uint8Array): Uint8Array {
  const n = frames.length;
  const size = joinedSize(frames);
  let p: number;
  if (n < 16) {
    out[0] = 0x90 | n;
    p = 1;
  } else if (n < 0x10000) {
    out[0] = 0xdc;
    out[1] = n >> 8;
    out[2] = n & 0xff;
    p = 3;
  } else {
    out[0] = 0xdd;
    new DataView(out.buffer, out.byteOffset).setUint32(1, n);
    p = 5;
  }
  for (const f of frames) {
    out.set(f, p);
    p += f.length;
  }
  return size === out.length ? out : out.subarray(0, size);
}
