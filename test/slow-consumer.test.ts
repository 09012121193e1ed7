// Slow consumers (docs/protocol.md "Subscriptions"): a connection that stops reading while pushes
// flow is closed by the server once more than 4 MiB wait for it, so it cannot grow the server's
// memory, and a subscriber that keeps reading gets every version in order meanwhile.
//
// What uWebSockets.js does at the limit (maxBackpressure 4 MiB + closeOnBackpressureLimit in
// src/server.ts): the first send or publish that finds more than 4 MiB buffered for a socket is
// dropped and uWS shuts down the socket's read side; the event loop then reads end-of-stream on
// it and closes it as if the client had sent a FIN: the server's close handler runs (the
// connection leaves the cartwire_connections gauge) and the user-space buffer is freed. No close
// frame is sent. The client, once it reads again, gets what the kernel still held for it (whole
// frames, then possibly a cut one) followed by a FIN: a contiguous run of versions, then the end.
//
// The server runs as a child process so that its RSS can be read from /proc/<pid>/status.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connectGuest, spawnServer, tmpDataDir, until, ADMIN_EMAIL, ADMIN_PASSWORD, logLines } from './helpers/server.js';
import { TcpWebSocket } from './helpers/tcp-socket.js';
import { pack } from './helpers/raw-socket.js';
import { CartwireClient } from '../src/client/index.js';
import type { InventoryView } from '../src/protocol/types.js';
import { metricValue, rssBytes } from './helpers/proc.js';

const MiB = 1024 * 1024;
const SKU = 'slow-consumer-sku';
const CHANGES = 10_000;
const BATCH = 256;
/**
 * Warehouses of the sku. Each push carries the whole inventory object, and 150 warehouses with
 * 64-character ids make it ~13.5 KB, so 10,000 pushes are ~135 MB per subscriber. Small pushes
 * would never reach the limit: 10,000 pushes of the default ~150 bytes are 1.5 MB, less than the
 * kernel's socket buffers (up to 4 MiB of send buffer on the server side alone) plus 4 MiB.
 */
const WAREHOUSES = 150;
/**
 * Allowed RSS growth during the measured burst over the server's RSS high-water mark before it
 * (see the warm-up). Measured on a 2-core machine over ~40 runs: -12..+24 MiB, mostly under
 * 10, with the limit in place (the stalled connection may pin 4 MiB; the rest is heap noise);
 * 190-260 MiB with maxBackpressure raised to 1 GiB (the ~130 MB the stalled connection would
 * have buffered, plus the buffer's growth by doubling). 64 MiB is well clear of both.
 */
const RSS_BOUND = 64 * MiB;
const WARMUP_BURSTS = 2;

/**
 * `count` stock changes of the sku from the admin, 256 per frame (the SDK batches calls made in
 * one tick), each batch awaited. A batch goes only once the reading subscriber has every push of
 * the batches before it, so it is never more than one batch (~3.3 MB) behind: it is the normal
 * client here, and a starved test process must not make it a slow consumer itself.
 */
async function burst(admin: CartwireClient, count: number, readerGot: () => number, readerStart: number): Promise<void> {
  for (let done = 0; done < count; done += BATCH) {
    await until(() => readerGot() - readerStart >= done, { timeoutMs: 20_000, what: 'the reading subscriber to keep up' });
    const n = Math.min(BATCH, count - done);
    await Promise.all(
      Array.from({ length: n }, (_, j) =>
        // Alternating: main's on-hand goes up and down by one and never runs out.
        admin.call('inventory.adjust', { sku: SKU, type: (done + j) % 2 === 0 ? 'purchase' : 'sale', qty: 1, reason: 'slow-consumer burst' }),
      ),
    );
  }
}

test(
  'a subscriber that stops reading is closed by the server; RSS stays bounded; a reading subscriber gets every version in order',
  { timeout: 60_000 },
  async (t) => {
    const started = Date.now();
    const srv = await spawnServer(tmpDataDir(t));
    t.after(() => srv.kill9());
    const pid = srv.proc.pid!;
    // A batch of 256 changes with ~13 KiB replies waits for its group commit (fsync): on a busy
    // shared disk that can take seconds, so the SDK's calls get 30 s instead of the default 10 s.
    const admin = await CartwireClient.connect(srv.url, { timeoutMs: 30_000 });
    await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    t.after(() => admin.close());
    await admin.call('catalog.upsert', { productId: 'slow-consumer', name: 'Slow consumer', category: 'test', variants: [{ sku: SKU, price: 100 }] });
    await admin.call('inventory.adjust', { sku: SKU, type: 'purchase', qty: 1_000_000, reason: 'setup' });
    await Promise.all(
      Array.from({ length: WAREHOUSES }, (_, i) =>
        admin.call('inventory.adjust', {
          sku: SKU,
          type: 'purchase',
          qty: 1,
          reason: 'setup',
          warehouse: `wh-${String(i).padStart(3, '0')}-${'x'.repeat(57)}`,
        }),
      ),
    );

    // The normal subscriber: every push as it arrives (onPush shows stale and duplicate ones too).
    const reader = await CartwireClient.connect(srv.url, { timeoutMs: 30_000 });
    await reader.call('auth.guest', {});
    t.after(() => reader.close());
    const versions: number[] = [];
    let pushBytes = 0;
    reader.onPush((push, data) => {
      if (push !== 'inventory.updated') return;
      const inv = data as InventoryView;
      versions.push(inv.version);
      if (pushBytes === 0) pushBytes = pack({ push, data }).length;
    });
    const first = await reader.call('inventory.subscribe', { sku: SKU });
    assert.equal(Object.keys(first.warehouses).length, WAREHOUSES + 1);

    // Warm-up: the same burst twice with nobody stalled. The RSS high-water mark of that traffic is
    // the baseline. The first burst of this size grows the V8 heaps of the main thread and the two
    // shard workers and the allocator's arenas by ~100 MB and the second by another 10-30 MB; from
    // then on a burst's peak stays within a few MB of the high-water (measured over six rounds),
    // while the RSS at one instant between bursts drifts by tens of MB, a poor baseline.
    const rss = { peak: rssBytes(pid) };
    const sampler = setInterval(() => (rss.peak = Math.max(rss.peak, rssBytes(pid))), 10);
    t.after(() => clearInterval(sampler));
    for (let round = 1; round <= WARMUP_BURSTS; round++) {
      await burst(admin, CHANGES, () => versions.length, (round - 1) * CHANGES);
      await until(() => versions.length === round * CHANGES, { timeoutMs: 20_000, what: 'the warm-up pushes' });
    }

    // The stalled connection: signed in, subscribed, then it never reads again.
    const stalled = await TcpWebSocket.open(srv.url);
    t.after(() => stalled.destroy());
    stalled.request(1, 'auth.guest');
    stalled.request(2, 'inventory.subscribe', { sku: SKU });
    await stalled.waitFor(() => stalled.answerTo(2) !== undefined, 'the subscribe reply');
    const subscribed = stalled.answerTo(2)!;
    assert.equal(subscribed.ok, true, JSON.stringify(subscribed.error));
    const stalledFrom = (subscribed.result as InventoryView).version;
    stalled.pause();
    const bytesWhenPaused = stalled.bytes;
    await until(async () => (await metricValue(srv.url, 'cartwire_connections')) === 3, { what: 'admin, reader and stalled connected' });

    const before = rssBytes(pid);
    const baseline = Math.max(rss.peak, before);
    rss.peak = before;
    const burstStart = Date.now();
    await burst(admin, CHANGES, () => versions.length, WARMUP_BURSTS * CHANGES);
    await until(() => versions.length >= (WARMUP_BURSTS + 1) * CHANGES, { timeoutMs: 20_000, what: 'every push of the burst at the reader' });
    const burstMs = Date.now() - burstStart;
    clearInterval(sampler);
    const peak = Math.max(rss.peak, rssBytes(pid));

    // The reader got every version of all bursts, once each, in order.
    const expected = Array.from({ length: (WARMUP_BURSTS + 1) * CHANGES }, (_, i) => first.version + 1 + i);
    assert.equal(versions.length, expected.length, 'push count at the reader');
    assert.ok(
      versions.every((v, i) => v === expected[i]),
      `versions out of order or missing near ${versions.findIndex((v, i) => v !== expected[i])}`,
    );
    assert.equal(reader.state, 'open', 'the reading subscriber was not closed');

    const growth = peak - baseline;
    t.diagnostic(
      `push ${(pushBytes / 1024).toFixed(1)} KiB; burst of ${CHANGES} in ${burstMs} ms; RSS before ${(before / MiB).toFixed(1)} MiB, baseline (high-water so far) ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB})`,
    );
    assert.ok(growth < RSS_BOUND, `server RSS grew by ${(growth / MiB).toFixed(1)} MiB during the burst (bound ${RSS_BOUND / MiB} MiB)`);

    // Closed by the server while the client still was not reading: only admin and reader are left.
    await until(async () => (await metricValue(srv.url, 'cartwire_connections')) === 2, {
      timeoutMs: 10_000,
      what: 'the server to close the stalled connection',
    });
    assert.equal(stalled.bytes, bytesWhenPaused, 'the stalled client read nothing while paused');

    // Reading again: what the kernel held, then a FIN. No close frame, no reset.
    stalled.resume();
    await stalled.waitFor(() => stalled.closed, 'the end of the stalled connection', 10_000);
    assert.equal(stalled.ended, true, `a FIN ends the stalled connection: ${stalled.describe()}`);
    assert.equal(stalled.error, undefined, `no reset: ${stalled.describe()}`);
    assert.equal(stalled.closeFrame, undefined, 'uWS sends no close frame to a connection over its backpressure limit');
    const got = stalled.messages.filter((m) => m.push === 'inventory.updated').map((m) => (m.data as InventoryView).version);
    assert.ok(got.length > 0 && got.length < CHANGES / 2, `the stalled client got ${got.length} pushes: what its socket buffers held, not the burst`);
    assert.deepEqual(
      got,
      Array.from({ length: got.length }, (_, i) => stalledFrom + 1 + i),
      'a contiguous run of versions',
    );
    t.diagnostic(`stalled client: ${got.length} pushes, ${(stalled.bytes / MiB).toFixed(2)} MiB, ${stalled.pendingBytes} bytes of a cut frame, then FIN`);

    // The server still answers, with the state the burst left.
    const fresh = await connectGuest(srv.url);
    t.after(() => fresh.close());
    assert.equal(typeof (await fresh.call('ping', {})).now, 'number');
    assert.equal((await fresh.call('inventory.get', { sku: SKU })).version, first.version + (WARMUP_BURSTS + 1) * CHANGES);
    await fresh.close();
    await reader.close();
    await admin.close();
    assert.deepEqual(logLines(srv), [`listening on ${srv.url}`], 'nothing logged');
    assert.equal(await srv.term(), 0, srv.output());
    t.diagnostic(`total ${Date.now() - started} ms`);
  },
);
