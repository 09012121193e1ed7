// Cluster mode's journal when a group commit's rows for one partition are more than NATS takes in
// one message (max_payload): they are appended as several messages, in order, each fenced on the
// one before, and a reader gets every row back in order; a single row over the limit is refused
// at once instead of being retried for ever (which held the shard's commits). A real nats-server
// with a 64 KiB max_payload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { JOURNAL_STREAM, ReplicatedJournal, splitRows, type PartitionMessage } from '../src/persistence/replicated-journal.js';
import { haveNatsServer, startNats } from './helpers/nats.js';

const row = (key: string, seq: number, bytes: number): PartitionMessage['rows'] => [key, seq, Buffer.alloc(bytes, seq % 251)];

test('splitRows: runs within the limit, in order, and none when one row is over it', () => {
  const rows = [...row('cart:a', 1, 400), ...row('cart:b', 1, 400), ...row('cart:a', 2, 400), ...row('cart:c', 1, 400)];
  const runs = splitRows(rows, 900)!;
  assert.deepEqual(
    runs.map((r) => r.length / 3),
    [2, 2],
  );
  assert.deepEqual(runs.flat(), rows);
  assert.deepEqual(splitRows(rows, 10_000), [rows]);
  assert.equal(splitRows(rows, 300), undefined);
});

test('journal: a partition message over max_payload is appended in parts and read back whole; a row over it is refused at once', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t, 1, 'max_payload: 65536\n');
  const admin = await connect({ servers: server.url });
  t.after(() => admin.close());
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({ name: JOURNAL_STREAM, subjects: ['cw.j.>'] });

  const journal = await ReplicatedJournal.open([server.url], 'test');
  t.after(() => journal.close());
  assert.equal(await journal.catchUp(3, 0, () => assert.fail('an empty partition has no messages')), 0);

  // 400 rows of ~500 bytes: ~200 KB for one partition, more than three messages' worth.
  const rows: PartitionMessage['rows'] = [];
  for (let i = 1; i <= 400; i++) rows.push(...row(`cart:u${i % 7}`, i, 500));
  const [appended] = await journal.append(new Map([[3, { rows }]]));
  assert.ok(appended.ok, JSON.stringify(appended));

  const reader = await ReplicatedJournal.open([server.url], 'reader');
  t.after(() => reader.close());
  const read: PartitionMessage['rows'] = [];
  let messages = 0;
  const last = await reader.catchUp(3, 0, (_, m) => {
    messages++;
    read.push(...m.rows);
  });
  assert.ok(messages >= 4, `${messages} messages`);
  assert.equal(last, appended.seq);
  const plain = (xs: PartitionMessage['rows']) => xs.map((x) => (typeof x === 'object' ? Buffer.from(x).toString('hex') : x));
  assert.deepEqual(plain(read), plain(rows));

  // One row over the limit cannot be stored in any message: refused, nothing stored, quickly.
  const t0 = Date.now();
  const [tooBig] = await journal.append(new Map([[3, { rows: row('cart:huge', 401, 70_000) }]]));
  assert.equal(tooBig.ok, false);
  assert.ok(!tooBig.ok && !tooBig.fenced && !tooBig.stored, JSON.stringify(tooBig));
  assert.ok(Date.now() - t0 < 1_000, `refused after ${Date.now() - t0} ms`);
  // The partition is still written from here, after its last stored message.
  const [after] = await journal.append(new Map([[3, { rows: row('cart:u1', 402, 100) }]]));
  assert.ok(after.ok, JSON.stringify(after));
});
