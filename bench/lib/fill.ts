// Filling a server with carts for the restart and memory scenarios: distinct users (JWTs minted
// with the server's secret), each resumed on a pipelined connection and given a few lines.
import { CartwireClient } from '../../src/client/index.js';
import { RawConn, type Req } from './raw-client.js';
import { newHistogram, encodeHistogram } from './histogram.js';
import { TokenMinter, benchUserId } from './jwt.js';
import type { FillSpec, FromWorker } from './load-protocol.js';

/**
 * Fills carts for users from..to-1: per connection, auth.resume as the next user, and once it
 * answers, that user's cart.adds together with the resume of the user after (the edge routes the
 * adds synchronously with the identity in force, before the next resume takes effect).
 */
export async function fillRaw(spec: FillSpec, send: (m: FromWorker) => void): Promise<void> {
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

/**
 * The same fill through the SDK: per connection, auth.resume as the next user, then that user's
 * adds in one tick (one batch frame); no pipelining across users, so it is slower than the raw fill.
 */
export async function fillSdk(spec: FillSpec, send: (m: FromWorker) => void): Promise<void> {
  const minter = new TokenMinter(spec.jwtSecret);
  const hist = newHistogram();
  const errors: Record<string, number> = {};
  const noteError = (code: string) => (errors[code] = (errors[code] ?? 0) + 1);
  let next = spec.from;
  let carts = 0;
  let failedCarts = 0;
  const progress = setInterval(() => send({ t: 'progress', carts }), 1000);
  const clients: CartwireClient[] = [];
  for (let i = 0; i < spec.connections; i += 16) {
    const n = Math.min(16, spec.connections - i);
    clients.push(...(await Promise.all(Array.from({ length: n }, () => CartwireClient.connect(spec.url, { timeoutMs: 60_000 })))));
  }
  await Promise.all(
    clients.map(async (c) => {
      while (next < spec.to) {
        const user = next++;
        try {
          await c.call('auth.resume', { token: minter.mint(benchUserId(spec.run, user)) });
        } catch (err) {
          noteError((err as { code?: string }).code ?? 'UNKNOWN');
          failedCarts++;
          continue;
        }
        const t0 = performance.now();
        const adds = Array.from({ length: spec.lines }, (_, j) =>
          c.call('cart.add', { sku: spec.skus[(user * spec.lines + j) % spec.skus.length], qty: 1 }).then(
            () => (hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000))), true),
            (err: unknown) => (noteError((err as { code?: string }).code ?? 'UNKNOWN'), false),
          ),
        );
        if ((await Promise.all(adds)).every(Boolean)) carts++;
        else failedCarts++;
      }
    }),
  );
  clearInterval(progress);
  await Promise.all(clients.map((c) => c.close()));
  send({ t: 'filled', result: { carts, failedCarts, errors, histogram: encodeHistogram(hist) } });
}
