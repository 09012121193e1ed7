// A cluster load process (forked by cluster-load.ts): the cart-mix workload of load-worker.ts,
// each connection on a node of the cluster, its cart ops tagged by whether that node owns the
// cart's partition; and the failover's adders. Nothing of the load runs in a server's process
// or in the harness's.
import { totalMs } from './arrivals.js';
import { RawChannel, type AnswerFn, type Channel } from './channels.js';
import { cartPartition } from './cluster-nodes.js';
import { drive } from './drive.js';
import { Recorder, type Interval } from './recorder.js';
import { RawConn, type Reply } from './raw-client.js';
import { opSource, prng, userSkus } from './workloads.js';
import type {
  AdderOutcome,
  AddersResult,
  AddersSpec,
  ClusterStepSpec,
  ConnInfo,
  FromClusterWorker,
  NodeRef,
  Placement,
  ToClusterWorker,
} from './cluster-load.js';

const send = (m: FromClusterWorker) => process.send!(m);
const perfOf = (epochMs: number) => epochMs - performance.timeOrigin;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Answers not in 15 s after the end count as lost (as in load-worker.ts). */
const GIVE_UP_MS = 15_000;
const SLOT_MS = 250;

/** The node of connection `g` (its index over every process). */
function nodeOf(p: Placement, nodes: NodeRef[], g: number): number {
  if (p.kind === 'node') return p.index;
  return Math.floor(prng(p.seed ^ Math.imul(g + 1, 0x9e3779b1))() * nodes.length);
}

async function guest(url: string): Promise<{ conn: RawConn; userId: string; token: string }> {
  const conn = await RawConn.open(url);
  const r = await conn.call('auth.guest');
  if (!r.ok) throw new Error(`auth.guest on ${url} failed: ${JSON.stringify(r.error)}`);
  const { userId, token } = r.result as { userId: string; token: string };
  return { conn, userId, token };
}

/** The cart ops of a channel are recorded as `<op> local` or `<op> fwd`; other ops (catalog.get, answered from the node's own view) as they are. */
class TaggedChannel implements Channel {
  private outer: AnswerFn = () => undefined;

  constructor(
    private readonly inner: Channel,
    private readonly tag: string,
  ) {
    inner.onAnswer = (i, s, now, code, op) => this.outer(i, s, now, code, op?.startsWith('cart.') ? `${op} ${tag}` : op);
  }

  set onAnswer(f: AnswerFn) {
    this.outer = f;
  }
  get onAnswer(): AnswerFn {
    return this.outer;
  }
  set onAnswered(f: (n: number) => void) {
    this.inner.onAnswered = f;
  }
  get onAnswered(): (n: number) => void {
    return this.inner.onAnswered;
  }
  get inFlight(): number {
    return this.inner.inFlight;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  enqueue(intended: number): void {
    this.inner.enqueue(intended);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

let step: { spec: ClusterStepSpec; channels: Channel[] } | undefined;

async function prepare(spec: ClusterStepSpec): Promise<void> {
  const channels: Channel[] = [];
  const conns: ConnInfo[] = [];
  for (let i = 0; i < spec.connections; i += 16) {
    const group = [];
    for (let j = i; j < Math.min(spec.connections, i + 16); j++) {
      const g = spec.connOffset + j;
      const node = spec.nodes[nodeOf(spec.placement, spec.nodes, g)];
      group.push(
        guest(node.url).then(({ conn, userId }) => {
          const local = spec.owners[cartPartition(userId, spec.partitions)] === node.id;
          return { ch: new TaggedChannel(new RawChannel(conn, opSource(spec, g), true), local ? 'local' : 'fwd'), info: { node: node.id, local } };
        }),
      );
    }
    for (const x of await Promise.all(group)) {
      channels.push(x.ch);
      conns.push(x.info);
    }
  }
  step = { spec, channels };
  send({ t: 'ready', conns });
}

/** Sends each second's interval at its end; the returned stop sends those not sent yet. */
function ticker(t0: number, seconds: number, take: () => Interval): () => void {
  let sec = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => send({ t: 'tick', sec: sec++, interval: take() });
  const arm = () => {
    timer = setTimeout(
      () => {
        tick();
        if (sec < seconds) arm();
      },
      Math.max(0, perfOf(t0 + (sec + 1) * 1000) - performance.now()),
    );
  };
  arm();
  return () => {
    clearTimeout(timer);
    while (sec < seconds) tick();
  };
}

async function go(t0: number): Promise<void> {
  const { spec, channels } = step!;
  const start = perfOf(t0);
  const rec = new Recorder(spec.model.kind, { start: start + spec.timing.warmupMs + spec.timing.rampMs, end: start + totalMs(spec.timing) });
  const stopTicks = ticker(t0, Math.ceil(totalMs(spec.timing) / 1000), () => rec.takeInterval());
  const outcome = await drive(channels, rec, { model: spec.model, timing: spec.timing, t0: start, giveUpMs: GIVE_UP_MS });
  stopTicks();
  await Promise.all(channels.map((c) => c.close()));
  step = undefined;
  send({ t: 'result', result: { ...rec.result(), ...outcome } });
}

/** A guest adding one unit at a time (`inflight` pipelined), counting what was acknowledged. */
class Adder {
  acked = 0;
  /** Most units an acknowledged add's answer (the whole cart) showed: the server's own word on what it stored. */
  ackedUnits = 0;
  maybe = 0;
  refused = 0;
  closed = false;
  /** The server closed the connection (its node was killed) before the adder stopped. */
  lostConnection = false;
  private k = 0;
  private readonly pending = new Set<number>();
  private running = false;
  private idle: (() => void) | undefined;

  constructor(
    readonly conn: RawConn,
    readonly userId: string,
    readonly token: string,
    readonly node: string,
    private readonly skus: string[],
    private readonly inflight: number,
    private readonly shared: { errors: Record<string, number>; slots: number[]; t0: number },
  ) {
    conn.onFrame = (replies) => replies.forEach((r) => this.answer(r));
    void conn.closed.then(() => {
      this.closed = true;
      if (this.running) this.lostConnection = true;
      this.maybe += this.pending.size; // sent, never answered: stored or not
      this.pending.clear();
      this.idle?.();
    });
  }

  start(): void {
    this.running = true;
    for (let i = 0; i < this.inflight; i++) this.send();
  }

  private send(): void {
    if (!this.running || this.closed) return;
    const id = this.conn.nextId();
    this.pending.add(id);
    this.conn.send({ id, op: 'cart.add', args: { sku: this.skus[this.k++ % this.skus.length], qty: 1 } });
  }

  private answer(r: Reply): void {
    if (typeof r.id !== 'number' || !this.pending.delete(r.id)) return;
    if (r.ok) {
      this.acked++;
      const items = (r.result as { items?: { qty: number }[] } | undefined)?.items;
      if (items)
        this.ackedUnits = Math.max(
          this.ackedUnits,
          items.reduce((n, l) => n + l.qty, 0),
        );
      const slot = Math.floor((Date.now() - this.shared.t0) / SLOT_MS);
      if (slot >= 0) this.shared.slots[slot] = (this.shared.slots[slot] ?? 0) + 1;
      this.send();
    } else {
      const code = r.error?.code ?? 'UNKNOWN';
      const details = (r.error?.details ?? {}) as { applied?: boolean | string; retryAfterMs?: number };
      if (code === 'UNAVAILABLE' && details.applied === undefined) this.refused++;
      else if (code === 'UNAVAILABLE') this.maybe++;
      const key = code === 'UNAVAILABLE' && details.applied !== undefined ? `UNAVAILABLE(applied ${String(details.applied)})` : code;
      this.shared.errors[key] = (this.shared.errors[key] ?? 0) + 1;
      setTimeout(() => this.send(), details.retryAfterMs ?? 100);
    }
    if (this.pending.size === 0) this.idle?.();
  }

  /** Stops sending; resolves when nothing is in flight or after `ms` (what is left counts as maybe). */
  async stop(ms: number): Promise<void> {
    this.running = false;
    if (this.pending.size > 0 && !this.closed) {
      await Promise.race([new Promise<void>((r) => (this.idle = r)), sleep(ms)]);
    }
    this.maybe += this.pending.size;
    this.pending.clear();
    if (!this.closed) await this.conn.close();
  }
}

let adders: { list: Adder[]; shared: { errors: Record<string, number>; slots: number[]; t0: number } } | undefined;

async function prepareAdders(spec: AddersSpec): Promise<void> {
  const shared = { errors: {} as Record<string, number>, slots: [] as number[], t0: 0 };
  const list: Adder[] = [];
  const wspec = { workload: 'cart' as const, skus: spec.skus, products: [], skusPerUser: spec.skusPerUser };
  for (let i = 0; i < spec.connections; i += 16) {
    const group = [];
    for (let j = i; j < Math.min(spec.connections, i + 16); j++) {
      const g = spec.connOffset + j;
      const node = spec.nodes[nodeOf({ kind: 'random', seed: spec.seed }, spec.nodes, g)];
      group.push(guest(node.url).then(({ conn, userId, token }) => new Adder(conn, userId, token, node.id, userSkus(wspec, g), spec.inflight, shared)));
    }
    list.push(...(await Promise.all(group)));
  }
  adders = { list, shared };
  send({ t: 'ready', conns: list.map((a) => ({ node: a.node, local: false })) });
}

/** The units in a user's cart, read through `url` (retried while its partition moves). */
async function storedUnits(url: string, token: string): Promise<number> {
  const end = Date.now() + 15_000;
  let last = '';
  while (Date.now() < end) {
    let conn: RawConn | undefined;
    try {
      conn = await RawConn.open(url);
      const a = await conn.call('auth.resume', { token });
      if (!a.ok) throw new Error(`auth.resume: ${JSON.stringify(a.error)}`);
      const r = await conn.call('cart.get');
      if (r.ok) return (r.result as { items: { qty: number }[] }).items.reduce((n, l) => n + l.qty, 0);
      last = `cart.get: ${JSON.stringify(r.error)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    } finally {
      await conn?.close();
    }
    await sleep(200);
  }
  throw new Error(last);
}

async function stopAdders(readVia: string[], drainMs: number): Promise<void> {
  const { list, shared } = adders!;
  await Promise.all(list.map((a) => a.stop(drainMs)));
  const users: AdderOutcome[] = [];
  for (let i = 0; i < list.length; i += 8) {
    const group = list.slice(i, i + 8).map(async (a): Promise<AdderOutcome> => {
      const base = { userId: a.userId, node: a.node, acked: a.acked, ackedUnits: a.ackedUnits, maybe: a.maybe, refused: a.refused };
      // Through the first survivor; the others read too, to tell a stale read from a lost write.
      const reads = await Promise.all(
        readVia.map((url) =>
          storedUnits(url, a.token).then(
            (n) => ({ n, err: undefined }),
            (err: unknown) => ({ n: -1, err: err instanceof Error ? err.message : String(err) }),
          ),
        ),
      );
      return { ...base, stored: reads[0].n, storedVia: reads.map((r) => r.n), readError: reads.find((r) => r.err)?.err };
    });
    users.push(...(await Promise.all(group)));
  }
  const result: AddersResult = {
    users,
    errors: shared.errors,
    ackedPerSlot: Array.from(shared.slots, (x) => x ?? 0),
    closed: list.filter((a) => a.lostConnection).length,
  };
  adders = undefined;
  send({ t: 'adders-result', result });
}

process.on('message', (m: ToClusterWorker) => {
  const fail = (err: unknown) => send({ t: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (m.t) {
    case 'prepare':
      prepare(m.spec).catch(fail);
      break;
    case 'go':
      if (step) go(m.t0).catch(fail);
      else fail(new Error('go without a prepared step'));
      break;
    case 'adders-prepare':
      prepareAdders(m.spec).catch(fail);
      break;
    case 'adders-go':
      if (!adders) return fail(new Error('adders-go without adders-prepare'));
      adders.shared.t0 = m.t0;
      setTimeout(() => adders?.list.forEach((a) => a.start()), Math.max(0, m.t0 - Date.now()));
      break;
    case 'adders-stop':
      if (!adders) return fail(new Error('adders-stop without adders'));
      stopAdders(m.readVia, m.drainMs).catch(fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
