// Server configuration from the environment, validated once at start. Every message names the
// variable and the value it got, so a typo fails loudly instead of running with a default.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  shards: number;
  adminEmail: string;
  adminPassword: string | undefined;
  jwtSecret: string | undefined;
  seedDemo: boolean;
  allowedOrigins: string[] | undefined;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  /** Requests queued or in flight per shard beyond which new ones get OVERLOADED. */
  maxShardBacklog: number;
  passivateAfterMs: number;
  snapshotEvery: number;
  checkpointRows: number;
  checkpointIntervalMs: number;
  sweepIntervalMs: number;
  tokenTtlSeconds: number;
  /** Fault injection for tests: every group commit touching this actor key fails. */
  faultFailCommitsFor: string | undefined;
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

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function resolveConfig(env: Env = process.env): Config {
  const adminEmail = (env.ADMIN_EMAIL || 'admin@example.com').trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(adminEmail)) throw new ConfigError(`ADMIN_EMAIL must be an email address, got "${env.ADMIN_EMAIL}"`);
  const adminPassword = env.ADMIN_PASSWORD || undefined;
  if (adminPassword !== undefined && adminPassword.length < 8) throw new ConfigError('ADMIN_PASSWORD must be at least 8 characters');
  const jwtSecret = env.JWT_SECRET || undefined;
  if (jwtSecret !== undefined && jwtSecret.length < 32) throw new ConfigError('JWT_SECRET must be at least 32 characters');
  const origins = env.ALLOWED_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean);
  const host = env.HOST || '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw new ConfigError(`HOST must be a host name or IP address, got "${host}"`);
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    dataDir: resolve(env.DATA_DIR || './data'),
    shards: int(env, 'SHARDS', availableParallelism(), 1, 256),
    adminEmail,
    adminPassword,
    jwtSecret,
    seedDemo: flag(env, 'SEED_DEMO', true),
    allowedOrigins: origins && origins.length > 0 ? origins : undefined,
    synchronous: oneOf(env, 'SYNCHRONOUS', ['FULL', 'NORMAL', 'OFF'] as const, 'FULL'),
    maxShardBacklog: int(env, 'MAX_SHARD_BACKLOG', 50_000, 1),
    passivateAfterMs: int(env, 'PASSIVATE_AFTER_MS', 10 * 60_000, 0),
    snapshotEvery: int(env, 'SNAPSHOT_EVERY', 200, 1),
    checkpointRows: int(env, 'CHECKPOINT_ROWS', 100_000, 1),
    checkpointIntervalMs: int(env, 'CHECKPOINT_INTERVAL_MS', 60_000, 1),
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 5_000, 10),
    tokenTtlSeconds: int(env, 'TOKEN_TTL_SECONDS', 24 * 3600, 1),
    faultFailCommitsFor: env.FAULT_FAIL_COMMITS_FOR || undefined,
  };
}
