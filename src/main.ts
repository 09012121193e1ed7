// `npm start`: read the environment, start the server, drain on SIGTERM/SIGINT.
import { resolveConfig, ConfigError } from './config.js';
import { createPool, shardOptions } from './app/shard-options.js';
import { loadTransport, TransportUnavailableError } from './transport/transport.js';

async function main(): Promise<void> {
  let config;
  try {
    config = resolveConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`cartwire: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  let transport;
  try {
    transport = await loadTransport(config.transport);
  } catch (err) {
    if (err instanceof TransportUnavailableError) {
      console.error(`cartwire: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  console.log(`transport ${transport.name}: ${transport.description}`);
  // The shard workers boot (import their code, open and index their databases) while this thread
  // loads the rest of the server: about as long each, so the start takes one of them, not both.
  const pool = createPool(config);
  pool.spawn(shardOptions(config));
  const { startServer } = await import('./app/server.js');
  const server = await startServer(config, {
    pool,
    transport,
    onAdminPassword: (password) =>
      console.log(`created admin ${config.adminEmail} with generated password: ${password}\n(shown once; set ADMIN_PASSWORD to choose it)`),
  });
  console.log(`listening on ${server.url}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining in-flight requests`);
    server.close().then(
      () => {
        console.log('stopped cleanly');
        process.exit(0);
      },
      (err) => {
        console.error('shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error('cartwire failed to start:', err);
  process.exit(1);
});
