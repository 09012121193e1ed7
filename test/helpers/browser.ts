// Headless Chromium for the page tests: Debian's own build, driven by playwright-core. When
// /usr/bin/chromium is missing it is installed with apt; Playwright never downloads a browser.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

function apt(args: string[]): boolean {
  return spawnSync('apt-get', args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 }).status === 0;
}

/** The path of Debian's chromium, installed first when missing. */
export function chromiumPath(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (!apt(['install', '-y', 'chromium'])) {
    apt(['update']);
    if (!apt(['install', '-y', 'chromium'])) throw new Error('chromium is missing and `apt-get install -y chromium` failed');
  }
  return CHROMIUM;
}

/** A headless browser closed after the test (root needs --no-sandbox). */
export async function launchBrowser(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
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
