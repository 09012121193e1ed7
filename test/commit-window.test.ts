// One node's commit window (COMMIT_WINDOW_US): a shard that commits often holds a small group
// open for the rest of the window and commits what arrived meanwhile with it. Driven with a wide
// window (20 ms), so that the grouping shows in the commit counts whatever the machine's speed:
// on the real server binary, writes spaced 2 ms apart share commits and every acknowledged one
// survives a kill -9 in the middle of the stream; on a shard worker driven message by message, a
// control message queued behind a group still runs before what arrives during its window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverRestarts, tmpDataDir, connect } from './helpers/server.js';
import { metricSum } from './helpers/proc.js';
import { shardOptions } from './helpers/holds.js';
import { ShardLink } from '../src/app/shard-link.js';
import { appendRequest } from '../src/workers/request-codec.js';
import type { FromShard, ShardRequest } from '../src/workers/shard-messages.js';
import type { CartView } from '../src/protocol/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WINDOW_MS = 20;
const WARM_UP = 20;
const WRITES = 60;

const commits = async (url: string) => ({
  commits: await metricSum(url, 'cartwire_journal_batch_rows_count'),
  rows: await metricSum(url, 'cartwire_journal_batch_rows_sum'),
  waits: await metricSum(url, 'cartwire_journal_commit_window_waits_total'),
  held: await metricSum(url, 'cartwire_journal_commit_window_seconds_total'),
});

test('writes arriving within the commit window share group commits, and every acknowledged one survives kill -9', async (t) => {
  const dir = tmpDataDir(t);
  const start = serverRestarts(t, dir, { SHARDS: '1', COMMIT_WINDOW_US: String(WINDOW_MS * 1000) });
  const s = await start();
  const c = await connect(s.url);
  const { token } = await c.call('auth.guest', {});
  const add = () => c.call('cart.add', { sku: 'soap-bar', qty: 1 });
  // Open loop: one write every 2 ms, none waiting for the one before; each resolves with whether
  // it was acknowledged. The first ones teach the shard that it commits often.
  const stream = async (n: number, each?: () => void): Promise<Promise<boolean>[]> => {
    const acks: Promise<boolean>[] = [];
    for (let i = 0; i < n; i++) {
      acks.push(
        Promise.resolve()
          .then(add)
          .then(
            () => (each?.(), true),
            () => false,
          ),
      );
      await sleep(2);
    }
    return acks;
  };
  const allAcked = async (acks: Promise<Promise<boolean>[]>) => assert.ok((await Promise.all(await acks)).every(Boolean), 'every write is acknowledged');
  await allAcked(stream(WARM_UP));
  const before = await commits(s.url);
  const t0 = performance.now();
  await allAcked(stream(WRITES));
  const elapsed = performance.now() - t0;
  const after = await commits(s.url);
  const made = after.commits - before.commits;
  t.diagnostic(`${WRITES} writes 2 ms apart over ${Math.round(elapsed)} ms: ${made} group commits, ${after.rows - before.rows} rows`);
  assert.ok(after.rows - before.rows >= WRITES, 'every write is a journal row');
  // Each alone would be a commit of its own (a commit takes well under 2 ms); held, the commits
  // come about one per window, however late the timers here fire.
  assert.ok(made <= Math.ceil(elapsed / WINDOW_MS) + 3, `${made} group commits for ${WRITES} writes in ${Math.round(elapsed)} ms`);
  const waits = after.waits - before.waits;
  assert.ok(waits >= 1 && waits <= made, `${waits} commits held open (of ${made})`);
  assert.ok(after.held - before.held > 0, 'the time held open is counted');

  // kill -9 in the middle of a stream: every add acknowledged before it is stored.
  let acked = WARM_UP + WRITES;
  const sent = acked + WRITES;
  const acks = stream(WRITES, () => void acked++);
  await sleep(WRITES);
  await s.kill9();
  await Promise.all(await acks);
  await c.close();
  const again = await start();
  const back = await connect(again.url);
  await back.call('auth.resume', { token });
  const qty = (await back.call('cart.get', {})).items.find((l) => l.sku === 'soap-bar')?.qty ?? 0;
  t.diagnostic(`after kill -9: ${acked} adds acknowledged, ${qty} stored, ${sent} sent`);
  assert.ok(qty >= acked && qty <= sent, `${qty} stored: every one of the ${acked} acknowledged adds, none beyond the ${sent} sent`);
  await back.close();
});

test('a control message queued behind a group runs before the batches that arrive during its window', async (t) => {
  const dir = tmpDataDir(t);
  const waiting = new Map<number, (m: FromShard) => void>();
  const answers = new Map<number, (value: unknown) => void>();
  let ready: () => void;
  const up = new Promise<void>((r) => (ready = r));
  const link = new ShardLink(
    0,
    { opts: { ...shardOptions(dir, 0), commitWindowUs: WINDOW_MS * 1000, epoch: 'test' }, catalogHere: false, maxHeapMb: 256 },
    {
      message(m) {
        if (m.t === 'ready') ready();
        if (m.t === 'replies') waiting.get(m.batch)?.(m);
        if (m.t === 'answer') answers.get(m.ask)?.(m.value);
      },
      down(reason) {
        assert.fail(`the shard worker died: ${reason}`);
      },
    },
  );
  t.after(() => link.stop());
  link.start();
  await up;

  const key = 'cart:u_window';
  const item = { productId: 'p_soap', name: 'Soap', unitPrice: 450, currency: 'EUR', available: 1_000_000 };
  let nextBatch = 1;
  /** Posts one batch with one add; resolves with its replies message. */
  const addBatch = (): Promise<FromShard> => {
    const batch = nextBatch++;
    const flat: unknown[] = [];
    appendRequest(flat, batch, key, { type: 'add', sku: 'soap-bar', qty: 1, item } as ShardRequest['cmd']);
    const replied = new Promise<FromShard>((r) => waiting.set(batch, r));
    link.post({ t: 'batch', batch, flat });
    return replied;
  };
  const inspect = (ask: number): Promise<unknown> => {
    const answered = new Promise<unknown>((r) => answers.set(ask, r));
    link.post({ t: 'inspect', ask, key });
    return answered;
  };

  // Commits 2 ms apart: the shard now commits often, and a lone add would be held.
  for (let i = 0; i < WARM_UP; i++) {
    await addBatch();
    await sleep(2);
  }
  // An add and a read of its cart posted together, then another add 5 ms later, inside the
  // window of the first: the read runs between the two adds.
  const first = addBatch();
  const read = inspect(1);
  await sleep(5);
  const second = addBatch();
  await Promise.all([first, second]);
  const seen = (await read) as CartView;
  assert.equal(seen.items[0].qty, WARM_UP + 1, 'the read saw the first add and not the second');
  const end = (await inspect(2)) as CartView;
  assert.equal(end.items[0].qty, WARM_UP + 2);
});
