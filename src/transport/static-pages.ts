// The web pages (storefront at /, admin dashboard at /admin) as the page build left them in one
// folder: HTML, and assets under content-hashed names, each with its .br and .gz made at build
// time. Everything is read once at start and served from memory: no disk reads per request, no
// compression on the request path.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { HttpRequest, HttpResponse, ServerApp } from './transport.js';

/** Pages are a handful of files: anything past these bounds is not a page build. */
const MAX_FILES = 200;
const MAX_BYTES = 16 * 1024 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

// The pages talk to their own origin only (the WebSocket included) and are never framed.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

type Encoding = 'br' | 'gzip' | 'identity';

interface Variant {
  body: Uint8Array;
  etag: string;
}

/** One file with its precompressed forms. */
export interface PageFile {
  type: string;
  /** HTML revalidates on every load; hashed assets never change under their name. */
  cacheControl: string;
  variants: Partial<Record<Encoding, Variant>> & { identity: Variant };
}

export interface StaticPages {
  /** By URL path: `/`, `/admin`, `/assets/<hashed name>`. */
  files: Map<string, PageFile>;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** A strong ETag of the bytes as sent (each encoding has its own). */
const etagOf = (bytes: Uint8Array): string => `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;

/** The pages in `dir` (the page build's output), or undefined when they were not built. */
export function loadPages(dir: string): StaticPages | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, PageFile>();
  let bytes = 0;
  const read = (path: string, urlPath: string, cacheControl: string) => {
    const identity = readFileSync(path);
    bytes += identity.byteLength;
    if (files.size >= MAX_FILES || bytes > MAX_BYTES) throw new Error(`the pages in ${dir} exceed ${MAX_FILES} files or ${MAX_BYTES} bytes`);
    const variants: PageFile['variants'] = { identity: { body: identity, etag: etagOf(identity) } };
    for (const [enc, ext] of [
      ['br', '.br'],
      ['gzip', '.gz'],
    ] as const) {
      if (!existsSync(path + ext)) continue;
      const body = readFileSync(path + ext);
      bytes += body.byteLength;
      variants[enc] = { body, etag: etagOf(body) };
    }
    files.set(urlPath, { type: TYPES[extname(path)] ?? 'application/octet-stream', cacheControl, variants });
  };
  read(join(dir, 'index.html'), '/', 'no-cache');
  if (existsSync(join(dir, 'admin.html'))) read(join(dir, 'admin.html'), '/admin', 'no-cache');
  const assets = join(dir, 'assets');
  if (existsSync(assets) && statSync(assets).isDirectory()) {
    for (const name of readdirSync(assets)) {
      if (name.endsWith('.br') || name.endsWith('.gz')) continue;
      read(join(assets, name), `/assets/${name}`, IMMUTABLE);
    }
  }
  return { files };
}

/** The best encoding the client accepts among those the file has (`q=0` refuses one). */
export function chooseEncoding(acceptEncoding: string, file: PageFile): Encoding {
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find((m) => m);
    if (name) accepted.set(name.trim(), q ? Number(q[1]) : 1);
  }
  const ok = (enc: string) => (accepted.get(enc) ?? accepted.get('*') ?? 0) > 0;
  if (file.variants.br && ok('br')) return 'br';
  if (file.variants.gzip && ok('gzip')) return 'gzip';
  return 'identity';
}

/** True when `If-None-Match` names the ETag (or `*`); weak comparison, as RFC 9110 asks for it. */
export function notModified(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

function serve(file: PageFile, res: HttpResponse, req: HttpRequest): void {
  const encoding = chooseEncoding(req.getHeader('accept-encoding'), file);
  const variant = file.variants[encoding] ?? file.variants.identity;
  const fresh = notModified(req.getHeader('if-none-match'), variant.etag);
  res.cork(() => {
    res.writeStatus(fresh ? '304 Not Modified' : '200 OK');
    res.writeHeader('etag', variant.etag).writeHeader('cache-control', file.cacheControl).writeHeader('vary', 'Accept-Encoding');
    res.writeHeader('x-content-type-options', 'nosniff');
    if (file.type.startsWith('text/html')) res.writeHeader('content-security-policy', CSP).writeHeader('referrer-policy', 'no-referrer');
    if (fresh) return void res.end();
    res.writeHeader('content-type', file.type);
    if (encoding !== 'identity') res.writeHeader('content-encoding', encoding);
    res.end(variant.body);
  });
}

/** GET /, /admin and /assets/:name; a missing asset is a plain 404. */
export function mountPages(app: ServerApp, pages: StaticPages): void {
  const route = (path: string) => (res: HttpResponse, req: HttpRequest) => {
    const file = pages.files.get(path);
    if (file) serve(file, res, req);
    else res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found'));
  };
  app.get('/', route('/'));
  app.get('/admin', route('/admin'));
  app.get('/assets/:name', (res, req) => route(`/assets/${req.getParameter(0) ?? ''}`)(res, req));
}
