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

export async function startNode(t: TestContext, natsUrl: string, id: string, env: Record<string, string> = {}): Promise<ClusterNodeProc> {
  const dir = mkdtempSync(join(tmpdir(), `cartwire-node-${id}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await spawnServer(
    dir,
    { NATS_URL: natsUrl, NODE_ID: id, PARTITIONS: String(PARTITIONS), LEASE_MS: String(LEASE_MS), SHARDS: '2', ...env },
    30_000,
  );
  t.after(async () => {
    if (server.proc.exitCode === null && server.proc.signalCode === null) await server.kill9();
  });
  return { id, server, dataDir: dir };
}

export async function adminOn(url: string): Promise<{ c: CartwireClient; token: string }> {
  const c = await CartwireClient.connect(url);
  const { token } = await c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  return { c, token };
}

interface ClusterStatus {
  nodeId: string;
  owners: { partition: number; owner?: string; state?: string }[];
}

async function clusterStatus(url: string, token: string): Promise<ClusterStatus> {
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
