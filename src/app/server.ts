// Assembles a running server: shard workers, the main-thread services, the edge, WebSocket and
// HTTP on one port.
import { fileURLToPath } from 'node:url';
import { loadTransport, type Listener, type ServerApp, type Transport } from '../transport/transport.js';
import type { Config } from '../config.js';
import { IdleHeapTrim } from '../workers/heap-trim.js';
import { nativeHeapStats } from '../workers/native-heap.js';
import type { ShardPool } from './shard-pool.js';
import type { PoolHooks } from './pool-hooks.js';
import { createPool, shardOptions } from './shard-options.js';
import { CatalogView } from './catalog/catalog-view.js';
import { Metrics } from './metrics/metrics.js';
import { Auth } from './accounts/auth.js';
import { Accounts } from './accounts/accounts.js';
import { Edge } from '../transport/edge.js';
import { mountWebSocket } from '../transport/ws-endpoint.js';
import { ClientIp } from '../transport/client-ip.js';
import { mountHttpRoutes, mountOpsRoutes, type OpsDeps } from '../transport/http-routes.js';
import { DataDirLock } from '../persistence/data-dir-lock.js';
import { SqliteUserStore, loadJwtSecret, writeAdminPassword, type LegacyUser } from '../persistence/user-store.js';
import { loadMasterKeyring } from '../persistence/master-key.js';
import { SealedReader, addressAad } from '../persistence/sealed-reader.js';
import { KeyMirror } from '../persistence/key-mirror.js';
import type { SealedOpener } from '../actors/actor.js';
import { DEFAULT_PREFERENCES, UserVault, type Profile } from './accounts/user-vault.js';
import { AccountRecords } from './accounts/account-records.js';
import { AddressBook, MAX_ADDRESSES, MAX_PAYMENT_METHODS } from './accounts/address-book.js';
import { ProfileService } from './accounts/profile-service.js';
import { userEvents } from './accounts/user-events.js';
import { GuestRetention } from './accounts/guest-retention.js';
import { CloseCode } from '../protocol/errors.js';
import { picturedDemoProducts, seedDemo } from './catalog/demo-catalog.js';
import { PICTURED_PER_CATEGORY, seedDemoImages } from './catalog/demo-images.js';
import { MediaService } from './media/media-service.js';
import { mountMediaRoutes } from '../transport/http-media.js';
import { CheckoutDriver } from './commerce/checkout-driver.js';
import { SimulatedGateway } from './commerce/simulated-gateway.js';
import { CommerceOps } from './commerce/commerce-ops.js';
import { RecsOps } from './recs/recs-ops.js';
import { RecsService } from './recs/index.js';
import { createHandlers } from './handlers.js';
import { DropOps } from './drops/drop-ops.js';
import { AuditOps } from './audit/audit-ops.js';
import type { ClusterNode } from './cluster/cluster-node.js';
import type { DomainEvent } from '../actors/actor.js';
import { CATALOG_KEY } from '../protocol/keys.js';
import type { PriceEntry } from '../workers/shard-messages.js';
import type { ProductView } from '../protocol/types.js';
import { log } from '../log/log.js';
import { asyncApiDocument } from '../protocol/asyncapi.js';
import { serverVersion } from './version.js';
import { loadPages } from '../transport/static-pages.js';

/** Where the page build puts the storefront and the dashboard (dist/pages beside dist/src). */
const PAGES_DIR = fileURLToPath(new URL('../../pages/', import.meta.url));

export interface RunningServer {
  /** What serves HTTP and WebSocket (TRANSPORT), and why this one. */
  readonly transport: { readonly name: Transport['name']; readonly description: string };
  readonly port: number;
  readonly url: string;
  /** The METRICS_PORT listener (/metrics, /healthz, /readyz), when configured. */
  readonly metricsPort?: number;
  readonly metricsUrl?: string;
  /** Stops accepting, finishes in-flight batches, snapshots and closes the shards. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Shard workers main.ts spawned before loading the server (see ShardPool.spawn). */
  pool?: ShardPool;
  /** The transport, loaded already (main.ts loads it early); else loaded from config.transport. */
  transport?: Transport;
  /** The data directory's lock, taken already (main.ts takes it before the shards open their files); released by close. */
  lock?: DataDirLock;
}

const RECS_LOAD_DELAY_MS = 2_000;

/** Starts a server on `config.dataDir`, which it holds alone until closed (data-dir-lock.ts). */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  // First: TRANSPORT=uws where no native binary loads stops the start before anything is opened.
  const transport = opts.transport ?? (await loadTransport(config.transport));
  const lock = opts.lock ?? DataDirLock.take(config.dataDir, 'server');
  try {
    const server = await startHolding(config, transport, opts.pool);
    return { ...server, close: () => server.close().finally(() => lock.release()) };
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startHolding(config: Config, transport: Transport, prespawned: ShardPool | undefined): Promise<RunningServer> {
  // Cluster mode: accounts and the token secret are the cluster's; the journal is replicated.
  // The NATS client is loaded only in cluster mode (a single node starts faster without it).
  const node: ClusterNode | undefined = config.cluster ? await (await import('./cluster/cluster-node.js')).ClusterNode.open(config.cluster) : undefined;
  const users = node ? node.users : new SqliteUserStore(config.dataDir, config.synchronous);
  const secret = node ? await node.jwtSecret(config.jwtSecret) : loadJwtSecret(config.dataDir, config.jwtSecret);
  // Personal data is sealed under per-user keys wrapped by the master key (docs/operations.md).
  const keyring = node
    ? await node.masterKeyring(config.masterKey, config.previousMasterKey)
    : loadMasterKeyring(config.dataDir, config.masterKey, config.previousMasterKey);
  const vault = await UserVault.open(users, keyring);
  const migrated = await users.migrateLegacy((u) => vault.newRecord(u.id, u.role, u.passwordHash, legacyProfile(u), u.createdAt));
  if (migrated > 0) log.info(`sealed ${migrated} accounts of the first schema`);
  const records = new AccountRecords(vault);
  // Orders keep their address copies sealed, and this thread opens them as the shards do: from
  // system.db on one node, from the node's key mirror of the accounts bucket in a cluster.
  const mirror = node ? new KeyMirror(config.dataDir) : undefined;
  if (node && mirror) (await node.syncAccounts(keyring, mirror)).listen((userId, u) => records.personalization.changed(userId, u?.personalizedRecs ?? true));
  const sealedReader = new SealedReader(config.dataDir, mirror ? mirror.keyring : keyring);
  const openSealed: SealedOpener = (userId, value) => sealedReader.open(userId, value, addressAad(userId));
  const auth = new Auth(secret, config.tokenTtlSeconds, vault);
  const adminPassword = await auth.bootstrapAdmin(config.adminEmail, config.adminPassword);
  if (adminPassword) {
    // The password goes to a file only the owner can read; the log says where, never what.
    const path = writeAdminPassword(config.dataDir, adminPassword);
    log.info({ path }, `created the admin account with a generated password, written to ${path} (set ADMIN_PASSWORD to choose it)`);
  }

  const catalog = new CatalogView();
  // Product images under DATA_DIR/media; files no product references are collected after a grace period.
  const media = await MediaService.open(config.dataDir, config.media, () => catalog.referencedMedia());
  // Prespawned by main.ts (the workers boot while this module graph loads), or started here.
  const pool: ShardPool = prespawned ?? createPool(config);
  /** Orders left unfinished by a crash, reported by shards before the server is ready. */
  const toResume: string[] = [];
  const resume = (orderId: string) => void driver.resume(orderId).catch((err) => log.error({ err }, `resume of ${orderId} failed`));
  // Set on the pool only once everything they use exists (a prespawned pool replays what came early).
  /** Committed stock and product changes into the catalog read model (and the shards' price lists). */
  const applyViews = (stock: [string, number][] | null, products: ProductView[] | null): void => {
    if (products) {
      catalog.applyProducts(products);
      // Every shard prices the carts it holds from its own copy (live prices).
      if (ready) {
        pool.prices(priceEntries(products));
        recs.onProducts(products);
      }
    }
    if (stock) catalog.applyStock(stock);
  };
  const hooks: PoolHooks = {
    onViews: (stock, products) => {
      applyViews(stock, products);
      // Other nodes' read models learn this node's commits too.
      node?.publishViews({ stock, products });
    },
    onDomain: (events) => {
      metrics.business.onDomain(events);
      driver.onDomain(events);
      recs.onDomain(events);
      node?.events.append(events);
    },
    onDone: (tag, seconds, outcome) => metrics.done(tag, seconds, outcome),
    onStats: (shard, stats) => metrics.shardStats(shard, stats),
    onCheckpoint: (durationMs, snapshots) => metrics.checkpoint(durationMs, snapshots),
    onPushes: (topics, frames, ends) => {
      // Committed changes only (the shard sends pushes with the replies of their commit).
      let start = 0;
      for (let i = 0; i < topics.length; i++) {
        app.publish(topics[i], frames.subarray(start, ends[i]), true);
        // The other nodes' followers hear it through NATS (this node's connection does not echo).
        node?.publishPush(topics[i], frames.slice(start, ends[i]));
        start = ends[i];
      }
      metrics.pushes(topics.length);
    },
    onShardUp: (shard, openOrders, restarted) => {
      if (restarted) {
        // The restarted worker prices carts from its own copy: give it the live list again.
        pool.prices(priceEntries(catalog.allProducts()), shard);
        metrics.shardRestarted(shard);
      }
      // Checkouts and order changes a crash left unfinished: finished or compensated once serving.
      if (ready) for (const orderId of openOrders) resume(orderId);
      else toResume.push(...openOrders);
    },
    onShardDown: (shard) => metrics.shardDown(shard),
  };
  const metrics = new Metrics(config.shards, (s) => pool.depth(s), config.cluster?.nodeId);
  const limits = config.limits;
  const accounts = new Accounts({
    auth,
    pool,
    catalog,
    limits,
    adoptGuestBook: (guestId, account) => records.adoptGuestBook(guestId, account, { addresses: MAX_ADDRESSES, paymentMethods: MAX_PAYMENT_METHODS }),
  });
  const commerce = config.commerce;
  const gateway = new SimulatedGateway(pool, commerce.gatewayTimeoutMs + 1_000);
  const drops = new DropOps(pool, catalog, node !== undefined);
  const audit = new AuditOps(pool, node !== undefined);
  const driver: CheckoutDriver = new CheckoutDriver({
    pool,
    gateway,
    gate: drops,
    config: commerce,
    openSealed,
    accountAgeMs: async (userId, now) => {
      const u = await users.get(userId);
      return u === undefined || u.role === 'guest' ? 0 : Math.max(0, now - u.createdAt);
    },
  });
  const commerceOps: CommerceOps = new CommerceOps(
    pool,
    driver,
    commerce.deadlineMs,
    node?.serveOrderPages((q) => commerceOps.localOrderPages(q)),
    (who, address) => records.sealAddress(who, address),
  );
  const book = new AddressBook(records);
  const profiles = new ProfileService({
    records,
    auth,
    attempt: (ip, key) => accounts.takeAttempt(ip, key),
    passed: (ip, key) => accounts.succeeded(ip, key),
    orders: (who, cursor) => commerceOps.listOrders({ limit: 100, ...(cursor === undefined ? {} : { cursor }) }, who),
    events: node ? node.serveUserEvents((userId) => userEvents(pool, userId)) : (userId) => userEvents(pool, userId),
  });
  const rc = config.recs;
  const recs: RecsOps = new RecsOps(
    new RecsService({
      weights: rc.weights,
      rebuildCostFactor: rc.rebuildCostFactor,
      rebuildMinMs: rc.rebuildMinMs,
      rebuildIntervalMs: rc.rebuildIntervalMs,
      rebuildEveryEvents: rc.rebuildEveryEvents,
      poolThreads: rc.poolThreads,
    }),
    catalog,
    pool,
    records.personalization,
  );
  metrics.recs(() => recs.service.stats());
  const handlers = createHandlers({
    pool,
    catalog,
    media,
    accounts,
    profiles,
    book,
    personalized: records.personalization,
    commerce: commerceOps,
    recs,
    drops,
    audit,
  });
  const edge = new Edge({ handlers, shards: pool, metrics, maxInflight: limits.connMaxInflight });
  // A logout, password or role change, or erasure: the connections of the user sign out.
  // In a cluster the other nodes' connections of the user sign out too.
  profiles.revoke = (userId) => {
    edge.revokeUser(userId);
    node?.revoked(userId);
  };
  node?.onRevoked((userId) => edge.revokeUser(userId));
  let ready = false;

  const app: ServerApp = transport.createApp(config.tls);
  const pages = loadPages(PAGES_DIR);
  if (!pages) log.info({ dir: PAGES_DIR }, 'the web pages are not built (npm run build): / and /admin answer 404');
  const clientIp = new ClientIp(limits.trustProxy);
  const sockets = mountWebSocket(app, { edge, limits, allowedOrigins: config.allowedOrigins, isReady: () => ready, clientIp, metrics });
  const ops: OpsDeps = {
    // Ready for traffic: started, every shard's worker up and able to write its journal.
    health: () =>
      ready
        ? {
            ready: pool.allUp && !metrics.commitFailing() && (node?.healthy() ?? true),
            down: pool.downShards(),
            commitFailing: metrics.failingShards(),
            ...(node ? { cluster: node.healthy() ? 'connected' : 'NATS unreachable or ownership stale' } : {}),
          }
        : { ready: false, starting: true },
    metricsText: () => metrics.text(),
    metricsToken: config.metricsToken,
  };
  mountMediaRoutes(app, { media, products: catalog, verifyToken: (token) => auth.verifyToken(token) });
  mountHttpRoutes(app, {
    ...ops,
    shards: pool,
    accounts,
    isReady: () => ready,
    clientIp,
    verifyToken: (token) => auth.verifyToken(token),
    serveMetrics: config.metricsPort === undefined,
    ...(node ? { clusterStatus: () => node.status() } : {}),
    asyncApi: () => asyncApiDocument(serverVersion()),
    pages,
    nativeHeap: nativeHeapStats,
  });
  // METRICS_PORT: metrics, health and readiness on a listener of their own (METRICS_HOST).
  const opsApp: ServerApp | undefined = config.metricsPort === undefined ? undefined : transport.createApp();
  if (opsApp) mountOpsRoutes(opsApp, ops);
  let opsSocket: Listener | undefined;
  const closeOps = () => {
    opsSocket?.close();
    opsApp?.close();
  };

  const listenSocket = await app.listen(config.host, config.port);
  const port = listenSocket.port;

  try {
    if (opsApp) {
      const [h, p] = [config.metricsHost, config.metricsPort ?? 0];
      opsSocket = await opsApp.listen(h, p).catch((err: Error) => {
        throw new Error(`${err.message} (METRICS_HOST:METRICS_PORT)`);
      });
    }
    if (node) {
      node.attach(pool, {
        deliver: (topic, frame) => app.publish(topic, frame, true),
        forwarded: (tag, seconds, outcome) => metrics.forwarded(tag, seconds, outcome),
        caughtUp: (seconds, read) => metrics.caughtUp(seconds, read),
      });
      metrics.cluster(() => node.metricsView());
    }
    pool.setHooks(hooks);
    await pool.start(shardOptions(config));
    if (node) {
      await node.start({
        apply: (u) => applyViews(u.stock, u.products),
        own: (serving) => ({ stock: catalog.stockWhere(serving), products: serving(CATALOG_KEY) ? catalog.allProducts() : null }),
      });
    }
    pool.prices(priceEntries(catalog.allProducts()));
    if (config.seedDemo) await seedDemo(pool, catalog, config.maxShardBacklog, node !== undefined);
    if (config.seedDemo && config.seedDemoImages) await seedDemoImages(pool, catalog, media, picturedDemoProducts(PICTURED_PER_CATEGORY));
  } catch (err) {
    // Do not leave worker threads and the port behind: the caller may be a test runner.
    listenSocket.close();
    closeOps();
    await pool.terminate();
    await recs.service.close();
    media.close();
    users.close();
    sealedReader.close();
    await node?.close();
    mirror?.close();
    app.close();
    throw err;
  }
  ready = true;
  for (const orderId of toResume.splice(0)) resume(orderId);
  // Guest rows of guests who never signed up or ordered do not pile up.
  const guests = new GuestRetention({
    store: users,
    retentionMs: config.guestRetentionMs,
    tokenTtlMs: config.tokenTtlSeconds * 1000,
    hasOrder: async (userId) => {
      const r = await commerceOps.listOrders({ limit: 1 }, { userId, role: 'guest' });
      // Unknown (a shard restarting): kept, looked at again at the next pass.
      return !r.ok || r.result.items.length > 0;
    },
    // A pass reads every row of the cluster's accounts bucket: one node at a time sweeps.
    ...(node ? { sweeps: () => node.sweepsGuests() } : {}),
  });
  guests.start();
  // A quiet main thread gives the garbage of its last burst back (the shards do the same), and the
  // recommendation service the growth room of its buffers.
  const heapTrim = new IdleHeapTrim(config.idleGcMs, () => recs.service.trim()).start();
  // Which skus drops gate, known before the first checkout needs it (a failure is retried by that checkout).
  if (!node) void drops.load().catch((err: unknown) => log.warn({ err }, 'reading the product drops failed (retried at the next checkout)'));
  // The recommendation models load from the event logs in the background (the pool builds them),
  // a moment after ready: reading the logs holds the shards, and the clients reconnecting after a
  // restart come first (it delayed the first cart read by ~300 ms with 300k logged adds).
  // A cluster node hears the others' interactions as they commit, and reads the cluster's history.
  node?.events.follow((events) => recs.onDomain(events));
  const history = node ? (each: (events: readonly DomainEvent[]) => void) => node.events.readAll(each) : undefined;
  const recsLoad = setTimeout(
    () => void recs.load(history).catch((err) => log.error({ err }, 'recommendations: loading the event logs failed')),
    RECS_LOAD_DELAY_MS,
  );
  recsLoad.unref();

  let closing: Promise<void> | undefined;
  const metricsPort = opsSocket?.port;
  return {
    transport: { name: transport.name, description: transport.description },
    port,
    url: `${config.tls ? 'https' : 'http'}://${config.host}:${port}`,
    ...(metricsPort === undefined ? {} : { metricsPort, metricsUrl: `http://${config.metricsHost}:${metricsPort}` }),
    close: () =>
      (closing ??= (async () => {
        edge.draining = true;
        ready = false;
        clearTimeout(recsLoad);
        heapTrim.stop();
        await guests.stop();
        listenSocket.close();
        // A cluster node hands its partitions over (drained) before its shards stop.
        await node?.leave();
        await pool.stop();
        await recs.service.close();
        media.close();
        sockets.closeAll(CloseCode.GOING_AWAY, 'server shutting down');
        users.close();
        sealedReader.close();
        await node?.close();
        mirror?.close();
        app.close();
        closeOps(); // last: /readyz there answers 503 while draining
      })()),
  };
}

/** An account of the first schema, as a profile to seal. */
function legacyProfile(u: LegacyUser): Profile {
  return { email: u.email, name: u.name ?? '', preferences: { ...DEFAULT_PREFERENCES }, addresses: [], paymentMethods: [] };
}

/** The live price of every variant of these products, for the shards. */
function priceEntries(products: readonly ProductView[]): PriceEntry[] {
  const out: PriceEntry[] = [];
  for (const p of products) for (const v of p.variants) out.push([v.sku, p.productId, p.name, v.price, v.currency, p.status === 'active']);
  return out;
}
