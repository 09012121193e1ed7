// A request forwarded to the node that owns its actor, when no answer comes back: the client is told
// whether the change may have been made. Only "no responders" (nobody listens on the owner's
// subject, so the request reached no one) means nothing ran; a timeout or a connection that closed
// with the request sent means it may have run. Real NATS server, real connections.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import { Forwarder, moreSubject, rpcSubject } from '../src/app/cluster/forwarder.js';
import { ConnectionWatch, NODE_CONNECTION } from '../src/persistence/nats-streams.js';
import { decodeValue, encodeOk } from '../src/protocol/frames.js';
import { cartKey } from '../src/protocol/keys.js';
import { haveNatsServer, startNats } from './helpers/nats.js';
import { until } from './helpers/server.js';

interface Answered {
  outcome: number;
  error: { code: string; message: string; details?: { applied?: string } };
}

async function natsUrl(t: TestContext): Promise<string | undefined> {
  if (!haveNatsServer()) {
    t.skip('nats-server is not installed and cannot be installed here');
    return undefined;
  }
  const [server] = await startNats(t);
  return server.url;
}

async function nodeConnection(t: TestContext, url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, ...NODE_CONNECTION });
  t.after(() => nc.close().catch(() => undefined));
  return nc;
}

/** Forwards one request to `nodeId` and resolves with what its sink was given (an error here). */
async function forwardOne(f: Forwarder, nodeId: string): Promise<Answered> {
  const [a] = await forwardMany(f, nodeId, 1, 10);
  return { outcome: a.outcome, error: a.value.error! };
}

test('forwarded to a node nobody serves: UNAVAILABLE, and the client is told nothing was changed', async (t) => {
  const url = await natsUrl(t);
  if (!url) return;
  const nc = await nodeConnection(t, url);
  const f = new Forwarder(nc, new ConnectionWatch(nc, 'test'), () => undefined);
  const a = await forwardOne(f, 'gone');
  assert.equal(a.error.code, 'UNAVAILABLE');
  assert.equal(a.error.details?.applied, undefined, a.error.message);
  assert.match(a.error.message, /nothing was changed/);
});

test('forwarded, received by the owner, no answer in time: the change may have been made', async (t) => {
  const url = await natsUrl(t);
  if (!url) return;
  const owner = await nodeConnection(t, url);
  let received = 0;
  owner.subscribe(rpcSubject('slow'), { callback: () => void received++ });
  await owner.flush();
  const nc = await nodeConnection(t, url);
  const f = new Forwarder(nc, new ConnectionWatch(nc, 'test'), () => undefined, 300);
  const a = await forwardOne(f, 'slow');
  assert.equal(received, 1);
  assert.equal(a.error.code, 'UNAVAILABLE');
  assert.equal(a.error.details?.applied, 'unknown', a.error.message);
  assert.match(a.error.message, /did not answer in time/);
});

test('forwarded, received by the owner, then this node closes its connection: the change may have been made', async (t) => {
  const url = await natsUrl(t);
  if (!url) return;
  const owner = await nodeConnection(t, url);
  let received = 0;
  owner.subscribe(rpcSubject('busy'), { callback: () => void received++ });
  await owner.flush();
  const nc = await nodeConnection(t, url);
  const f = new Forwarder(nc, new ConnectionWatch(nc, 'test'), () => undefined);
  const answered = forwardOne(f, 'busy');
  await until(() => received === 1, { what: 'the owner received the forwarded request' });
  await nc.close();
  const a = await answered;
  assert.equal(a.error.code, 'UNAVAILABLE');
  assert.equal(a.error.details?.applied, 'unknown', a.error.message);
  assert.match(a.error.message, /may or may not have been made/);
});

/** Forwards `n` requests to `nodeId` in one turn, each carrying `pad` characters; resolves with their answers in order. */
function forwardMany(
  f: Forwarder,
  nodeId: string,
  n: number,
  pad: number,
): Promise<{ outcome: number; value: { ok?: boolean; result?: unknown; error?: Answered['error'] } }[]> {
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<{ outcome: number; value: { ok?: boolean; result?: unknown; error?: Answered['error'] } }>((resolve) => {
          let got: { frame: Uint8Array; outcome: number } | undefined;
          const cmd = { type: 'note', text: 'x'.repeat(pad) };
          f.forward(
            nodeId,
            cartKey(`u_${i}`),
            i + 1,
            cmd,
            {
              push: (frame, _id, outcome) => ((got = { frame, outcome }), true),
              flush: () => resolve({ outcome: got!.outcome, value: decodeValue(got!.frame) as { ok?: boolean } }),
            },
            0,
          );
        }),
    ),
  );
}

test('more than NATS takes in one message (max_payload 64 KiB): a batch goes in parts, its answers come back in pages', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t, 1, 'max_payload: 65536\n');
  const owner = await nodeConnection(t, server.url);
  const ownerSide = new Forwarder(owner, new ConnectionWatch(owner, 'owner'), () => undefined);
  const batches: number[] = [];
  let answerBytes = 0;
  ownerSide.listen('b', (_key, id, cmd, sink) => {
    // Answers of `answerBytes` each, so a batch's answers can outgrow one message.
    sink.push(encodeOk(id, { type: cmd.type, echo: 'y'.repeat(answerBytes) }), id, 0);
    sink.flush();
  });
  const counting = owner.subscribe(rpcSubject('b'), { callback: (_err, m) => void batches.push(m.data.length) });
  t.after(() => counting.unsubscribe());
  await owner.flush();
  const nc = await nodeConnection(t, server.url);
  const f = new Forwarder(nc, new ConnectionWatch(nc, 'asker'), () => undefined);

  // 40 requests of ~3 KB: ~120 KB, sent as several batches; every answer comes back.
  const small = await forwardMany(f, 'b', 40, 3_000);
  // The counting subscription hears a batch after the one that answers it.
  await until(() => batches.length >= 2, { timeoutMs: 2_000, what: 'the batch sent in parts' });
  assert.ok(Math.max(...batches) <= 65_536, `a batch of ${Math.max(...batches)} bytes`);
  assert.deepEqual(
    small.map((a) => a.value.ok),
    small.map(() => true),
  );

  // Answers of 5 KB to requests of 3 KB: ~100 KB of answers to a batch of ~60 KB, in pages.
  answerBytes = 5_000;
  const big = await forwardMany(f, 'b', 20, 3_000);
  assert.deepEqual(
    big.map((a) => a.value.ok),
    big.map(() => true),
  );
  assert.deepEqual(
    big.map((a) => (a.value.result as { echo: string }).echo.length),
    big.map(() => 5_000),
  );

  // An answer larger than a message can be: replaced by an UNAVAILABLE that says the request ran.
  answerBytes = 70_000;
  const [huge] = await forwardMany(f, 'b', 1, 10);
  assert.equal(huge.value.error?.code, 'UNAVAILABLE');
  assert.deepEqual(huge.value.error?.details, { retryAfterMs: 0, applied: true });
});

test('answers in pages whose rest the answering node no longer has: the requests left are told their change may have been made', async (t) => {
  if (!haveNatsServer()) return t.skip('nats-server is not installed and cannot be installed here');
  const [server] = await startNats(t);
  // A node that ran three requests and answers the first in a page, then has lost the rest (it restarted).
  const owner = await nodeConnection(t, server.url);
  const pack = (p: object) => new Packr({ useRecords: false }).pack(p);
  owner.subscribe(rpcSubject('r'), {
    callback: (_err, m) => {
      const frame = encodeOk(1, { first: true });
      m.respond(pack({ frames: frame, ends: [frame.length], outcomes: new Uint8Array([0]), more: 'gone-token' }));
    },
  });
  let asked = '';
  owner.subscribe(moreSubject('r'), {
    callback: (_err, m) => {
      asked = m.string();
      m.respond(pack({ frames: new Uint8Array(0), ends: [], outcomes: new Uint8Array(0) }));
    },
  });
  await owner.flush();
  const nc = await nodeConnection(t, server.url);
  const f = new Forwarder(nc, new ConnectionWatch(nc, 'asker'), () => undefined);
  const answers = await forwardMany(f, 'r', 3, 10);
  assert.equal(asked, 'gone-token');
  assert.deepEqual(answers[0].value.result, { first: true });
  for (const a of answers.slice(1)) {
    assert.equal(a.value.error?.code, 'UNAVAILABLE');
    assert.equal(a.value.error?.details?.applied, 'unknown', a.value.error?.message);
  }
});
