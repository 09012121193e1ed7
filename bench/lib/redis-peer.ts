// The Redis peer: a redis-server of the machine (Redis 7 from Debian; bench/setup.sh installs it)
// on a loopback port with a temporary dir and AOF on, and the cart operation of the `cart`
// workload as one Lua script, called with EVALSHA through ioredis.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { killOnExit } from './cleanup.js';
import { freePort, tmpDataDir, removeDir } from './server.js';

export type AppendFsync = 'always' | 'everysec';

/**
 * One cart line change with a stock check: the same decision cartwire's cart actor makes for
 * cart.add / cart.setQty (unknown sku, line over 999, line over the stock), minus pricing and
 * the full cart in the reply.
 *   KEYS[1] stock hash (sku -> units), KEYS[2] the user's cart hash (sku -> qty, `_v` -> version)
 *   ARGV: mode ("add" | "set"), sku, qty  ->  the cart's version (unchanged when nothing changed)
 */
export const CART_LUA = `
local avail = redis.call('HGET', KEYS[1], ARGV[2])
if not avail then return redis.error_reply('NOT_FOUND unknown sku') end
local qty = tonumber(ARGV[3])
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local want = qty
if ARGV[1] == 'add' then want = cur + qty end
if want > 999 then return redis.error_reply('LIMIT_EXCEEDED a line holds at most 999') end
if want > tonumber(avail) then return redis.error_reply('OUT_OF_STOCK line over the stock') end
if want == cur then return tonumber(redis.call('HGET', KEYS[2], '_v') or '0') end
if ARGV[1] == 'add' then redis.call('HINCRBY', KEYS[2], ARGV[2], qty)
elseif want == 0 then redis.call('HDEL', KEYS[2], ARGV[2])
else redis.call('HSET', KEYS[2], ARGV[2], want) end
return redis.call('HINCRBY', KEYS[2], '_v', 1)
`;

export const STOCK_KEY = 'stock';
export const cartKey = (user: number | string): string => `cart:${user}`;

/** The path of redis-server, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface RedisPeer {
  readonly url: string;
  readonly port: number;
  /** The redis-server process (for /proc CPU). */
  readonly pid: number;
  readonly version: string;
  readonly fsync: AppendFsync;
  /** SHA1 of CART_LUA, loaded. */
  readonly sha: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server with AOF (`appendfsync` as given, no RDB saves) in a temporary dir and
 * loads the script and the stock. redis-server runs under a small `sh` guard holding a pipe from
 * this process: if the harness dies in any way, even kill -9, the pipe closes and the guard
 * kills redis-server, so no redis is ever left behind.
 */
export async function startRedis(fsync: AppendFsync, stock: Record<string, number>, bin = findRedisServer()): Promise<RedisPeer> {
  if (!bin) throw new Error('redis-server is not installed (bench/setup.sh installs it)');
  const dir = tmpDataDir('cartwire-bench-redis-');
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    fsync,
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
  // An asynchronous list of a non-interactive sh reads /dev/null, so the guard reads our pipe
  // through fd 3, duplicated from stdin before anything is put in the background. When the pipe
  // closes, the guard kills redis-server and removes its dir.
  const guard =
    'exec 3<&0; bin="$1"; dir="$2"; shift 2; "$bin" "$@" </dev/null & p=$!; echo "guarded pid $p"; (read _ <&3; kill -9 "$p" 2>/dev/null; rm -rf "$dir") & wait "$p"';
  const sh: ChildProcess = spawn('sh', ['-c', guard, 'sh', bin, dir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  killOnExit(sh);
  let out = '';
  const exited = new Promise<void>((resolve) => sh.once('exit', () => resolve()));
  const { pid } = await new Promise<{ pid: number }>((resolve, reject) => {
    let redisPid = 0;
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /guarded pid (\d+)/.exec(out);
      if (m) redisPid = Number(m[1]);
      if (redisPid && /Ready to accept connections/.test(out)) {
        sh.stdout!.off('data', onData);
        resolve({ pid: redisPid });
      }
    };
    sh.stdout!.on('data', onData);
    sh.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then(() => reject(new Error(`redis-server exited before it was ready:\n${out.slice(-2000)}`)));
  });
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  admin.on('error', () => undefined); // SHUTDOWN drops the connection; commands report their own errors
  const stop = async () => {
    try {
      await admin.call('SHUTDOWN', 'NOSAVE').catch(() => undefined); // the connection closes under it
    } finally {
      admin.disconnect();
      sh.stdin!.end(); // the guard kills redis-server if SHUTDOWN did not end it
      const timer = setTimeout(() => sh.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      removeDir(dir);
    }
  };
  try {
    await admin.connect();
    const version = String(((await admin.info('server')).match(/redis_version:(\S+)/) ?? [])[1] ?? '?');
    const sha = String(await admin.script('LOAD', CART_LUA));
    const entries = Object.entries(stock).flat();
    if (entries.length) await admin.hset(STOCK_KEY, ...entries);
    return { url, port, pid, version, fsync, sha, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
