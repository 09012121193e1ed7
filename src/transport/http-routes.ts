// HTTP on the WebSocket's port: health, readiness, Prometheus metrics, sign-in (http-auth.ts)
// and the admin snapshot endpoints; with METRICS_PORT, metrics, health and readiness on a listener
// of their own (mountOpsRoutes). Handlers that await register onAborted first, as uWS requires.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity, ShardSummary, SnapshotResult, SnapshotSummary } from '../protocol/types.js';
import { cartKey, couponKey, orderKey, paymentKey, skuKey } from '../protocol/keys.js';
import { mountAuthRoutes, type AccountsPort } from './http-auth.js';
import { CachedText, sendCachedText } from './http-cache.js';
import { mountPages, type StaticPages } from './static-pages.js';
import { UnavailableError } from './dispatch.js';
import type { ClientIp } from './client-ip.js';
import type { HttpRequest, HttpResponse, ServerApp } from './transport.js';
import { log } from '../log/log.js';

/** What the admin endpoints read from the shards. */
export interface ShardAdminPort {
  summary(): Promise<ShardSummary[]>;
  /** Snapshots every actor now. */
  snapshotAll(): Promise<SnapshotResult[]>;
  /** The JSON-ready state of one actor, or null when it never existed. */
  inspect(key: string): Promise<unknown>;
}

/** What /metrics, /healthz and /readyz read. */
export interface OpsDeps {
  metricsText(): Promise<string>;
  /** The bearer token /metrics requires (METRICS_TOKEN); undefined: none. */
  metricsToken: string | undefined;
  /** Readiness for traffic, with the reasons when not ready (shards down, journals failing). */
  health: () => { ready: boolean } & Record<string, unknown>;
}

export interface HttpDeps extends OpsDeps {
  shards: ShardAdminPort;
  verifyToken(token: string): Promise<Identity | undefined>;
  accounts: AccountsPort;
  /** False while starting or draining. */
  isReady: () => boolean;
  /** False when /metrics has a listener of its own (METRICS_PORT): it is then 404 here. */
  serveMetrics: boolean;
  /** The client behind a request, for the per-IP sign-in limits. */
  clientIp: ClientIp;
  /** Cluster mode: nodes, partitions and owners for GET /cluster (undefined on one node). */
  clusterStatus?: () => Promise<unknown>;
  /** The AsyncAPI document of the WebSocket protocol (GET /asyncapi.json), made once. */
  asyncApi: () => unknown;
  /** The storefront and admin pages; undefined when they were not built (/ and /admin say so). */
  pages: StaticPages | undefined;
  /** What the C allocator holds for the whole process (GET /snapshot), null where unknown. */
  nativeHeap: () => SnapshotSummary['process']['cHeap'];
}

const JSON_TYPE = 'application/json';

function send(res: HttpResponse, status: string, body: string, type = JSON_TYPE): void {
  res.cork(() => res.writeStatus(status).writeHeader('content-type', type).writeHeader('cache-control', 'no-store').end(body));
}

const json = (res: HttpResponse, status: string, value: unknown) => send(res, status, JSON.stringify(value));
const fail = (res: HttpResponse, status: string, code: string, message: string) => json(res, status, { error: { code, message } });

/** Runs an async handler with the abort bookkeeping uWS needs; errors become a 500 JSON error. */
function handle(fn: (res: HttpResponse, req: HttpRequest, live: () => boolean) => Promise<void>) {
  return (res: HttpResponse, req: HttpRequest) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    fn(res, req, () => !aborted).catch((err: unknown) => {
      if (aborted) return;
      if (err instanceof UnavailableError) {
        const body = JSON.stringify({ error: { code: 'UNAVAILABLE', message: err.message, details: { retryAfterMs: err.retryAfterMs } } });
        res.cork(() =>
          res
            .writeStatus('503 Service Unavailable')
            .writeHeader('content-type', JSON_TYPE)
            .writeHeader('retry-after', String(Math.ceil(err.retryAfterMs / 1000)))
            .end(body),
        );
        return;
      }
      log.error({ err }, 'http handler failed');
      fail(res, '500 Internal Server Error', 'INTERNAL', 'internal error');
    });
  };
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** /healthz, /readyz and /metrics (behind METRICS_TOKEN when set). */
function mountOps(app: ServerApp, d: OpsDeps, metrics: boolean): void {
  app.get('/healthz', (res) => json(res, '200 OK', { status: 'ok' }));
  app.get('/readyz', (res) => {
    const h = d.health();
    if (h.ready) return json(res, '200 OK', { status: 'ready' });
    json(res, '503 Service Unavailable', { ...h, status: h.starting ? 'recovering' : 'degraded' });
  });
  if (!metrics) return;
  // Digests compared in constant time: equal lengths whatever was sent, no early exit.
  const expected = d.metricsToken === undefined ? undefined : sha256(d.metricsToken);
  const serve = handle(async (res, _req, live) => {
    const text = await d.metricsText();
    if (live()) send(res, '200 OK', text, 'text/plain; version=0.0.4; charset=utf-8');
  });
  app.get('/metrics', (res, req) => {
    if (expected) {
      const m = /^Bearer +(\S+) *$/i.exec(req.getHeader('authorization'));
      if (!timingSafeEqual(sha256(m?.[1] ?? ''), expected)) {
        const body = JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'a metrics bearer token is required' } });
        return void res.cork(() =>
          res.writeStatus('401 Unauthorized').writeHeader('content-type', JSON_TYPE).writeHeader('www-authenticate', 'Bearer realm="metrics"').end(body),
        );
      }
    }
    serve(res, req);
  });
}

/** The listener of METRICS_PORT: /metrics, /healthz and /readyz, 404 for anything else. */
export function mountOpsRoutes(app: ServerApp, d: OpsDeps): void {
  mountOps(app, d, true);
  app.any('/*', (res) => fail(res, '404 Not Found', 'NOT_FOUND', 'no such endpoint'));
}

export function mountHttpRoutes(app: ServerApp, d: HttpDeps): void {
  mountOps(app, d, d.serveMetrics);
  mountAuthRoutes(app, { accounts: d.accounts, isReady: d.isReady, clientIp: d.clientIp });
  if (d.pages) mountPages(app, d.pages);
  else {
    const unbuilt = (res: HttpResponse) => fail(res, '404 Not Found', 'NOT_FOUND', 'the web pages are not built: run npm run build');
    app.get('/', unbuilt);
    app.get('/admin', unbuilt);
  }
  let asyncApi: CachedText | undefined;
  app.get('/asyncapi.json', (res, req) => {
    // Made once, compressed once; revalidated by its ETag (it changes with the server version).
    if (!asyncApi) {
      const body = JSON.stringify(d.asyncApi());
      asyncApi = new CachedText(body, `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`, JSON_TYPE);
    }
    sendCachedText(res, asyncApi, 'no-cache', { ifNoneMatch: req.getHeader('if-none-match'), acceptEncoding: req.getHeader('accept-encoding') });
  });

  /** Reads the bearer token before any await (the request object dies with the callback). */
  const admin = (fn: (res: HttpResponse, params: string[], live: () => boolean) => Promise<void>) =>
    handle(async (res, req, live) => {
      const header = req.getHeader('authorization');
      const params = [req.getParameter(0) ?? ''];
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      const who = token ? await d.verifyToken(token) : undefined;
      if (!live()) return;
      if (!who) return fail(res, '401 Unauthorized', 'UNAUTHENTICATED', 'an admin bearer token is required');
      if (who.role !== 'admin') return fail(res, '403 Forbidden', 'FORBIDDEN', 'admins only');
      await fn(res, params, live);
    });

  app.get(
    '/snapshot',
    admin(async (res, _p, live) => {
      const shards = await d.shards.summary();
      if (live()) json(res, '200 OK', { shards, process: processMemory(d.nativeHeap()) } satisfies SnapshotSummary);
    }),
  );
  app.get(
    '/cluster',
    admin(async (res, _p, live) => {
      if (!d.clusterStatus) return fail(res, '404 Not Found', 'NOT_FOUND', 'this server is not a cluster node (NATS_URL is not set)');
      const status = await d.clusterStatus();
      if (live()) json(res, '200 OK', status);
    }),
  );
  const inspect = (keyOf: (id: string) => string, what: string) =>
    admin(async (res, [id], live) => {
      const state = await d.shards.inspect(keyOf(id));
      if (!live()) return;
      if (state === null) fail(res, '404 Not Found', 'NOT_FOUND', `no ${what} ${id}`);
      else json(res, '200 OK', state);
    });
  app.get('/snapshot/carts/:userId', inspect(cartKey, 'cart for user'));
  app.get('/snapshot/inventory/:sku', inspect(skuKey, 'inventory for sku'));
  app.get('/snapshot/orders/:orderId', inspect(orderKey, 'order'));
  // Beyond docs/protocol.md, for operators: the gateway simulator's ledger of an order, and a coupon.
  app.get('/snapshot/payments/:orderId', inspect(paymentKey, 'payment ledger for order'));
  app.get('/snapshot/coupons/:code', inspect(couponKey, 'coupon'));
  app.post(
    '/snapshot',
    admin(async (res, _p, live) => {
      const t0 = performance.now();
      const shards = await d.shards.snapshotAll();
      const actors = shards.reduce((n, s) => n + s.actors, 0);
      if (live()) json(res, '200 OK', { actors, durationMs: Math.round(performance.now() - t0), shards });
    }),
  );
  app.any('/*', (res) => fail(res, '404 Not Found', 'NOT_FOUND', 'no such endpoint'));
}

function processMemory(cHeap: SnapshotSummary['process']['cHeap']): SnapshotSummary['process'] {
  const m = process.memoryUsage();
  return {
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    cHeap,
  };
}
