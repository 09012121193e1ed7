// A cartwire server and its load processes for the length of a scenario: started from the
// common options, stopped (and the DATA_DIR removed) however the scenario ends.
import { atExit } from './cleanup.js';
import { LoadGroup } from './load.js';
import { envPairs, spawnServer, tmpDataDir, removeDir, newJwtSecret, type ServerProcess } from './server.js';
import type { CommonOptions } from './scenario.js';
import type { Target } from './step.js';

export interface Cartwire {
  url: string;
  server: ServerProcess;
  load: LoadGroup;
  jwtSecret: string;
  env: Record<string, string>;
  nodeArgs: string[];
  /** The server as a step target (CPU of its pid, group commits from its /metrics). */
  target: Target;
}

/** Runs `fn` against a fresh server (SHARDS, SYNCHRONOUS, --server-env, --server-prof) and --load-procs load processes. */
export async function withCartwire<T>(scenario: string, o: CommonOptions, fn: (c: Cartwire) => Promise<T>, extraEnv: Record<string, string> = {}): Promise<T> {
  const dataDir = tmpDataDir();
  // Interrupted (Ctrl-C): the children are killed first (cleanup.ts), then the dir goes.
  const forget = o.keepData ? () => undefined : atExit(() => removeDir(dataDir));
  const jwtSecret = newJwtSecret();
  const nodeArgs = o.serverProf ? ['--cpu-prof', '--cpu-prof-dir', o.serverProf] : [];
  const env = { SHARDS: String(o.shards), SYNCHRONOUS: o.synchronous, ...extraEnv, ...envPairs(o.serverEnv) };
  console.log(`${scenario}: server SHARDS=${o.shards} SYNCHRONOUS=${o.synchronous} DATA_DIR=${dataDir}; ${o.loadProcs} load process(es), ${o.client} client`);
  const server = spawnServer({ dataDir, jwtSecret, env, nodeArgs, echo: o.echo });
  const load = LoadGroup.start(o.loadProcs);
  try {
    const { url } = await server.listening;
    console.log(`${scenario}: server pid ${server.pid} at ${url}; load pids ${load.pids.join(', ')}`);
    return await fn({ url, server, load, jwtSecret, env, nodeArgs, target: { label: 'cartwire', url, pid: server.pid, metricsUrl: url } });
  } catch (err) {
    console.error(`${scenario}: failed: ${err instanceof Error ? err.message : String(err)}\n--- server output ---\n${server.output().slice(-4000)}`);
    throw err;
  } finally {
    await load.stop();
    const code = await server.term();
    if (code !== 0) console.error(`${scenario}: server exited with ${code}\n${server.output().slice(-2000)}`);
    if (o.serverProf) console.log(`${scenario}: server profiles in ${o.serverProf} (npm run bench -- prof ${o.serverProf}/*.cpuprofile)`);
    if (!o.keepData) removeDir(dataDir);
    forget();
  }
}
