// HTTP on the WebSocket's port: health, readiness, Prometheus metrics, sign-in (http-auth.ts)
// and the admin snapshot endpoints. Handlers that await register onAborted first, as uWS requires.
import type { Identity, ShardSummary, SnapshotResult } from '../protocol/types.js';
import { cartKey, couponKey, orderKey, paymentKey, skuKey } from '../protocol/keys.js';
import { mountAuthRoutes, type AccountsPort } from './http-auth.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';

/** What the admin endpoints read from the shards. */
export interface ShardAdminPort {
  summary(): Promise<ShardSummary[]>;
  /** Snapshots every actor now. */
  snapshotAll(): Promise<SnapshotResult[]>;
  /** The JSON-ready state of one actor, or null when it never existed. */
  inspect(key: string): Promise<unknown>;
}

export interface HttpDeps {
  shards: ShardAdminPort;
  verifyToken(token: string): Promise<Identity | undefined>;
  accounts: AccountsPort;
  metricsText(): Promise<string>;
  isReady: () => boolean;
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
    fn(res, req, () => !aborted).catch((err) => {
      console.error('http handler failed:', err);
      if (!aborted) fail(res, '500 Internal Server Error', 'INTERNAL', 'internal error');
    });
  };
}

export function mountHttpRoutes(app: TemplatedApp, d: HttpDeps): void {
  app.get('/healthz', (res) => json(res, '200 OK', { status: 'ok' }));
  app.get('/readyz', (res) => (d.isReady() ? json(res, '200 OK', { status: 'ready' }) : json(res, '503 Service Unavailable', { status: 'recovering' })));
  app.get('/metrics', handle(async (res, _req, live) => {
    const text = await d.metricsText();
    if (live()) send(res, '200 OK', text, 'text/plain; version=0.0.4; charset=utf-8');
  }));

  mountAuthRoutes(app, { accounts: d.accounts, isReady: d.isReady });

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

  app.get('/snapshot', admin(async (res, _p, live) => {
    const shards = await d.shards.summary();
    if (live()) json(res, '200 OK', { shards });
  }));
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
  app.post('/snapshot', admin(async (res, _p, live) => {
    const t0 = performance.now();
    const shards = await d.shards.snapshotAll();
    const actors = shards.reduce((n, s) => n + s.actors, 0);
    if (live()) json(res, '200 OK', { actors, durationMs: Math.round(performance.now() - t0), shards });
  }));
  app.any('/*', (res) => fail(res, '404 Not Found', 'NOT_FOUND', 'no such endpoint'));
}
