/**
 * The mailbox and process loop: FIFO order per sender across queue growth and compaction,
 * calls and casts interleaved, the drain budget (processes take turns) and the run's time
 * bound (yielding to the event loop), strictMessages.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer } from '../../src/index.js';
import type { FreshRuntimeOptions } from '../../src/testing.js';
import { freshRuntime } from '../../src/testing.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

/** Replaces this test's runtime with one built from `options`. */
function setup(options: FreshRuntimeOptions): void {
  env.dispose();
  env = freshRuntime(options);
}

type P = {
  call: [{ seq: number }, number] | ['seen', number[]] | ['last', unknown];
  cast: { seq: number } | { obj: { n: number } };
};

const recorder: GenServerBehavior<{ seen: number[]; last: unknown }, P> = {
  init: () => ({ seen: [], last: undefined }),
  handleCall: (msg, s) => {
    if (msg === 'seen') return [s.seen, s];
    if (msg === 'last') return [s.last, s];
    s.seen.push(msg.seq);
    return [msg.seq, s];
  },
  handleCast: (msg, s) => {
    if ('seq' in msg) s.seen.push(msg.seq);
    else s.last = msg.obj;
    return s;
  },
};

function nextTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

describe('mailbox order', () => {
  it('keeps FIFO order across bursts that make the queue grow, wrap and compact', async () => {
    setup({ drainBudget: 64 });
    const ref = await GenServer.start(recorder);
    const N = 20_000;
    let seq = 0;
    // Bursts larger than the budget, so the queue grows while its head advances.
    while (seq < N) {
      for (let i = 0; i < 1500 && seq < N; i++) GenServer.cast(ref, { seq: seq++ });
      await nextTurn();
    }
    const seen = await GenServer.call(ref, 'seen', { timeout: Number.POSITIVE_INFINITY });
    expect(seen.length).toBe(N);
    let inOrder = true;
    for (let i = 0; i < N; i++) if (seen[i] !== i) inOrder = false;
    expect(inOrder).toBe(true);
  });

  it('keeps calls and casts in one order and answers each call with its own reply', async () => {
    setup({ drainBudget: 50 });
    const ref = await GenServer.start(recorder);
    const replies: Promise<number>[] = [];
    for (let i = 0; i < 3000; i++) {
      if (i % 3 === 0) replies.push(GenServer.call(ref, { seq: i }));
      else GenServer.cast(ref, { seq: i });
      if (i % 700 === 0) await nextTurn();
    }
    const got = await Promise.all(replies);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, k) => k * 3));
    const seen = await GenServer.call(ref, 'seen');
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, k) => k));
  });
});

describe('drain budget', () => {
  const counting = (log: string[], name: string, spinMs = 0): GenServerBehavior<number, { cast: 'tick'; call: ['count', number] }> => ({
    init: () => 0,
    handleCall: (_m, n) => [n, n],
    handleCast: (_m, n) => {
      log.push(name);
      if (spinMs > 0) {
        const end = performance.now() + spinMs;
        while (performance.now() < end) {}
      }
      return n + 1;
    },
  });

  it('lets flooded processes take turns every drainBudget messages', async () => {
    setup({ drainBudget: 10 });
    const log: string[] = [];
    const a = await GenServer.start(counting(log, 'a'));
    const b = await GenServer.start(counting(log, 'b'));
    for (let i = 0; i < 100; i++) {
      GenServer.cast(a, 'tick');
      GenServer.cast(b, 'tick');
    }
    expect(await GenServer.call(a, 'count')).toBe(100);
    expect(await GenServer.call(b, 'count')).toBe(100);
    // Runs of exactly 10: a, b, a, b, …
    const runs: string[] = [];
    for (let i = 0; i < log.length; i += 10) {
      const run = log.slice(i, i + 10);
      expect(new Set(run).size).toBe(1);
      runs.push(run[0]!);
    }
    expect(runs).toEqual(Array.from({ length: 20 }, (_, k) => (k % 2 === 0 ? 'a' : 'b')));
  });

  it('yields to the event loop once a run of drains has taken sliceMs, so timers and I/O are not starved by cheap messages', async () => {
    setup({ drainBudget: 10, sliceMs: 5 });
    const log: string[] = [];
    const c = await GenServer.start(counting(log, 'c', 0.02));
    // ~20 µs each: 2,000 take about 40 ms, in runs of 10 messages.
    for (let i = 0; i < 2000; i++) GenServer.cast(c, 'tick');
    // This immediate was queued before the runtime's first yield: it runs after about sliceMs.
    const atNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(log.length)));
    expect(atNextTurn).toBeGreaterThan(10); // more than one budget: the runs went on
    expect(atNextTurn).toBeLessThan(2000);
    expect(await GenServer.call(c, 'count')).toBe(2000);
  });

  it('with sliceMs Infinity, yields to the event loop after each drainBudget messages', async () => {
    setup({ drainBudget: 10, sliceMs: Number.POSITIVE_INFINITY });
    const log: string[] = [];
    const c = await GenServer.start(counting(log, 'c'));
    for (let i = 0; i < 1000; i++) GenServer.cast(c, 'tick');
    const atNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(log.length)));
    expect(atNextTurn).toBe(10);
    expect(await GenServer.call(c, 'count')).toBe(1000);
  });
});

describe('strictMessages', () => {
  it('passes same-thread messages by reference by default', async () => {
    const ref = await GenServer.start(recorder);
    const obj = { n: 1 };
    GenServer.cast(ref, { obj });
    expect(await GenServer.call(ref, 'last')).toBe(obj);
  });

  it('clones same-thread messages when enabled, so later mutation by the sender is not seen', async () => {
    setup({ strictMessages: true });
    const ref = await GenServer.start(recorder);
    const obj = { n: 1 };
    GenServer.cast(ref, { obj });
    obj.n = 2;
    const last = await GenServer.call(ref, 'last');
    expect(last).not.toBe(obj);
    expect(last).toEqual({ n: 1 });
  });
});

describe('drain time slice', () => {
  it('yields to the event loop during a backlog of slow handlers, so timers and I/O are not starved', async () => {
    const { GenServer } = await import('../../src/index.js');
    const { freshRuntime, waitFor } = await import('../../src/testing.js');
    const env = freshRuntime({ sliceMs: 5 });
    try {
      const log: string[] = [];
      const busy = (ms: number): void => {
        const end = performance.now() + ms;
        while (performance.now() < end) {}
      };
      const ref = await GenServer.start<number, { cast: 'work' }>({
        init: () => 0,
        handleCast: (_m, n) => {
          busy(10);
          log.push('m');
          return n + 1;
        },
      });
      for (let i = 0; i < 20; i++) GenServer.cast(ref, 'work');
      setTimeout(() => log.push('timer'), 0);
      await waitFor(() => log.filter((x) => x === 'm').length === 20, 10_000);
      await waitFor(() => log.includes('timer'));
      // Without the slice the timer would run only after all 20 messages (the count budget is 512).
      expect(log.indexOf('timer')).toBeLessThan(6);
    } finally {
      env.dispose();
    }
  });
});
