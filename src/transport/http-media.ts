// Product images and product JSON over HTTP: POST /media (admin uploads), GET /media/<id> (the
// original or a WebP copy: immutable, the id is the hash of the bytes) and
// GET /products/<id>.json (for crawlers and CDNs: a short max-age, revalidated by ETag).
import type { Identity } from '../protocol/types.js';
import type { WireError } from '../protocol/errors.js';
import { MediaLimits, isMediaWidth, type MediaWidth } from '../protocol/media.js';
import { readBody } from './http-body.js';
import { etagMatches, sendCachedText, type CachedText } from './http-cache.js';
import type { HttpResponse, ServerApp } from './transport.js';
import { log } from '../log/log.js';

/** What an upload became: the stored image, or why nothing was stored (with its HTTP status). */
export type UploadOutcome =
  | { ok: true; media: { mediaId: string; width: number; height: number; url: string } }
  | { ok: false; status: '413 Content Too Large' | '415 Unsupported Media Type' | '422 Unprocessable Content' | '503 Service Unavailable'; error: WireError };

/** One stored file, ready to send. */
export interface MediaFile {
  bytes: Uint8Array;
  contentType: string;
  etag: string;
}

export interface MediaPort {
  /** True when an upload now would be refused as overloaded (checked before the body is read). */
  busy(): boolean;
  /** Checks and stores an upload (the caller is an admin); answers once it is durable. */
  upload(body: Buffer): Promise<UploadOutcome>;
  /** The original (no width) or its WebP copy; undefined for an unknown id. */
  file(mediaId: string, width: MediaWidth | undefined): Promise<MediaFile | undefined>;
}

export interface ProductJsonPort {
  /** An active product as catalog.get gives it, as JSON with its ETag; undefined otherwise. */
  productJson(productId: string): CachedText | undefined;
}

export interface MediaRouteDeps {
  media: MediaPort;
  products: ProductJsonPort;
  verifyToken(token: string): Promise<Identity | undefined>;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Stock and prices move: caches may keep a product 5 s, and serve it up to 30 s more while they revalidate. */
const PRODUCT_CACHE = 'public, max-age=5, stale-while-revalidate=30';

function json(res: HttpResponse, status: string, value: unknown, close = false): void {
  const body = JSON.stringify(value);
  res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(body, close));
}

const error = (code: WireError['code'], message: string, details?: Record<string, unknown>): { error: WireError } => ({
  error: { code, message, ...(details ? { details } : {}) },
});

export function mountMediaRoutes(app: ServerApp, d: MediaRouteDeps): void {
  app.post('/media', (res, req) => {
    const header = req.getHeader('authorization');
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    // No token at all: refused before a byte of the body is read (and the rest is not read).
    if (token === '') return json(res, '401 Unauthorized', error('UNAUTHENTICATED', 'an admin bearer token is required'), true);
    if (d.media.busy()) {
      return res.cork(() =>
        res
          .writeStatus('503 Service Unavailable')
          .writeHeader('content-type', 'application/json')
          .writeHeader('retry-after', '1')
          .end(JSON.stringify(error('OVERLOADED', 'too many uploads at once; retry shortly', { retryAfterMs: 1000 })), true),
      );
    }
    const who = d.verifyToken(token);
    readBody(res, req, MediaLimits.MAX_UPLOAD_BYTES, (r, live) => {
      if (!r.ok) {
        const max = MediaLimits.MAX_UPLOAD_BYTES;
        return json(res, '413 Content Too Large', error('LIMIT_EXCEEDED', `an upload is at most ${max} bytes`, { maxBytes: max }), true);
      }
      void (async () => {
        const identity = await who;
        if (!live()) return;
        if (!identity) return json(res, '401 Unauthorized', error('UNAUTHENTICATED', 'an admin bearer token is required'));
        if (identity.role !== 'admin') return json(res, '403 Forbidden', error('FORBIDDEN', 'admins only'));
        const outcome = await d.media.upload(r.body);
        if (!live()) return;
        if (outcome.ok) json(res, '201 Created', outcome.media);
        else json(res, outcome.status, { error: outcome.error });
      })().catch((err: unknown) => {
        log.error({ err }, 'POST /media failed');
        if (live()) json(res, '500 Internal Server Error', error('INTERNAL', 'internal error'));
      });
    });
  });
  app.any('/media', (res) =>
    res.cork(() =>
      res
        .writeStatus('405 Method Not Allowed')
        .writeHeader('allow', 'POST')
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify(error('BAD_REQUEST', '/media takes POST only')), true),
    ),
  );

  app.get('/media/:id', (res, req) => {
    const id = req.getParameter(0) ?? '';
    const w = req.getQuery('w');
    const ifNoneMatch = req.getHeader('if-none-match');
    const width = w === undefined ? undefined : Number(w);
    if (width !== undefined && !isMediaWidth(width)) {
      return json(res, '400 Bad Request', error('BAD_REQUEST', 'w must be one of 200, 400, 800', { w }));
    }
    let aborted = false;
    res.onAborted(() => (aborted = true));
    d.media.file(id, width).then(
      (file) => {
        if (aborted) return;
        if (!file) return json(res, '404 Not Found', error('NOT_FOUND', 'no such media'));
        res.cork(() => {
          res.writeStatus(etagMatches(ifNoneMatch, file.etag) ? '304 Not Modified' : '200 OK');
          res.writeHeader('etag', file.etag).writeHeader('cache-control', IMMUTABLE).writeHeader('x-content-type-options', 'nosniff');
          if (etagMatches(ifNoneMatch, file.etag)) return void res.end();
          res.writeHeader('content-type', file.contentType).end(file.bytes);
        });
      },
      (err: unknown) => {
        log.error({ err }, 'GET /media failed');
        if (!aborted) json(res, '500 Internal Server Error', error('INTERNAL', 'internal error'));
      },
    );
  });

  app.get('/products/:file', (res, req) => {
    const file = req.getParameter(0) ?? '';
    const text = file.endsWith('.json') ? d.products.productJson(file.slice(0, -'.json'.length)) : undefined;
    if (!text) return json(res, '404 Not Found', error('NOT_FOUND', 'no such product'));
    sendCachedText(res, text, PRODUCT_CACHE, { ifNoneMatch: req.getHeader('if-none-match'), acceptEncoding: req.getHeader('accept-encoding') });
  });
}
