// The two load models over a set of channels, recording into a Recorder.
//
// Closed: each connection keeps N requests in flight and sends a replacement when an answer
// arrives (the replacements for one frame leave as one frame). Throughput is what the server
// gives back; a slow answer delays the next request, so the closed model cannot see queueing
// behind a stall.
//
// Open: requests are due at the intended times of an ArrivalSchedule (a constant rate, spread
// round-robin over the connections) whether or not earlier ones were answered. The loop wakes
// on a timer at the next intended time and on every answer, and sends everything that is due,
// stamped with its intended time.
import { ArrivalSchedule, closedInflight, totalMs, type Timing } from './arrivals.js';
import type { Channel } from './channels.js';
import type { Recorder } from './recorder.js';

export type ModelSpec =
  | { kind: 'closed'; inflight: number }
  | {
      kind: 'open';
      /** Arrivals per second of this load process. */
      rate: number;
      warmupRate: number;
      /** 0..1: this process's arrivals are shifted by that part of an interval (see ArrivalSchedule). */
      offset: number;
      /** A connection with this many requests unanswered gets no more (counted as not sent). */
      maxInflightPerConn: number;
    };

export interface DriveOptions {
  model: ModelSpec;
  timing: Timing;
  /** performance.now() of the start of warm-up. */
  t0: number;
  /** After the end, how long to wait for the last answers before counting them lost. */
  giveUpMs: number;
}

export interface DriveOutcome {
  /** Open model: requests due while their connection was at maxInflightPerConn, never sent. */
  notSent: number;
  /** Open model: most requests unanswered at once, over all channels. */
  maxOutstanding: number;
}

const sleepUntil = (t: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, t - performance.now())));

/** Runs the step's load from t0 to t0 + warm-up + ramp + steady, then waits for the last answers. */
export async function drive(channels: Channel[], rec: Recorder, o: DriveOptions): Promise<DriveOutcome> {
  for (const ch of channels) ch.onAnswer = (i, s, now, code, op) => rec.record(i, s, now, code, op);
  await sleepUntil(o.t0);
  const end = o.t0 + totalMs(o.timing);
  const outcome: DriveOutcome = { notSent: 0, maxOutstanding: 0 };
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const settledAfterEnd = () => performance.now() >= end && channels.every((c) => c.inFlight === 0 || !c.isOpen);

  if (o.model.kind === 'closed') {
    const { inflight } = o.model;
    const top = (ch: Channel, now: number) => {
      const want = closedInflight(o.timing, inflight, now - o.t0) - ch.inFlight;
      for (let i = 0; i < want; i++) {
        ch.enqueue(now);
        rec.onSend(now, now);
      }
      ch.flush();
    };
    for (const ch of channels) {
      ch.onAnswered = () => {
        const now = performance.now();
        if (now < end) top(ch, now);
        else if (settledAfterEnd()) finish();
      };
      top(ch, performance.now());
    }
  } else {
    const m = o.model;
    const sched = new ArrivalSchedule(o.timing, m.rate, m.warmupRate, m.offset);
    const limit = sched.countBefore(totalMs(o.timing));
    const n = channels.length;
    let k = 0;
    let next = limit > 0 ? sched.at(0) : Infinity;
    let timer: NodeJS.Timeout | undefined;
    const touched = new Set<Channel>();
    const poll = () => {
      const rel = performance.now() - o.t0;
      while (k < limit && next <= rel) {
        const ch = channels[k % n];
        const intended = o.t0 + next;
        if (ch.inFlight >= m.maxInflightPerConn || !ch.isOpen) outcome.notSent++;
        else {
          ch.enqueue(intended);
          rec.onSend(intended, intended);
          touched.add(ch);
        }
        k++;
        next = k < limit ? sched.at(k) : Infinity;
      }
      for (const ch of touched) ch.flush();
      touched.clear();
      if (rec.outstanding > outcome.maxOutstanding) outcome.maxOutstanding = rec.outstanding;
      if (k >= limit) {
        if (settledAfterEnd()) finish();
      } else if (timer === undefined) {
        timer = setTimeout(onTimer, Math.max(0, o.t0 + next - performance.now()));
      }
    };
    const onTimer = () => {
      timer = undefined;
      poll();
    };
    // Answers wake the loop too: under load they come far more often than timers fire.
    for (const ch of channels) ch.onAnswered = poll;
    poll();
  }

  const giveUp = setTimeout(finish, Math.max(0, end - performance.now()) + o.giveUpMs);
  // A model with nothing in flight at the end has no answer left to notice it.
  const atEnd = setTimeout(() => settledAfterEnd() && finish(), Math.max(0, end - performance.now()) + 1);
  await done;
  clearTimeout(giveUp);
  clearTimeout(atEnd);
  for (const ch of channels) ch.onAnswered = () => undefined;
  return outcome;
}
