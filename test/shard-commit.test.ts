// A shard's group commit, driven through the runtime on a real shard file: the commit is durable
// when `complete` returns (another connection reads it), journal positions stay contiguous, and a
// commit that fails stores nothing, counts no rows and is refused UNAVAILABLE; the WAL is scrubbed
// at once and before any later group is written. The failure here is simulated before anything
// is written (ShardOptions.failCommitsFor); the frames a failed fsync leaves in the WAL are
// test/wal-orphans.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import type { ShardOptions } from '../src/workers/shard-messages.js';
import { decodeValue } from '../src/protocol/frames.js';
import { shardOptions, type Reply } from './helpers/holds.js';
import { tmpDataDir } from './helpers/server.js';
import { withShards } from './helpers/ledger.js';

const T = 1_800_000_000_000;
const adjust = (qty: number) => ({ type: 'adjust', txType: 'purchase', qty, reason: 'stock', warehouse: 'main' }) as { type: string };

function open(t: { after: (fn: () => unknown) => void }, opts: ShardOptions): ShardRuntime {
  const rt = new ShardRuntime(opts);
  t.after(() => {
    if (rt.db.open) rt.close();
  });
  return rt;
}

/** One group commit of [key, command] pairs: its decoded replies and stats. */
function commit(rt: ShardRuntime, reqs: [string, { type: string }][]) {
  const [out] = rt.runBatches([reqs.map(([key, cmd], i) => ({ id: i + 1, key, cmd }))], T);
  return { replies: out.frames.map((f) => decodeValue(f) as Reply), stats: out.stats };
}

const storedRows = (dir: string) =>
  withShards(dir, (db) => db.prepare<[], { g: number; actor: string; seq: number }>('SELECT g, actor, seq FROM journal ORDER BY g').all()).map((r) => [
    r.g,
    r.actor,
    r.seq,
  ]);
const probeRows = (dir: string) => withShards(dir, (db) => db.prepare("SELECT value FROM meta WHERE key = 'probe'").all());

test('a group commit is stored when it returns, counted, and the journal positions stay contiguous', (t) => {
  const dir = tmpDataDir(t);
  const rt = open(t, shardOptions(dir, 0));
  const first = commit(rt, [
    ['sku:a', adjust(2)],
    ['sku:b', adjust(3)],
  ]);
  assert.deepEqual(
    first.replies.map((r) => r.result?.available),
    [2, 3],
  );
  assert.equal(first.stats.rows, 2);
  assert.deepEqual(storedRows(dir), [
    [1, 'sku:a', 1],
    [2, 'sku:b', 1],
  ]);
  const second = commit(rt, [['sku:a', adjust(1)]]);
  assert.equal(second.replies[0].result?.available, 3);
  assert.deepEqual(storedRows(dir), [
    [1, 'sku:a', 1],
    [2, 'sku:b', 1],
    [3, 'sku:a', 2],
  ]);
});

test('a group commit that fails is refused, counts no rows and stores nothing; the WAL is scrubbed at once, and before any later group is written on top of it', (t) => {
  const dir = tmpDataDir(t);
  const opts: ShardOptions = { ...shardOptions(dir, 0), failCommitsFor: 'sku:victim' };
  const rt = open(t, opts);
  // The scrub that makes the journal writable again, as the shard runs it; a test can make it fail.
  const maintenance = (rt as unknown as { maintenance: { scrubJournal(): boolean } }).maintenance;
  const scrub = maintenance.scrubJournal.bind(maintenance);
  let diskRefuses = false;
  maintenance.scrubJournal = () => !diskRefuses && scrub();

  commit(rt, [['sku:ok', adjust(5)]]);
  diskRefuses = true;
  const refused = commit(rt, [
    ['sku:victim', adjust(1)],
    ['sku:other', adjust(1)],
  ]);
  assert.deepEqual(
    refused.replies.map((r) => r.error?.code),
    ['UNAVAILABLE', 'UNAVAILABLE'],
    'every request of the group is refused with it',
  );
  assert.equal(refused.stats.rows, 0, 'a failed group wrote nothing');
  assert.equal(rt.commitFailing, true, 'the scrub right after the failure was refused too');

  // While the scrub fails, a group that would commit fine is refused unwritten.
  const behind = commit(rt, [['sku:other', adjust(2)]]);
  assert.equal(behind.replies[0].error?.code, 'UNAVAILABLE');
  assert.equal(behind.stats.rows, 0);
  assert.deepEqual(storedRows(dir), [[1, 'sku:ok', 1]]);
  assert.equal(probeRows(dir).length, 0);

  // The disk answers again: the next group scrubs first, then commits.
  diskRefuses = false;
  const next = commit(rt, [['sku:other', adjust(2)]]);
  assert.equal(next.replies[0].result?.available, 2, 'the refused changes are not there, the new one is');
  assert.equal(rt.commitFailing, false);
  assert.equal(probeRows(dir).length, 1, 'scrubbed before it was written');

  // A failure whose scrub succeeds at once leaves the journal writable for the next group.
  const again = commit(rt, [['sku:victim', adjust(1)]]);
  assert.equal(again.replies[0].error?.code, 'UNAVAILABLE');
  assert.equal(again.stats.commitFailing, false, 'scrubbed at once, not at the next commit');
  opts.failCommitsFor = undefined;
  const last = commit(rt, [['sku:victim', adjust(2)]]);
  assert.equal(last.replies[0].result?.available, 2, 'the victim comes back as stored: nothing of its refused changes');
  assert.deepEqual(storedRows(dir), [
    [1, 'sku:ok', 1],
    [2, 'sku:other', 1],
    [3, 'sku:victim', 1],
  ]);
});
