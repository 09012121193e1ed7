// Server configuration from the environment, validated once at start. Every message names the
// variable and the value it got, so a typo fails loudly instead of running with a default.
import { availableParallelism, hostname, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { DEFAULT_PRICING, parseTaxRates, type PricingConfig } from './actors/pricing.js';
import { FAULT_STEPS, type FaultStep } from './actors/checkout-saga.js';
import { LOG_FORMATS, LOG_LEVELS } from './log/settings.js';

export interface Config {
  port: number;
  host: string;
  /** A listener of its own for /metrics, /healthz and /readyz (the shop port then has no /metrics). */
  metricsPort: number | undefined;
  metricsHost: string;
  /** The bearer token /metrics requires; undefined: no token. */
  metricsToken: string | undefined;
  /** TLS_CERT_FILE and TLS_KEY_FILE set: the shop port serves https and wss only. */
  tls: TlsFiles | undefined;
  dataDir: string;
  shards: number;
  adminEmail: string;
  adminPassword: string | undefined;
  jwtSecret: string | undefined;
  /** MASTER_KEY: wraps every user's data key (else DATA_DIR/master-key, or the cluster's). */
  masterKey: string | undefined;
  /** PREVIOUS_MASTER_KEY: still unwraps, after MASTER_KEY was changed to rotate it. */
  previousMasterKey: string | undefined;
  seedDemo: boolean;
  /** With the demo catalog, pictures for some of its products, rendered at seed time (SEED_DEMO_IMAGES). */
  seedDemoImages: boolean;
  media: MediaConfig;
  allowedOrigins: string[] | undefined;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  /** TRANSPORT: uWS or ws + node:http; `auto` takes uWS when a native binary loads. */
  transport: 'auto' | 'uws' | 'ws';
  /** Requests queued or in flight per shard beyond which new ones get OVERLOADED. */
  maxShardBacklog: number;
  passivateAfterMs: number;
  snapshotEvery: number;
  checkpointRows: number;
  checkpointIntervalMs: number;
  sweepIntervalMs: number;
  /** A quiet thread's heap is collected after this long quiet (workers/heap-trim.ts); 0: never. */
  idleGcMs: number;
  /** COMMIT_WINDOW_US: see ShardOptions.commitWindowUs. */
  commitWindowUs: number;
  tokenTtlSeconds: number;
  /** Abuse limits (docs/protocol.md "Limits"); a rate of 0 turns that limit off. */
  limits: LimitsConfig;
  /** Fault injection for tests: every group commit touching this actor key fails. */
  faultFailCommitsFor: string | undefined;
  /** Fault injection for tests: a request for this actor key kills its shard's worker thread. */
  faultCrashShardOn: string | undefined;
  /** Fault injection for tests: every shard worker thread dies (uncaught) when told to stop. */
  faultCrashShardAtStop: boolean;
  /** Fault injection for tests (cluster mode): each shard's first this many partition catch-ups fail. */
  faultFailAcquires: number;
  /** V8 heap limit of each shard worker thread, MiB. */
  shardMaxHeapMb: number;
  /** Actors one shard keeps in memory at most; the least recently used leave it beyond. */
  maxActorsPerShard: number;
  /** Guest carts unchanged this long are deleted (ms); 0 keeps them. */
  guestCartRetentionMs: number;
  /** Guest account rows unchanged this long and without an order are deleted (ms); 0 keeps them. */
  guestRetentionMs: number;
  /** Journal rows of carts, skus, orders and coupons are kept this long for audit.* (ms); 0 keeps none. */
  auditRetentionMs: number;
  commerce: CommerceConfig;
  /** Domain event log rows (one per group commit) kept per shard. */
  eventLogKeepRows: number;
  recs: RecsConfig;
  /** Cluster mode (NATS_URL set): the node shares the actors with others through NATS JetStream. */
  cluster: ClusterConfig | undefined;
}

/** PEM files of the shop port's TLS, checked readable and matching at start. */
export interface TlsFiles {
  /** The certificate, followed by its intermediates (the chain a client needs). */
  certFile: string;
  keyFile: string;
  /** TLS_KEY_PASSPHRASE, when the key is encrypted. */
  passphrase?: string;
  /** CAs that client certificates are verified against; a client may still connect without one. */
  caFile?: string;
}

export interface MediaConfig {
  /** How long a file no product references is kept, from its upload or its last reference (MEDIA_GC_GRACE_MS). */
  gcGraceMs: number;
  /** Memory for hot image files, bytes (MEDIA_CACHE_MB). */
  cacheBytes: number;
  /** Stored images at most; uploads beyond are refused (MEDIA_MAX_FILES). */
  maxFiles: number;
}

export interface ClusterConfig {
  /** NATS servers with JetStream (NATS_URL, comma-separated). */
  servers: string[];
  /** This node's name (NODE_ID; default hostname:port). */
  nodeId: string;
  /** Partitions of the actor key space, the same on every node (PARTITIONS). */
  partitions: number;
  /** Replicas of the journal stream and the buckets (CLUSTER_REPLICAS): 1 on one NATS server, 3 on three. */
  replicas: number;
  /** How long a partition's owner lease lasts without renewal (LEASE_MS). */
  leaseMs: number;
  /** Journal messages of a partition after which its owner snapshots it and trims the journal (CLUSTER_SNAPSHOT_EVERY). */
  snapshotEvery: number;
}

export interface RecsConfig {
  /**
   * With new interactions, rebuild once the live model is older than costFactor x the last
   * build's duration, at least minMs, at most intervalMs (0: no rebuild by time).
   */
  rebuildCostFactor: number;
  rebuildMinMs: number;
  rebuildIntervalMs: number;
  /** This many new interactions rebuild once minMs has passed, without the cost-scaled wait (0: off). */
  rebuildEveryEvents: number;
  /** Worker threads of the Piscina build pool. */
  poolThreads: number;
  weights: { view: number; cart: number; purchase: number };
}

export interface CommerceConfig {
  pricing: PricingConfig;
  holdTtlMs: number;
  deadlineMs: number;
  gatewayTimeoutMs: number;
  /** Fault injection for tests: the process SIGKILLs itself right after this checkout step. */
  faultExitAfter: FaultStep | undefined;
}

export interface LimitsConfig {
  /** Open WebSocket connections in total; upgrades beyond get HTTP 503. */
  maxConnections: number;
  /** Open WebSocket connections per client IP (IPv6: per /64); upgrades beyond get HTTP 429. */
  maxConnectionsPerIp: number;
  /** Unsent bytes over all connections; beyond, the slowest consumers are closed. */
  maxUnsentBytes: number;
  /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client. */
  trustProxy: string[];
  /** WebSocket upgrades per second per client IP (IPv6: per /64), and the burst; beyond: HTTP 429. */
  ipConnectsPerSec: number;
  ipConnectsBurst: number;
  /** Requests per second per connection, and the burst; beyond: RATE_LIMITED. */
  connRequestsPerSec: number;
  connRequestsBurst: number;
  /** Requests of one connection waiting for their answer; beyond: LIMIT_EXCEEDED. */
  connMaxInflight: number;
  /** auth.login/auth.register attempts per client IP per window (every attempt counts). */
  authIpAttempts: number;
  authIpWindowSec: number;
  /** Failed (or still running) login/register attempts per email and client IP per window. */
  authPairAttempts: number;
  authPairWindowSec: number;
  /** Failed (or still running) attempts per email from all IPs together: a ceiling well above the pair's. */
  authEmailAttempts: number;
  authEmailWindowSec: number;
  /** Failures per email and IP before delays start; then each failure doubles the wait from authDelayBaseMs up to authDelayMaxMs (base 0: no delays). */
  authDelayAfter: number;
  authDelayBaseMs: number;
  authDelayMaxMs: number;
  /** Seconds without traffic (pings answered count as traffic) before a WebSocket is closed; 0: never. */
  idleTimeoutSec: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
    throw new ConfigError(`${name} must be ${what}${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}, got "${raw}"`);
  }
  return n;
}

/** IDLE_GC_MS: 0 (off), or a period of at least a second (each period reads the thread's counters). */
function idleGcMs(env: Env): number {
  const ms = int(env, 'IDLE_GC_MS', 10_000, 0, 3_600_000);
  if (ms > 0 && ms < 1000) throw new ConfigError(`IDLE_GC_MS must be 0 (off) or at least 1000, got "${env.IDLE_GC_MS}"`);
  return ms;
}

/** A non-negative decimal number (`30`, `0.5`). */
function decimal(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !Number.isFinite(n)) throw new ConfigError(`${name} must be a non-negative number, got "${raw}"`);
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.toUpperCase() as T;
  if (!values.includes(v)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
  return v;
}

function transportOf(env: Env): Config['transport'] {
  const raw = (env.TRANSPORT ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'auto') return 'auto';
  if (raw === 'uws' || raw === 'ws') return raw;
  throw new ConfigError(`TRANSPORT must be uws, ws or auto, got "${env.TRANSPORT}"`);
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function resolveConfig(env: Env = process.env): Config {
  const adminEmail = (env.ADMIN_EMAIL || 'admin@example.com').trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(adminEmail)) throw new ConfigError(`ADMIN_EMAIL must be an email address, got "${env.ADMIN_EMAIL}"`);
  const adminPassword = env.ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && adminPassword.length < 8) throw new ConfigError('ADMIN_PASSWORD must be at least 8 characters');
  const jwtSecret = env.JWT_SECRET || undefined;
  if (jwtSecret !== undefined && jwtSecret.length < 32) throw new ConfigError('JWT_SECRET must be at least 32 characters');
  const origins = env.ALLOWED_ORIGINS?.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const host = env.HOST || '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError(`HOST must be a host name or IP address, got "${host}"`);
  const shards = int(env, 'SHARDS', availableParallelism(), 1, 256);
  const shardMaxHeapMb = int(env, 'SHARD_MAX_HEAP_MB', defaultShardHeapMb(shards), 64, 65_536);
  checkLogSettings(env);
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    ...resolveMetricsListener(env),
    tls: resolveTls(env),
    dataDir: resolve(env.DATA_DIR || './data'),
    shards,
    adminEmail,
    adminPassword,
    jwtSecret,
    masterKey: masterKeyOf(env, 'MASTER_KEY'),
    previousMasterKey: masterKeyOf(env, 'PREVIOUS_MASTER_KEY'),
    seedDemo: flag(env, 'SEED_DEMO', true),
    seedDemoImages: flag(env, 'SEED_DEMO_IMAGES', true),
    media: {
      gcGraceMs: int(env, 'MEDIA_GC_GRACE_MS', 24 * 3600_000, 1_000),
      cacheBytes: int(env, 'MEDIA_CACHE_MB', 64, 1, 65_536) * 1024 * 1024,
      maxFiles: int(env, 'MEDIA_MAX_FILES', 100_000, 1, 10_000_000),
    },
    allowedOrigins: origins && origins.length > 0 ? origins : undefined,
    synchronous: oneOf(env, 'SYNCHRONOUS', ['FULL', 'NORMAL', 'OFF'] as const, 'FULL'),
    transport: transportOf(env),
    maxShardBacklog: int(env, 'MAX_SHARD_BACKLOG', 50_000, 1),
    passivateAfterMs: int(env, 'PASSIVATE_AFTER_MS', 10 * 60_000, 0),
    snapshotEvery: int(env, 'SNAPSHOT_EVERY', 200, 1),
    checkpointRows: int(env, 'CHECKPOINT_ROWS', 100_000, 1),
    checkpointIntervalMs: int(env, 'CHECKPOINT_INTERVAL_MS', 60_000, 1),
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 5_000, 10),
    idleGcMs: idleGcMs(env),
    commitWindowUs: int(env, 'COMMIT_WINDOW_US', 1_000, 0, 20_000),
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 24 * 3600, 1),
    limits: resolveLimits(env),
    faultFailCommitsFor: env.FAULT_FAIL_COMMITS_FOR || undefined,
    faultCrashShardOn: env.FAULT_CRASH_SHARD_ON || undefined,
    faultCrashShardAtStop: env.FAULT_CRASH_SHARD_AT_STOP === '1',
    faultFailAcquires: int(env, 'FAULT_FAIL_ACQUIRES', 0, 0, 1_000),
    shardMaxHeapMb,
    // About 2 KiB of heap per actor (a 3-line cart is ~1 KiB): half the heap for actors.
    guestCartRetentionMs: Math.round(decimal(env, 'GUEST_CART_RETENTION_DAYS', 30) * 86_400_000),
    guestRetentionMs: Math.round(decimal(env, 'GUEST_RETENTION_DAYS', 30) * 86_400_000),
    auditRetentionMs: Math.round(decimal(env, 'AUDIT_RETENTION_DAYS', 30) * 86_400_000),
    maxActorsPerShard: int(env, 'MAX_ACTORS_PER_SHARD', Math.max(10_000, Math.floor((shardMaxHeapMb * 1024) / 4)), 100),
    commerce: resolveCommerce(env),
    eventLogKeepRows: int(env, 'EVENT_LOG_KEEP_ROWS', 1_000_000, 1),
    cluster: resolveCluster(env),
    recs: {
      rebuildCostFactor: decimal(env, 'RECS_REBUILD_COST_FACTOR', 2),
      rebuildMinMs: int(env, 'RECS_REBUILD_MIN_MS', 1_000, 0),
      rebuildIntervalMs: int(env, 'RECS_REBUILD_INTERVAL_MS', 60_000, 0),
      rebuildEveryEvents: int(env, 'RECS_REBUILD_EVENTS', 0, 0),
      poolThreads: int(env, 'RECS_POOL_THREADS', 1, 1, 64),
      weights: {
        view: int(env, 'RECS_WEIGHT_VIEW', 1, 1, 1000),
        cart: int(env, 'RECS_WEIGHT_CART', 3, 1, 1000),
        purchase: int(env, 'RECS_WEIGHT_PURCHASE', 5, 1, 1000),
      },
    },
  };
}

/** A master key variable: 64 hex digits or the base64 of 32 bytes. */
function masterKeyOf(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const bytes = /^[0-9a-fA-F]{64}$/.test(raw) ? 32 : /^[A-Za-z0-9+/_-]{43}=?$/.test(raw) ? Buffer.from(raw, 'base64').length : 0;
  if (bytes !== 32) throw new ConfigError(`${name} must be 32 bytes as 64 hex digits or base64, got a value of ${raw.length} characters`);
  return raw;
}

/** The logger reads LOG_LEVEL and LOG_FORMAT itself (worker threads too); here a bad value stops the start. */
function checkLogSettings(env: Env): void {
  for (const [name, values] of [
    ['LOG_LEVEL', LOG_LEVELS],
    ['LOG_FORMAT', LOG_FORMATS],
  ] as const) {
    const raw = env[name];
    if (raw && !(values as readonly string[]).includes(raw.toLowerCase())) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
  }
}

/** Half the machine's memory shared by the shards, at least 512 MiB and at most 8 GiB each. */
function defaultShardHeapMb(shards: number): number {
  return Math.round(Math.min(8192, Math.max(512, totalmem() / 2 / 1024 / 1024 / shards)));
}

function resolveCommerce(env: Env): CommerceConfig {
  let taxRatesBp = DEFAULT_PRICING.taxRatesBp;
  if (env.TAX_RATES) {
    try {
      taxRatesBp = parseTaxRates(env.TAX_RATES);
    } catch (err) {
      throw new ConfigError(`TAX_RATES must be like "DE:1900,FR:2000" (basis points): ${(err as Error).message}`);
    }
  }
  const defaultCountry = env.DEFAULT_COUNTRY || DEFAULT_PRICING.defaultCountry;
  if (!/^[A-Z]{2}$/.test(defaultCountry)) throw new ConfigError(`DEFAULT_COUNTRY must be an ISO country code like "US", got "${defaultCountry}"`);
  const fault = env.FAULT_EXIT_AFTER || undefined;
  if (fault !== undefined && !(FAULT_STEPS as readonly string[]).includes(fault)) {
    throw new ConfigError(`FAULT_EXIT_AFTER must be one of ${FAULT_STEPS.join(', ')}, got "${fault}"`);
  }
  return {
    pricing: {
      taxRatesBp,
      defaultCountry,
      defaultTaxRateBp: int(env, 'DEFAULT_TAX_RATE_BP', DEFAULT_PRICING.defaultTaxRateBp, 0, 10_000),
      shippingFlat: int(env, 'SHIPPING_FLAT', DEFAULT_PRICING.shippingFlat, 0),
      freeShippingMin: int(env, 'FREE_SHIPPING_MIN', DEFAULT_PRICING.freeShippingMin, 0),
    },
    holdTtlMs: int(env, 'CHECKOUT_HOLD_TTL_MS', 10 * 60_000, 1_000),
    deadlineMs: int(env, 'CHECKOUT_DEADLINE_MS', 30_000, 100),
    gatewayTimeoutMs: int(env, 'GATEWAY_TIMEOUT_MS', 2_000, 1),
    faultExitAfter: fault as FaultStep | undefined,
  };
}

/**
 * Defaults are generous: a benchmark from one host (64 connections x 16 in flight, ~100k
 * requests/s, 10,000 idle connections) is not limited by them. Tighten them for the internet.
 */
function resolveLimits(env: Env): LimitsConfig {
  const idleTimeoutSec = int(env, 'IDLE_TIMEOUT_SEC', 120, 0, 960);
  // uWS counts idle time in 4 s ticks and refuses timeouts under 8 s (the ws transport follows).
  if (idleTimeoutSec > 0 && idleTimeoutSec < 8) throw new ConfigError(`IDLE_TIMEOUT_SEC must be 0 or 8..960, got "${env.IDLE_TIMEOUT_SEC}"`);
  const ipConnectsPerSec = int(env, 'IP_CONNECTS_PER_SEC', 1_000, 0);
  const connRequestsPerSec = int(env, 'CONN_REQUESTS_PER_SEC', 20_000, 0);
  const authDelayBaseMs = int(env, 'AUTH_DELAY_BASE_MS', 1_000, 0, 3_600_000);
  const authDelayMaxMs = int(env, 'AUTH_DELAY_MAX_MS', Math.max(authDelayBaseMs, 300_000), 0, 3_600_000);
  if (authDelayMaxMs < authDelayBaseMs)
    throw new ConfigError(`AUTH_DELAY_MAX_MS must be at least AUTH_DELAY_BASE_MS (${authDelayBaseMs}), got "${env.AUTH_DELAY_MAX_MS}"`);
  return {
    maxConnections: int(env, 'MAX_CONNECTIONS', 20_000, 1),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', 4_096, 1),
    maxUnsentBytes: int(env, 'MAX_UNSENT_BYTES', 256 * 1024 * 1024, 1024 * 1024),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    ipConnectsPerSec,
    // Bursts follow their rate unless set: ten seconds of upgrades, one second of requests.
    ipConnectsBurst: int(env, 'IP_CONNECTS_BURST', Math.max(1, 10 * ipConnectsPerSec), 1),
    connRequestsPerSec,
    connRequestsBurst: int(env, 'CONN_REQUESTS_BURST', Math.max(1, connRequestsPerSec), 1),
    connMaxInflight: int(env, 'CONN_MAX_INFLIGHT', 4_096, 1),
    authIpAttempts: int(env, 'AUTH_IP_ATTEMPTS', 300, 0),
    authIpWindowSec: int(env, 'AUTH_IP_WINDOW_SEC', 60, 1),
    authPairAttempts: int(env, 'AUTH_PAIR_ATTEMPTS', 10, 0),
    authPairWindowSec: int(env, 'AUTH_PAIR_WINDOW_SEC', 900, 1),
    authEmailAttempts: int(env, 'AUTH_EMAIL_ATTEMPTS', 100, 0),
    authEmailWindowSec: int(env, 'AUTH_EMAIL_WINDOW_SEC', 900, 1),
    authDelayAfter: int(env, 'AUTH_DELAY_AFTER', 5, 0, 1000),
    authDelayBaseMs,
    authDelayMaxMs,
    idleTimeoutSec,
  };
}

/** TLS_CERT_FILE, TLS_KEY_FILE, TLS_KEY_PASSPHRASE and TLS_CA_FILE; loaded once so a bad file stops the start. */
function resolveTls(env: Env): TlsFiles | undefined {
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  const caFile = env.TLS_CA_FILE || undefined;
  const passphrase = env.TLS_KEY_PASSPHRASE || undefined;
  if (!certFile && !keyFile) {
    if (caFile || passphrase) throw new ConfigError('TLS_CA_FILE and TLS_KEY_PASSPHRASE need TLS_CERT_FILE and TLS_KEY_FILE');
    return undefined;
  }
  if (!certFile || !keyFile) throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither');
  const read = (name: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${name} cannot be read: ${(err as Error).message}`);
    }
  };
  const files: TlsFiles = {
    certFile: resolve(certFile),
    keyFile: resolve(keyFile),
    ...(passphrase ? { passphrase } : {}),
    ...(caFile ? { caFile: resolve(caFile) } : {}),
  };
  try {
    // Throws on a malformed PEM, a wrong passphrase, or a key that does not match the certificate.
    createSecureContext({
      cert: read('TLS_CERT_FILE', files.certFile),
      key: read('TLS_KEY_FILE', files.keyFile),
      ...(passphrase ? { passphrase } : {}),
      ...(files.caFile ? { ca: read('TLS_CA_FILE', files.caFile) } : {}),
    });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`TLS_CERT_FILE/TLS_KEY_FILE${caFile ? '/TLS_CA_FILE' : ''} are not a usable certificate and key: ${(err as Error).message}`);
  }
  return files;
}

/** METRICS_PORT, METRICS_HOST and METRICS_TOKEN. */
function resolveMetricsListener(env: Env): Pick<Config, 'metricsPort' | 'metricsHost' | 'metricsToken'> {
  const set = env.METRICS_PORT !== undefined && env.METRICS_PORT !== '';
  const metricsPort = set ? int(env, 'METRICS_PORT', 0, 0, 65535) : undefined;
  const port = int(env, 'PORT', 8080, 0, 65535);
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port)
    throw new ConfigError(`METRICS_PORT must differ from PORT, got "${env.METRICS_PORT}"`);
  const metricsHost = env.METRICS_HOST || '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(metricsHost)) throw new ConfigError(`METRICS_HOST must be a host name or IP address, got "${metricsHost}"`);
  if (env.METRICS_HOST && !set) throw new ConfigError('METRICS_HOST is set but METRICS_PORT is not: set both, or neither');
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,1024}$/.test(metricsToken)) {
    throw new ConfigError('METRICS_TOKEN must be 16 to 1024 printable ASCII characters without spaces');
  }
  return { metricsPort, metricsHost, metricsToken };
}

/** TRUST_PROXY: comma-separated proxy addresses or CIDR ranges. */
function parseTrustProxy(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((p) => {
    const t = p.trim();
    const [addr, bits, extra] = t.split('/');
    const family = isIP(addr);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new ConfigError(`TRUST_PROXY must be a comma-separated list of IP addresses or CIDR ranges, got "${t}"`);
    }
    return t;
  });
}

/** Cluster mode when NATS_URL is set; its other settings are refused without it. */
function resolveCluster(env: Env): ClusterConfig | undefined {
  const raw = env.NATS_URL?.trim();
  if (!raw) {
    for (const name of ['NODE_ID', 'PARTITIONS', 'CLUSTER_REPLICAS', 'LEASE_MS', 'CLUSTER_SNAPSHOT_EVERY']) {
      if (env[name]) throw new ConfigError(`${name} is a cluster setting: set NATS_URL too (or unset ${name})`);
    }
    return undefined;
  }
  const servers = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$|^[A-Za-z0-9.\-[\]:]+$/.test(s))
      throw new ConfigError(`NATS_URL must be comma-separated NATS servers (nats://host:port), got "${s}"`);
  }
  const nodeId = env.NODE_ID?.trim() || `${hostname()}:${env.PORT || 8080}`;
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(nodeId)) throw new ConfigError(`NODE_ID must be 1-64 chars [A-Za-z0-9_.:-], got "${nodeId}"`);
  return {
    servers,
    nodeId,
    partitions: int(env, 'PARTITIONS', 64, 1, 4096),
    replicas: int(env, 'CLUSTER_REPLICAS', 1, 1, 5),
    leaseMs: int(env, 'LEASE_MS', 2000, 500, 60_000),
    snapshotEvery: int(env, 'CLUSTER_SNAPSHOT_EVERY', 1000, 10, 10_000_000),
  };
}
