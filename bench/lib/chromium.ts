// Debian's chromium for the page tests and the page bench, driven by playwright-core. Installed
// with apt when /usr/bin/chromium is missing; Playwright never downloads a browser.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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

/** Headless chromium (root needs --no-sandbox). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
}
