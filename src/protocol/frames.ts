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

/** `"ok": true, "result":` as packr writes them. */
const OK_RESULT_KEY = Uint8Array.of(0xa2, 0x6f, 0x6b, 0xc3, 0xa6, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74);

/** An ok response whose result is already encoded (a cached reply body), without re-encoding it. */
export function encodeOkEncoded(id: number, result: Uint8Array): Uint8Array {
  // The bytes packr gives `{ id, ok: true, result }`, written by hand: one allocation per
  // response (this is every `catalog.get`), not a packed header, its view and the frame.
  const idBytes = id < 0x80 ? 1 : id < 0x100 ? 2 : id < 0x10000 ? 3 : 5;
  const head = 6 + idBytes + OK_RESULT_KEY.length;
  const out = new Uint8Array(head + result.length);
  out[0] = 0xde; // map of 3, with the 16-bit count packr writes for an object
  out[1] = 0;
  out[2] = 3;
  out[3] = 0xa2; // "id"
  out[4] = 0x69;
  out[5] = 0x64;
  let p = 6;
  if (idBytes === 1) out[p++] = id;
  else if (idBytes === 2) {
    out[p++] = 0xcc;
    out[p++] = id;
  } else if (idBytes === 3) {
    out[p++] = 0xcd;
    out[p++] = id >>> 8;
    out[p++] = id & 0xff;
  } else {
    out[p++] = 0xce;
    out[p++] = id >>> 24;
    out[p++] = (id >>> 16) & 0xff;
    out[p++] = (id >>> 8) & 0xff;
    out[p++] = id & 0xff;
  }
  out.set(OK_RESULT_KEY, p);
  out.set(result, head);
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

/** Bytes of the array frame `joinFrames` makes of the first `n` of `frames`. */
export function joinedSize(frames: readonly Uint8Array[], n = frames.length): number {
  let size = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  for (let i = 0; i < n; i++) size += frames[i].length;
  return size;
}

/**
 * `joinFrames` of the first `n` frames into `out` (at least `joinedSize(frames, n)` bytes);
 * returns the frame's view of it.
 */
export function joinFramesInto(frames: readonly Uint8Array[], out: Uint8Array, n = frames.length): Uint8Array {
  const size = joinedSize(frames, n);
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
  for (let i = 0; i < n; i++) {
    const f = frames[i];
    out.set(f, p);
    p += f.length;
  }
  return size === out.length ? out : out.subarray(0, size);
}
