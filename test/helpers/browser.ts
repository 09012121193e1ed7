// Headless Chromium for the page tests (Debian's own build, installed with apt when missing; see
// bench/lib/chromium.ts) and the storefront's accessible names as outside suites use them.
import type { TestContext } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from '../../bench/lib/chromium.js';

/** A headless browser closed after the test (root needs --no-sandbox). */
export async function launchBrowser(t: TestContext): Promise<Browser> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  return browser;
}

/** How far the page scrolls sideways (> 0: it does not fit the viewport). */
export const sidewaysOverflow = (page: Page): Promise<number> => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');

/** The accessible text of the focused element. */
export const focusedText = (page: Page): Promise<string> => page.evaluate<string>("document.activeElement?.textContent?.trim() ?? ''");

/** The storefront's "Cart" status. */
export const cartStatus = (page: Page): Locator => page.getByRole('status', { name: 'Cart', exact: true });

/** Waits until the "Cart" status shows `qty` (deadline, not a timing claim). */
export async function cartShows(page: Page, qty: number, timeoutMs = 10_000): Promise<void> {
  await cartStatus(page)
    .filter({ hasText: new RegExp(`^\\s*${qty}\\s*$`) })
    .waitFor({ timeout: timeoutMs });
}

/** Signs in on a page showing the sign-in form (storefront after "Sign in", or /admin). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByRole('textbox', { name: 'Email' }).fill(email);
  await form.getByRole('textbox', { name: 'Password' }).fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
}
