// `npm run bench:pages [-- --changes N]`: how long the storefront takes to show its first "Add to
// cart" after navigation, and how long a cart change made in one storefront window
// takes to show in a second window of the same user, in Debian's chromium against the real
// server (a child process, SHARDS=2, the demo catalog). Page A clicks "Add to cart" (a different
// card each time); the time runs from just before the click in A to the moment B's "Cart" status
// changes in the DOM (a MutationObserver in B). Both stamps are performance.timeOrigin +
// performance.now() of two pages of one browser, so they share a clock. The changes are made one
// after another: each waits for B to show the previous one.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchChromium } from '../lib/chromium.js';
import { freePort, newJwtSecret, removeDir, spawnServer } from '../lib/server.js';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '100' } } });
const CHANGES = Number(values.changes);
if (!Number.isInteger(CHANGES) || CHANGES < 1 || CHANGES > 10_000) throw new Error(`--changes must be an integer 1..10000, got "${values.changes}"`);

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const dataDir = mkdtempSync(join(tmpdir(), 'cartwire-bench-pages-'));
const server = spawnServer({ dataDir, jwtSecret: newJwtSecret(), port: await freePort(), env: { SHARDS: '2', SEED_DEMO: '1' } });
const browser = await launchChromium();
try {
  const { url } = await server.listening;
  await until(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, '/readyz', 60_000);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const a = await context.newPage();
  // The page budget: the first "Add to cart" visible within 2 s of navigation.
  const navigated = performance.now();
  await a.goto(`${url}/`);
  await a.getByRole('button', { name: 'Add to cart' }).first().waitFor();
  const firstAdd = performance.now() - navigated;
  const b = await context.newPage();
  await b.goto(`${url}/`);
  await b.getByRole('status', { name: 'Cart', exact: true }).waitFor();

  // B records every text its "Cart" status takes, with the time it took it.
  await b.evaluate(`(() => {
    const el = document.querySelector('[role=status][aria-label=Cart]');
    window.__seen = new Map();
    new MutationObserver(() => {
      const text = el.textContent.trim();
      if (!window.__seen.has(text)) window.__seen.set(text, performance.timeOrigin + performance.now());
    }).observe(el, { subtree: true, childList: true, characterData: true });
  })()`);
  const seenAt = (page: Page, qty: number) => page.evaluate<number | null>(`window.__seen.get('${qty}') ?? null`);
  const cards = await a.getByRole('button', { name: 'Add to cart' }).count();

  const latencies: number[] = [];
  for (let i = 1; i <= CHANGES; i++) {
    // Index over the cards so no line runs out of stock; the click is stamped in the page.
    const clickedAt = await a.evaluate<number>(`(() => {
      const buttons = [...document.querySelectorAll('button')].filter((b) => b.textContent.trim() === 'Add to cart' && !b.disabled);
      const t = performance.timeOrigin + performance.now();
      buttons[${i - 1} % buttons.length].click();
      return t;
    })()`);
    let shown: number | null = null;
    await until(async () => (shown = await seenAt(b, i)) !== null, `B showing ${i}`);
    latencies.push(shown! - clickedAt);
  }
  const sorted = [...latencies].sort((x, y) => x - y);
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`first "Add to cart" visible ${firstAdd.toFixed(0)} ms after navigation (a new browser context, nothing cached)`);
  console.log(`cart change in window A -> shown in window B (same user), ${CHANGES} changes over ${cards} product cards`);
  console.log(
    `p50 ${f(percentile(sorted, 50))}  p90 ${f(percentile(sorted, 90))}  p99 ${f(percentile(sorted, 99))}  max ${f(sorted[sorted.length - 1])}  min ${f(sorted[0])}`,
  );
} finally {
  await browser.close();
  await server.term();
  removeDir(dataDir);
}
