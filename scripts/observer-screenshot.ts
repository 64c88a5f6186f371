/**
 * Takes docs/observer.png: starts the demo app and an observer (actions on), opens the page in
 * headless Chromium at 1280×800, waits for live data (and a crash with its restart), and saves
 * the screenshot.
 *
 *   npm run observer:screenshot                  # CHROMIUM=/path/to/chromium to choose the binary
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Observer } from '../src/observer/observer.js';
import { startDemo } from './observer.js';

function findChromium(): string {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c !== undefined && c !== '' && existsSync(c)) return c;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no Chromium found: set CHROMIUM=/path/to/chromium');
  }
}

const out = fileURLToPath(new URL('../docs/observer.png', import.meta.url));
const demo = await startDemo({ crashEveryMs: 2500 });
const observer = await Observer.start({ actions: true, intervalMs: 500 });
const browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox', '--headless=new'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, colorScheme: 'dark' });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.error(`page ${m.type()}: ${m.text()}`);
  });
  await page.goto(observer.url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
  // Let the rates settle and the flaky worker crash once (its restart count goes up).
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="tree-node"]')].some((n) => Number(n.getAttribute('data-restarts')) > 0),
    undefined,
    { timeout: 15_000 },
  );
  // One action through the API, so the action log shows an entry.
  await page.evaluate(async () => {
    const node = document.querySelector('[data-testid="tree-node"][data-id="metrics"]');
    const sup = node?.parentElement?.closest('[data-testid="tree-node"]')?.getAttribute('data-ref');
    await fetch('/api/actions/restart_child', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ref: sup, id: 'metrics' }),
    });
  });
  await page.waitForSelector('[data-testid="log-entry"]', { timeout: 10_000 });
  // Fold the dozen connections, so the picture shows the thread subtrees.
  await page.click('[data-testid="tree-node"][data-id="connections"] > .tn-row .twisty');
  await page.waitForFunction(() => /[1-9]/.test(document.querySelector('#summary')?.textContent ?? ''), undefined, { timeout: 10_000 });
  // A moment without a flash, so the picture shows the steady state.
  await page.waitForFunction(() => document.querySelectorAll('.flash').length === 0, undefined, { timeout: 10_000, polling: 50 });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: out });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
  await observer.stop();
  await demo.stop();
}
process.exit(0);
