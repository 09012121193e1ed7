// Assembles a running server: shard workers, the edge, WebSocket and HTTP on one port.
import { uws, type TemplatedApp, type us_listen_socket, type WebSocket } from '../transport/uws.js';
import type { Config } from '../config.js';
import { ShardPool, type PoolHooks } from './shard-pool.js';
import { shardOptions } from './shard-options.js';
import { CatalogView } from './catalog-view.js';
import { Metrics } from '../transport/metrics.js';
import { Auth } from './auth.js';
import { Accounts } from './accounts.js';
import { KeyedLimiter, TokenBucket, ipKey } from '../transport/rate-limit.js';
import { Edge } from '../transport/edge.js';
import { Connection, type SocketData } from '../transport/connection.js';
import { mountHttpRoutes } from '../transport/http-routes.js';
import { UserStore, loadJwtSecret } from '../persistence/user-store.js';
import { CloseCode, Limits } from '../protocol/errors.js';
import { demoCatalog } from './demo-catalog.js';
import { CheckoutDriver } from './checkout-driver.js';
import { SimulatedGateway } from './simulated-gateway.js';
import { CommerceOps } from './commerce-ops.js';
import { RecsOps } from './recs-ops.js';
import { RecsService } from './recs/index.js';
import { configurePricing } from '../actors/cart-actor.js';
import type { PriceEntry } from '../workers/shard-messages.js';
import type { ProductView } from '../protocol/types.js';
import { CATALOG_KEY, skuKey } from '../protocol/keys.js';

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  /** Stops accepting, finishes in-flight batches, snapshots and closes the shards. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Shard workers main.ts spawned before loading the server (see ShardPool.spawn). */
  pool?: ShardPool;
  /** Called once with the generated admin password on first start (printed once by main). */
  onAdminPassword?: (password: string) => void;
  onFatal?: (message: string) => void;
}

/** Largest frame uWS accepts before we look at it: bigger ones are closed by uWS itself. */
const UWS_MAX_PAYLOAD = 16 * Limits.MAX_FRAME_BYTES;
const MAX_BACKPRESSURE_BYTES = 4 * 1024 * 1024;
const RECS_LOAD_DELAY_MS = 2_000;

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const users = new UserStore(config.dataDir, config.synchronous);
  const auth = new Auth(loadJwtSecret(config.dataDir, config.jwtSecret), config.tokenTtlSeconds, users);
  const adminPassword = await auth.bootstrapAdmin(config.adminEmail, config.adminPassword);
  if (adminPassword) opts.onAdminPassword?.(adminPassword);

  const catalog = new CatalogView();
  // Prespawned by main.ts (the workers boot while this module graph loads), or started here.
  const pool: ShardPool = opts.pool ?? new ShardPool(config.shards, config.maxShardBacklog);
  // Set on the pool only once everything they use exists (a prespawned pool replays what came early).
  const hooks: PoolHooks = {
    onViews: (stock, products) => {
      if (products) {
        catalog.applyProducts(products);
        // Every shard prices the carts it holds from its own copy (live prices).
        if (ready) {
          pool.prices(priceEntries(products));
          recs.onProducts(products);
        }
      }
      if (stock) catalog.applyStock(stock);
    },
    onDomain: (events) => {
      metrics.business.onDomain(events);
      driver.onDomain(events);
      recs.onDomain(events);
    },
    onDone: (tag, seconds, outcome) => metrics.done(tag, seconds, outcome),
    onStats: (shard, stats) => metrics.shardStats(shard, stats),
    onCheckpoint: (durationMs, snapshots) => metrics.checkpoint(durationMs, snapshots),
    onPushes: (topics, frames, ends) => {
      // Committed changes only (the shard sends pushes with the replies of their commit).
      let start = 0;
      for (let i = 0; i < topics.length; i++) {
        app.publish(topics[i], frames.subarray(start, ends[i]), true);
        start = ends[i];
      }
      metrics.pushes(topics.length);
    },
    onFatal: (message) => (opts.onFatal ?? defaultFatal)(message),
  };
  const metrics = new Metrics(config.shards, (s) => pool.depth(s));
  const limits = config.limits;
  const accounts = new Accounts({ auth, pool, catalog, limits });
  const commerce = config.commerce;
  configurePricing(commerce.pricing);
  const gateway = new SimulatedGateway(pool, commerce.gatewayTimeoutMs + 1_000);
  const driver: CheckoutDriver = new CheckoutDriver({
    pool, gateway, config: commerce,
    accountAgeMs: (userId, now) => {
      const created = users.createdAt(userId);
      return created === undefined ? 0 : Math.max(0, now - created);
    },
  });
  const commerceOps = new CommerceOps(pool, driver, commerce.deadlineMs);
  const rc = config.recs;
  const recs: RecsOps = new RecsOps(
    new RecsService({ weights: rc.weights, rebuildEveryEvents: rc.rebuildEveryEvents, rebuildIntervalMs: rc.rebuildIntervalMs, poolThreads: rc.poolThreads }),
    catalog,
    pool,
  );
  metrics.recs(() => recs.service.stats());
  const edge = new Edge({ pool, catalog, auth, accounts, metrics, maxInflight: limits.connMaxInflight, commerce: commerceOps, recs });
  const connections = new Set<Connection>();
  const connectsByIp = new KeyedLimiter({ capacity: limits.ipConnectsBurst, ratePerSec: limits.ipConnectsPerSec });
  let ready = false;

  const app: TemplatedApp = uws.App();
  app.ws<SocketData>('/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: UWS_MAX_PAYLOAD,
    idleTimeout: limits.idleTimeoutSec,
    sendPingsAutomatically: true,
    // Slow consumers: a connection with more than this unsent (replies and pushes it does not
    // read) is closed, so one stalled client cannot grow the server's memory.
    maxBackpressure: MAX_BACKPRESSURE_BYTES,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // Not before every shard has recovered: the catalog view and the actors are still loading,
      // and a client (a reconnecting SDK above all) would get wrong answers such as NOT_FOUND.
      if (edge.draining || !ready) {
        metrics.upgradeRefused(edge.draining ? 'draining' : 'starting');
        res.writeStatus('503 Service Unavailable').end(edge.draining ? 'shutting down' : 'starting');
        return;
      }
      // Refusals are plain HTTP answers before the upgrade: nothing is allocated for them.
      const ip = ipKey(res.getRemoteAddress());
      const wait = connectsByIp.take(ip, performance.now());
      if (wait > 0) {
        metrics.upgradeRefused('rate');
        res.writeStatus('429 Too Many Requests').writeHeader('retry-after', String(Math.ceil(wait / 1000))).end('too many connections from this address');
        return;
      }
      if (connections.size >= limits.maxConnections) {
        metrics.upgradeRefused('capacity');
        res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '5').end('connection limit reached');
        return;
      }
      // Against cross-site WebSocket hijacking: browsers always send the page's Origin, so a
      // foreign one is refused. No Origin at all is a non-browser client (which could claim any).
      if (config.allowedOrigins && origin !== '' && !config.allowedOrigins.includes(origin)) {
        metrics.upgradeRefused('origin');
        res.writeStatus('403 Forbidden').end('origin not allowed');
        return;
      }
      const rate = limits.connRequestsPerSec > 0 ? new TokenBucket(limits.connRequestsBurst, limits.connRequestsPerSec, performance.now()) : undefined;
      res.upgrade<SocketData>({ conn: new Connection(ip, rate) }, key, protocol, extensions, context);
    },
    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      connections.add(conn);
      metrics.connections.inc();
    },
    message: (ws, message, isBinary) => {
      // Frames over the protocol's limit close with 1009 before anything is decoded.
      if (message.byteLength > Limits.MAX_FRAME_BYTES) return ws.end(CloseCode.MESSAGE_TOO_BIG, 'frame over 64 KiB');
      let close: number | undefined;
      try {
        close = edge.onMessage(ws.getUserData().conn, message, isBinary);
      } catch (err) {
        // A bug, not the client's fault: log it and keep serving everyone else.
        console.error('edge failed on a frame:', err);
      }
      if (close !== undefined) ws.end(close, 'too many bad frames');
    },
    close: (ws: WebSocket<SocketData>) => {
      const conn = ws.getUserData().conn;
      conn.closed = true;
      edge.onClose(conn);
      conn.ws = undefined;
      connections.delete(conn);
      metrics.connections.dec();
    },
  });
  mountHttpRoutes(app, { pool, auth, accounts, metrics, isReady: () => ready });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) =>
    app.listen(config.host, config.port, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on ${config.host}:${config.port}`)))),
  );
  const port = uws.us_socket_local_port(listenSocket);

  try {
    pool.setHooks(hooks);
    await pool.start(shardOptions(config));
    pool.prices(priceEntries(catalog.allProducts()));
    if (config.seedDemo) await seedDemo(pool, catalog, config.maxShardBacklog);
  } catch (err) {
    // Do not leave worker threads and the port behind: the caller may be a test runner.
    uws.us_listen_socket_close(listenSocket);
    await pool.terminate();
    await recs.service.close();
    users.close();
    (app as TemplatedApp & { close(): void }).close();
    throw err;
  }
  ready = true;
  // Checkouts and order changes a crash left unfinished: finished or compensated now.
  for (const orderId of pool.openOrders.splice(0)) void driver.resume(orderId);
  // The recommendation models load from the event logs in the background (the pool builds them),
  // a moment after ready: reading the logs holds the shards, and the clients reconnecting after a
  // restart come first (it delayed the first cart read by ~300 ms with 300k logged adds).
  const recsLoad = setTimeout(() => void recs.load().catch((err) => console.error('recommendations: loading the event logs failed:', err)), RECS_LOAD_DELAY_MS);
  recsLoad.unref();

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${config.host}:${port}`,
    close: () =>
      (closing ??= (async () => {
        edge.draining = true;
        ready = false;
        clearTimeout(recsLoad);
        uws.us_listen_socket_close(listenSocket);
        await pool.stop();
        await recs.service.close();
        for (const c of [...connections]) c.ws?.end(CloseCode.GOING_AWAY, 'server shutting down');
        users.close();
        (app as TemplatedApp & { close(): void }).close();
      })()),
  };
}

/** The live price of every variant of these products, for the shards. */
function priceEntries(products: readonly ProductView[]): PriceEntry[] {
  const out: PriceEntry[] = [];
  for (const p of products) for (const v of p.variants) out.push([v.sku, p.productId, p.name, v.price, v.currency, p.status === 'active']);
  return out;
}

function defaultFatal(message: string): never {
  console.error(`cartwire: ${message}; exiting so a supervisor can restart it (acknowledged data is on disk)`);
  process.exit(70);
}

/**
 * SEED_DEMO=1: the demo products and their stock, through the normal actor path, until it has
 * completed once. Every step is idempotent (stock is set with `adjustment`, products are
 * upserted) and the last product is written last, so a start that died half-way seeds again.
 */
async function seedDemo(pool: ShardPool, catalog: CatalogView, maxBacklog: number): Promise<void> {
  const items = demoCatalog();
  if (catalog.product(items[items.length - 1].product.productId, true)) return;
  // In chunks no larger than the shard backlog limit: more at once would be refused as OVERLOADED.
  const stock = items.flatMap((i) => i.stock);
  for (let i = 0; i < stock.length; i += maxBacklog) {
    const results = await Promise.all(
      stock.slice(i, i + maxBacklog).map(({ sku, qty }) =>
        pool.call(skuKey(sku), { type: 'adjust', txType: 'adjustment', qty, reason: 'demo catalog', warehouse: 'main' } as { type: string }),
      ),
    );
    const failed = results.flatMap((r, j) => (r.ok ? [] : [`${stock[i + j].sku} (${r.error?.code})`]));
    // Products without their stock would look ready: stop the start instead.
    if (failed.length > 0) throw new Error(`demo catalog stock not stored for ${failed.join(', ')}`);
  }
  for (const { product } of items) {
    const r = await pool.call(CATALOG_KEY, { type: 'upsert', product } as { type: string });
    if (!r.ok) throw new Error(`demo catalog: ${product.productId}: ${r.error?.message}`);
  }
}
