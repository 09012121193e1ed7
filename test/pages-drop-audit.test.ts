// The drop queue on the storefront and the audit view on the dashboard, in Debian's chromium
// against a real server: a drop with 20 simulated joiners (SDK clients) and one shopper in the
// browser admits in queue order while the page's place moves; the dashboard shows the history of
// a sku after a sale and its state at a chosen change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { CartwireClient } from '../src/client/index.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { cartShows, launchBrowser, signIn } from './helpers/browser.js';

interface Joiner {
  client: CartwireClient;
  /** The first place pushed after the start (none for the first in line: admitted at once). */
  drawn?: number;
  admittedAt?: number;
}

const WINDOW_MS = 120_000;

test('a drop with 20 simulated joiners admits in queue order, and the page follows its place to its turn', async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${srv.url}/#/drop/tent-launch`);
  const join = page.getByRole('button', { name: 'Join the drop' });
  await join.waitFor();

  const startsAt = Date.now() + 8000;
  await admin.call('drop.create', { dropId: 'tent-launch', sku: 'tent-2p', startsAt, admitPerSecond: 8, perUserLimit: 1, checkoutWindowMs: WINDOW_MS });

  const joiners: Joiner[] = [];
  for (let i = 0; i < 20; i++) {
    const j: Joiner = { client: await connectGuest(srv.url) };
    t.after(() => j.client.close());
    j.client.onPush((push, data) => {
      const d = data as { position: number; admittedAt: number };
      if (push === 'drop.position') j.drawn ??= d.position;
      if (push === 'drop.admitted') j.admittedAt = d.admittedAt;
    });
    const place = await j.client.call('drop.join', { dropId: 'tent-launch' });
    assert.equal(place.position, null, 'before the start no place is drawn');
    joiners.push(j);
  }

  await join.click();
  const status = page.getByRole('status', { name: 'Queue position' });
  await status.filter({ hasText: 'Places are drawn at the start' }).waitFor();
  assert.ok(Date.now() < startsAt, 'the page joined before the start (else its place is not drawn with the others)');
  // Every text the page's place takes, as it takes it.
  await page.evaluate(`(() => {
    window.__places = [];
    const section = document.querySelector('[aria-labelledby=drop-title]');
    const note = () => {
      const text = section.querySelector('[aria-label="Queue position"]')?.textContent.trim();
      if (text && window.__places[window.__places.length - 1] !== text) window.__places.push(text);
    };
    new MutationObserver(note).observe(section, { subtree: true, childList: true, characterData: true });
  })()`);

  await status.filter({ hasText: 'It is your turn!' }).waitFor({ timeout: 30_000 });
  const expires = await page.locator('time').getAttribute('datetime');
  const pageAdmittedAt = new Date(expires ?? '').getTime() - WINDOW_MS;
  await until(() => joiners.every((j) => j.admittedAt !== undefined), { timeoutMs: 30_000, what: 'every joiner admitted' });

  // The order drawn at the start is the admission order: the first in line is admitted at once
  // (no place to push); everyone else is first told the place k it then holds, k = 1, 2, ...
  const places = await page.evaluate<string[]>('window.__places');
  const numbers = places.filter((p) => /^\d+$/.test(p)).map(Number);
  const everyone = [...joiners.map((j) => ({ who: 'joiner', at: j.admittedAt!, first: j.drawn })), { who: 'page', at: pageAdmittedAt, first: numbers[0] }];
  // A timer that fires late admits its backlog at one time: ties are ordered by the told place.
  everyone.sort((a, b) => a.at - b.at || (a.first ?? 0) - (b.first ?? 0));
  everyone.forEach((e, k) => assert.equal(e.first, k === 0 ? undefined : k, `admission ${k} (${e.who}) was first told place ${e.first}`));

  // The page's place only moved forward and ended at its turn.
  for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] < numbers[i - 1], `places shown: ${places.join(' | ')}`);
  assert.equal(places[places.length - 1], 'It is your turn!');

  // Admitted: the drop's sku can be bought.
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await cartShows(page, 1);
  if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: fileURLToPath(new URL('../../docs/screenshots/drop.png', import.meta.url)) });
});

test('the dashboard shows the audit history of a sku after a sale, and its state after a chosen change', async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  const sku = 'mug-stoneware-sand';
  await admin.call('inventory.adjust', { sku, type: 'adjustment', qty: 50, reason: 'stock count' });
  const shopper = await connectGuest(srv.url);
  t.after(() => shopper.close());
  await shopper.call('cart.add', { sku, qty: 2 });
  const address = { name: 'Ada', line1: '1 Loop St', city: 'Oslo', postalCode: '0150', country: 'NO' };
  const order = await shopper.call('checkout', { idempotencyKey: 'audit-page-1', payment: { token: 'tok_visa' }, shippingAddress: address });
  assert.equal(order.status, 'confirmed');

  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  await page.goto(`${srv.url}/admin`);
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const audit = page.getByRole('region', { name: 'Audit' });
  await audit.getByRole('combobox', { name: 'Kind' }).selectOption('inventory');
  await audit.getByRole('textbox', { name: 'Key' }).fill(sku);
  await audit.getByRole('button', { name: 'Show history' }).click();
  const history = audit.getByRole('table', { name: 'History' });
  const rows = history.getByRole('row');
  await rows.filter({ hasText: 'hold_committed' }).first().waitFor();
  const events = (await history.locator('tbody tr td:nth-child(3)').allTextContents()).map((s) => s.trim());
  assert.deepEqual(events.slice(-3), ['transaction', 'reserved', 'hold_committed'], `events: ${events.join(' ')}`);
  assert.ok((await rows.filter({ hasText: 'reserved' }).first().textContent())?.includes(order.orderId), 'the reservation names the order');

  await rows
    .filter({ hasText: 'stock count' })
    .getByRole('button', { name: /^State after change/ })
    .click();
  const state = audit.getByRole('region', { name: 'State at time' });
  await state.getByText('"onHand": 50').waitFor();
  await rows
    .last()
    .getByRole('button', { name: /^State after change/ })
    .click();
  await state.getByText('"onHand": 48').waitFor();
  if (process.env.UPDATE_SCREENSHOTS)
    await audit.screenshot({ path: fileURLToPath(new URL('../../docs/screenshots/admin-audit.png', import.meta.url)), style: '.top { position: static }' });
});
