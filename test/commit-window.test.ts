// One node's commit window (COMMIT_WINDOW_US): a shard that committed a moment ago holds its next
// group open for the rest of the window and commits what arrived meanwhile with it. Driven on the
// real server binary with a wide window, so that the grouping shows in the commit counts whatever
// the machine's speed: writes spaced 2 ms apart share commits, and every acknowledged one survives
// kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverRestarts, tmpDataDir, connect } from './helpers/server.js';
import { metricSum } from './helpers/proc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WRITES = 60;

const commits = async (url: string) => ({
  commits: await metricSum(url, 'cartwire_journal_batch_rows_count'),
  rows: await metricSum(url, 'cartwire_journal_batch_rows_sum'),
  waits: await metricSum(url, 'cartwire_journal_commit_window_waits_total'),
  held: await metricSum(url, 'cartwire_journal_commit_window_seconds_total'),
});

test('writes arriving within the commit window share group commits, and every acknowledged one survives kill -9', async (t) => {
  const dir = tmpDataDir(t);
  const start = serverRestarts(t, dir, { SHARDS: '1', COMMIT_WINDOW_US: '20000' });
  const s = await start();
  const c = await connect(s.url);
  const { token } = await c.call('auth.guest', {});
  await c.call('cart.add', { sku: 'soap-bar', qty: 1 });
  const before = await commits(s.url);

  // Open loop: one write every 2 ms, none waiting for the one before.
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < WRITES; i++) {
    acks.push(c.call('cart.add', { sku: 'soap-bar', qty: 1 }));
    await sleep(2);
  }
  await Promise.all(acks);
  const after = await commits(s.url);
  const made = after.commits - before.commits;
  t.diagnostic(`${WRITES} writes 2 ms apart: ${made} group commits, ${after.rows - before.rows} rows`);
  assert.ok(after.rows - before.rows >= WRITES, 'every write is a journal row');
  // Each alone would be a commit of its own (a commit takes well under 2 ms); a 20 ms window
  // gathers about ten.
  assert.ok(made <= WRITES / 3, `${made} group commits for ${WRITES} writes`);
  const waits = after.waits - before.waits;
  assert.ok(waits >= 1 && waits <= made, `${waits} commits held open (of ${made})`);
  assert.ok(after.held - before.held > 0, 'the time held open is counted');

  await s.kill9();
  await c.close();
  const again = await start();
  const back = await connect(again.url);
  await back.call('auth.resume', { token });
  const cart = await back.call('cart.get', {});
  assert.equal(cart.items.find((l) => l.sku === 'soap-bar')?.qty, WRITES + 1, 'every acknowledged add is in the cart after kill -9');
  await back.close();
});
