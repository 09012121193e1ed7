// The storefront shows product pictures: a card's picture and a product page's gallery load in a
// real browser (Debian's chromium), from the srcset the server gave, with the product's alt text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './helpers/server.js';
import { launchBrowser } from './helpers/browser.js';

/** What the test reads of an <img> in the page (the tests are compiled without the DOM types). */
type Img = { complete: boolean; naturalWidth: number };
const loaded = (el: unknown) => (el as Img).complete && (el as Img).naturalWidth > 0;
const naturalWidth = (el: unknown) => (el as Img).naturalWidth;

/** The first demo product of its category (one of those that get a picture at seed time), on the first page of the shop. */
const PICTURED = { id: 'blocks-wood', name: 'Wooden Building Blocks' };

test('storefront cards and product pages show the demo pictures (loaded: natural width > 0), lazy, with srcset and alt', { timeout: 120_000 }, async (t) => {
  const srv = await startTestServer(t, { SEED_DEMO_IMAGES: '1' });
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const served: string[] = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/media/')) served.push(`${r.status()} ${r.headers()['content-type']}`);
  });
  await page.goto(`${srv.url}/`);
  const card = page.getByRole('article', { name: PICTURED.name }).first();
  const img = card.getByRole('img', { name: PICTURED.name });
  await img.scrollIntoViewIfNeeded();
  await img.waitFor();
  assert.equal(await img.getAttribute('loading'), 'lazy');
  assert.match((await img.getAttribute('srcset')) ?? '', /\/media\/[0-9a-f]{64}\?w=200 200w/);
  await page.waitForFunction(loaded, await img.elementHandle(), { timeout: 30_000 });
  const natural = await img.evaluate(naturalWidth);
  assert.ok(natural > 0, `natural width ${natural}`);
  assert.ok(
    served.some((s) => s.startsWith('200 image/')),
    `a picture was served: ${served.join(', ')}`,
  );

  // The product page: its gallery's first picture.
  await page.goto(`${srv.url}/#/product/${PICTURED.id}`);
  const hero = page.getByRole('article').getByRole('img', { name: PICTURED.name }).first();
  await hero.waitFor();
  await page.waitForFunction(loaded, await hero.elementHandle(), { timeout: 30_000 });
  assert.ok((await hero.evaluate(naturalWidth)) > 0);
});
