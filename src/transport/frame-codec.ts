// Client frames in: a structural scan (frame-scan.ts), then msgpack decode. Frames are standard
// msgpack only (no msgpackr records), so any msgpack library can talk to us. Frames out are
// encoded by src/protocol/frames.ts.
import { Unpackr } from 'msgpackr';
import { Limits } from '../protocol/errors.js';
import { isWireId } from '../protocol/frames.js';
import { scanFrame } from './frame-scan.js';

const objects = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
// Used only for frames holding a forbidden key: Maps cannot be polluted through `__proto__`.
const maps = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

/** Stands in for a request map that held a forbidden key; only its id is kept, to answer it. */
export class ForbiddenRequest {
  constructor(readonly id: number | null) {}
}
export type RawRequest = Record<string, unknown> | ForbiddenRequest;

export type DecodedFrame =
  { kind: 'bad'; reason: string } | { kind: 'oversized-batch'; count: number } | { kind: 'requests'; batch: boolean; requests: RawRequest[] };

/**
 * The answer for a frame of one request, the common case: one object reused for every such
 * frame, so it is valid until the next call (the edge reads it at once and keeps nothing of it).
 */
const single: { kind: 'requests'; batch: false; requests: RawRequest[] } = { kind: 'requests', batch: false, requests: [{}] };

/** The frame's requests; a one-request answer is reused by the next call (see `single`). */
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
    if (scan.batch) return { kind: 'requests', batch: true, requests: value as Record<string, unknown>[] };
    single.requests[0] = value as Record<string, unknown>;
    return single;
  }
  const value = maps.unpack(bytes) as Map<string, unknown> | Map<string, unknown>[];
  const list = scan.batch ? (value as Map<string, unknown>[]) : [value as Map<string, unknown>];
  const bad = new Set(scan.forbidden);
  return {
    kind: 'requests',
    batch: scan.batch,
    requests: list.map((m, i) => (bad.has(i) ? new ForbiddenRequest(idOf(m)) : (toObject(m) as Record<string, unknown>))),
  };
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
