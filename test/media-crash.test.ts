// kill -9 during uploads and image changes: after the restart no file under a real name is
// partial (every original hashes to its name and decodes, every copy decodes), every
// acknowledged upload is served, and no product points at a missing image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { adminToken, connectAdmin, serverRestarts, tmpDataDir, until, type ChildServer } from './helpers/server.js';
import { makeImage } from './helpers/images.js';
import { prng } from './helpers/proc.js';
import type { ProductView } from '../src/protocol/types.js';

const PRODUCTS = ['kite', 'tent-2p', 'mug-stoneware', 'headlamp'];

/** Every stored file is whole: originals hash to their names and decode, copies decode. */
async function checkFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'media');
  const ids: string[] = [];
  for (const name of readdirSync(join(root, 'originals'))) {
    const bytes = readFileSync(join(root, 'originals', name));
    const id = name.slice(0, 64);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), id, `${name} is whole`);
    await sharp(bytes).raw().toBuffer(); // decodes to the last pixel
    ids.push(id);
  }
  for (const name of readdirSync(join(root, 'webp'))) {
    const meta = await sharp(readFileSync(join(root, 'webp', name))).metadata();
    assert.equal(meta.format, 'webp', `${name} is a whole WebP`);
    assert.ok(ids.includes(name.slice(0, 64)), `${name} has its original`);
  }
  return ids;
}

test(
  'kill -9 during uploads and catalog.setImages: no partial file, nothing acknowledged lost, no product without its image',
  { timeout: 180_000 },
  async (t) => {
    const dataDir = tmpDataDir(t);
    const start = serverRestarts(t, dataDir);
    const random = prng(20);
    const acked = new Map<string, Buffer>();
    const shown = new Map<string, string[]>(); // productId -> media ids of its last acknowledged setImages
    const sent = new Map<string, string[]>(); // productId -> media ids of its last setImages sent (maybe unanswered)
    let seed = 0;
    let srv: ChildServer = await start();
    for (let round = 0; round < 4; round++) {
      const token = await adminToken(srv.url);
      const admin = await connectAdmin(srv.url);
      let stop = false;
      const lane = async (lane: number) => {
        while (!stop) {
          const body = await makeImage(lane % 2 === 0 ? 'jpeg' : 'png', 1200 + 40 * (seed % 10), 800, ++seed);
          let id: string;
          try {
            const res = await fetch(`${srv.url}/media`, { method: 'POST', body, headers: { authorization: `Bearer ${token}` } });
            if (res.status !== 201) throw new Error(`upload answered ${res.status}`);
            id = ((await res.json()) as { mediaId: string }).mediaId;
          } catch {
            return; // the server died under it: not acknowledged
          }
          acked.set(id, body);
          const productId = PRODUCTS[lane % PRODUCTS.length];
          const images = [id, ...(shown.get(productId) ?? [])].slice(0, 3);
          sent.set(productId, images);
          try {
            const p: ProductView = await admin.call('catalog.setImages', { productId, images: images.map((mediaId) => ({ mediaId, alt: productId })) });
            shown.set(
              productId,
              p.images!.map((i) => i.mediaId),
            );
          } catch {
            return;
          }
        }
      };
      const lanes = [0, 1, 2, 3].map(lane);
      // Kill once some uploads went through, at a random moment in the middle of others.
      const before = acked.size;
      await until(() => acked.size >= before + 2, { timeoutMs: 60_000, what: 'two acknowledged uploads' });
      await new Promise((r) => setTimeout(r, Math.floor(random() * 400)));
      await srv.kill9();
      stop = true;
      await Promise.all(lanes);
      await admin.close().catch(() => undefined);

      const ids = await checkFiles(dataDir);
      srv = await start();
      assert.deepEqual(readdirSync(join(dataDir, 'media', 'tmp')), [], 'what a crash left in tmp/ is gone');
      for (const [id, body] of acked) {
        assert.ok(ids.includes(id), `acknowledged upload ${id} is stored`);
        const res = await fetch(`${srv.url}/media/${id}`);
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(body), 'served as uploaded');
      }
      for (const productId of PRODUCTS) {
        const p = (await (await fetch(`${srv.url}/products/${productId}.json`)).json()) as ProductView;
        const got = p.images!.map((i) => i.mediaId);
        // The last acknowledged change, or the one in flight at the kill.
        if (shown.has(productId))
          assert.ok(
            [shown.get(productId), sent.get(productId)].some((w) => JSON.stringify(w) === JSON.stringify(got)),
            `${productId} keeps its images`,
          );
        shown.set(productId, got);
        for (const img of p.images!) {
          assert.equal((await fetch(`${srv.url}${img.url}`)).status, 200, `${productId} points at a stored image`);
          assert.equal((await fetch(`${srv.url}${img.url}?w=200`)).status, 200);
        }
      }
    }
    assert.ok(acked.size >= 8, `${acked.size} uploads acknowledged`);
  },
);
