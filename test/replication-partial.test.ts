// A shard's group commit in cluster mode whose journal appends are refused for one partition after
// another partition of the same group was stored: the refusal says the change may have been made,
// nothing is applied locally, and the stored partition is given up too, so the node reads it back
// from the journal before serving it again (instead of serving a store that is behind the journal
// it keeps appending to). The replication runs on a real nats-server against a stand-in for the
// shard runtime (only the calls the replication makes, recorded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Replication } from '../src/workers/shard/replication.js';
import { JOURNAL_STREAM, ReplicatedJournal } from '../src/persistence/replicated-journal.js';
import { PartitionSnapshots } from '../src/persistence/partition-snapshots.js';
import type { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { partitionOfKey } from '../src/protocol/keys.js';
import { haveNatsServer, startNats } from './helpers/nats.js';

const PARTITIONS = 16;
const keyIn = (p: number): string => {
  for (let i = 0; ; i++) if (partitionOfKey(`cart:u${i}`, PARTITIONS) === p) return `cart:u${i}`;
};

test('cluster: a group commit refused after part of it was stored gives the stored partitions up and says the change may have been made', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t);
  const admin = await connect({ servers: server.url });
  t.after(() => admin.close());
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({ name: JOURNAL_STREAM, subjects: ['cw.j.>'] });
  await PartitionSnapshots.ensureStream(jsm, 1);

  const calls = { positions: [] as number[], dropped: [] as number[] };
  let staged: (string | number | Buffer)[] = [];
  const runtime = {
    stagedRows: () => staged,
    stagePartitionPosition: (p: number) => void calls.positions.push(p),
    dropPartition: (p: number) => void calls.dropped.push(p),
    partitionPosition: () => 0,
    loadPartitionTimers: () => undefined,
    openOrdersOf: () => [],
  } as unknown as ShardRuntime;
  const rep = await Replication.open(runtime, { servers: [server.url], nodeId: 'a', partitions: PARTITIONS, snapshotEvery: 1_000 }, 'a-1');
  t.after(() => rep.close());
  await rep.acquire(3);
  await rep.acquire(4);
  const [k3, k4] = [keyIn(3), keyIn(4)];
  assert.ok(rep.serves(k3) && rep.serves(k4));

  // Another owner appends to partition 4 (this node was paused past its lease, say).
  const other = await ReplicatedJournal.open([server.url], 'b-1');
  t.after(() => other.close());
  await other.catchUp(4, 0, () => undefined);
  const [theirs] = await other.append(new Map([[4, { rows: [k4, 1, Buffer.from('theirs')] }]]));
  assert.ok(theirs.ok);

  // A group touching both partitions: 3 is stored, 4 is fenced.
  staged = [k3, 1, Buffer.from('mine 3'), k4, 1, Buffer.from('mine 4')];
  const refusal = await rep.replicate();
  assert.equal(refusal?.code, 'UNAVAILABLE');
  assert.equal(refusal?.details?.applied, 'unknown', refusal?.message);
  assert.deepEqual(calls.positions, [], 'nothing of the group is applied here');
  assert.deepEqual(rep.takeLost().sort(), [3, 4]);
  assert.deepEqual(calls.dropped.sort(), [3, 4]);
  assert.ok(!rep.serves(k3) && !rep.serves(k4));

  // What the journal holds for partition 3 is what a catch-up reads back: this group's rows.
  const reader = await ReplicatedJournal.open([server.url], 'reader');
  t.after(() => reader.close());
  const read: unknown[] = [];
  await reader.catchUp(3, 0, (_, m) => read.push(...m.rows));
  assert.equal(read[0], k3);
});
