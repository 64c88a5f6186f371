/**
 * Long and infinite durations on the real clock: Node clamps a timer over 2^31−1 ms to 1 ms
 * (with a TimeoutOverflowWarning); Spindle's clock must neither fire early nor warn.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer, Result, realClock } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';

const warnings: string[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w.name);
};
let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
  env = freshRuntime();
});
afterEach(() => {
  process.off('warning', onWarning);
  env.dispose();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

it('a timer past 2^31−1 ms or Infinity does not fire early, does not warn, and can be cleared', async () => {
  const fired: string[] = [];
  const long = realClock.setTimeout(() => fired.push('long'), 2 ** 31 + 5);
  const huge = realClock.setTimeout(() => fired.push('huge'), 1e12);
  const never = realClock.setTimeout(() => fired.push('never'), Number.POSITIVE_INFINITY);
  realClock.setTimeout(() => fired.push('short'), 5);
  await sleep(40);
  expect(fired).toEqual(['short']);
  for (const h of [long, huge, never]) realClock.clearTimeout(h);
  await sleep(5);
  expect(warnings).not.toContain('TimeoutOverflowWarning');
});

type Slow = { call: ['slow', string] };
const slow: GenServerBehavior<null, Slow> = {
  init: () => null,
  handleCall: (_m, s, from) => {
    setTimeout(() => GenServer.reply(from, 'done'), 30);
    return Result.noreply(s);
  },
};

it('a call with a 1e12 ms timeout waits for its reply: no early CallTimeoutError, no warnings', async () => {
  const ref = await GenServer.start(slow);
  await expect(GenServer.call(ref, 'slow', { timeout: 1e12 })).resolves.toBe('done');
  await expect(GenServer.call(ref, 'slow', { timeout: 2 ** 31 })).resolves.toBe('done');
  await expect(GenServer.call(ref, 'slow', { timeout: Number.POSITIVE_INFINITY })).resolves.toBe('done');
  expect(warnings).not.toContain('TimeoutOverflowWarning');
  await GenServer.stop(ref);
});

it('stop and shutdownTimeout past 2^31−1 ms let terminate finish; sendAfter(…, Infinity) never delivers', async () => {
  const got: unknown[] = [];
  let terminated = false;
  const b: GenServerBehavior<null, { info: string }> = {
    init: () => null,
    handleInfo: (m, s) => {
      got.push(m);
      return s;
    },
    terminate: async () => {
      await sleep(30);
      terminated = true;
    },
  };
  const ref = await GenServer.start(b, { shutdownTimeout: 2 ** 31 + 1, initTimeout: 1e12 });
  GenServer.sendAfter(ref, 'later', Number.POSITIVE_INFINITY);
  GenServer.sendAfter(ref, 'much later', 2 ** 31 + 1);
  GenServer.sendAfter(ref, 'now', 0);
  await sleep(20);
  expect(got).toEqual(['now']);
  await GenServer.stop(ref, 'normal', { timeout: 1e12 });
  expect(terminated).toBe(true);
  expect(warnings).not.toContain('TimeoutOverflowWarning');
});

type Silent = { call: ['never', never] };
const silent: GenServerBehavior<null, Silent> = {
  init: () => null,
  handleCall: (_m, s) => Result.noreply(s),
};

it('a call made late in a long turn times out no earlier than its timeout after the call', async () => {
  const ref = await GenServer.start(silent);
  // Work before the call, in the same turn, must not count against its timeout.
  const spinUntil = performance.now() + 40;
  while (performance.now() < spinUntil) {
    // busy: a handler doing CPU work before it calls out
  }
  const t0 = performance.now();
  const call = GenServer.call(ref, 'never', { timeout: 25 });
  // And neither must work after it in the same turn shorten it below 25 ms from the call.
  const after = performance.now() + 10;
  while (performance.now() < after) {
    // busy
  }
  await expect(call).rejects.toMatchObject({ name: 'CallTimeoutError' });
  expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  await GenServer.stop(ref);
});

it('a burst of calls in one turn reads the real clock once for all their deadlines, and each still times out', async () => {
  const ref = await GenServer.start(silent);
  const now = vi.spyOn(performance, 'now');
  try {
    const before = now.mock.calls.length;
    const calls = Array.from({ length: 500 }, () => GenServer.call(ref, 'never', { timeout: 20 }));
    await Promise.resolve();
    await Promise.resolve();
    // The handler's drain reads the clock once per slice check, not once per call.
    expect(now.mock.calls.length - before).toBeLessThan(50);
    now.mockRestore();
    const results = await Promise.allSettled(calls);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).name === 'CallTimeoutError')).toBe(true);
  } finally {
    now.mockRestore();
  }
  await GenServer.stop(ref);
});
