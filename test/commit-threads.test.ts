// Which thread makes a group commit durable, as /metrics counts it (cartwire_group_commits_total).
// A shard whose group has nothing in flight and nothing queued behind it commits it on its own
// thread; its writer thread takes groups only when other work waits behind one. Under a steady
// stream of changes that still means the shard thread: sending such groups to the writer was
// measured to cost 5-39% more server CPU per request on a 2-core machine with no throughput to
// show for it (docs/benchmarks.md, "Which thread commits under load"). Read on a real one-shard
// server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startEdgeTestServer } from './helpers/server.js';
import { RawSocket } from './helpers/raw-socket.js';
import { metricSum } from './helpers/proc.js';

/** Group commits so far, by the thread that made them; both series are there from the start. */
async function commits(url: string): Promise<{ shard: number; writer: number }> {
  return {
    shard: await metricSum(url, 'cartwire_group_commits_total', 'thread="shard"'),
    writer: await metricSum(url, 'cartwire_group_commits_total', 'thread="writer"'),
  };
}

async function guest(t: TestContext, url: string): Promise<RawSocket> {
  const s = await RawSocket.open(url);
  t.after(() => s.close());
  const r = await s.answer(s.request('auth.guest', {}));
  assert.equal(r.ok, true, JSON.stringify(r));
  return s;
}

test('lone changes and a steady stream of changes are committed on the shard thread, and counted', async (t) => {
  const srv = await startEdgeTestServer(t);
  await commits(srv.url); // both series are there from the start (metricSum fails on a missing one)
  const one = await guest(t, srv.url);
  assert.equal((await one.answer(one.request('cart.add', { sku: 'soap-bar', qty: 1 }))).ok, true);

  const before = await commits(srv.url);
  for (let i = 0; i < 20; i++) {
    const r = await one.answer(one.request('cart.setQty', { sku: 'soap-bar', qty: 1 + (i % 2) }));
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  const sequential = await commits(srv.url);
  // 19 changes (the first sets the quantity the line has). A commit of the server's own (a
  // retention sweep, a timer) may meet one of them now and then and send it to the writer.
  const seen = JSON.stringify({ before, sequential });
  assert.ok(sequential.shard - before.shard >= 17, `lone changes are committed on the shard thread: ${seen}`);
  assert.ok(sequential.writer - before.writer <= 2, `lone changes do not go to the writer thread: ${seen}`);

  // Eight connections each send a change every millisecond, answered or not, for a while: a
  // steady stream, whose requests reach the shard while it commits.
  const sockets = await Promise.all(Array.from({ length: 8 }, () => guest(t, srv.url)));
  for (const s of sockets) assert.equal((await s.answer(s.request('cart.add', { sku: 'soap-bar', qty: 1 }))).ok, true);
  const sent = sockets.map((s) => s.responses.length);
  let i = 0;
  await new Promise<void>((resolve) => {
    const deadline = Date.now() + 1500;
    const tick = setInterval(() => {
      if (Date.now() > deadline) return resolve(clearInterval(tick));
      i++;
      sockets.forEach((s, k) => {
        s.request('cart.setQty', { sku: 'soap-bar', qty: 2 + (i % 2) });
        sent[k]++;
      });
    }, 1);
  });
  await Promise.all(sockets.map((s, k) => s.waitFor(() => s.responses.length >= sent[k], 'every change answered', 20_000)));
  for (const s of sockets) for (const r of s.responses) assert.equal(r.ok, true, JSON.stringify(r));
  const loaded = await commits(srv.url);
  const writer = loaded.writer - sequential.writer;
  const all = writer + loaded.shard - sequential.shard;
  assert.ok(all >= 30, `the stream made group commits: ${JSON.stringify({ sequential, loaded })}`);
  // 0 of 1,100 measured; with the requests that reached the shard during a commit sent to the writer, 18-30%.
  assert.ok(writer <= all / 20, `under a steady stream the shard thread commits: ${JSON.stringify({ sequential, loaded })}`);
});
