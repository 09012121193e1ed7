// `bench restart`: fill a server with N carts (distinct users) while no checkpoint runs, so every
// row stays in the journal tail; kill -9 it; start a new server on the same DATA_DIR and measure
// from spawn to the first /readyz 200, to the first successful cart.get of an old cart, the
// journal rows the restart had to index, and the RSS after start.
import { LoadGroup } from '../lib/load.js';
import { RawConn, type Reply } from '../lib/raw-client.js';
import { TokenMinter, benchUserId } from '../lib/jwt.js';
import { cpuMicros, memStatus, mib, type MemStatus } from '../lib/procfs.js';
import {
  envPairs,
  spawnServer,
  tmpDataDir,
  removeDir,
  newJwtSecret,
  freePort,
  dirFiles,
  snapshotSummary,
  sleep,
  type ServerProcess,
  type ShardSummary,
} from '../lib/server.js';
import { newHistogram, summarize } from '../lib/histogram.js';
import { us, fmtInt, fixed } from '../lib/format.js';
import { stockedSkus } from '../lib/catalog.js';
import { CartwireClient } from '../../src/client/index.js';
import { baseResult } from '../lib/run.js';
import { defineScenario, int, type CommonOptions, type RunResult } from '../lib/scenario.js';
import type { ClientKind } from '../lib/channels.js';

export interface RestartOptions {
  carts: number;
  lines: number;
  connections: number;
  probes: number;
}

const DAY_MS = 86_400_000;

/** Polls `check` every `everyMs` until it returns true; resolves with performance.now() of that moment. */
async function pollUntil(check: () => Promise<boolean>, everyMs: number, timeoutMs: number, what: string): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return performance.now();
    } catch {
      /* not listening yet */
    }
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A probe connection: auth.resume as a user, then cart.get; raw or through the SDK. */
interface Prober {
  getCartAs(token: string): Promise<Reply>;
  close(): Promise<unknown>;
}

async function openProber(base: string, client: ClientKind): Promise<Prober> {
  if (client === 'sdk') {
    const c = await CartwireClient.connect(base, { timeoutMs: 30_000 });
    return {
      getCartAs: async (token) => {
        try {
          await c.call('auth.resume', { token });
          return { id: 0, ok: true, result: await c.call('cart.get', {}) };
        } catch (err) {
          return { id: 0, ok: false, error: { code: (err as { code?: string }).code ?? 'UNKNOWN', message: String(err) } };
        }
      },
      close: () => c.close(),
    };
  }
  const conn = await RawConn.open(base);
  return {
    getCartAs: async (token) => {
      const r = await conn.call('auth.resume', { token });
      if (!r.ok) return r;
      return conn.call('cart.get');
    },
    close: () => conn.close(),
  };
}

export async function fillServer(
  server: ServerProcess,
  url: string,
  opts: { carts: number; lines: number; connections: number; loadProcs: number; jwtSecret: string; run: string; client: ClientKind },
): Promise<{
  seconds: number;
  carts: number;
  failedCarts: number;
  errors: Record<string, number>;
  addLatencyUs: ReturnType<typeof summarize>;
  serverCpuUsPerCart: number;
}> {
  const load = LoadGroup.start(opts.loadProcs);
  const t0 = performance.now();
  const cpu0 = cpuMicros(server.pid);
  let lastPrint = 0;
  try {
    const res = await load.fill(
      {
        url,
        jwtSecret: opts.jwtSecret,
        run: opts.run,
        client: opts.client,
        lines: opts.lines,
        skus: stockedSkus(1),
        connections: Math.ceil(opts.connections / opts.loadProcs),
      },
      opts.carts,
      (done) => {
        const now = performance.now();
        if (now - lastPrint < 2000 && done < opts.carts) return;
        lastPrint = now;
        const s = (now - t0) / 1000;
        let rss = '';
        try {
          rss = `, server RSS ${fmtInt(mib(memStatus(server.pid).vmRssKiB))} MiB`;
        } catch {
          /* exited */
        }
        console.log(`  fill: ${fmtInt(done)} / ${fmtInt(opts.carts)} carts, ${s.toFixed(0)} s, ${fmtInt(done / s)} carts/s${rss}`);
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    // Server CPU (every thread, /proc) per filled cart: one auth.resume and `lines` cart.adds.
    const serverCpuUsPerCart = (cpuMicros(server.pid) - cpu0) / Math.max(1, res.carts);
    return { seconds, carts: res.carts, failedCarts: res.failedCarts, errors: res.errors, addLatencyUs: summarize(res.histogram), serverCpuUsPerCart };
  } finally {
    await load.stop();
  }
}

export async function runRestart(o: RestartOptions & CommonOptions): Promise<RunResult> {
  const dataDir = tmpDataDir();
  const jwtSecret = newJwtSecret();
  const minter = new TokenMinter(jwtSecret);
  const admin = minter.mint('bench-admin', 'admin');
  const run = Date.now().toString(36);
  // No checkpoint and no passivation while filling: every row stays in the journal tail.
  const env = {
    SHARDS: String(o.shards),
    SYNCHRONOUS: o.synchronous,
    CHECKPOINT_ROWS: String(Number.MAX_SAFE_INTEGER),
    CHECKPOINT_INTERVAL_MS: String(DAY_MS),
    PASSIVATE_AFTER_MS: String(DAY_MS),
    ...envPairs(o.serverEnv),
  };
  console.log(`restart: ${fmtInt(o.carts)} carts x ${o.lines} lines, SHARDS=${o.shards}, DATA_DIR=${dataDir}`);
  let first: ServerProcess | undefined = spawnServer({ dataDir, jwtSecret, env, echo: o.echo });
  let second: ServerProcess | undefined;
  try {
    const { url } = await first.listening;
    const fill = await fillServer(first, url, { ...o, jwtSecret, run });
    console.log(
      `  filled ${fmtInt(fill.carts)} carts in ${fill.seconds.toFixed(1)} s (${fmtInt(fill.carts / fill.seconds)} carts/s; cart.add p50 ${us(fill.addLatencyUs.p50)}, p99 ${us(fill.addLatencyUs.p99)})`,
    );
    if (fill.failedCarts) console.log(`  failed carts: ${fill.failedCarts} ${JSON.stringify(fill.errors)}`);
    const before: ShardSummary[] = await snapshotSummary(url, admin);
    const rssBefore: MemStatus = memStatus(first.pid);
    await first.kill9();
    first = undefined;
    const files = dirFiles(dataDir);
    console.log(
      `  kill -9; journal rows in the tail ${fmtInt(before.reduce((a, s) => a + s.journalRows, 0))}; files ${files.map((f) => `${f.name} ${fmtInt(f.bytes / 1024)} KiB`).join(', ')}`,
    );

    // The restart: a fixed port so that /readyz and the WebSocket can be tried from spawn on.
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const nodeArgs = o.serverProf ? ['--cpu-prof', '--cpu-prof-dir', o.serverProf] : [];
    second = spawnServer({ dataDir, jwtSecret, env, port, nodeArgs, echo: o.echo });
    const t0 = second.spawnedAt;
    const probeUser = Math.floor(o.carts / 2);
    const probeToken = minter.mint(benchUserId(run, probeUser));
    let probeCart: { items: unknown[] } | undefined;
    const readyAt = pollUntil(async () => (await fetch(`${base}/readyz`)).status === 200, 2, 300_000, '/readyz 200');
    const healthAt = pollUntil(async () => (await fetch(`${base}/healthz`)).status === 200, 2, 300_000, '/healthz 200');
    const firstGetAt = pollUntil(
      async () => {
        const p = await openProber(base, o.client);
        try {
          const r = await p.getCartAs(probeToken);
          if (r.ok) probeCart = r.result as { items: unknown[] };
          return r.ok === true;
        } finally {
          void p.close();
        }
      },
      2,
      300_000,
      'the first cart.get',
    );
    const [tReady, tHealth, tGet] = await Promise.all([readyAt, healthAt, firstGetAt]);
    const listening = await second.listening;
    const rssAfterStart = memStatus(second.pid);
    const after = await snapshotSummary(base, admin);
    const tailRows = after.reduce((a, s) => a + s.journalRows, 0);

    // Then a sample of other old carts, each recovered lazily on its first use.
    const probeHist = newHistogram();
    let wrong = 0;
    const conns = await Promise.all(Array.from({ length: 8 }, () => openProber(base, o.client)));
    const tp0 = performance.now();
    let nextProbe = 0;
    await Promise.all(
      conns.map(async (c) => {
        while (nextProbe < o.probes) {
          const i = nextProbe++;
          const user = Math.floor(((i + 0.5) / o.probes) * o.carts);
          const t = performance.now();
          const r = await c.getCartAs(minter.mint(benchUserId(run, user)));
          probeHist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
          if (!r.ok || (r.result as { items: unknown[] }).items.length !== o.lines) wrong++;
        }
      }),
    );
    const probeSeconds = (performance.now() - tp0) / 1000;
    await Promise.all(conns.map((c) => c.close()));
    const rssAfterProbes = memStatus(second.pid);
    const probeLat = summarize(probeHist);

    const ms = (t: number) => Math.round(t - t0);
    const extra = {
      fill: { ...fill, journalRowsBeforeKill: before.reduce((a, s) => a + s.journalRows, 0), rssBeforeKillMiB: mib(rssBefore.vmRssKiB), shards: before },
      files,
      restart: {
        spawnToHealthzMs: ms(tHealth),
        spawnToReadyzMs: ms(tReady),
        spawnToListeningLineMs: ms(listening.at),
        spawnToFirstOldCartMs: ms(tGet),
        firstOldCartLines: probeCart?.items.length,
        journalRowsIndexed: tailRows,
        rssAfterStartMiB: mib(rssAfterStart.vmRssKiB),
        rssAnonAfterStartMiB: mib(rssAfterStart.rssAnonKiB),
        shards: after,
      },
      probes: { count: o.probes, seconds: probeSeconds, wrong, latencyUs: probeLat, rssAfterMiB: mib(rssAfterProbes.vmRssKiB) },
    };
    const facts: [string, string][] = [
      ['fill: carts/s, server CPU per cart (resume + adds)', `${fmtInt(fill.carts / fill.seconds)}/s, ${fixed(fill.serverCpuUsPerCart, 1)} µs`],
      ['carts / journal rows in the tail', `${fmtInt(fill.carts)} / ${fmtInt(tailRows)}`],
      ['on disk (db + wal)', `${fmtInt(files.reduce((a, f) => a + f.bytes, 0) / 2 ** 20)} MiB`],
      ['spawn -> /healthz 200', `${ms(tHealth)} ms`],
      ['spawn -> /readyz 200', `${ms(tReady)} ms`],
      ['spawn -> "listening on" printed', `${ms(listening.at)} ms`],
      ['spawn -> first cart.get of an old cart', `${ms(tGet)} ms (${probeCart?.items.length ?? '?'} lines)`],
      ['RSS after start (anon)', `${fixed(mib(rssAfterStart.vmRssKiB), 1)} MiB (${fixed(mib(rssAfterStart.rssAnonKiB), 1)} MiB)`],
      [`${o.probes} more old carts (8 conns)`, `${probeSeconds.toFixed(2)} s, p50 ${us(probeLat.p50)}, p99 ${us(probeLat.p99)}, wrong ${wrong}`],
      ['RSS after those', `${fixed(mib(rssAfterProbes.vmRssKiB), 1)} MiB`],
      ['RSS of the first server before kill', `${fixed(mib(rssBefore.vmRssKiB), 1)} MiB`],
    ];
    return { ...baseResult('restart', o), server: { env, nodeArgs, pid: second.pid }, facts, extra };
  } catch (err) {
    console.error(`restart: failed: ${err instanceof Error ? err.message : String(err)}`);
    for (const s of [first, second]) if (s) console.error(`--- server ${s.pid} output ---\n${s.output().slice(-4000)}`);
    throw err;
  } finally {
    if (first) await first.kill9();
    if (second) {
      const code = await second.term();
      if (code !== 0) console.error(`restart: server exited with ${code}\n${second.output().slice(-2000)}`);
    }
    if (!o.keepData) removeDir(dataDir);
  }
}

export const scenario = defineScenario<RestartOptions>({
  name: 'restart',
  summary: 'fill carts, kill -9, restart on the same DATA_DIR: time to ready and to the first old cart',
  configure: (c) =>
    c
      .option('--carts <n>', 'carts (distinct users)', int(1), 100_000)
      .option('--lines <n>', 'lines per cart', int(1), 3)
      .option('--connections <n>', 'fill connections', int(1), 128)
      .option('--probes <n>', 'old carts read after the restart', int(1), 1000),
  run: (o) => runRestart(o),
});
