// The frame codec: client frames in (scan, then decode), response and push frames out. Frames
// are standard msgpack only (no msgpackr records), so any msgpack library can talk to us.
import { Packr, Unpackr } from 'msgpackr';
import { Limits, type ErrorCode, type WireError } from '../protocol/errors.js';
import { scanFrame } from './frame-scan.js';

const packr = new Packr({ useRecords: false });
const objects = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
// Used only for frames holding a forbidden key: Maps cannot be polluted through `__proto__`.
const maps = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

/** Stands in for a request map that held a forbidden key; only its id is kept, to answer it. */
export class ForbiddenRequest {
  constructor(readonly id: number | null) {}
}
export type RawRequest = Record<string, unknown> | ForbiddenRequest;

export type DecodedFrame =
  | { kind: 'bad'; reason: string }
  | { kind: 'oversized-batch'; count: number }
  | { kind: 'requests'; batch: boolean; requests: RawRequest[] };

export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  try {
    return decodeScanned(bytes);
  } catch (err) {
    // The scan accepted the structure, so this is a value msgpackr itself refuses: still the client's bad frame.
    return { kind: 'bad', reason: `undecodable msgpack: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200) };
  }
}

function decodeScanned(bytes: Uint8Array): DecodedFrame {
  const scan = scanFrame(bytes);
  if (!scan.ok) return { kind: 'bad', reason: scan.reason };
  if (scan.batch && scan.count > Limits.MAX_BATCH) return { kind: 'oversized-batch', count: scan.count };
  if (scan.forbidden.length === 0) {
    const value = objects.unpack(bytes) as Record<string, unknown> | Record<string, unknown>[];
    return scan.batch
      ? { kind: 'requests', batch: true, requests: value as Record<string, unknown>[] }
      : { kind: 'requests', batch: false, requests: [value as Record<string, unknown>] };
  }
  const value = maps.unpack(bytes) as Map<string, unknown> | Map<string, unknown>[];
  const list = scan.batch ? (value as Map<string, unknown>[]) : [value as Map<string, unknown>];
  const bad = new Set(scan.forbidden);
  return { kind: 'requests', batch: scan.batch, requests: list.map((m, i) => (bad.has(i) ? new ForbiddenRequest(idOf(m)) : (toObject(m) as Record<string, unknown>))) };
}

/** Only for requests the scan proved free of forbidden keys. */
function toObject(v: unknown): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[k as string] = toObject(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toObject);
  return v;
}

function idOf(m: Map<string, unknown>): number | null {
  const id = m.get('id');
  return isWireId(id) ? id : null;
}

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
  const n = frames.length;
  let size = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  for (const f of frames) size += f.length;
  const out = new Uint8Array(size);
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
    new DataView(out.buffer).setUint32(1, n);
    p = 5;
  }
  for (const f of frames) {
    out.set(f, p);
    p += f.length;
  }
  return out;
}
