// `npm start`: read the environment, start the server, drain on SIGTERM/SIGINT.
import { resolveConfig, ConfigError, type Config } from './config.js';
import { createPool, shardOptions } from './app/shard-options.js';
import { log } from './log/log.js';
import { serverVersion } from './app/version.js';
import { loadTransport, TransportUnavailableError } from './transport/transport.js';
import { DataDirBusy, DataDirLock } from './persistence/data-dir-lock.js';

/** Runs a start step; a failure it explains (`known`) ends the process with `code` and one fatal line. */
async function orExit<T>(step: () => T | Promise<T>, known: abstract new (...args: never[]) => Error, code: number): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof known) {
      log.fatal(err.message);
      process.exit(code);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = await orExit(() => resolveConfig(), ConfigError, 2);
  const transport = await orExit(() => loadTransport(config.transport), TransportUnavailableError, 1);
  log.info({ transport: transport.name }, `transport ${transport.name}: ${transport.description}`);
  // Before any file of the data directory is opened: a second server on it stops here.
  const lock = await orExit(() => DataDirLock.take(config.dataDir, 'server'), DataDirBusy, 1);
  // The shard workers boot (import their code, open and index their databases) while this thread
  // loads the rest of the server: about as long each, so the start takes one of them, not both.
  const pool = createPool(config);
  pool.spawn(shardOptions(config));
  const { startServer } = await import('./app/server.js');
  const server = await startServer(config, { pool, transport, lock });
  log.info(banner(config, server.transport.name), `cartwire ${serverVersion()} on Node ${process.version}: ${summary(config, server.transport.name)}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: draining in-flight requests`);
    server.close().then(
      () => {
        log.info('stopped cleanly');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Harnesses wait for this line, read the URL from it and may signal at once: the handlers
  // above are in place before it is written (a SIGTERM before them would kill the process).
  log.info({ url: server.url }, `listening on ${server.url}`);
}

/** What runs, as fields of the start line. */
function banner(config: Config, transport: string): Record<string, unknown> {
  return {
    version: serverVersion(),
    node: process.version,
    transport,
    shards: config.shards,
    dataDir: config.dataDir,
    synchronous: config.synchronous,
    mode: config.cluster ? 'cluster' : 'single',
    tls: config.tls !== undefined,
    ...(config.cluster ? { nodeId: config.cluster.nodeId, partitions: config.cluster.partitions } : {}),
  };
}

function summary(config: Config, transport: string): string {
  const mode = config.cluster ? `cluster node ${config.cluster.nodeId} (${config.cluster.partitions} partitions)` : 'single node';
  return `${config.shards} shards, data in ${config.dataDir}, SYNCHRONOUS=${config.synchronous}, ${mode}, ${transport}${config.tls ? ' with TLS' : ''}`;
}

/** cartwire's version: from the nearest package.json named cartwire above this file. */

main().catch((err) => {
  log.fatal({ err }, 'cartwire failed to start');
  process.exit(1);
});
