// A load worker: a separate Node process (child_process.fork) that opens connections to the
// server (or to the Redis peer) and drives them. The parent tells it what to do over IPC;
// nothing of the load runs in the server's process or in the harness's.
import { totalMs } from './arrivals.js';
import { openChannel, type Channel } from './channels.js';
import { drive } from './drive.js';
import { FanoutWorker } from './fanout.js';
import { fillRaw, fillSdk } from './fill.js';
import { Recorder, type Interval } from './recorder.js';
import { SessionWorker } from './sessions.js';
import type { FromWorker, StepResult, StepSpec, ToWorker } from './load-protocol.js';

const send = (m: FromWorker) => process.send!(m);

/** Wall-clock epoch ms -> performance.now() scale of this process. */
const perfOf = (epochMs: number) => epochMs - performance.timeOrigin;

/** Answers not in 15 s after the end count as lost. */
const GIVE_UP_MS = 15_000;

let step: { spec: StepSpec; channels: Channel[] } | undefined;
let fanout: FanoutWorker | undefined;
let stopFanoutTicks = () => undefined as void;
let session: SessionWorker | undefined;

async function prepare(spec: StepSpec): Promise<void> {
  // Open in small groups: a burst of hundreds of upgrades at once only measures the accept queue.
  const channels: Channel[] = [];
  for (let i = 0; i < spec.connections; i += 16) {
    const group = [];
    for (let j = i; j < Math.min(spec.connections, i + 16); j++) group.push(openChannel(spec, spec.connOffset + j));
    channels.push(...(await Promise.all(group)));
  }
  step = { spec, channels };
  send({ t: 'ready' });
}

/**
 * Sends `take()` for each of `seconds` seconds after t0 (epoch ms), at the end of that second;
 * the parent merges the seconds of every worker into the timeline. The returned stop sends the
 * seconds not sent yet at once (the last one's answers included), so every worker sends each.
 */
function ticker(t0: number, seconds: number, take: () => Interval): () => void {
  let sec = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    send({ t: 'tick', sec, interval: take() });
    sec++;
  };
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
  const window = { start: start + spec.timing.warmupMs + spec.timing.rampMs, end: start + totalMs(spec.timing) };
  const rec = new Recorder(spec.model.kind, window);
  const stopTicks = ticker(t0, Math.ceil(totalMs(spec.timing) / 1000), () => rec.takeInterval());
  const outcome = await drive(channels, rec, { model: spec.model, timing: spec.timing, t0: start, giveUpMs: GIVE_UP_MS });
  stopTicks();
  await Promise.all(channels.map((c) => c.close()));
  step = undefined;
  const result: StepResult = { ...rec.result(), ...outcome };
  send({ t: 'result', result });
}

process.on('message', (m: ToWorker) => {
  const fail = (err: unknown) => send({ t: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (m.t) {
    case 'prepare':
      prepare(m.spec).catch(fail);
      break;
    case 'fanout-prepare': {
      const f = new FanoutWorker(m.spec, send);
      fanout = f;
      f.prepare().then(() => send({ t: 'ready' }), fail);
      break;
    }
    case 'go':
      if (fanout) {
        const f = fanout;
        f.go(m.t0);
        stopFanoutTicks = ticker(m.t0, Math.ceil(totalMs(f.spec.timing) / 1000), () => f.takeInterval());
      } else if (step) go(m.t0).catch(fail);
      else fail(new Error('go without a prepared step'));
      break;
    case 'changes':
      fanout?.onChanges(m.changes);
      break;
    case 'finish':
      if (!fanout) return fail(new Error('finish without push-fanout'));
      stopFanoutTicks();
      fanout.finish().then((result) => {
        fanout = undefined;
        send({ t: 'fanout-result', result });
      }, fail);
      break;
    case 'fill':
      (m.spec.client === 'sdk' ? fillSdk : fillRaw)(m.spec, send).catch(fail);
      break;
    case 'session-prepare': {
      const w = new SessionWorker(m.spec);
      session = w;
      w.prepare().then(() => send({ t: 'ready' }), fail);
      break;
    }
    case 'session-go':
      if (!session) return fail(new Error('session-go without session-prepare'));
      session.go(m.t0).then((result) => {
        session = undefined;
        send({ t: 'session-result', result });
      }, fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
