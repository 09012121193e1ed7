// Pictures for the demo catalog, drawn at seed time (nothing is downloaded): an SVG per product
// with its category's colours and shapes placed by its id, rendered to JPEG and stored through the
// same path as an admin's upload, then set on the product with catalog.setImages.
import type { CatalogView } from './catalog-view.js';
import type { MediaService } from '../media/media-service.js';
import type { ShardPool } from '../shard-pool.js';
import { CATALOG_KEY } from '../../protocol/keys.js';

const PALETTE: Record<string, [string, string]> = {
  apparel: ['#2f4858', '#86bbd8'],
  footwear: ['#5f0f40', '#fb8b24'],
  electronics: ['#14213d', '#4cc9f0'],
  home: ['#6b705c', '#ffe8d6'],
  books: ['#3d405b', '#f2cc8f'],
  outdoor: ['#1b4332', '#95d5b2'],
  beauty: ['#9d4edd', '#ffd6ff'],
  toys: ['#d62828', '#fcbf49'],
};

/** The demo products that get a picture: the first of each category (a few seconds of a first start on a busy machine). */
export const PICTURED_PER_CATEGORY = 1;

/** FNV-1a, for shapes that differ by product but never between runs. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A 1200x900 picture: a gradient in the category's colours and a few shapes placed by the product id. */
export function demoPicture(productId: string, category: string): string {
  const [dark, light] = PALETTE[category] ?? ['#333333', '#cccccc'];
  let h = hash(productId);
  const next = (n: number) => {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    return h % n;
  };
  const shapes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [x, y, r] = [100 + next(1000), 100 + next(700), 60 + next(180)];
    shapes.push(
      i % 2 === 0
        ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${light}" fill-opacity="0.${3 + next(5)}"/>`
        : `<rect x="${x - r}" y="${y - r / 2}" width="${2 * r}" height="${r}" rx="24" fill="${dark}" fill-opacity="0.${3 + next(5)}"/>`,
    );
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="900" viewBox="0 0 1200 900">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${dark}"/><stop offset="1" stop-color="${light}"/></linearGradient></defs>` +
    `<rect width="1200" height="900" fill="url(#g)"/>${shapes.join('')}</svg>`
  );
}

/** Pictures for the pictured demo products that have none yet (a start that died half-way carries on). */
export async function seedDemoImages(pool: ShardPool, catalog: CatalogView, media: MediaService, productIds: readonly string[]): Promise<number> {
  let set = 0;
  for (const productId of productIds) {
    const p = catalog.stored(productId, true);
    if (!p || (p.images?.length ?? 0) > 0) continue;
    const png = await media.render(demoPicture(productId, p.category));
    const up = await media.upload(png);
    if (!up.ok) throw new Error(`demo picture of ${productId}: ${up.error.message}`);
    const size = media.describe(up.media.mediaId)!;
    const r = await pool.call(CATALOG_KEY, { type: 'setImages', productId, images: [{ mediaId: up.media.mediaId, alt: p.name, ...size }] });
    if (!r.ok) throw new Error(`demo picture of ${productId}: ${r.error.message}`);
    set++;
  }
  return set;
}
