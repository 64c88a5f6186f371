/**
 * The observer page in headless Chromium (playwright-core), over a real runtime: a root
 * supervisor with a GenServer worker and a thread child whose subtree has a worker. The page
 * shows the tree across the thread boundary, flashes a crash and shows the new restart count
 * within a second, hides the kill button while actions are disabled, and kills through it
 * when they are enabled. Skipped only when no Chromium binary exists.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior } from '../../src/index.js';
import { GenServer, Registry } from '../../src/index.js';
import { Observer, type RunningObserver } from '../../src/observer/observer.js';
import { waitFor } from '../../src/testing.js';
import { BOOT_MS, startNode, TREE, type TestNode } from '../threads/helpers.js';

function findChromium(): string | undefined {
  for (const c of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (c && existsSync(c)) return c;
  try {
    const p = execFileSync('which', ['chromium'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return p === '' ? undefined : p;
  } catch {
    return undefined;
  }
}

const CHROMIUM = findChromium();
/** Generous: a noisy 2-core CI box boots a worker and a browser slowly. */
const TEST_MS = 90_000;

type P = { cast: 'crash'; call: ['ping', 'pong'] };
const alpha: GenServerBehavior<null, P> = {
  init: () => null,
  handleCast: () => {
    throw new Error('asked to crash');
  },
  handleCall: (_m, s) => ['pong', s],
};

const treeNode = (id: string) => `[data-testid="tree-node"][data-id="${id}"]`;

describe.skipIf(CHROMIUM === undefined)('observer page in Chromium', () => {
  let browser: Browser;
  let node: TestNode | undefined;
  let observer: RunningObserver | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM as string, args: ['--no-sandbox', '--headless=new'] });
  }, TEST_MS);
  afterEach(async () => {
    await page?.close().catch(() => {});
    page = undefined;
    await observer?.stop();
    observer = undefined;
    await node?.shutdown();
    node = undefined;
    expect(pageErrors).toEqual([]);
    pageErrors.length = 0;
  }, TEST_MS);
  afterAll(async () => {
    await browser?.close();
  }, TEST_MS);

  async function app(actions: boolean): Promise<{ o: RunningObserver; p: Page }> {
    node = await startNode([
      { id: 'alpha', behavior: alpha, options: { name: 'alpha' } },
      { id: 'pool', thread: { module: TREE, args: { name: 'beta' } } },
    ]);
    observer = await Observer.start({ runtime: node.rt, actions, intervalMs: 250 });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(observer.url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: BOOT_MS });
    return { o: observer, p: page };
  }

  it(
    'shows the tree across the thread boundary, and flashes a crash with the new restart count within 1 s',
    async () => {
      const { p } = await app(false);
      // The thread child, and inside it the subtree's worker on another thread.
      await p.waitForSelector(`${treeNode('pool')}[data-kind="thread"] ${treeNode('worker')}`, { timeout: BOOT_MS });
      const thread = Number(await p.getAttribute(`${treeNode('pool')} ${treeNode('worker')}`, 'data-thread'));
      expect(thread).toBeGreaterThan(0);
      expect(await p.getAttribute(treeNode('alpha'), 'data-restarts')).toBe('0');
      await p.waitForSelector(`[data-testid="thread-card"][data-thread="${thread}"]`, { timeout: BOOT_MS });
      // Rows of the process table, filtered by name.
      await p.fill('[data-testid="process-filter"]', 'beta');
      await p.waitForSelector('[data-testid="process-row"]:not([hidden]) >> text=beta', { timeout: BOOT_MS });

      const before = Registry.whereis('alpha') as AnyRef;
      GenServer.cast(before, 'crash');
      await p.waitForFunction(
        (sel) => {
          const n = document.querySelector(sel);
          const row = n?.querySelector(':scope > .tn-row');
          return n?.getAttribute('data-restarts') === '1' && row?.classList.contains('flash') === true;
        },
        treeNode('alpha'),
        // Within a second of the crash: the deadline is the test.
        { timeout: 1000, polling: 'raf' },
      );
      // The next snapshot agrees with what the event showed.
      await p.waitForFunction(
        ([sel, old]) => {
          const n = document.querySelector(sel as string);
          return n !== null && n.getAttribute('data-ref') !== old && n.getAttribute('data-restarts') === '1';
        },
        [treeNode('alpha'), `#Ref<${before.node}/${before.thread}/${before.id}>`],
        { timeout: BOOT_MS },
      );
      // Read-only: no action button anywhere.
      expect(await p.locator('[data-testid="kill"], [data-testid="restart"], [data-testid="stop"]').count()).toBe(0);
      expect(await p.textContent('[data-testid="actions-flag"]')).toBe('read-only');
    },
    TEST_MS,
  );

  it(
    'kills a process through the page when actions are enabled; its supervisor restarts it',
    async () => {
      const { p } = await app(true);
      const before = Registry.whereis('alpha') as AnyRef;
      const row = `${treeNode('alpha')} > .tn-row`;
      await p.waitForSelector(row, { timeout: BOOT_MS });
      await p.hover(row);
      await p.click(`${row} [data-testid="kill"]`);
      await p.waitForSelector('[data-testid="confirm"]:not([hidden])');
      await p.click('[data-testid="confirm-ok"]');
      await waitFor(
        () => {
          const now = Registry.whereis('alpha');
          return now !== undefined && now.id !== before.id;
        },
        BOOT_MS,
        'alpha restarted by its supervisor',
      );
      expect(await GenServer.call('alpha', 'ping')).toBe('pong');
      await p.waitForSelector('[data-testid="log-entry"][data-action="kill"][data-ok="1"]', { timeout: BOOT_MS });
      await p.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-restarts') === '1', treeNode('alpha'), {
        timeout: BOOT_MS,
      });
      // The process table has kill buttons too, and each restart child has a restart button.
      expect(await p.locator('[data-testid="process-row"] [data-testid="kill"]').count()).toBeGreaterThan(0);
      expect(await p.locator(`${treeNode('alpha')} [data-testid="restart"]`).count()).toBe(1);
    },
    TEST_MS,
  );

  it(
    'passes the token of its own URL to the live stream and to actions',
    async () => {
      node = await startNode([{ id: 'alpha', behavior: alpha, options: { name: 'alpha' } }]);
      observer = await Observer.start({ runtime: node.rt, actions: true, token: 'a-token-of-sufficient-length', intervalMs: 250 });
      page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      const denied = await page.goto(observer.url.replace(/\?token=.*$/, ''));
      expect(denied?.status()).toBe(401);
      await page.goto(observer.url);
      await page.waitForSelector(`body[data-ready="1"] ${treeNode('alpha')}`, { timeout: BOOT_MS });
      const row = `${treeNode('alpha')} > .tn-row`;
      await page.hover(row);
      await page.click(`${row} [data-testid="kill"]`);
      await page.click('[data-testid="confirm-ok"]');
      await page.waitForSelector('[data-testid="log-entry"][data-action="kill"][data-ok="1"]', { timeout: BOOT_MS });
    },
    TEST_MS,
  );

  it(
    'keeps a 10,000-row process table virtualised: only the visible rows exist, scrolling stays smooth',
    async () => {
      const { p } = await app(false);
      const idle: GenServerBehavior<null, { call: ['ping', 'pong'] }> = { init: () => null, handleCall: (_m, s) => ['pong', s] };
      await Promise.all(Array.from({ length: 10_000 }, (_, i) => GenServer.start(idle, { name: `idle-${i}` })));
      await p.waitForFunction(
        () => Number.parseInt(document.querySelector('[data-testid="process-count"]')?.textContent ?? '', 10) >= 10_000,
        undefined,
        {
          timeout: BOOT_MS,
        },
      );
      const rows = () => p.locator('[data-testid="process-row"]:not([hidden])').count();
      expect(await rows()).toBeLessThan(60);
      // Scroll through the whole table, one frame per step: every frame renders quickly.
      const worst = await p.evaluate(async () => {
        const body = document.querySelector('[data-testid="process-body"]') as HTMLElement;
        const frame = () => new Promise<number>((r) => requestAnimationFrame(() => r(performance.now())));
        let last = await frame();
        let max = 0;
        for (let i = 0; i <= 40; i++) {
          body.scrollTop = (body.scrollHeight * i) / 40;
          const t = await frame();
          max = Math.max(max, t - last);
          last = t;
        }
        return max;
      });
      expect(worst).toBeLessThan(250);
      expect(await rows()).toBeLessThan(60);
      // At the bottom, the last row of the table is rendered.
      const bottom = await p.evaluate(() => {
        const body = document.querySelector('[data-testid="process-body"]') as HTMLElement;
        const ys = [...body.querySelectorAll<HTMLElement>('[data-testid="process-row"]:not([hidden])')].map(
          (r) => r.getBoundingClientRect().bottom,
        );
        return {
          last: Math.max(...ys),
          end: body.getBoundingClientRect().bottom,
          scrolled: body.scrollTop + body.clientHeight >= body.scrollHeight - 1,
        };
      });
      expect(bottom.scrolled).toBe(true);
      expect(Math.abs(bottom.last - bottom.end)).toBeLessThan(3);
      await p.fill('[data-testid="process-filter"]', 'idle-4242');
      await p.waitForFunction(() => document.querySelector('[data-testid="process-count"]')?.textContent?.startsWith('1 / '), undefined, {
        timeout: BOOT_MS,
      });
      expect(await rows()).toBe(1);
    },
    TEST_MS,
  );
});
