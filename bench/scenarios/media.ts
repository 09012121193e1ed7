// `bench media`: product images. Three measures against one server:
// 1. a hot set of images (originals and their WebP copies) served over keep-alive HTTP by
//    concurrent clients: requests per second and latency percentiles;
// 2. upload to visible: POST /media (the check and the three resizes included), then
//    catalog.setImages, until GET /products/<id>.json shows the image;
// 3. cart ops (cart.add / cart.setQty, 1 in flight per connection) with no upload, then while
//    20 large uploads at a time are checked and resized: the p99 difference is what resizing
//    costs the threads that serve carts (goal: within 1 ms).
import { Agent, request } from 'node:http';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { CartwireClient } from '../../src/client/index.js';
import { withCartwire } from '../lib/harness.js';
import { newHistogram, summarize, type Histogram } from '../lib/histogram.js';
import { baseResult } from '../lib/run.js';
import { defineScenario, int, num } from '../lib/scenario.js';
import { ADMIN_PASSWORD } from '../lib/server.js';
import { fmtInt, us } from '../lib/format.js';

interface MediaOptions {
  hotSet: number;
  readers: number;
  duration: number;
  uploads: number;
  parallelUploads: number;
  cartConnections: number;
}

const WIDTHS = [undefined, 200, 400, 800] as const;
/** Skus with enough stock for a long run of add/setQty (demo catalog). */
const CART_SKUS = ['soap-bar', 'lip-balm-plain', 'yo-yo-red', 'mug-stoneware-sand', 'notebook-dot-black', 'bottle-steel-1l'];

/** A JPEG of this size; a little noise makes it about as large as a product photo. */
function photo(width: number, height: number, seed: number): Promise<Buffer> {
  return sharp({
    create: { width, height, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: 90 }, noise: { type: 'gaussian', mean: 128, sigma: 8 } },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
}

function httpGet(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

async function post(url: string, token: string, body: Buffer): Promise<string> {
  const res = await fetch(`${url}/media`, { method: 'POST', body, headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 201) throw new Error(`POST /media answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { mediaId: string }).mediaId;
}

const ms = (h: Histogram, p: number) => (h.getValueAtPercentile(p) / 1000).toFixed(2);

/** cart.add / cart.setQty in closed loops (1 in flight per connection) until `stop()`; latencies in µs. */
async function cartLoad(url: string, connections: number, until: () => boolean): Promise<{ hist: Histogram; ops: number; seconds: number }> {
  const hist = newHistogram();
  const clients = await Promise.all(Array.from({ length: connections }, () => CartwireClient.connect(url)));
  await Promise.all(clients.map((c) => c.call('auth.guest', {})));
  let ops = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      const sku = CART_SKUS[i % CART_SKUS.length];
      for (let n = 0; !until(); n++) {
        const t = performance.now();
        await (n % 2 === 0 ? c.call('cart.add', { sku, qty: 1 }) : c.call('cart.setQty', { sku, qty: 1 }));
        hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        ops++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  return { hist, ops, seconds };
}

export const scenario = defineScenario<MediaOptions>({
  name: 'media',
  summary: 'product images: hot-set serving (req/s, p99), upload-to-visible time with the resizes, cart p99 while 20 uploads resize',
  configure: (c) =>
    c
      .option('--hot-set <n>', 'distinct images in the hot set (each served as original and 3 copies)', int(1), 20)
      .option('--readers <n>', 'concurrent keep-alive HTTP clients reading the hot set', int(1), 32)
      .option('--duration <s>', 'seconds of each measured window', num, 10)
      .option('--uploads <n>', 'uploads timed from POST to visible in the product JSON', int(1), 10)
      .option('--parallel-uploads <n>', 'uploads kept in flight during the cart measure', int(1), 20)
      .option('--cart-connections <n>', 'cart connections (1 op in flight each)', int(1), 16),
  run: (o) =>
    withCartwire(
      'media',
      o,
      async (cw) => {
        const result = baseResult('media', o, cw);
        const admin = await CartwireClient.connect(cw.url);
        const { token } = await admin.call('auth.login', { email: 'admin@example.com', password: ADMIN_PASSWORD });

        // 1. The hot set.
        console.log(`  uploading a hot set of ${o.hotSet} images ...`);
        const hot: string[] = [];
        for (let i = 0; i < o.hotSet; i++) hot.push(await post(cw.url, token, await photo(1200, 900, i)));
        const paths = hot.flatMap((id) => WIDTHS.map((w) => `${cw.url}/media/${id}${w ? `?w=${w}` : ''}`));
        const agent = new Agent({ keepAlive: true, maxSockets: o.readers });
        const serve = newHistogram();
        let served = 0;
        let failed = 0;
        const end = performance.now() + o.duration * 1000;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: o.readers }, async (_, r) => {
            for (let n = r; performance.now() < end; n += o.readers) {
              const t = performance.now();
              const status = await httpGet(agent, paths[(n * 7919) % paths.length]);
              serve.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
              if (status === 200) served++;
              else failed++;
            }
          }),
        );
        agent.destroy();
        const perSec = served / ((performance.now() - t0) / 1000);
        const s = summarize(serve);
        console.log(`  hot set: ${fmtInt(perSec)} media/s, p50 ${us(s.p50)}, p99 ${us(s.p99)} (${o.readers} readers, ${paths.length} files)`);
        result.facts.push(
          ['hot set: media served per second', fmtInt(perSec)],
          ['hot set: p50 / p99 / max', `${us(s.p50)} / ${us(s.p99)} / ${us(s.max)}`],
          ['hot set: errors', String(failed)],
        );

        // 2. Upload to visible.
        console.log(`  ${o.uploads} uploads, each until the product JSON shows it ...`);
        const uploadH = newHistogram();
        const visibleH = newHistogram();
        for (let i = 0; i < o.uploads; i++) {
          const body = await photo(1600, 1200, 1000 + i);
          const t = performance.now();
          const mediaId = await post(cw.url, token, body);
          uploadH.recordValue(Math.round((performance.now() - t) * 1000));
          await admin.call('catalog.setImages', { productId: 'kite', images: [{ mediaId, alt: 'kite' }] });
          for (;;) {
            const p = (await (await fetch(`${cw.url}/products/kite.json`)).json()) as { images: { mediaId: string }[] };
            if (p.images[0]?.mediaId === mediaId) break;
          }
          visibleH.recordValue(Math.round((performance.now() - t) * 1000));
        }
        console.log(
          `  upload (check + 3 resizes, durable): p50 ${ms(uploadH, 50)} ms, max ${ms(uploadH, 100)} ms; to visible: p50 ${ms(visibleH, 50)} ms, max ${ms(visibleH, 100)} ms`,
        );
        result.facts.push(
          ['upload 1600x1200 JPEG, 201 (check, 3 WebP copies, fsync): p50 / max', `${ms(uploadH, 50)} / ${ms(uploadH, 100)} ms`],
          ['upload to visible in /products/<id>.json: p50 / max', `${ms(visibleH, 50)} / ${ms(visibleH, 100)} ms`],
        );

        // 3. Cart ops alone, then while uploads resize.
        const quietEnd = performance.now() + o.duration * 1000;
        const quiet = await cartLoad(cw.url, o.cartConnections, () => performance.now() > quietEnd);
        // The uploads come from a process of their own: the cart clients here share no event loop with them.
        const uploader = fork(fileURLToPath(new URL('../lib/media-uploader.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        const said = (what: (m: unknown) => boolean) => new Promise<unknown>((resolve) => uploader.on('message', (m) => what(m) && resolve(m)));
        const ready = said((m) => m === 'ready');
        uploader.send({ url: cw.url, token, parallel: o.parallelUploads });
        console.log(`  ${o.parallelUploads} uploads of 3000x2000 photos kept in flight ...`);
        await ready;
        // Let the first uploads reach the image process before measuring.
        await new Promise((r) => setTimeout(r, 2000));
        const busyEnd = performance.now() + o.duration * 1000;
        const busy = await cartLoad(cw.url, o.cartConnections, () => performance.now() > busyEnd);
        const done = said((m) => typeof m === 'object');
        uploader.send('stop');
        const { uploaded, failed: refused } = (await done) as { uploaded: number; failed: number };
        const [qs, bs] = [summarize(quiet.hist), summarize(busy.hist)];
        const delta = (bs.p99 - qs.p99) / 1000;
        console.log(`  cart ops alone: ${fmtInt(quiet.ops / quiet.seconds)} ops/s, p50 ${us(qs.p50)}, p99 ${us(qs.p99)}`);
        console.log(
          `  cart ops while ${o.parallelUploads} uploads resize (${uploaded} done): ${fmtInt(busy.ops / busy.seconds)} ops/s, p50 ${us(bs.p50)}, p99 ${us(bs.p99)}`,
        );
        result.facts.push(
          [`cart ops alone (${o.cartConnections} connections): ops/s, p50 / p99`, `${fmtInt(quiet.ops / quiet.seconds)}, ${us(qs.p50)} / ${us(qs.p99)}`],
          [
            `cart ops while ${o.parallelUploads} 3000x2000 uploads resize: ops/s, p50 / p99`,
            `${fmtInt(busy.ops / busy.seconds)}, ${us(bs.p50)} / ${us(bs.p99)}`,
          ],
          ['uploads completed (the window and its lead-in) / refused', `${uploaded} / ${refused}`],
          ['cart p99 difference (goal: within 1 ms)', `${delta >= 0 ? '+' : ''}${delta.toFixed(2)} ms`],
        );
        result.ratios.push({ name: 'cart p99 increase while uploads resize, ms', value: delta, goal: '<= 1', met: delta <= 1 });
        await admin.close();
        return result;
      },
      // Pictures of the demo catalog are not needed here.
      { SEED_DEMO_IMAGES: '0' },
    ),
});
