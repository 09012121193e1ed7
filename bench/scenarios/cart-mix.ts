// `bench cart-mix`: a shop's traffic over many guest users (each connection its own user and
// cart): catalog.get, cart.add, cart.setQty and cart.get in a weighted mix, closed or open model.
// With --peers, the same run also measures what it is compared with, through the same harness,
// connections, in-flight count or rate:
//   ping            the transport ceiling (same server, same client)
//   redis-always    the cart workload's add/setQty as a Lua script in Redis 7, AOF fsync always
//   redis-everysec  the same with appendfsync everysec
// (a Redis peer adds a cartwire `cart` step, the same add/setQty sequence, to compare it with).
import { Option } from 'commander';
import { productIds, stockBySku, stockedSkus } from '../lib/catalog.js';
import { withCartwire } from '../lib/harness.js';
import { findRedisServer, startRedis, type AppendFsync } from '../lib/redis-peer.js';
import { baseResult, stepLine } from '../lib/run.js';
import { addLoadOptions, defineScenario, int, type LoadOptions, type Ratio, type StepReport, type StepRole } from '../lib/scenario.js';
import { modelLabel, modelOf, runStep, timingOf, type StepDef, type Target } from '../lib/step.js';
import { DEFAULT_MIX, parseMix, type Workload } from '../lib/workloads.js';

type Peer = 'ping' | 'redis-always' | 'redis-everysec';
const PEERS: Peer[] = ['ping', 'redis-always', 'redis-everysec'];

interface CartMixOptions extends LoadOptions {
  skusPerUser: number;
  mix?: string;
  peers: string[];
  redisServer?: string;
}

/** `--peers ping,redis` -> the peer list (`redis` is both fsync modes, `all` everything). */
export function parsePeers(list: string[]): Peer[] {
  const out = new Set<Peer>();
  for (const item of list.flatMap((x) => x.split(',')).filter(Boolean)) {
    if (item === 'all') PEERS.forEach((p) => out.add(p));
    else if (item === 'redis') ['redis-always', 'redis-everysec'].forEach((p) => out.add(p as Peer));
    else if ((PEERS as string[]).includes(item)) out.add(item as Peer);
    else throw new Error(`--peers: unknown peer "${item}" (ping, redis, redis-always, redis-everysec, all)`);
  }
  return PEERS.filter((p) => out.has(p));
}

export const scenario = defineScenario<CartMixOptions>({
  name: 'cart-mix',
  summary: 'catalog.get / cart.add / cart.setQty / cart.get over many guests; --peers ping,redis in the same run',
  configure: (c) =>
    addLoadOptions(c)
      .option('--skus-per-user <n>', 'skus each cart uses', int(1), 4)
      .option(
        '--mix <weights>',
        `op weights, e.g. ${Object.entries(DEFAULT_MIX)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
      )
      .addOption(new Option('--peers <list...>', 'also measure: ping, redis (= redis-always,redis-everysec), redis-always, redis-everysec, all').default([]))
      .option('--redis-server <path>', 'redis-server binary (default: from PATH)'),
  run: (o, ctx) => {
    const peers = parsePeers(o.peers);
    const mix = o.mix ? parseMix(o.mix) : DEFAULT_MIX;
    return withCartwire('cart-mix', o, async (cw) => {
      const skus = stockedSkus();
      const products = productIds();
      const timing = timingOf(o);
      const model = modelOf(o);
      const label = modelLabel(model, o.connections);
      const def = (workload: Workload, role: StepRole, target: Target, name = `${workload} ${label}`): StepDef => ({
        name,
        role,
        target,
        channel: { workload, client: o.client, skus, products, skusPerUser: o.skusPerUser, mix, trackOps: workload === 'cart-mix' },
        connections: o.connections,
        model,
        timing,
      });
      const steps: StepReport[] = [];
      const notes: string[] = [];
      const run = async (d: StepDef) => {
        const s = await runStep(cw.load, d, ctx.progress);
        console.log(`  ${stepLine(s)}`);
        steps.push(s);
        return s;
      };

      const mixStep = await run(def('cart-mix', 'measured', cw.target));
      const ping = peers.includes('ping') ? await run(def('ping', 'ceiling', cw.target)) : undefined;
      const redisPeers = peers.filter((p) => p.startsWith('redis')) as ('redis-always' | 'redis-everysec')[];
      const redisBin = o.redisServer ?? findRedisServer();
      let cartAdd: StepReport | undefined;
      const redis: { fsync: AppendFsync; step: StepReport }[] = [];
      if (redisPeers.length && !redisBin) {
        const line = 'redis peer skipped: redis-server is not installed (bench/setup.sh installs it)';
        console.log(`  ${line}`);
        notes.push(line);
      } else if (redisPeers.length) {
        cartAdd = await run(def('cart', 'compare', cw.target, `cart-add ${label}`));
        for (const p of redisPeers) {
          const fsync: AppendFsync = p === 'redis-always' ? 'always' : 'everysec';
          const peer = await startRedis(fsync, stockBySku(), redisBin);
          try {
            const target: Target = { label: `redis ${peer.version} (appendfsync ${fsync})`, url: peer.url, pid: peer.pid, redisSha: peer.sha };
            redis.push({ fsync, step: await run(def('cart', 'peer', target, `redis ${fsync} ${label}`)) });
          } finally {
            await peer.stop();
          }
        }
      }

      const ratios: Ratio[] = [];
      const closed = model.kind === 'closed';
      // Closed model: throughput ratios (cartwire / other). Open model: every step gets the same
      // rate, so the ratio is of p99 latency, other / cartwire (above 1: cartwire answers faster).
      const ratio = (a: StepReport, b: StepReport, goal?: number): Ratio => {
        const value = closed ? a.opsPerSec / b.opsPerSec : b.latencyUs.p99 / a.latencyUs.p99;
        return {
          name: closed ? `${a.name} / ${b.name} ops/s` : `${b.name} p99 / ${a.name} p99`,
          value,
          goal: goal === undefined ? undefined : `>= ${goal}`,
          met: goal === undefined ? undefined : value >= goal,
        };
      };
      if (ping) ratios.push(ratio(mixStep, ping, closed ? 0.5 : undefined));
      for (const r of redis) if (cartAdd) ratios.push(ratio(cartAdd, r.step, r.fsync === 'always' ? 1.5 : undefined));
      // Open model: the goal is the mix's own CO-corrected p99 at the rate (<= 2 ms at 20,000/s).
      if (!closed) {
        const p99Ms = mixStep.latencyUs.p99 / 1000;
        ratios.push({ name: `${mixStep.name} p99 ms (CO-corrected) vs goal 2`, value: p99Ms / 2, goal: '<= 1', met: p99Ms <= 2 });
      }
      if (redis.length) {
        notes.push(
          "The Redis peer does the cart step's add/setQty decision in one Lua script (stock check, line cap 999, version) and answers a version number; cartwire also prices the cart and answers the full cart. Both answer only after their write is on disk (cartwire: SQLite SYNCHRONOUS=FULL group commits; Redis: appendfsync always), except Redis everysec, which may lose the last second.",
        );
      }
      return { ...baseResult('cart-mix', o, cw), steps, ratios, notes, extra: { mix, peers } };
    });
  },
});
