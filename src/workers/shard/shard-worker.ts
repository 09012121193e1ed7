// The loop of a shard worker thread (shard-boot.ts, the thread's entry, opens it). Messages that
// queued up while the previous group commit was on disk are drained at once and run as one batch:
// under load the batches grow by themselves, and the fsync cost is shared by more requests. On
// one node the group commit runs on this thread's connection and everything runs in arrival
// order; answers that read only durable state leave before its fsync, and under a steady stream
// of small batches a group is held open for the rest of its commit window. In cluster mode a group
// commit also waits for the replicated journal's ack: everything that touches the runtime then
// runs one task at a time.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import type { BatchOutcome, Prepared, SettledAnswers } from './shard-runtime.js';
import type { FromShard, ShardOptions, ShardRequest, ToShard } from '../shard-messages.js';
import { readRequests } from '../request-codec.js';
import { HeapRelease } from './heap-release.js';
import { IdleHeapTrim } from '../heap-trim.js';
import { bootedShard } from './shard-boot.js';
import { log } from '../../log/log.js';

const { opts, port, catalogHere } = workerData as { opts: ShardOptions; port: MessagePort; catalogHere: boolean };

const { runtime, replication } = bootedShard();

/**
 * Runs `task` with the runtime to itself. On one node every commit is over when a task starts
 * (it runs on this thread), so the task runs at once; in cluster mode a task may wait for the
 * journal's ack, and the next one waits for it. A task that comes after `stop` closed the runtime
 * does not run (a timer, a probe or a sweep queued behind it). A task that throws ends the
 * worker: a bug here would leave the shard half-way, and the pool restarts it.
 */
let chain: Promise<void> = Promise.resolve();
/** `stop` arrived: messages after it are dropped. */
let stopping = false;
/** `stop` closed the runtime: no task runs after it. */
let closed = false;
/** Test hook: acquires still to fail. */
let failAcquires = opts.failAcquires ?? 0;
function exclusive(task: () => void | Promise<void>): void {
  const run = () => (closed ? undefined : task());
  const fail = (err: unknown) => {
    log.error({ err }, `shard ${opts.shard}: a task failed, the worker stops`);
    setImmediate(() => {
      throw err;
    });
  };
  if (!replication) {
    try {
      const r = run();
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
    return;
  }
  chain = chain.then(run).catch(fail);
}

/**
 * One group commit of requests nobody waits on (timers, reprices) or, in cluster mode, of client
 * batches: on one node it commits on this thread and `done` gets the outcome; in cluster mode it
 * is replicated first, then committed locally. One node's client batches go through commitLocal.
 */
function commitGroup(reqs: ShardRequest[][], done: (out: BatchOutcome[]) => void, marker?: number): void | Promise<void> {
  const prep = runtime.prepare(reqs, Date.now());
  if (!replication) return done(runtime.complete(prep, marker));
  if (prep.bug !== undefined) return done(runtime.complete(prep, marker));
  return replication.replicate().then((refused) => {
    const out = runtime.complete(prep, marker, refused);
    const lost = replication.takeLost();
    if (lost.length > 0) post({ t: 'partitions-lost', shard: opts.shard, partitions: lost });
    done(out);
  });
}
const post = (m: FromShard, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);
/** A reply message with no requests: carries the stats of a probe (batch -1: nobody waits). */
const EMPTY_REPLIES = {
  batch: -1,
  frames: new Uint8Array(0),
  ends: new Uint32Array(0),
  outcomes: new Uint8Array(0),
  stock: null,
  products: null,
  pushFrames: null,
  pushEnds: null,
  pushTopics: null,
  domain: null,
} as const;

post({ t: 'ready', shard: opts.shard, ...runtime.startupView(catalogHere) });

/** Frames back to back in one buffer, with their end offsets: one transfer, no per-frame clone. */
function pack(list: Uint8Array[]): { frames: Uint8Array; ends: Uint32Array } {
  let size = 0;
  for (const f of list) size += f.length;
  const frames = new Uint8Array(size);
  const ends = new Uint32Array(list.length);
  let p = 0;
  for (let i = 0; i < list.length; i++) {
    frames.set(list[i], p);
    p += list[i].length;
    ends[i] = p;
  }
  return { frames, ends };
}

/** Answers of `batch` released before its commit: they read only durable state. */
function sendSettled(batch: number, answers: SettledAnswers): void {
  const { frames, ends } = pack(answers.frames);
  const index = Uint32Array.from(answers.index);
  const outcomes = Uint8Array.from(answers.outcomes);
  post({ t: 'settled', batch, index, frames, ends, outcomes }, [frames.buffer as ArrayBuffer, ends.buffer as ArrayBuffer, index.buffer]);
}

function sendReplies(batch: number, out: BatchOutcome, includeStats: boolean): void {
  const { frames, ends } = pack(out.frames);
  const transfer: ArrayBuffer[] = [frames.buffer as ArrayBuffer, ends.buffer as ArrayBuffer];
  let pushFrames: Uint8Array | null = null;
  let pushEnds: Uint32Array | null = null;
  if (out.pushes) {
    ({ frames: pushFrames, ends: pushEnds } = pack(out.pushes.frames));
    transfer.push(pushFrames.buffer as ArrayBuffer, pushEnds.buffer as ArrayBuffer);
  }
  post(
    {
      t: 'replies',
      batch,
      frames,
      ends,
      outcomes: out.outcomes,
      stock: out.stock,
      products: out.products,
      pushFrames,
      pushEnds,
      pushTopics: out.pushes ? out.pushes.topics : null,
      domain: out.domain,
      stats: includeStats ? out.stats : null,
    },
    transfer,
  );
}

type Batch = { batch: number; reqs: ShardRequest[] };

function crashOnTestKey(batches: Batch[]): void {
  if (opts.crashOn !== undefined && batches.some((b) => b.reqs.some((r) => r.key === opts.crashOn))) {
    throw new Error(`crashOn ${opts.crashOn}: the worker dies with this batch in flight (test hook)`);
  }
}

/** Cluster mode: one group commit of `batches`, replicated first. */
function runBatches(batches: Batch[]): void | Promise<void> {
  if (batches.length === 0) return;
  crashOnTestKey(batches);
  // The commit marker names the last batch the group commit covers (see ShardOptions.epoch).
  return commitGroup(
    batches.map((b) => b.reqs),
    (outcomes) => afterBatches(batches, outcomes),
    batches[batches.length - 1].batch,
  );
}

/**
 * One node's commit window. A commit costs this thread ~90 µs of CPU whatever it holds (a 1-row
 * commit, against ~6 µs a row at 16 rows: `node dist/bench/micro/commit-cost.js`), and at a
 * steady rate batches arrive one or two requests at a time, so each pays that alone. When this
 * shard commits often (lately less than two windows apart on average), a group with writes and
 * nothing queued behind it that starts less than COMMIT_WINDOW_US after the previous commit ended
 * sleeps out the rest of the window (as the thread would in an fsync) and takes in the batch that
 * arrived meanwhile; the edge keeps at most two batches per shard in flight, so the rest gathers
 * at the edge into the next, larger one. Either way commits come at most about one per window.
 * Answers that read only durable state leave before the wait. A shard whose groups are few and
 * large (a closed loop, a sale) or quiet never waits, nor does a group of GROUP_FULL_ROWS rows.
 */
const commitWindowMs = opts.commitWindowUs / 1000;
const GROUP_FULL_ROWS = 16;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let lastCommitEnd = -Infinity;
let lastCommitStart = -Infinity;
/** Mean time between the starts of this shard's commits lately, ms (EWMA; a pause counts as a second). */
let commitInterval = 1000;

/**
 * Runs `batches` as one group commit. `mayHold`: nothing else waits behind them, so what arrives
 * during a hold comes after the group in arrival order; returns the messages that arrived during
 * the hold from the first control message on (the caller runs them next).
 */
function commitLocal(batches: Batch[], mayHold: boolean): ToShard[] | undefined {
  const start = performance.now();
  const prep = runtime.open();
  runtime.runMore(
    prep,
    batches.map((b) => b.reqs),
    Date.now(),
  );
  sendSettledOf(prep, batches, 0);
  let rest: ToShard[] | undefined;
  let heldMs = 0;
  const rows = runtime.stagedRows().length / 3;
  const now = performance.now();
  const wait = lastCommitEnd + commitWindowMs - now;
  if (mayHold && wait > 0 && rows > 0 && rows < GROUP_FULL_ROWS && commitInterval < 2 * commitWindowMs && prep.bug === undefined && !stopping) {
    Atomics.wait(sleeper, 0, 0, wait);
    heldMs = performance.now() - now;
    const arrived = drain();
    const more = batchRun(arrived, 0);
    if (more.batches.length > 0) {
      crashOnTestKey(more.batches);
      const from = batches.length;
      batches = batches.concat(more.batches);
      runtime.runMore(
        prep,
        more.batches.map((b) => b.reqs),
        Date.now(),
      );
      sendSettledOf(prep, batches, from);
    }
    if (more.next < arrived.length) rest = arrived.slice(more.next);
  }
  const out = runtime.complete(runtime.seal(prep), batches[batches.length - 1].batch);
  const written = out[0].stats.rows;
  out[0].stats.windowMs = heldMs;
  if (written > 0) {
    lastCommitEnd = performance.now();
    commitInterval = 0.8 * commitInterval + 0.2 * Math.min(1000, start - lastCommitStart);
    lastCommitStart = start;
  }
  afterBatches(batches, out);
  return rest;
}

/** Answers of the group's batches from `from` on that may leave before its commit. */
function sendSettledOf(prep: Prepared, batches: Batch[], from: number): void {
  const settled = runtime.takeSettled(prep, from);
  if (settled) for (let b = from; b < settled.length; b++) if (settled[b]) sendSettled(batches[b].batch, settled[b]!);
}

function afterBatches(batches: Batch[], outcomes: BatchOutcome[]): void {
  // Stats and view updates ride on the first reply only: they describe the whole group commit.
  for (let i = 0; i < batches.length; i++) {
    const out = i === 0 ? outcomes[0] : { ...outcomes[i], stock: null, products: null, pushes: null, domain: null };
    sendReplies(batches[i].batch, out, i === 0);
  }
  // Over the cap: a bounded step after the replies left, so a batch never waits long behind it.
  if (runtime.actorCount > opts.maxActors) heap.note(runtime.enforceActorCap(opts.maxActors, CAP_STEP));
  scheduleTimers();
}

type Control = Exclude<ToShard, { t: 'batch' }>;

/** Runs a control message; one that fails is logged and answered with an error, never thrown. */
function control(m: Control): void | Promise<void> {
  const failed = (err: unknown) => {
    log.error({ err }, `shard ${opts.shard}: ${m.t} failed`);
    const error = err instanceof Error ? err.message : String(err);
    if ('ask' in m) post({ t: 'answer', ask: m.ask, value: null, error });
    // A move the pool waits for is reported either way: an acquire left unanswered would keep
    // its partition "acquiring" (leased, renewed, never served) for as long as the node runs.
    if ('move' in m) post({ t: 'move-failed', shard: opts.shard, partition: m.partition, move: m.move, error });
  };
  try {
    const r = controlUnsafe(m);
    if (r instanceof Promise) return r.catch(failed);
  } catch (err) {
    failed(err);
  }
}

function controlUnsafe(m: Control): void | Promise<void> {
  switch (m.t) {
    case 'acquire':
      return acquire(m.partition, m.move);
    case 'release':
      replication?.release(m.partition);
      return post({ t: 'released', shard: opts.shard, partition: m.partition, move: m.move });
    case 'snapshot':
      return post({ t: 'answer', ask: m.ask, value: runtime.snapshotAll() });
    case 'summary':
      return post({ t: 'answer', ask: m.ask, value: runtime.summary() });
    case 'inspect':
      return post({ t: 'answer', ask: m.ask, value: runtime.inspect(m.key) ?? null });
    case 'watch-topic':
      runtime.watch(m.topic, m.delta);
      return post({ t: 'answer', ask: m.ask, value: true });
    case 'restore-watches':
      for (const [key, n] of m.keys) runtime.watch(key, n);
      for (const [topic, n] of m.topics) runtime.watch(topic, n);
      return runtime.setAdminWatch(m.adminFeed);
    case 'unwatch':
      for (const key of m.keys) runtime.watch(key, -1);
      return;
    case 'admin-feed':
      return runtime.setAdminWatch(m.on);
    case 'prices': {
      // Watched carts holding a repriced sku get the new price now (and a push); the rest on their next change.
      const keys = runtime.setPrices(m.entries);
      if (keys.length === 0) return;
      return commitGroup([keys.map((key) => ({ id: 0, key, cmd: { type: 'reprice' } }))], (o) => sendReplies(-1, o[0], true));
    }
    case 'interactions':
      return post({ t: 'answer', ask: m.ask, value: runtime.interactionsPage(m.afterG, m.limit) });
    case 'user-events':
      return post({ t: 'answer', ask: m.ask, value: runtime.userEventsPage(m.userId, m.afterG, m.limit) });
    case 'orders-page':
      return post({ t: 'answer', ask: m.ask, value: runtime.orderPage(m.userId, m.before, m.limit) });
    case 'audit-history':
      return post({ t: 'answer', ask: m.ask, value: runtime.audit.history(m.key, m.fromG, m.index, m.limit) });
    case 'audit-state':
      // Yields between chunks: on one node, batches run on while a long history replays.
      return runtime.audit.stateAt(m.key, m.at).then((value) => post({ t: 'answer', ask: m.ask, value }));
    case 'drops':
      return post({ t: 'answer', ask: m.ask, value: runtime.audit.drops() });
    case 'passivate': {
      const dropped = passivateAll(Date.now(), m.olderThanMs);
      return post({ t: 'answer', ask: m.ask, value: { shard: opts.shard, passivated: dropped, actors: runtime.actorCount } });
    }
    case 'stop':
      clearInterval(sweep);
      trim.stop();
      clearInterval(probe);
      clearTimeout(timer);
      closed = true;
      try {
        runtime.close();
      } catch (err) {
        // Stopped all the same: the pool waits for it, and what was acknowledged is in the journal.
        log.error({ err }, `shard ${opts.shard}: closing failed`);
      }
      if (replication) return replication.close().finally(stopped);
      return stopped();
  }
}

function stopped(): void {
  post({ t: 'stopped', shard: opts.shard });
  port.close();
}

/** Cluster mode: catches partition `partition` up from the replicated journal, then serves it. */
async function acquire(partition: number, move: number): Promise<void> {
  if (!replication) throw new Error('acquire without cluster mode');
  if (failAcquires > 0 && failAcquires--) throw new Error(`partition ${partition}: simulated catch-up failure (failAcquires)`);
  const { out, openOrders, read } = await replication.acquire(partition);
  if (out) sendReplies(-1, out, true);
  scheduleTimers();
  post({ t: 'acquired', shard: opts.shard, partition, move, openOrders, read });
}

/** `first` and every message waiting on the port behind it, up to `stop` (what follows it is dropped). */
function drain(first?: ToShard): ToShard[] {
  const messages: ToShard[] = [];
  const next = () => receiveMessageOnPort(port)?.message as ToShard | undefined;
  for (let m: ToShard | undefined = first ?? next(); m; m = next()) {
    messages.push(m);
    if (m.t === 'stop') {
      stopping = true;
      if (opts.crashAtStop) throw new Error('crashAtStop: the worker dies while stopping (test hook)');
      break;
    }
  }
  return messages;
}

port.on('message', (first: ToShard) => {
  // Messages still in flight when `stop` closed the database are dropped (their askers are
  // answered by the pool when the worker exits).
  if (stopping) return;
  const messages = drain(first);
  if (!replication) return handleNow(messages);
  exclusive(() => handleAsync(messages, 0));
});

/** The batch messages from `i` on up to the next control message, decoded: one group commit. */
function batchRun(messages: ToShard[], i: number): { batches: Batch[]; next: number } {
  const batches: Batch[] = [];
  for (; i < messages.length && messages[i].t === 'batch'; i++) {
    const m = messages[i] as Extract<ToShard, { t: 'batch' }>;
    batches.push({ batch: m.batch, reqs: readRequests(m.flat) });
  }
  return { batches, next: i };
}

/**
 * One node: consecutive batches run as one group commit, control messages in their place in the
 * order. Nothing waits here but a commit window's hold, and only for a group with nothing behind
 * it; what arrived during the hold runs next, in its order. A control that reads in chunks
 * (audit-state) lets batches run between its chunks.
 */
function handleNow(messages: ToShard[]): void {
  for (let i = 0; i < messages.length;) {
    const run = batchRun(messages, i);
    i = run.next;
    if (run.batches.length > 0) {
      crashOnTestKey(run.batches);
      const arrived = commitLocal(run.batches, i === messages.length);
      if (arrived) {
        messages = arrived;
        i = 0;
        continue;
      }
    }
    if (i < messages.length) void control(messages[i++] as Control);
  }
}

/** Cluster mode: the same, each step after the one before has settled (replication included). */
/** Partition takeovers a shard catches up at once. */
const ACQUIRES_AT_ONCE = 4;

async function handleAsync(messages: ToShard[], from: number): Promise<void> {
  for (let i = from; i < messages.length;) {
    const run = batchRun(messages, i);
    await runBatches(run.batches);
    i = run.next;
    if (i >= messages.length) break;
    // Partitions taken over together catch up together, a few at a time (each holds its snapshot
    // in memory while it reads): each waits mostly on its journal reads, and their stores and
    // actors are disjoint (no batch runs meanwhile).
    const acquires: Control[] = [];
    const seen = new Set<number>();
    for (let m = messages[i]; m?.t === 'acquire' && !seen.has(m.partition) && acquires.length < ACQUIRES_AT_ONCE; m = messages[++i]) {
      seen.add(m.partition);
      acquires.push(m);
    }
    if (acquires.length > 0) await Promise.all(acquires.map(async (m) => control(m)));
    else await control(messages[i++] as Control);
  }
}

// Durable timers (hold expiry): due actors get a `timer` command through the normal batch path.
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;
/** After a timer batch that could not commit, its timers are due again: retry, but not in a spin. */
const TIMER_RETRY_MS = 1000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
let retryAt = 0;
function scheduleTimers(): void {
  const next = runtime.nextTimerAt();
  if (next === undefined) return;
  const at = Math.max(next, retryAt);
  if (at >= timerAt) return;
  clearTimeout(timer);
  timerAt = at;
  // setTimeout takes at most 2^31-1 ms (~24.8 days; more fires at once): wake early and re-plan.
  timer = setTimeout(fireTimers, Math.min(MAX_TIMEOUT_MS, Math.max(0, at - Date.now())));
}
function fireTimers(): void {
  timerAt = Infinity;
  exclusive(fireDue);
}
/** Due actors get their `timer` command, as one group commit of their own. */
function fireDue(): void | Promise<void> {
  const keys = runtime.dueTimers(Date.now());
  if (keys.length === 0) return scheduleTimers();
  return commitGroup([keys.map((key) => ({ id: 0, key, cmd: { type: 'timer' } }))], (out) => {
    if (out[0].outcomes.some((o) => o !== 0)) retryAt = Date.now() + TIMER_RETRY_MS;
    // batch -1: nobody waits for these frames; the edge only takes the view updates.
    sendReplies(-1, out[0], true);
    scheduleTimers();
  });
}
/** A failing commit leaves the shard refusing writes: probe the disk now and then so it comes back without traffic. */
const PROBE_MS = 1000;
const probeStats = () => post({ t: 'replies', ...EMPTY_REPLIES, stats: runtime.stats() });
const probe = setInterval(() => {
  exclusive(() => {
    if (runtime.commitFailing && runtime.probeDisk()) probeStats();
  });
}, PROBE_MS);
probe.unref();
scheduleTimers();

// Maintenance: passivate idle actors and checkpoint the journal, both in bounded chunks with
// the event loop free between them, so batches keep flowing while it runs.
// A chunk is a few ms of work: batches wait at most that long behind maintenance.
const CHUNK = 5_000;
/** Actors passivated after one batch when the shard is over MAX_ACTORS_PER_SHARD (a few ms at most). */
const CAP_STEP = 1_000;
let maintaining = false;
// A quiet shard gives the garbage of its last burst back (heap-trim.ts), and so does a passivation.
const trim = new IdleHeapTrim(opts.idleGcMs, () => void runtime.db.pragma('shrink_memory')).start();
const heap = new HeapRelease(trim);
function passivateAll(now: number, olderThanMs: number): number {
  let total = 0;
  for (let n; (n = runtime.passivate(now, olderThanMs, CHUNK)) > 0;) total += n;
  heap.note(total);
  heap.maybeCollect(runtime.actorCount);
  return total;
}
/**
 * Guest carts past their retention: a chunk of them is looked at per sweep (the next chunk at once
 * while chunks have carts to delete); a pass that reached the last one waits up to a minute.
 */
let retentionIdleUntil = 0;
function expireGuestCarts(now: number): boolean {
  if (opts.guestCartRetentionMs <= 0 || now < retentionIdleUntil) return false;
  const { deleted, wrapped } = runtime.expireGuestCarts(now - opts.guestCartRetentionMs, CHUNK);
  if (wrapped) retentionIdleUntil = now + Math.min(60_000, opts.guestCartRetentionMs / 10);
  return deleted > 0 && !wrapped;
}
function maintain(): void {
  if (maintaining) return;
  maintaining = true;
  const step = () =>
    exclusive(() => {
      try {
        maintainStep();
      } catch (err) {
        // Maintenance is retried by the next sweep; a bug here must not end the shard.
        log.error({ err }, `shard ${opts.shard}: maintenance failed`);
        maintaining = false;
      }
    });
  const maintainStep = () => {
    const now = Date.now();
    const passivated = runtime.passivate(now, opts.passivateAfterMs, CHUNK) + runtime.enforceActorCap(opts.maxActors, CHUNK);
    heap.note(passivated);
    const more = passivated === CHUNK;
    const last = runtime.lastCheckpoint;
    const checkpointing = runtime.checkpointDue(now) && !runtime.checkpointStep(CHUNK);
    if (runtime.lastCheckpoint !== last) post({ t: 'checkpoint', shard: opts.shard, ...runtime.lastCheckpoint });
    const cleaning = runtime.cleanupStep(CHUNK) || expireGuestCarts(now);
    if (more || checkpointing || cleaning) return void setImmediate(step);
    maintaining = false;
    heap.maybeCollect(runtime.actorCount);
  };
  step();
}
const sweep = setInterval(maintain, opts.sweepIntervalMs);
sweep.unref();

// Cluster mode: partitions with enough journal messages since their last snapshot are
// snapshotted (read between batches), stored and trimmed in the background.
if (replication) {
  const snapshots = setInterval(() => {
    const due = replication.snapshotsDue(Date.now());
    if (due.size > 0) exclusive(() => replication.snapshot(due, Date.now()));
  }, 1_000);
  snapshots.unref();
}
