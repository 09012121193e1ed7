// The pipelined group commit of a single node, driven directly: batches are sealed into the
// pipeline while earlier ones are still being written by the writer thread, on a real shard
// file. A commit that fails takes every commit sealed on top of it with it; answers leave in
// order; a read waits for an earlier change of its actor that is still in flight; maintenance
// drops no actor with rows in flight; journal positions stay contiguous. A group with nothing in
// flight and nothing behind it is committed on the shard's own connection, and a failure there
// makes the writer scrub the WAL before its next commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardRuntime, type BatchOutcome } from '../src/workers/shard/shard-runtime.js';
import { CommitPipeline } from '../src/workers/shard/commit-pipeline.js';
import { decodeValue } from '../src/protocol/frames.js';
import type { ShardOptions } from '../src/workers/shard-messages.js';
import { shardOptions, type Reply } from './helpers/holds.js';
import { tmpDataDir, until } from './helpers/server.js';
import Database from 'better-sqlite3';
import { shardDbPath } from '../src/persistence/shard-db.js';

const T = 1_800_000_000_000;
const adjust = (qty: number) => ({ type: 'adjust', txType: 'purchase', qty, reason: 'stock', warehouse: 'main' }) as { type: string };
const GET = { type: 'get' };

function open(t: { after: (fn: () => unknown) => void }, opts: ShardOptions): { rt: ShardRuntime; pipeline: CommitPipeline } {
  const rt = new ShardRuntime(opts);
  const pipeline = new CommitPipeline(rt, opts, () => {});
  t.after(async () => {
    await pipeline.close();
    if (rt.db.open) rt.db.close();
  });
  return { rt, pipeline };
}

/** Seals one batch of [key, command] pairs into the pipeline; resolves with its decoded replies once settled. */
function submit(rt: ShardRuntime, pipeline: CommitPipeline, reqs: [string, { type: string }][], order?: number[], tag = 0): Promise<Reply[]> {
  const prep = rt.prepare([reqs.map(([key, cmd], i) => ({ id: i + 1, key, cmd }))], T);
  return new Promise((resolve) =>
    pipeline.submit(prep, undefined, (out: BatchOutcome[]) => {
      order?.push(tag);
      resolve(out[0].frames.map((f) => decodeValue(f) as Reply));
    }),
  );
}

/** Submits one batch as the shard does when nothing waits behind it; `sync`: answered before submit returned. */
function submitAlone(rt: ShardRuntime, pipeline: CommitPipeline, reqs: [string, { type: string }][]): { sync: boolean; replies: Promise<Reply[]> } {
  const prep = rt.prepare([reqs.map(([key, cmd], i) => ({ id: i + 1, key, cmd }))], T);
  let sync = false;
  let returned = false;
  const replies = new Promise<Reply[]>((resolve) =>
    pipeline.submit(
      prep,
      undefined,
      (out: BatchOutcome[]) => {
        sync = !returned;
        resolve(out[0].frames.map((f) => decodeValue(f) as Reply));
      },
      true,
    ),
  );
  returned = true;
  return { sync, replies };
}

/** Reads shard 0's file on a connection of its own: only what is committed. */
function readStored<R>(dataDir: string, sql: string, all: boolean): R {
  const db = new Database(shardDbPath(dataDir, 0), { readonly: true });
  try {
    return (all ? db.prepare(sql).all() : db.prepare(sql).get()) as R;
  } finally {
    db.close();
  }
}
const storedRows = (dataDir: string) => readStored<{ actor: string; seq: number }[]>(dataDir, 'SELECT actor, seq FROM journal ORDER BY g', true);
/** The row scrubWal writes after truncating the WAL. */
const probeRow = (dataDir: string) => readStored<{ value: string } | undefined>(dataDir, "SELECT value FROM meta WHERE key = 'probe'", false);

function journalRows(rt: ShardRuntime): { g: number; actor: string; seq: number }[] {
  return rt.db.prepare('SELECT g, actor, seq FROM journal ORDER BY g').all() as { g: number; actor: string; seq: number }[];
}

test('a commit sealed while a failing one is written fails with it, nothing of either is stored, and both actors come back as stored', async (t) => {
  const opts = shardOptions(tmpDataDir(t), 0);
  const { rt, pipeline } = open(t, opts);
  const [a, v] = await submit(rt, pipeline, [
    ['sku:a', adjust(10)],
    ['sku:victim', adjust(5)],
  ]);
  assert.equal(a.ok && v.ok, true);

  opts.failCommitsFor = 'sku:victim';
  const order: number[] = [];
  // Both sealed before the writer answers either: the second is decided on top of the first.
  const first = submit(rt, pipeline, [['sku:victim', adjust(1)]], order, 1);
  const second = submit(rt, pipeline, [['sku:a', adjust(2)]], order, 2);
  assert.equal(pipeline.busy, true);
  const [[f], [s]] = await Promise.all([first, second]);
  assert.deepEqual(order, [1, 2], 'answers leave in commit order');
  assert.equal(f.error?.code, 'UNAVAILABLE');
  assert.equal(s.error?.code, 'UNAVAILABLE', 'the batch decided on top of the failed one fails too');
  assert.equal(rt.commitFailing, true);

  opts.failCommitsFor = undefined;
  const [ra, rv] = await submit(rt, pipeline, [
    ['sku:a', GET],
    ['sku:victim', GET],
  ]);
  assert.equal(ra.result?.available, 10, 'sku:a shows what is stored, not the refused +2');
  assert.equal(rv.result?.available, 5);
  const [after] = await submit(rt, pipeline, [['sku:a', adjust(3)]]);
  assert.equal(after.result?.available, 13);
  assert.equal(rt.commitFailing, false, 'a commit that succeeds ends the failing state');

  const rows = journalRows(rt);
  assert.deepEqual(
    rows.map((r) => r.g),
    rows.map((_r, i) => i + 1),
    'journal positions are contiguous: the refused ones were given back',
  );
  assert.deepEqual(
    rows.filter((r) => r.actor === 'sku:a').map((r) => r.seq),
    [1, 2],
  );
});

test('a read of an actor whose change is in flight waits for it; a read of a stored one may leave at once', async (t) => {
  const { rt, pipeline } = open(t, shardOptions(tmpDataDir(t), 0));
  await submit(rt, pipeline, [
    ['sku:a', adjust(1)],
    ['sku:b', adjust(1)],
  ]);
  const write = submit(rt, pipeline, [['sku:a', adjust(1)]]);
  const prep = rt.prepare(
    [
      [
        { id: 1, key: 'sku:a', cmd: GET },
        { id: 2, key: 'sku:b', cmd: GET },
      ],
    ],
    T,
  );
  const settled = rt.takeSettled(prep, pipeline.busy);
  assert.deepEqual(settled?.[0]?.index, [1], 'only the read of sku:b, which has nothing in flight, is settled');
  const read = new Promise<BatchOutcome[]>((resolve) => pipeline.submit(prep, undefined, resolve));
  const [[w], [out]] = await Promise.all([write, read]);
  assert.equal(w.ok, true);
  assert.equal((decodeValue(out.frames[0]) as Reply).result?.available, 2, 'the read answered after the change it saw became durable');
});

test('maintenance leaves actors with rows in flight in memory; once drained they go and come back from disk', async (t) => {
  const { rt, pipeline } = open(t, shardOptions(tmpDataDir(t), 0));
  const order: number[] = [];
  const one = submit(rt, pipeline, [['sku:a', adjust(4)]], order, 1);
  const two = submit(rt, pipeline, [['sku:b', adjust(6)]], order, 2);
  assert.equal(rt.enforceActorCap(0, 10), 0, 'no actor with rows in flight leaves memory');
  assert.equal(rt.actorCount, 2);
  await Promise.all([one, two]);
  assert.deepEqual(order, [1, 2]);
  assert.equal(pipeline.drained, true);
  assert.equal(rt.enforceActorCap(0, 10), 2);
  assert.equal(rt.actorCount, 0);
  const [a, b] = await submit(rt, pipeline, [
    ['sku:a', GET],
    ['sku:b', GET],
  ]);
  assert.equal(a.result?.available, 4);
  assert.equal(b.result?.available, 6);
});

test('of commits queued together, those before a failing one are stored and answered, it and those after are refused', async (t) => {
  const opts = shardOptions(tmpDataDir(t), 0);
  const { rt, pipeline } = open(t, opts);
  await submit(rt, pipeline, [['sku:victim', adjust(5)]]);
  opts.failCommitsFor = 'sku:victim';
  const order: number[] = [];
  const replies = await Promise.all([
    submit(rt, pipeline, [['sku:a', adjust(1)]], order, 1),
    submit(rt, pipeline, [['sku:b', adjust(1)]], order, 2),
    submit(rt, pipeline, [['sku:victim', adjust(1)]], order, 3),
    submit(rt, pipeline, [['sku:a', adjust(1)]], order, 4),
  ]);
  assert.deepEqual(order, [1, 2, 3, 4]);
  assert.deepEqual(
    replies.map(([r]) => r.ok),
    [true, true, false, false],
  );
  opts.failCommitsFor = undefined;
  const [a, b, v] = await submit(rt, pipeline, [
    ['sku:a', GET],
    ['sku:b', GET],
    ['sku:victim', GET],
  ]);
  assert.deepEqual([a.result?.available, b.result?.available, v.result?.available], [1, 1, 5]);
  assert.deepEqual(
    journalRows(rt).map((r) => r.actor),
    ['sku:victim', 'sku:a', 'sku:b'],
  );
});

test('the stats of a group say which thread committed it, and a failed group counts no rows', async (t) => {
  const dir = tmpDataDir(t);
  const opts = shardOptions(dir, 0);
  const { rt, pipeline } = open(t, opts);
  const statsOf = (reqs: [string, { type: string }][], alone: boolean) =>
    new Promise<BatchOutcome['stats']>((resolve) =>
      pipeline.submit(rt.prepare([reqs.map(([key, cmd], i) => ({ id: i + 1, key, cmd }))], T), undefined, (out) => resolve(out[0].stats), alone),
    );
  const lone = await statsOf([['sku:a', adjust(2)]], true);
  assert.deepEqual([lone.writer, lone.rows], [false, 1], 'alone: the shard thread');
  const [sealed, behind] = await Promise.all([statsOf([['sku:a', adjust(1)]], false), statsOf([['sku:b', adjust(1)]], true)]);
  assert.deepEqual([sealed.writer, sealed.rows], [true, 1], 'not alone: the writer');
  assert.deepEqual([behind.writer, behind.rows], [true, 1], 'behind a commit in flight: the writer');
  // A commit that fails on the shard thread wrote nothing, even when the disk answers again at once.
  opts.failCommitsFor = 'sku:c';
  const failed = await statsOf([['sku:c', adjust(1)]], true);
  assert.equal(failed.writer, false);
  assert.equal(failed.rows, 0);
});

test('a group alone with nothing in flight is committed on the shard thread, answered before submit returns and stored; behind a commit in flight it goes to the writer', async (t) => {
  const dir = tmpDataDir(t);
  const { rt, pipeline } = open(t, shardOptions(dir, 0));
  const first = submitAlone(rt, pipeline, [['sku:a', adjust(2)]]);
  assert.equal(first.sync, true, 'answered at once: committed on the shard thread');
  assert.equal((await first.replies)[0].result?.available, 2);
  assert.equal(pipeline.inline, 1);
  assert.deepEqual(storedRows(dir), [{ actor: 'sku:a', seq: 1 }], 'durable before the answer: another connection reads it');

  const order: number[] = [];
  const inFlight = submit(rt, pipeline, [['sku:a', adjust(3)]], order, 1);
  const behind = submitAlone(rt, pipeline, [['sku:b', adjust(4)]]);
  assert.equal(behind.sync, false, 'a commit is in flight: this one goes to the writer behind it');
  void behind.replies.then(() => order.push(2));
  const [[one], [two]] = await Promise.all([inFlight, behind.replies]);
  assert.deepEqual(order, [1, 2], 'answers leave in commit order');
  assert.deepEqual([one.result?.available, two.result?.available], [5, 4]);
  assert.equal(pipeline.inline, 1);

  const again = submitAlone(rt, pipeline, [['sku:b', adjust(1)]]);
  assert.equal(again.sync, true, 'drained again: back on the shard thread');
  await again.replies;
  assert.deepEqual(
    journalRows(rt).map((r) => [r.g, r.actor, r.seq]),
    [
      [1, 'sku:a', 1],
      [2, 'sku:a', 2],
      [3, 'sku:b', 1],
      [4, 'sku:b', 2],
    ],
    'one journal, contiguous positions, whichever connection wrote',
  );
});

test('an inline commit that fails is refused and stores nothing; when the shard cannot scrub the WAL the writer does at once', async (t) => {
  const dir = tmpDataDir(t);
  const opts = shardOptions(dir, 0);
  const { rt, pipeline } = open(t, opts);
  await submitAlone(rt, pipeline, [['sku:victim', adjust(5)]]).replies;
  opts.failCommitsFor = 'sku:victim';
  // The disk stays unwritable for the shard's own probe: the failing state outlives the commit.
  const probeDisk = rt.probeDisk.bind(rt);
  rt.probeDisk = () => {
    rt.commitFailing = true;
    return false;
  };
  const failed = submitAlone(rt, pipeline, [['sku:victim', adjust(1)]]);
  assert.equal(failed.sync, true);
  assert.equal((await failed.replies)[0].error?.code, 'UNAVAILABLE');
  assert.equal(rt.commitFailing, true);
  rt.probeDisk = probeDisk;
  opts.failCommitsFor = undefined;

  // Not at its next commit: a crash before it would find the refused frames in the WAL.
  await until(() => probeRow(dir) !== undefined, { timeoutMs: 5_000, what: 'the writer scrubbing the WAL (its probe row) at once' });
  const next = submitAlone(rt, pipeline, [['sku:victim', adjust(2)]]);
  assert.equal(next.sync, false, 'while commits fail, the writer commits');
  assert.equal((await next.replies)[0].result?.available, 7, 'the refused change is not there, the new one is');
  assert.equal(rt.commitFailing, false);
  assert.deepEqual(storedRows(dir), [
    { actor: 'sku:victim', seq: 1 },
    { actor: 'sku:victim', seq: 2 },
  ]);
});
