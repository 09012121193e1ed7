// A shard's group commit, driven through the runtime on a real shard file: the commit is durable
// when `complete` returns (another connection reads it), journal positions stay contiguous, and a
// commit that fails stores nothing, counts no rows, is refused UNAVAILABLE and leaves the WAL
// scrubbed at once, before the next commit, so a crash cannot bring its frames back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { shardDbPath } from '../src/persistence/shard-db.js';
import { decodeValue } from '../src/protocol/frames.js';
import { shardOptions, type Reply } from './helpers/holds.js';
import { tmpDataDir } from './helpers/server.js';

const T = 1_800_000_000_000;
const adjust = (qty: number) => ({ type: 'adjust', txType: 'purchase', qty, reason: 'stock', warehouse: 'main' }) as { type: string };

function open(t: { after: (fn: () => unknown) => void }, dir: string, failFor?: string): ShardRuntime {
  const rt = new ShardRuntime({ ...shardOptions(dir, 0), ...(failFor ? { failCommitsFor: failFor } : {}) });
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

/** Reads shard 0's file on a connection of its own: only what is committed. */
function readStored<R>(dir: string, sql: string): R[] {
  const db = new Database(shardDbPath(dir, 0), { readonly: true });
  try {
    return db.prepare(sql).all() as R[];
  } finally {
    db.close();
  }
}
const storedRows = (dir: string) =>
  readStored<{ g: number; actor: string; seq: number }>(dir, 'SELECT g, actor, seq FROM journal ORDER BY g').map((r) => [r.g, r.actor, r.seq]);
const probeRows = (dir: string) => readStored<{ value: string }>(dir, "SELECT value FROM meta WHERE key = 'probe'");

test('a group commit is stored when it returns, counted, and the journal positions stay contiguous', (t) => {
  const dir = tmpDataDir(t);
  const rt = open(t, dir);
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

test('a group commit that fails is refused, counts no rows and stores nothing; the WAL is scrubbed at once and the next commit goes on from what is stored', (t) => {
  const dir = tmpDataDir(t);
  const rt = open(t, dir);
  commit(rt, [['sku:victim', adjust(5)]]);
  rt.close();

  const failing = open(t, dir, 'sku:victim');
  const refused = commit(failing, [
    ['sku:victim', adjust(1)],
    ['sku:other', adjust(1)],
  ]);
  assert.deepEqual(
    refused.replies.map((r) => r.error?.code),
    ['UNAVAILABLE', 'UNAVAILABLE'],
    'every request of the group is refused with it',
  );
  assert.equal(refused.stats.rows, 0, 'a failed group wrote nothing, though the disk answered the scrub at once');
  assert.equal(refused.stats.commitFailing, false, 'the scrub that followed found the journal writable');
  assert.equal(probeRows(dir).length, 1, 'scrubbed at once (its probe row), not at the next commit');
  assert.deepEqual(storedRows(dir), [[1, 'sku:victim', 1]]);
  failing.close();

  const again = open(t, dir);
  const next = commit(again, [['sku:victim', adjust(2)]]);
  assert.equal(next.replies[0].result?.available, 7, 'the refused change is not there, the new one is');
  assert.deepEqual(storedRows(dir), [
    [1, 'sku:victim', 1],
    [2, 'sku:victim', 2],
  ]);
});
