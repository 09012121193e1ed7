// Cluster nodes for the tests: the real server binary with NATS_URL, on loopback, each with its
// own data directory; waiting until every partition is owned and served.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CartwireClient, CartwireError } from '../../src/client/index.js';
import { stableHash } from '../../src/protocol/keys.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, spawnServer, until, type ChildServer } from './server.js';

export const PARTITIONS = 16;
export const LEASE_MS = 2000;
export const partitionOf = (key: string): number => stableHash(key) % PARTITIONS;

export interface ClusterNodeProc {
  id: string;
  server: ChildServer;
  dataDir: string;
}

/** Removes a node's directory; one a node restarted on it still writes in is left in tmp. */
function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // ENOTEMPTY: files created while it was being removed
  }
}

/** A cluster node on a fresh directory, or restarted on `dataDir`; killed (then its fresh directory removed) after the test. */
export async function startNode(t: TestContext, natsUrl: string, id: string, env: Record<string, string> = {}, dataDir?: string): Promise<ClusterNodeProc> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `cartwire-node-${id}-`));
  const server = await spawnServer(
    dir,
    { NATS_URL: natsUrl, NODE_ID: id, PARTITIONS: String(PARTITIONS), LEASE_MS: String(LEASE_MS), SHARDS: '2', ...env },
    30_000,
  ).catch((err: unknown) => {
    if (!dataDir) removeDir(dir);
    throw err;
  });
  // One hook, the node killed before its directory goes: hooks run in order, and one that throws
  // skips the ones after it (which kill the other nodes).
  t.after(async () => {
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
    if (!dataDir) removeDir(dir);
  });
  return { id, server, dataDir: dir };
}

export async function adminOn(url: string): Promise<{ c: CartwireClient; token: string }> {
  const c = await CartwireClient.connect(url);
  const { token } = await c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  return { c, token };
}

export interface ClusterStatus {
  nodeId: string;
  nodes: string[];
  owners: { partition: number; owner?: string; state?: string }[];
}

/** GET /cluster of a node, as an admin. */
export async function clusterStatus(url: string, token: string): Promise<ClusterStatus> {
  const res = await fetch(`${url}/cluster`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as ClusterStatus;
}

/** Waits until every partition is owned by one of `nodes` and served by its owner; the owner of each. */
export async function balanced(nodes: ClusterNodeProc[], token: string, timeoutMs = 30_000): Promise<Map<number, string>> {
  const ids = nodes.map((n) => n.id);
  let owners = new Map<number, string>();
  await until(
    async () => {
      const views = await Promise.all(nodes.map((n) => clusterStatus(n.server.url, token).catch(() => undefined)));
      if (views.some((v) => !v)) return false;
      const table = views[0]!.owners;
      if (table.some((o) => !o.owner || !ids.includes(o.owner))) return false;
      if (new Set(table.map((o) => o.owner)).size !== ids.length) return false;
      for (const v of views) {
        const mine = table.filter((o) => o.owner === v!.nodeId).map((o) => o.partition);
        const serving = v!.owners.filter((o) => o.state === 'serving').map((o) => o.partition);
        if (mine.length !== serving.length || mine.some((p) => !serving.includes(p))) return false;
      }
      owners = new Map(table.map((o) => [o.partition, o.owner!]));
      return true;
    },
    { timeoutMs, what: `partitions balanced over ${ids.join(', ')}` },
  );
  return owners;
}

/** Calls `f` again while it answers UNAVAILABLE (a partition moving), for up to 30 s. */
export async function retryUnavailable<T>(f: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof CartwireError) || err.code !== 'UNAVAILABLE' || Date.now() - started > 30_000) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof CartwireError) return err.code;
    throw err;
  }
}
