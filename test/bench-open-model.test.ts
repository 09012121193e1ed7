// The open model: intended send times at a constant (or ramping) arrival rate, and latency
// measured from them, so that a stall of the load process shows up in the latency of every
// request that waited behind it (coordinated omission corrected). Fake channels, real timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArrivalSchedule, closedInflight, phaseAt, type Timing } from '../bench/lib/arrivals.js';
import type { AnswerFn, Channel } from '../bench/lib/channels.js';
import { drive } from '../bench/lib/drive.js';
import { Recorder } from '../bench/lib/recorder.js';

test('constant rate: arrival k is intended at k / rate, and countBefore agrees', () => {
  const s = new ArrivalSchedule({ warmupMs: 0, rampMs: 0, steadyMs: 1000 }, 1000, 1000);
  for (const k of [0, 1, 2, 10, 999]) assert.ok(Math.abs(s.at(k) - k) < 1e-9, `at(${k}) = ${s.at(k)}`);
  assert.equal(s.countBefore(1000), 1000);
  assert.equal(s.countBefore(0), 0);
  assert.equal(s.countBefore(10), 10); // arrivals 0..9
  assert.equal(s.countBefore(10.0001), 11);
});

test('warm-up, ramp, steady: the schedule follows the integral of a linear ramp', () => {
  const t: Timing = { warmupMs: 1000, rampMs: 1000, steadyMs: 1000 };
  const s = new ArrivalSchedule(t, 1000, 100);
  assert.equal(s.countBefore(1000), 100); // 100/s for 1 s
  assert.equal(s.countBefore(2000), 100 + 550); // mean of 100 and 1000 /s over 1 s
  assert.equal(s.countBefore(3000), 650 + 1000);
  // at() inverts countBefore everywhere, and gaps shrink across the ramp.
  let prev = -1;
  for (let k = 0; k < 1650; k++) {
    const at = s.at(k);
    assert.ok(at > prev, `arrival ${k} not after ${k - 1}`);
    assert.equal(s.countBefore(at), k, `countBefore(at(${k}))`);
    prev = at;
  }
  const gap = (k: number) => s.at(k + 1) - s.at(k);
  assert.ok(Math.abs(gap(10) - 10) < 1e-6 && Math.abs(gap(1600) - 1) < 1e-6);
  assert.ok(gap(200) < gap(120) && gap(600) < gap(200));
  assert.deepEqual([phaseAt(t, 999), phaseAt(t, 1000), phaseAt(t, 2500)], ['warmup', 'ramp', 'steady']);
});

test('an offset interleaves the arrivals of several load processes', () => {
  const t: Timing = { warmupMs: 0, rampMs: 0, steadyMs: 100 };
  const a = new ArrivalSchedule(t, 500, 500, 0);
  const b = new ArrivalSchedule(t, 500, 500, 0.5);
  assert.equal(a.at(3), 6);
  assert.equal(b.at(3), 7);
});

test('closed model: in flight per connection is 1 in warm-up, rises over the ramp, full when steady', () => {
  const t: Timing = { warmupMs: 100, rampMs: 100, steadyMs: 100 };
  assert.equal(closedInflight(t, 16, 50), 1);
  assert.equal(closedInflight(t, 16, 150), 9);
  assert.equal(closedInflight(t, 16, 250), 16);
  assert.equal(closedInflight({ ...t, rampMs: 0 }, 16, 50), 16);
});

/** A channel answering after `serviceMs`, or at `holdUntil` if that is later (a server stall). */
class FakeChannel implements Channel {
  onAnswer: AnswerFn = () => undefined;
  onAnswered: (n: number) => void = () => undefined;
  inFlight = 0;
  isOpen = true;
  readonly intended: number[] = [];
  private queue: number[] = [];
  holdUntil = 0;

  constructor(private readonly serviceMs: number) {}

  enqueue(intended: number): void {
    this.intended.push(intended);
    this.queue.push(intended);
  }

  flush(): void {
    const sent = performance.now();
    for (const intended of this.queue) {
      this.inFlight++;
      const due = Math.max(sent + this.serviceMs, this.holdUntil);
      setTimeout(() => {
        this.inFlight--;
        this.onAnswer(intended, sent, performance.now(), undefined);
        this.onAnswered(1);
      }, due - sent);
    }
    this.queue = [];
  }

  async close(): Promise<void> {}
}

/** A Recorder that also keeps every latency it is given (ms), to count without histogram buckets. */
class KeepingRecorder extends Recorder {
  readonly corrected_: number[] = [];
  readonly uncorrected_: number[] = [];
  override record(intended: number, sent: number, now: number, code: string | undefined): void {
    if (this.counts(intended, sent)) {
      this.corrected_.push(now - intended);
      this.uncorrected_.push(now - sent);
    }
    super.record(intended, sent, now, code);
  }
}

const atLeast = (xs: number[], ms: number) => xs.filter((x) => x >= ms).length;

const busyWait = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('open model: requests go out at their intended times, round-robin over the connections', async () => {
  const chans = [new FakeChannel(1), new FakeChannel(1)];
  const t0 = performance.now() + 20;
  const timing: Timing = { warmupMs: 0, rampMs: 0, steadyMs: 200 };
  const rec = new Recorder('open', { start: t0, end: t0 + 200 });
  await drive(chans, rec, { model: { kind: 'open', rate: 500, warmupRate: 500, offset: 0, maxInflightPerConn: 1000 }, timing, t0, giveUpMs: 2000 });
  assert.equal(rec.sent, 100);
  assert.equal(rec.completed, 100);
  const rel = (xs: number[]) => xs.slice(0, 3).map((x) => Math.round((x - t0) * 1000) / 1000);
  assert.deepEqual(rel(chans[0].intended), [0, 4, 8]);
  assert.deepEqual(rel(chans[1].intended), [2, 6, 10]);
});

test('a stall of the load process shows in the corrected latency of every request behind it, not in the uncorrected one', async () => {
  const ch = new FakeChannel(0.5);
  const t0 = performance.now() + 20;
  const timing: Timing = { warmupMs: 0, rampMs: 0, steadyMs: 400 };
  const rec = new KeepingRecorder('open', { start: t0, end: t0 + 400 });
  // 100 ms into the window the event loop is blocked for 100 ms: about 100 requests (1/ms)
  // cannot leave on time; they leave together when it ends.
  const stall = setTimeout(() => busyWait(100), 120);
  await drive([ch], rec, { model: { kind: 'open', rate: 1000, warmupRate: 1000, offset: 0, maxInflightPerConn: 10_000 }, timing, t0, giveUpMs: 2000 });
  clearTimeout(stall);
  assert.equal(rec.completed, 400);
  // The waiting shows: ~100 requests waited 0-100 ms behind the stall, ~50 of them >= 50 ms.
  // (Bounds are loose and relative: the test machine may be busy and delay any timer.)
  const corrected = atLeast(rec.corrected_, 50);
  const uncorrected = atLeast(rec.uncorrected_, 50);
  assert.ok(corrected >= 30, `requests with >= 50 ms corrected latency: ${corrected}`);
  assert.ok(rec.corrected.maxValue >= 85_000, `corrected max ${rec.corrected.maxValue} µs`);
  // From the actual send, the same stall is (almost) invisible: each request waited only for its answer.
  assert.ok(uncorrected * 5 <= corrected, `>= 50 ms: ${uncorrected} uncorrected vs ${corrected} corrected`);
  assert.ok(rec.sendLag!.maxValue >= 85_000, `send lag max ${rec.sendLag!.maxValue} µs`);
});

test('a server stall in the open model: requests keep leaving on time and every one waits', async () => {
  const ch = new FakeChannel(0.5);
  const t0 = performance.now() + 20;
  const timing: Timing = { warmupMs: 0, rampMs: 0, steadyMs: 300 };
  const rec = new KeepingRecorder('open', { start: t0, end: t0 + 300 });
  setTimeout(() => (ch.holdUntil = performance.now() + 100), 100);
  await drive([ch], rec, { model: { kind: 'open', rate: 1000, warmupRate: 1000, offset: 0, maxInflightPerConn: 10_000 }, timing, t0, giveUpMs: 2000 });
  assert.equal(rec.completed, 300);
  // Sends did not stop: the requests sent during the stall waited for it, from their send too.
  const waited = atLeast(rec.uncorrected_, 50);
  assert.ok(waited >= 30, `requests that waited >= 50 ms for the stalled server after leaving: ${waited}`);
});

test('closed model: a stall delays the next requests instead of recording them (what the open model corrects)', async () => {
  const ch = new FakeChannel(1);
  const t0 = performance.now() + 20;
  const timing: Timing = { warmupMs: 0, rampMs: 0, steadyMs: 300 };
  const rec = new KeepingRecorder('closed', { start: t0, end: t0 + 300 });
  setTimeout(() => (ch.holdUntil = performance.now() + 100), 100);
  await drive([ch], rec, { model: { kind: 'closed', inflight: 1 }, timing, t0, giveUpMs: 2000 });
  // One request sat through the stall; the ~100 the open model would have sent meanwhile never existed.
  assert.ok(atLeast(rec.corrected_, 50) <= 3, `closed-model requests >= 50 ms: ${atLeast(rec.corrected_, 50)}`);
  assert.ok(atLeast(rec.corrected_, 50) >= 1);
});
