// `npm run bench -- <scenario> [options]`: the load harness. Each scenario starts the server as a
// child process and drives it from separate load processes; see bench/README.md.
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { runCart } from './scenarios/cart.js';
import { runRestart } from './scenarios/restart.js';
import { runMemory } from './scenarios/memory.js';
import { selfTimes } from './lib/cpuprofile.js';
import { table } from './lib/report.js';

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};
const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};

const program = new Command('bench').description('cartwire load harness').showHelpAfterError();

const common = (c: Command) =>
  c
    .option('--shards <n>', 'SHARDS of the server', int(1), availableParallelism())
    .option('--load-procs <n>', 'load generator processes', int(1), 1)
    .addOption(new Option('--synchronous <mode>', 'SQLite synchronous of the server').choices(['FULL', 'NORMAL', 'OFF']).default('FULL'))
    .option('--server-env <kv...>', 'extra environment for the server, KEY=VALUE (e.g. MALLOC_ARENA_MAX=2)', [])
    .option('--keep-data', 'keep the temporary DATA_DIR', false)
    .option('--echo', "echo the server's output", false);

common(
  program
    .command('cart')
    .description('ping (transport ceiling) vs durable cart.add/cart.setQty, closed loop')
    .option('--duration <s>', 'measured window per phase, seconds', num, 10)
    .option('--warmup <s>', 'warm-up per phase, seconds', num, 3)
    .option('--connections <n>', 'connections per phase', int(1), 64)
    .option('--inflight <n>', 'requests in flight per connection (ping and the second cart phase)', int(1), 16)
    .option('--skus-per-user <n>', 'skus each cart cycles through', int(1), 4)
    .addOption(new Option('--client <kind>', 'raw ws+msgpackr, or the project SDK (CartwireClient)').choices(['raw', 'sdk']).default('raw'))
    .option('--server-prof <dir>', 'run the server with --cpu-prof, profiles to <dir>'),
).action((o) => runCart(o));

common(
  program
    .command('restart')
    .description('fill carts, kill -9, restart on the same DATA_DIR: time to ready and to the first old cart')
    .option('--carts <n>', 'carts (distinct users)', int(1), 100_000)
    .option('--lines <n>', 'lines per cart', int(1), 3)
    .option('--connections <n>', 'fill connections', int(1), 128)
    .option('--probes <n>', 'old carts read after the restart', int(1), 1000)
    .option('--server-prof <dir>', 'run the restarted server with --cpu-prof, profiles to <dir>'),
).action((o) => runRestart(o));

common(
  program
    .command('memory')
    .description('RSS with many active carts, then after passivation')
    .option('--carts <n>', 'carts (distinct users)', int(1), 1_000_000)
    .option('--lines <n>', 'lines per cart', int(1), 3)
    .option('--connections <n>', 'fill connections', int(1), 128)
    .option('--passivate-after-ms <ms>', 'PASSIVATE_AFTER_MS of the server (must outlast the fill for the "all active" figure)', int(1), 600_000)
    .option('--sweep-interval-ms <ms>', 'SWEEP_INTERVAL_MS of the server', int(10), 1000)
    .option('--max-old-space-size <mib>', 'V8 heap limit of the server (per isolate)', int(64), 4096)
    .option('--node-arg <flag...>', 'extra node flags for the server (e.g. --expose-gc)')
    .option('--settle-s <s>', 'seconds to watch RSS after the last actor is passivated', num, 30),
).action((o) => runMemory(o));

program
  .command('prof')
  .description('self time per function of .cpuprofile files (e.g. from cart --server-prof)')
  .argument('<files...>')
  .option('--top <n>', 'functions per profile', int(1), 25)
  .action((files: string[], o: { top: number }) => {
    for (const f of files) {
      const s = selfTimes(f);
      console.log(`\n${f}: ${s.totalMs} ms busy, ${s.idleMs} ms idle`);
      console.log(table(['function', 'self ms', '%'], s.top.slice(0, o.top).map((t) => [t.fn, t.ms, t.pct])));
    }
  });

program.parseAsync().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
