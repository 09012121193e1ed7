// A load process of the `unknown-keys` scenario (child_process.fork of this file): opens its
// guest connections (auth.guest each), then on `go` keeps `inflight` lookups of unknown keys
// outstanding on every connection (closed loop: the replacements for one frame leave as one
// batch frame) until its share of lookups was sent and answered. Reports each second's answers
// and, at the end, the answers by op and code and the send -> answer latency.
import { RawConn, type Req } from './raw-client.js';
import { encodeHistogram, newHistogram, type Histogram } from './histogram.js';
import { LOOKUP_OPS, lookupSource, type FromLookupWorker, type LookupResult, type LookupSpec, type ToLookupWorker } from './unknown-keys.js';

const send = (m: FromLookupWorker) => process.send!(m);
const toUs = (ms: number): number => Math.max(1, Math.round(ms * 1000));

let spec: LookupSpec | undefined;
let conns: RawConn[] = [];

async function prepare(s: LookupSpec): Promise<void> {
  // Small groups: a burst of upgrades at once only measures the accept queue.
  for (let i = 0; i < s.connections; i += 16) {
    const group = Array.from({ length: Math.min(16, s.connections - i) }, async () => {
      const c = await RawConn.open(s.url);
      const r = await c.call('auth.guest');
      if (!r.ok) throw new Error(`auth.guest failed: ${JSON.stringify(r.error)}`);
      return c;
    });
    conns.push(...(await Promise.all(group)));
  }
  spec = s;
  send({ t: 'ready' });
}

async function go(t0: number): Promise<void> {
  const s = spec!;
  const all = newHistogram();
  const perOp: Histogram[] = LOOKUP_OPS.map(() => newHistogram());
  const counts: Record<string, number> = {};
  let second = newHistogram();
  let secAnswers = 0;
  let secUnexpected = 0;
  let left = s.lookups; // shared by this worker's connections: a faster one takes more
  let sent = 0;
  let answered = 0;
  let lost = 0;
  let lastAnswerAt = 0;
  const count = (k: string, n = 1) => (counts[k] = (counts[k] ?? 0) + n);

  // Per-second ticks, aligned on t0 (epoch ms).
  let sec = 0;
  const flushTick = () => {
    send({ t: 'tick', tick: { sec, answers: secAnswers, unexpected: secUnexpected, histogram: encodeHistogram(second) } });
    sec++;
    second = newHistogram();
    secAnswers = 0;
    secUnexpected = 0;
  };
  let tickTimer: NodeJS.Timeout | undefined;
  const armTick = () => {
    tickTimer = setTimeout(
      () => {
        flushTick();
        armTick();
      },
      Math.max(0, t0 + (sec + 1) * 1000 - Date.now()),
    );
  };

  await new Promise((r) => setTimeout(r, Math.max(0, t0 - Date.now())));
  const firstSendAt = Date.now();
  armTick();

  const drive = (conn: RawConn, connIndex: number) =>
    new Promise<void>((resolve) => {
      const next = lookupSource(s.mix, connIndex);
      const pending = new Map<number, { at: number; op: number }>();
      let lastAnswer = performance.now();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearInterval(stall);
        for (const p of pending.values()) count(`${LOOKUP_OPS[p.op]}:LOST`);
        lost += pending.size;
        pending.clear();
        resolve();
      };
      const top = () => {
        const out: Req[] = [];
        const now = performance.now();
        while (pending.size < s.inflight && left > 0) {
          left--;
          const l = next();
          const id = conn.nextId();
          pending.set(id, { at: now, op: l.op });
          out.push({ id, op: LOOKUP_OPS[l.op], args: l.args });
        }
        for (let i = 0; i < out.length; i += 256) conn.send(out.slice(i, i + 256));
        sent += out.length;
        if (pending.size === 0 && left === 0) finish();
      };
      conn.onFrame = (replies) => {
        const now = performance.now();
        for (const r of replies) {
          if (typeof r.id !== 'number') continue; // a push, or a frame-level error
          const p = pending.get(r.id);
          if (!p) continue;
          pending.delete(r.id);
          const us = toUs(now - p.at);
          all.recordValue(us);
          perOp[p.op].recordValue(us);
          second.recordValue(us);
          const code = r.ok ? 'OK' : (r.error?.code ?? 'UNKNOWN');
          count(`${LOOKUP_OPS[p.op]}:${code}`);
          answered++;
          secAnswers++;
          if (code !== 'NOT_FOUND') secUnexpected++;
        }
        lastAnswer = now;
        lastAnswerAt = Date.now();
        top();
      };
      const stall = setInterval(() => {
        if (!conn.open || (pending.size > 0 && performance.now() - lastAnswer > s.stallMs)) finish();
      }, 500);
      void conn.closed.then(finish);
      top();
    });

  await Promise.all(conns.map((c, i) => drive(c, s.connOffset + i)));
  clearTimeout(tickTimer);
  flushTick(); // the last, partial second
  await Promise.all(conns.map((c) => c.close()));
  conns = [];
  const result: LookupResult = {
    sent,
    answered,
    lost,
    counts,
    histogram: encodeHistogram(all),
    perOp: Object.fromEntries(
      LOOKUP_OPS.map((op, i) => [op, perOp[i]] as const)
        .filter(([, h]) => h.totalCount > 0)
        .map(([op, h]) => [op, encodeHistogram(h)]),
    ),
    firstSendAt,
    lastAnswerAt: lastAnswerAt || Date.now(),
  };
  send({ t: 'result', result });
}

process.on('message', (m: ToLookupWorker) => {
  const fail = (err: unknown) => send({ t: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (m.t) {
    case 'prepare':
      prepare(m.spec).catch(fail);
      break;
    case 'go':
      if (!spec) return fail(new Error('go without prepare'));
      go(m.t0).catch(fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
