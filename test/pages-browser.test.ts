// The storefront and the dashboard in a real browser (Debian's chromium via playwright-core),
// against a real server: browse, add to cart, the cart of a second window of the same user
// follows, checkout, and the order shows up live on /admin. The pages are driven by their
// accessible names, as outside suites drive them. UPDATE_SCREENSHOTS=1 writes the screenshots
// to docs/screenshots/ (npm run docs:screenshots).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer } from './helpers/server.js';
import { CartwireClient } from '../src/client/index.js';
import { cartShows, cartStatus, focusedText, launchBrowser, sidewaysOverflow, signIn } from './helpers/browser.js';

const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
  : mkdtempSync(join(tmpdir(), 'cartwire-shots-'));
mkdirSync(SHOTS, { recursive: true });
if (!process.env.UPDATE_SCREENSHOTS) after(() => rmSync(SHOTS, { recursive: true, force: true }));
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });

test('browse, add to cart, a second window follows, checkout, and the order appears live on /admin', async (t) => {
  const srv = await startTestServer(t);
  const browser = await launchBrowser(t);
  const shopper = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const a = await shopper.newPage();
  await a.goto(`${srv.url}/`);
  const firstAdd = a.getByRole('button', { name: 'Add to cart' }).first();
  await firstAdd.waitFor();
  await cartShows(a, 0);

  // The same user in a second window: the session is kept by the browser.
  const b = await shopper.newPage();
  await b.goto(`${srv.url}/`);
  await cartShows(b, 0);

  const admin = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  await admin.goto(`${srv.url}/admin`);
  await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
  const events = admin.getByRole('log', { name: 'Live events' });
  await events.waitFor();

  await firstAdd.click();
  await cartShows(a, 1);
  await cartShows(b, 1);
  await a.getByRole('button', { name: 'Add to cart' }).nth(1).click();
  await cartShows(b, 2);
  await shot(a, 'storefront');

  // The admin feed saw the cart additions.
  await events.getByRole('listitem').filter({ hasText: 'product_added_to_cart' }).first().waitFor();

  // Checkout in the second window.
  await b.getByRole('link', { name: /^Cart/ }).click();
  await b.getByRole('heading', { name: 'Your cart' }).waitFor();
  await shot(b, 'cart');
  await b.getByRole('link', { name: 'Checkout' }).click();
  await b.getByRole('textbox', { name: 'Name' }).fill('Ada Lovelace');
  await b.getByRole('textbox', { name: 'Address line 1' }).fill('12 Analytical Row');
  await b.getByRole('textbox', { name: 'City' }).fill('London');
  await b.getByRole('textbox', { name: 'Postal code' }).fill('N1 7AA');
  await b.getByRole('textbox', { name: 'Country' }).fill('GB');
  await b.getByRole('combobox', { name: 'Test card' }).selectOption('tok_visa');
  await shot(b, 'checkout');
  await b.getByRole('button', { name: 'Place order' }).click();
  const number = b.locator('.order-number');
  await number.waitFor();
  const orderNumber = (await number.textContent())?.trim() ?? '';
  assert.match(orderNumber, /^CW-/);

  // The cart was cleared by the checkout: both windows show it.
  await cartShows(a, 0);
  await cartShows(b, 0);

  // The order in the live feed (newest first) and in the orders table of the dashboard.
  await events.getByRole('listitem').filter({ hasText: orderNumber }).first().waitFor();
  const first = (await events.getByRole('listitem').first().textContent()) ?? '';
  assert.ok(/order|payment|inventory/.test(first), `the newest entry is of the checkout, got: ${first}`);
  await admin.getByRole('button', { name: `Ship ${orderNumber}` }).waitFor();
  // The charts counted the order and its payment.
  await admin.getByRole('figure', { name: 'Orders per second' }).getByText('orders: 1').waitFor();
  await admin.getByRole('figure', { name: 'Payment outcomes' }).getByText('approved: 1').waitFor();
  await shot(admin, 'admin');

  // Shipping from the dashboard reaches the shopper's order list live.
  await b.getByRole('link', { name: 'Your orders' }).click();
  const mine = b.getByRole('listitem', { name: `Order ${orderNumber}` });
  await mine.getByText('confirmed').waitFor();
  await admin.getByRole('button', { name: `Ship ${orderNumber}` }).click();
  await mine.getByText('shipped').waitFor();
  await shot(b, 'orders');

  // The product page with its recommendations.
  const link = a.getByRole('article').first().getByRole('link').first();
  const name = (await link.textContent()) ?? '';
  await link.click();
  await a.getByRole('heading', { name, level: 1 }).waitFor();
  await a.getByRole('heading', { name: 'Similar' }).waitFor();
  await shot(a, 'product');
});

test('create account keeps the guest cart and the session across a reload; sign in again after signing out', async (t) => {
  const srv = await startTestServer(t);
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${srv.url}/`);
  await page.getByRole('button', { name: 'Add to cart' }).first().click();
  await cartShows(page, 1);

  await page.getByRole('button', { name: 'Create account' }).click();
  const form = page.getByRole('form', { name: 'Create account' });
  await form.getByRole('textbox', { name: 'Email' }).fill('grace@example.com');
  await form.getByRole('textbox', { name: 'Password' }).fill('correct-horse-9');
  await form.getByRole('textbox', { name: 'Name' }).fill('Grace');
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await cartShows(page, 1); // the guest cart merged into the account's

  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await cartShows(page, 1);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await cartShows(page, 0); // a fresh guest
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signIn(page, 'grace@example.com', 'correct-horse-9');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await cartShows(page, 1);

  // A wrong password is said on the form, and changes nothing.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signIn(page, 'grace@example.com', 'wrong-password');
  await page.getByRole('alert').waitFor();
  await cartShows(page, 0);
});

test("checkout offers a customer's saved address and card, and the order ships to the saved address", async (t) => {
  const srv = await startTestServer(t);
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${srv.url}/`);
  await page.getByRole('button', { name: 'Create account' }).click();
  const form = page.getByRole('form', { name: 'Create account' });
  await form.getByRole('textbox', { name: 'Email' }).fill('ada@example.com');
  await form.getByRole('textbox', { name: 'Password' }).fill('correct-horse-9');
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  // The same customer saves an address and a card from another client.
  const sdk = await CartwireClient.connect(srv.url);
  t.after(() => sdk.close());
  await sdk.call('auth.login', { email: 'ada@example.com', password: 'correct-horse-9' });
  const home = await sdk.call('address.add', {
    name: 'Ada Lovelace',
    line1: '12 Analytical Row',
    city: 'London',
    postalCode: 'N1 7AA',
    country: 'GB',
    isDefault: true,
  });
  const card = await sdk.call('paymentMethod.add', { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' });

  await page.getByRole('button', { name: 'Add to cart' }).first().click();
  await cartShows(page, 1);
  await page.getByRole('link', { name: /^Cart/ }).click();
  await page.getByRole('link', { name: 'Checkout' }).click();
  const savedAddress = page.getByRole('combobox', { name: 'Saved address' });
  await savedAddress.waitFor();
  assert.equal(await savedAddress.inputValue(), home.addressId);
  assert.equal(await page.getByRole('combobox', { name: 'Saved card' }).inputValue(), card.paymentMethodId);
  assert.equal(await page.getByRole('textbox', { name: 'Address line 1' }).count(), 0, 'no address to type');
  await page.getByRole('button', { name: 'Place order' }).click();
  const number = page.locator('.order-number');
  await number.waitFor();

  const orders = await sdk.call('order.list', {});
  assert.equal(orders.items[0]?.orderNumber, (await number.textContent())?.trim());
  assert.equal(orders.items[0]?.shippingAddress.line1, '12 Analytical Row');
  assert.equal(orders.items[0]?.status, 'confirmed');
});

test('keyboard only, at phone width: add to cart with Enter, no sideways scrolling', async (t) => {
  const srv = await startTestServer(t);
  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
  await page.goto(`${srv.url}/`);
  await page.getByRole('button', { name: 'Add to cart' }).first().waitFor();
  // Tab from the search box until "Add to cart" has the focus.
  await page.getByRole('searchbox', { name: 'Search' }).focus();
  let focused = '';
  for (let i = 0; i < 40 && focused !== 'Add to cart'; i++) {
    await page.keyboard.press('Tab');
    focused = await focusedText(page);
  }
  assert.equal(focused, 'Add to cart', 'Tab reaches an "Add to cart" button');
  await page.keyboard.press('Enter');
  await cartShows(page, 1);
  assert.equal(await cartStatus(page).textContent(), '1');
  const overflow = await sidewaysOverflow(page);
  assert.ok(overflow <= 0, `the storefront scrolls sideways by ${overflow}px at 390px`);
  await shot(page, 'storefront-phone');

  const admin = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
  await admin.goto(`${srv.url}/admin`);
  await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
  await admin.getByRole('log', { name: 'Live events' }).waitFor();
  const adminOverflow = await sidewaysOverflow(admin);
  assert.ok(adminOverflow <= 0, `the dashboard scrolls sideways by ${adminOverflow}px at 390px`);
  await shot(admin, 'admin-phone');
});
