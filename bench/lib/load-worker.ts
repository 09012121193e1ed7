// A load worker: a separate Node process (child_process.fork) that opens connections to the
// server and drives them. The parent tells it what to do over IPC; nothing of the load runs in
// the server's process or in the harness's.
import { CartwireClient } from '../../src/client/index.js';
import { RawConn, type Reply, type Req } from './raw-client.js';
import { newHistogram, encodeHistogram, type Histogram } from './histogram.js';
import { TokenMinter, benchUserId } from './jwt.js';
import type { FillSpec, FromWorker, PhaseResult, PhaseSpec, ToWorker } from './load-protocol.js';

const send = (m: FromWorker) => process.send!(m);

/** Wall-clock epoch ms -> performance.now() scale of this process. */
const perfOf = (epochMs: number) => epochMs - performance.timeOrigin;

interface Window {
  start: number;
  end: number;
}

/** Counters of one phase in this worker. */
class Tally {
  readonly hist: Histogram = newHistogram();
  completed = 0;
  readonly errors: Record<string, number> = {};
  sentTotal = 0;
  outstanding = 0;

  /** A response at time `t` to a request sent at `t0`. */
  record(t0: number, t: number, w: Window, errorCode: string | undefined): void {
    this.outstanding--;
    if (t0 < w.start || t > w.end) return;
    this.completed++;
    this.hist.recordValue(Math.max(1, Math.round((t - t0) * 1000)));
    if (errorCode) this.errors[errorCode] = (this.errors[errorCode] ?? 0) + 1;
  }
}

/** Makes the requests of one connection: ping, or cart.add/cart.setQty alternating over its skus. */
function requestMaker(spec: PhaseSpec, connIndex: number): (id: number) => Req {
  if (spec.op === 'ping') return (id) => ({ id, op: 'ping' });
  const mine: string[] = [];
  for (let i = 0; i < spec.skusPerUser; i++) mine.push(spec.skus[(connIndex * spec.skusPerUser + i) % spec.skus.length]);
  let k = 0;
  return (id) => {
    const sku = mine[(k >> 1) % mine.length];
    const req: Req = (k & 1) === 0 ? { id, op: 'cart.add', args: { sku, qty: 1 } } : { id, op: 'cart.setQty', args: { sku, qty: 1 } };
    k++;
    return req;
  };
}

interface Driver {
  /** Starts the closed loop; resolves when the window is over and every request is answered (or given up). */
  run(w: Window, tally: Tally): Promise<void>;
  close(): Promise<void>;
}

/** Raw ws + msgpackr: replacements for the answers of one frame leave together as one batch frame. */
async function rawDriver(spec: PhaseSpec, connIndex: number): Promise<Driver> {
  const conn = await RawConn.open(spec.url);
  if (spec.op === 'cart') {
    const r = await conn.call('auth.guest');
    if (!r.ok) throw new Error(`auth.guest failed: ${JSON.stringify(r.error)}`);
  }
  const make = requestMaker(spec, connIndex);
  return {
    run: (w, tally) =>
      new Promise<void>((resolve) => {
        const sentAt = new Map<number, number>();
        let stopping = false;
        const issue = (n: number) => {
          const reqs: Req[] = [];
          const t = performance.now();
          for (let i = 0; i < n; i++) {
            const req = make(conn.nextId());
            sentAt.set(req.id, t);
            reqs.push(req);
          }
          tally.sentTotal += n;
          tally.outstanding += n;
          conn.send(reqs);
        };
        conn.onFrame = (replies: Reply[]) => {
          const t = performance.now();
          let again = 0;
          for (const r of replies) {
            if (r.id === null || r.id === undefined) continue; // a push or a frame-level error
            const t0 = sentAt.get(r.id);
            if (t0 === undefined) continue;
            sentAt.delete(r.id);
            tally.record(t0, t, w, r.ok ? undefined : (r.error?.code ?? 'UNKNOWN'));
            again++;
          }
          if (t >= w.end) stopping = true;
          if (!stopping && again > 0) issue(again);
          else if (stopping && sentAt.size === 0) resolve();
        };
        void conn.closed.then(() => resolve());
        issue(spec.inflight);
      }),
    close: () => conn.close(),
  };
}

/** The project SDK: `inflight` async loops per connection, each awaiting its call. */
async function sdkDriver(spec: PhaseSpec, connIndex: number): Promise<Driver> {
  const client = await CartwireClient.connect(spec.url, { timeoutMs: 30_000 });
  if (spec.op === 'cart') await client.call('auth.guest', {});
  const make = requestMaker(spec, connIndex);
  return {
    run: async (w, tally) => {
      const slot = async () => {
        while (performance.now() < w.end) {
          const req = make(0);
          tally.sentTotal++;
          tally.outstanding++;
          const t0 = performance.now();
          let code: string | undefined;
          try {
            await (client.call as (op: string, args: unknown) => Promise<unknown>)(req.op, req.args ?? {});
          } catch (err) {
            code = (err as { code?: string }).code ?? 'UNKNOWN';
          }
          tally.record(t0, performance.now(), w, code);
          if (code === 'CLOSED') return;
        }
      };
      await Promise.all(Array.from({ length: spec.inflight }, slot));
    },
    close: async () => {
      await client.close();
    },
  };
}

let drivers: Driver[] = [];
let phase: PhaseSpec | undefined;

async function setupPhase(spec: PhaseSpec): Promise<void> {
  phase = spec;
  const make = spec.client === 'sdk' ? sdkDriver : rawDriver;
  // Open in small groups: a burst of hundreds of upgrades at once only measures the accept queue.
  drivers = [];
  for (let i = 0; i < spec.connections; i += 16) {
    const group = [];
    for (let j = i; j < Math.min(spec.connections, i + 16); j++) group.push(make(spec, spec.connOffset + j));
    drivers.push(...(await Promise.all(group)));
  }
  send({ t: 'ready' });
}

async function go(measureStart: number, measureEnd: number): Promise<void> {
  const w: Window = { start: perfOf(measureStart), end: perfOf(measureEnd) };
  const tally = new Tally();
  const runs = Promise.all(drivers.map((d) => d.run(w, tally)));
  // Give up on answers that have not come 15 s after the window: they count as lost.
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, w.end - performance.now()) + 15_000);
  });
  await Promise.race([runs, giveUp]);
  clearTimeout(timer);
  await Promise.all(drivers.map((d) => d.close()));
  drivers = [];
  const result: PhaseResult = {
    histogram: encodeHistogram(tally.hist),
    completed: tally.completed,
    errors: tally.errors,
    sentTotal: tally.sentTotal,
    lost: Math.max(0, tally.outstanding),
  };
  phase = undefined;
  send({ t: 'result', result });
}

/**
 * Fills carts for users from..to-1: per connection, auth.resume as the next user, and once it
 * answers, that user's cart.adds together with the resume of the user after (the edge routes the
 * adds synchronously with the identity in force, before the next resume takes effect).
 */
async function fill(spec: FillSpec): Promise<void> {
  const minter = new TokenMinter(spec.jwtSecret);
  const hist = newHistogram();
  const errors: Record<string, number> = {};
  let next = spec.from;
  let carts = 0;
  let failedCarts = 0;
  const progress = setInterval(() => send({ t: 'progress', carts }), 1000);
  const conns: RawConn[] = [];
  for (let i = 0; i < spec.connections; i += 16) {
    const n = Math.min(16, spec.connections - i);
    conns.push(...(await Promise.all(Array.from({ length: n }, () => RawConn.open(spec.url)))));
  }
  const noteError = (code: string) => (errors[code] = (errors[code] ?? 0) + 1);
  const skuCount = spec.skus.length;

  const drive = (conn: RawConn) =>
    new Promise<void>((resolve) => {
      // id -> [sentAt, user index, kind: 0 resume, 1 add]
      const pending = new Map<number, { t0: number; user: number; add: boolean }>();
      /** Per user: adds still unanswered, and whether one failed. */
      const left = new Map<number, { n: number; failed: boolean }>();
      let more = true;
      const resumeReq = (user: number): Req => {
        const id = conn.nextId();
        pending.set(id, { t0: 0, user, add: false });
        return { id, op: 'auth.resume', args: { token: minter.mint(benchUserId(spec.run, user)) } };
      };
      const takeUser = (): number | undefined => (next < spec.to ? next++ : undefined);
      conn.onFrame = (replies) => {
        const t = performance.now();
        for (const r of replies) {
          const p = typeof r.id === 'number' ? pending.get(r.id) : undefined;
          if (!p) continue;
          pending.delete(r.id as number);
          if (p.add) {
            hist.recordValue(Math.max(1, Math.round((t - p.t0) * 1000)));
            const l = left.get(p.user)!;
            if (!r.ok) {
              l.failed = true;
              noteError(r.error?.code ?? 'UNKNOWN');
            }
            if (--l.n === 0) {
              left.delete(p.user);
              if (l.failed) failedCarts++;
              else carts++;
            }
            continue;
          }
          // The resume of p.user answered: its adds now, with the next user's resume behind them.
          if (!r.ok) {
            noteError(r.error?.code ?? 'UNKNOWN');
            failedCarts++;
          } else {
            const out: Req[] = [];
            const t0 = performance.now();
            for (let j = 0; j < spec.lines; j++) {
              const id = conn.nextId();
              pending.set(id, { t0, user: p.user, add: true });
              out.push({ id, op: 'cart.add', args: { sku: spec.skus[(p.user * spec.lines + j) % skuCount], qty: 1 } });
            }
            left.set(p.user, { n: spec.lines, failed: false });
            const u = takeUser();
            if (u !== undefined) out.push(resumeReq(u));
            else more = false;
            conn.send(out);
            continue;
          }
          const u = takeUser();
          if (u !== undefined) conn.send(resumeReq(u));
          else more = false;
        }
        if (!more && pending.size === 0) resolve();
      };
      void conn.closed.then(() => resolve());
      const u = takeUser();
      if (u === undefined) return resolve();
      conn.send(resumeReq(u));
    });

  await Promise.all(conns.map(drive));
  clearInterval(progress);
  await Promise.all(conns.map((c) => c.close()));
  send({ t: 'filled', result: { carts, failedCarts, errors, histogram: encodeHistogram(hist) } });
}

process.on('message', (m: ToWorker) => {
  const fail = (err: unknown) => send({ t: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (m.t) {
    case 'phase':
      setupPhase(m.spec).catch(fail);
      break;
    case 'go':
      if (!phase) return fail(new Error('go without a phase'));
      go(m.measureStart, m.measureEnd).catch(fail);
      break;
    case 'fill':
      fill(m.spec).catch(fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
