// Responses that become ready together leave as one array frame, joined in a buffer the edge
// reuses for every connection: each frame a client gets must hold its own responses intact, even
// when many connections get large joined frames in the same turn and the kernel cannot take them
// all at once (the transport must have copied what it still holds).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, until } from './helpers/server.js';
import { RawSocket, pack, type WireResponse } from './helpers/raw-socket.js';

const SOCKETS = 2;
const FRAMES = 350;

/** cart.get requests the server has answered, from its /metrics. */
async function answeredCartGets(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^cartwire_requests_total\{[^}]*op="cart\.get"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function guest(t: TestContext, url: string): Promise<{ s: RawSocket; userId: string }> {
  const s = await RawSocket.open(url);
  t.after(() => s.close());
  const r = await s.answer(s.request('auth.guest', {}));
  assert.equal(r.ok, true, JSON.stringify(r));
  return { s, userId: (r.result as { userId: string }).userId };
}

test('joined response frames arrive intact on every connection, each request answered once', async (t) => {
  const srv = await startTestServer(t);
  const clients = await Promise.all(Array.from({ length: SOCKETS }, () => guest(t, srv.url)));
  const reference = await clients[0].s.answer(clients[0].s.request('catalog.search', { limit: 100 }));
  assert.equal(reference.ok, true, JSON.stringify(reference));
  assert.ok((reference.result as { items: unknown[] }).items.length > 0, 'the demo catalog is searchable');

  // The clients read nothing until every frame was sent and answered on the server's side, so
  // the joined frames wait in the transport's buffers while later joins reuse the edge's buffer.
  for (const { s } of clients) s.pause();
  // Every socket sends all its frames at once: [ping, catalog.search, cart.get] per frame, so the
  // edge joins the two it answers itself, and the shard's answers join other connections' turns.
  const sent: { s: RawSocket; userId: string; ids: Map<number, string> }[] = [];
  let id = 1;
  for (const { s, userId } of clients) {
    const ids = new Map<number, string>();
    for (let f = 0; f < FRAMES; f++) {
      const batch = [
        { id: id++, op: 'ping' },
        { id: id++, op: 'catalog.search', args: { limit: 100 } },
        { id: id++, op: 'cart.get', args: {} },
      ];
      for (const r of batch) ids.set(r.id, r.op);
      s.send(pack(batch));
    }
    sent.push({ s, userId, ids });
  }

  await until(async () => (await answeredCartGets(srv.url)) >= SOCKETS * FRAMES, { what: 'every cart.get answered by the server', timeoutMs: 20_000 });
  for (const { s } of sent) s.resume();
  for (const { s, userId, ids } of sent) {
    const mine = (): WireResponse[] => s.responses.filter((r) => r.id !== null && ids.has(r.id));
    await s.waitFor(() => mine().length >= ids.size, `${ids.size} answers`, 20_000);
    const seen = new Set<number>();
    for (const r of mine()) {
      assert.ok(!seen.has(r.id!), `id ${r.id} answered twice`);
      seen.add(r.id!);
      assert.equal(r.ok, true, JSON.stringify(r));
      const op = ids.get(r.id!);
      if (op === 'ping') assert.equal(typeof (r.result as { now: unknown }).now, 'number');
      else if (op === 'catalog.search') assert.deepEqual(r.result, reference.result);
      else assert.equal((r.result as { userId: string }).userId, userId);
    }
    assert.equal(seen.size, ids.size);
    assert.ok(s.frames < s.responses.length, 'some responses arrived joined in array frames');
  }
});
