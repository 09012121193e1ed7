// What HTTP caches and browsers need from a response: validators (ETag, If-None-Match), and
// compression chosen by Accept-Encoding. Bodies are compressed once and kept with their ETag, so
// a hot response costs no compression work.
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import type { HttpResponse } from './transport.js';

export type Encoding = 'br' | 'gzip';

/** Below this size compression saves less than its headers cost. */
const MIN_COMPRESS_BYTES = 512;

/**
 * Whether `If-None-Match` names `etag` (or is `*`). The comparison is the weak one RFC 9110
 * asks for here: `W/"x"` matches `"x"`.
 */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false;
  const bare = etag.replace(/^W\//, '');
  for (const raw of ifNoneMatch.split(',')) {
    const tag = raw.trim();
    if (tag === '*' || tag.replace(/^W\//, '') === bare) return true;
  }
  return false;
}

/** The best encoding `Accept-Encoding` allows: br, then gzip; undefined for identity. */
export function pickEncoding(acceptEncoding: string): Encoding | undefined {
  if (acceptEncoding === '') return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp === undefined ? 1 : Number(qp.slice(2));
    q.set(name.trim(), Number.isFinite(value) ? value : 0);
  }
  const allowed = (e: string) => (q.get(e) ?? q.get('*') ?? 0) > 0;
  if (allowed('br')) return 'br';
  if (allowed('gzip')) return 'gzip';
  return undefined;
}

/** A text body with its strong ETag and its compressed forms, made on first use and kept. */
export class CachedText {
  private readonly plain: Buffer;
  private br: Buffer | undefined;
  private gzip: Buffer | undefined;
  constructor(
    text: string,
    readonly etag: string,
    readonly contentType: string,
  ) {
    this.plain = Buffer.from(text);
  }

  get bytes(): number {
    return this.plain.length;
  }

  /** The body for this Accept-Encoding, and the encoding used (undefined: identity). */
  body(acceptEncoding: string): { bytes: Buffer; encoding: Encoding | undefined } {
    const enc = this.plain.length < MIN_COMPRESS_BYTES ? undefined : pickEncoding(acceptEncoding);
    if (enc === 'br') {
      // Quality 5: most of brotli's gain at a small cost; this runs on the main thread, once per body.
      this.br ??= brotliCompressSync(this.plain, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5, [zlib.BROTLI_PARAM_SIZE_HINT]: this.plain.length } });
      return { bytes: this.br, encoding: 'br' };
    }
    if (enc === 'gzip') return { bytes: (this.gzip ??= gzipSync(this.plain)), encoding: 'gzip' };
    return { bytes: this.plain, encoding: undefined };
  }
}

/** Request headers a cached response depends on, read during the route callback. */
export interface Conditional {
  ifNoneMatch: string;
  acceptEncoding: string;
}

/**
 * Answers with `text` (or 304 when the client has it): ETag, Cache-Control, Vary and the
 * encoding the client accepts.
 */
export function sendCachedText(res: HttpResponse, text: CachedText, cacheControl: string, req: Conditional): void {
  res.cork(() => {
    if (etagMatches(req.ifNoneMatch, text.etag)) {
      res
        .writeStatus('304 Not Modified')
        .writeHeader('etag', text.etag)
        .writeHeader('cache-control', cacheControl)
        .writeHeader('vary', 'Accept-Encoding')
        .end();
      return;
    }
    const { bytes, encoding } = text.body(req.acceptEncoding);
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', text.contentType)
      .writeHeader('etag', text.etag)
      .writeHeader('cache-control', cacheControl)
      .writeHeader('vary', 'Accept-Encoding')
      .writeHeader('x-content-type-options', 'nosniff');
    if (encoding) res.writeHeader('content-encoding', encoding);
    res.end(bytes);
  });
}
