// What a page of `user.list` costs a cluster node as the accounts
// bucket grows: one nats-server, one node, N guest accounts (each a guest with a saved address,
// made through the protocol), then pages of 20 walked from the start: milliseconds per page and
// the messages NATS sent the node for it (its connection's out_msgs in /connz). With `--main`
// the node is another build (its dist/src/main.js), for a before/after comparison.
// Run: npm run build && node dist/bench/micro/cluster-user-list.js [accounts] [--main ../before/dist/src/main.js]
import { parseArgs } from 'node:util';
import { CartwireClient } from '../../src/client/index.js';
import { findNatsServer, startNats, type NatsServer } from '../lib/nats-servers.js';
import { ADMIN_PASSWORD, removeDir, spawnServer, tmpDataDir } from '../lib/server.js';

const PAGES = 20;
const LIMIT = 20;
const MAKERS = 32;

const { values, positionals } = parseArgs({ options: { main: { type: 'string' } }, allowPositionals: true });
const accounts = Number(positionals[0] ?? 2_000);

async function sentTo(nats: NatsServer, name: string): Promise<number> {
  const body = (await (await fetch(`${nats.monitorUrl}/connz?limit=1024`)).json()) as { connections: { name?: string; out_msgs: number }[] };
  const conn = body.connections.find((c) => c.name === name);
  if (!conn) throw new Error(`no NATS connection named ${name}`);
  return conn.out_msgs;
}

const bin = findNatsServer();
if (!bin) throw new Error('nats-server is not installed');
const nats = await startNats(1, bin);
const dataDir = tmpDataDir('cartwire-user-list-');
const server = spawnServer({
  dataDir,
  jwtSecret: 'bench-user-list-secret-0123456789abcdef',
  env: { NATS_URL: nats.url, NODE_ID: 'a', SEED_DEMO: '0', GUEST_RETENTION_DAYS: '0' },
  ...(values.main ? { main: values.main } : {}),
});
try {
  const { url } = await server.listening;
  const admin = await CartwireClient.connect(url);
  await admin.call('auth.login', { email: 'admin@example.com', password: ADMIN_PASSWORD });

  // N guests with an address each (each a row in the accounts bucket), MAKERS at a time.
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: MAKERS }, async () => {
      while (next < accounts) {
        const i = next++;
        const c = await CartwireClient.connect(url);
        try {
          await c.call('auth.guest', {});
          await c.call('address.add', { name: `Guest ${i}`, line1: `${i} Bench Road`, city: 'Leiden', postalCode: '2311', country: 'NL' });
        } finally {
          await c.close();
        }
      }
    }),
  );
  const madeS = (performance.now() - t0) / 1000;

  const ms: number[] = [];
  let listed = 0;
  let cursor: string | undefined;
  const before = await sentTo(nats.servers[0], 'cartwire-a');
  for (let p = 0; p < PAGES; p++) {
    const s = performance.now();
    const page = await admin.call('user.list', cursor === undefined ? { limit: LIMIT } : { limit: LIMIT, cursor });
    ms.push(performance.now() - s);
    listed += page.items.length;
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  const msgs = (await sentTo(nats.servers[0], 'cartwire-a')) - before;
  ms.sort((a, b) => a - b);
  console.log(`${values.main ?? 'this build'}: ${accounts} guest accounts made in ${madeS.toFixed(1)} s`);
  console.log(
    `user.list, ${ms.length} pages of ${LIMIT} (${listed} listed): median ${ms[ms.length >> 1].toFixed(1)} ms, max ${ms[ms.length - 1].toFixed(1)} ms per page; ` +
      `${Math.round(msgs / ms.length)} NATS messages to the node per page (ownership rounds included)`,
  );
  await admin.close();
} finally {
  await server.term();
  await nats.stop();
  removeDir(dataDir);
}
