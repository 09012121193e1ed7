// cartwire cluster nodes for `bench cluster`: child processes (`node dist/src/main.js`, as every
// scenario starts the server) sharing NATS_URL, each with its own NODE_ID, PORT=0 and temporary
// DATA_DIR; the first seeds the demo catalog, the others start with SEED_DEMO=0. GET /cluster
// (admin token) tells who owns and serves each partition.
import { cartKey, stableHash } from '../../src/protocol/keys.js';
import { atExit } from './cleanup.js';
import { RawConn } from './raw-client.js';
import { ADMIN_PASSWORD, getJson, removeDir, sleep, spawnServer, tmpDataDir, type ServerProcess } from './server.js';

export interface ClusterNode {
  id: string;
  url: string;
  server: ServerProcess;
  dataDir: string;
  /** Not killed, not exited. */
  alive(): boolean;
}

export interface PartitionStatus {
  partition: number;
  owner?: string;
  state?: string;
  heldForMs?: number;
}

export interface ClusterStatus {
  nodeId: string;
  nodes: string[];
  partitions: number;
  owners: PartitionStatus[];
  journal?: { messages: number; lastSeq: number } | null;
}

/** The partition of a user's cart, as the nodes route it (FNV-1a of `cart:<userId>` mod PARTITIONS). */
export const cartPartition = (userId: string, partitions: number): number => stableHash(cartKey(userId)) % partitions;

/**
 * Starts `ids.length` nodes on `natsUrl`: the first alone (it creates the streams, buckets,
 * admin account and demo catalog), then the others together. Resolves once every node listens.
 */
export async function startNodes(o: {
  ids: string[];
  natsUrl: string;
  jwtSecret: string;
  env: Record<string, string>;
  nodeArgs: string[];
  keepData: boolean;
  echo: boolean;
}): Promise<{ nodes: ClusterNode[]; stop(): Promise<void> }> {
  const nodes: ClusterNode[] = [];
  const dirs: string[] = [];
  const forget = o.keepData ? () => undefined : atExit(() => dirs.forEach(removeDir));
  const start = async (id: string, seed: boolean): Promise<ClusterNode> => {
    const dataDir = tmpDataDir(`cartwire-bench-node-${id}-`);
    dirs.push(dataDir);
    const server = spawnServer({
      dataDir,
      jwtSecret: o.jwtSecret,
      env: { ...o.env, NATS_URL: o.natsUrl, NODE_ID: id, SEED_DEMO: seed ? '1' : '0' },
      nodeArgs: o.nodeArgs,
      echo: o.echo,
    });
    const node: ClusterNode = {
      id,
      url: '',
      server,
      dataDir,
      alive: () => server.proc.exitCode === null && server.proc.signalCode === null,
    };
    nodes.push(node);
    node.url = (await server.listening).url;
    return node;
  };
  const stop = async () => {
    // SIGTERM hands partitions over to the others; the last ones have nobody to hand to. Past
    // 15 s, kill -9: the run is over, the data goes anyway.
    await Promise.all(
      nodes.map(async (n) => {
        if (!n.alive()) return;
        const timer = setTimeout(() => n.server.proc.kill('SIGKILL'), 15_000);
        await n.server.term();
        clearTimeout(timer);
      }),
    );
    if (!o.keepData) dirs.forEach(removeDir);
    forget();
  };
  try {
    await start(o.ids[0], true);
    await Promise.all(o.ids.slice(1).map((id) => start(id, false)));
  } catch (err) {
    for (const n of nodes) console.error(`--- node ${n.id} output ---\n${n.server.output().slice(-3000)}`);
    await stop();
    throw err;
  }
  return { nodes, stop };
}

/** An admin token (auth.login as the seeded admin through `url`). */
export async function adminToken(url: string): Promise<string> {
  const c = await RawConn.open(url);
  try {
    const r = await c.call('auth.login', { email: 'admin@example.com', password: ADMIN_PASSWORD });
    if (!r.ok) throw new Error(`admin auth.login failed: ${JSON.stringify(r.error)}`);
    return (r.result as { token: string }).token;
  } finally {
    await c.close();
  }
}

export async function clusterStatus(url: string, token: string): Promise<ClusterStatus> {
  const r = await getJson<ClusterStatus>(`${url}/cluster`, token);
  if (r.status !== 200 || !r.body) throw new Error(`GET ${url}/cluster answered ${r.status}`);
  return r.body;
}

export interface Served {
  /** Every node answered GET /cluster (else nothing is known: every list is empty). */
  complete: boolean;
  /** Partition -> the node serving it, when every partition is served by exactly one of the nodes. */
  owners?: string[];
  /** Partitions none of the nodes serves. */
  unserved: number[];
  /** Partitions two or more of the nodes report `serving` at once (each answers their requests itself). */
  doubles: number[];
}

/**
 * Who serves each partition, from every node's own GET /cluster: a partition is served by a
 * node that lists itself as its owner with state `serving`. `owners` is set when each partition
 * has exactly one such node.
 */
export async function servedBy(nodes: ClusterNode[], token: string): Promise<Served> {
  const views = await Promise.all(nodes.map((n) => clusterStatus(n.url, token).catch(() => undefined)));
  if (views.some((v) => v === undefined)) return { complete: false, unserved: [], doubles: [] };
  const partitions = views[0]!.partitions;
  const owners: string[] = [];
  const unserved: number[] = [];
  const doubles: number[] = [];
  for (let p = 0; p < partitions; p++) {
    // A node with the partition in state `serving` answers its requests itself, whatever its
    // owner table says; the owner is the one that also lists itself as the owner.
    const serving = views.filter((x) => x!.owners[p]?.state === 'serving');
    const owner = serving.find((x) => x!.owners[p]?.owner === x!.nodeId);
    if (!owner) unserved.push(p);
    if (serving.length > 1) doubles.push(p);
    owners.push(owner?.nodeId ?? '');
  }
  return { complete: true, owners: unserved.length === 0 && doubles.length === 0 ? owners : undefined, unserved, doubles };
}

/**
 * Waits until the partitions are balanced over `nodes`: every partition served by exactly one of them,
 * every node serving some, and the same owner table on two polls `settleMs` apart (the moves to
 * the preferred owners, a few per round, are done).
 */
export async function balanced(nodes: ClusterNode[], token: string, o: { timeoutMs: number; settleMs: number }): Promise<string[]> {
  const end = Date.now() + o.timeoutMs;
  let prev: string | undefined;
  while (Date.now() < end) {
    const { owners } = await servedBy(nodes, token);
    const key = owners?.join(',');
    if (owners && nodes.every((n) => owners.includes(n.id))) {
      if (key === prev) return owners;
      prev = key;
      await sleep(o.settleMs);
      continue;
    }
    prev = undefined;
    await sleep(100);
  }
  throw new Error(`partitions not balanced over ${nodes.map((n) => n.id).join(', ')} within ${o.timeoutMs} ms`);
}
