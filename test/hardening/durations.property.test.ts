/**
 * The duration rule, checked with random values on every duration of the API, and the
 * Runtime options beside them. A duration is a finite number of ms >= 0, or Infinity (no
 * deadline); anything else is an InvalidArgumentError naming the option. On a virtual clock,
 * an accepted duration fires at its time, never before (however long), and Infinity never.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, ChildSpec, GenServerBehavior, TaskPool } from '../../src/index.js';
import {
  Agent,
  CallTimeoutError,
  GenServer,
  InitTimeoutError,
  InvalidArgumentError,
  Process,
  Result,
  Runtime,
  Supervisor,
  Task,
  TaskAbortedError,
  silentLogger,
} from '../../src/index.js';
import { freshRuntime, VirtualClock } from '../../src/testing.js';
import { track } from '../helpers.js';

const RUNS = { numRuns: 120 };
/** Edges every property sees on every run, on top of the random values. */
const EDGES: unknown[] = [0, -0, 0.5, 2 ** 31 - 1, 2 ** 31, 1e12, Number.POSITIVE_INFINITY, Number.NaN, -1, '100', null, undefined];
const WITH_EDGES = { ...RUNS, examples: EDGES.map((v): [unknown] => [v]) };
const PLAIN = new URL('../fixtures/plain-jobs.mjs', import.meta.url);

/** The rule, restated here independently of the implementation. */
function isDuration(v: unknown): v is number {
  return typeof v === 'number' && (v === Number.POSITIVE_INFINITY || (Number.isFinite(v) && v >= 0));
}

/** Values on and around every edge of the rule, and of Node's timer limit. */
const edges = fc.constantFrom<unknown>(
  0,
  -0,
  0.5,
  1,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 31 + 1,
  1e12,
  2 ** 53,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  -1,
  -Number.MIN_VALUE,
  '100',
  '',
  'Infinity',
  null,
  true,
  10n,
  [],
  {},
  [5],
  Symbol('ms'),
  new Proxy({}, {}),
  () => 5,
  new Number(5),
);

/** Anything at all, with the edges and plenty of numbers mixed in. */
const anyValue = fc.oneof(fc.anything(), fc.double(), fc.integer(), fc.bigInt(), fc.string(), edges);

/** Valid durations, of every size. */
const validDuration = fc.oneof(
  fc.double({ min: 0, noNaN: true }),
  fc.integer({ min: 0, max: 10_000 }),
  fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 1e12, Number.MAX_VALUE, Number.POSITIVE_INFINITY),
);

/** What a duration option receives: half valid, half anything. */
const durationInput = fc.oneof(anyValue, validDuration, fc.constant(undefined));

/** The largest double below `d` (> 0): the last instant at which a timer of `d` must not have fired. */
function below(d: number): number {
  if (d === Number.POSITIVE_INFINITY) return Number.MAX_VALUE;
  const f = new Float64Array([d]);
  const bits = new BigInt64Array(f.buffer);
  bits[0] = (bits[0] as bigint) - 1n;
  return f[0] as number;
}

/** Runs `body` with a fresh runtime on a fresh virtual clock (time starts at 0). */
async function onVirtualClock(body: (clock: VirtualClock) => Promise<void>): Promise<void> {
  const clock = new VirtualClock();
  const env = freshRuntime({ clock });
  try {
    await body(clock);
  } finally {
    env.dispose();
  }
}

/** Counts the timers armed on `clock` from now on. */
function countArms(clock: VirtualClock): () => number {
  let n = 0;
  const set = clock.setTimeout.bind(clock);
  clock.setTimeout = (fn, ms) => {
    n++;
    return set(fn, ms);
  };
  return () => n;
}

/** Calls a promise-returning API: it must never throw synchronously. */
function start<T>(fn: () => Promise<T>): Promise<T> {
  let p: Promise<T> | undefined;
  expect(() => {
    p = fn();
  }).not.toThrow();
  return p as Promise<T>;
}

/** What `p` rejected with (fails if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** What `fn` threw (fails if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function expectNames(e: unknown, option: string): void {
  expect(e).toBeInstanceOf(InvalidArgumentError);
  expect((e as InvalidArgumentError).argument).toContain(option);
}

/**
 * Checks the timing of an accepted duration `d` whose effect `fired()` reports: not before
 * `d` (however large), by `at` (d, or d rounded up to a whole ms), and never when Infinity.
 */
async function checkTiming(clock: VirtualClock, d: number, fired: () => boolean, at = d): Promise<void> {
  if (d === Number.POSITIVE_INFINITY) {
    await clock.advance(Number.MAX_VALUE);
    expect(fired()).toBe(false);
    return;
  }
  if (d > 0) {
    await clock.advance(below(d));
    expect(fired()).toBe(false);
  }
  await clock.advance(at - clock.now());
  expect(fired()).toBe(true);
}

type Hang = { call: ['hang', never]; info: 'tick' };
/** Never answers a call; records info messages. */
function silent(got: unknown[] = []): GenServerBehavior<number, Hang> {
  return {
    init: () => 0,
    handleCall: (_m, s) => Result.noreply(s),
    handleInfo: (m, s) => {
      got.push(m);
      return s;
    },
  };
}
/** A terminate that never finishes. */
const hangingTerminate: GenServerBehavior<number> = { init: () => 0, terminate: () => new Promise<void>(() => {}) };

describe('the duration rule on every duration of the API', () => {
  it('GenServer.call timeout: fires at its deadline (rounded up to a whole ms), one timer however long', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async (clock) => {
          const ref = await GenServer.start(silent());
          const arms = countArms(clock);
          const p = start(() => GenServer.call(ref, 'hang', { timeout: v as number }));
          if (v !== undefined && !isDuration(v)) {
            expectNames(await rejection(p), 'timeout');
            expect(arms()).toBe(0);
            return;
          }
          const st = track(p);
          const d = v ?? 5000;
          await checkTiming(clock, d, () => st.settled, Math.ceil(d));
          if (st.settled) expect(st.error).toBeInstanceOf(CallTimeoutError);
          // Huge timeouts arm one timer, never a re-arming loop; Infinity arms none.
          expect(arms()).toBe(d === Number.POSITIVE_INFINITY ? 0 : 1);
        }),
      ),
      WITH_EDGES,
    );
  });

  it('GenServer.start initTimeout: an async init is killed at its deadline, never before', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async (clock) => {
          const p = start(() => GenServer.start({ init: () => new Promise<number>(() => {}) }, { initTimeout: v as number }));
          if (v !== undefined && !isDuration(v)) {
            expectNames(await rejection(p), 'initTimeout');
            expect(clock.pending).toBe(0);
            return;
          }
          const st = track(p);
          await checkTiming(clock, v ?? 5000, () => st.settled);
          if (st.settled) expect(st.error).toBeInstanceOf(InitTimeoutError);
        }),
      ),
      WITH_EDGES,
    );
  });

  it('GenServer.start shutdownTimeout: a hanging terminate is cut off at its deadline, never before', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async (clock) => {
          const p = start(() => GenServer.start(hangingTerminate, { shutdownTimeout: v as number }));
          if (v !== undefined && !isDuration(v)) {
            expectNames(await rejection(p), 'shutdownTimeout');
            return;
          }
          const ref = await p;
          const stopped = track(GenServer.stop(ref, 'normal', { timeout: Number.POSITIVE_INFINITY }));
          await checkTiming(clock, v ?? 5000, () => stopped.settled);
          expect(Process.alive(ref)).toBe(!stopped.settled);
        }),
      ),
      WITH_EDGES,
    );
  });

  it('GenServer.stop timeout: the kill comes at the deadline, never before; a bad one stops nothing', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async (clock) => {
          const ref = await GenServer.start(hangingTerminate, { shutdownTimeout: Number.POSITIVE_INFINITY });
          const p = start(() => GenServer.stop(ref, 'normal', { timeout: v as number }));
          if (v !== undefined && !isDuration(v)) {
            expectNames(await rejection(p), 'timeout');
            expect(Process.alive(ref)).toBe(true);
            return;
          }
          const st = track(p);
          await checkTiming(clock, v ?? 5000, () => st.settled);
          expect(Process.alive(ref)).toBe(!st.settled);
        }),
      ),
      WITH_EDGES,
    );
  });

  it('GenServer.sendAfter ms: delivered at its time, never before; Infinity never, yet cancellable and cleaned up', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async (clock) => {
          const got: unknown[] = [];
          const ref = await GenServer.start(silent(got));
          if (!isDuration(v)) {
            expectNames(
              thrown(() => GenServer.sendAfter(ref, 'tick', v as number)),
              'ms',
            );
            expect(clock.pending).toBe(0);
            return;
          }
          const t = GenServer.sendAfter(ref, 'tick', v);
          await checkTiming(clock, v, () => got.length > 0);
          // A timer not yet fired can be cancelled once; it then holds nothing.
          expect(GenServer.cancelTimer(t)).toBe(v === Number.POSITIVE_INFINITY);
          expect(clock.pending).toBe(0);
          // Timers aimed at a process go when it exits, infinite ones included.
          GenServer.sendAfter(ref, 'tick', v);
          await GenServer.stop(ref);
          expect(clock.pending).toBe(0);
        }),
      ),
      WITH_EDGES,
    );
  });

  it("Supervisor child spec shutdownTimeout (a duration or 'brutal_kill'): the kill comes at the deadline", async () => {
    const input = fc.oneof(durationInput, fc.constant('brutal_kill'), fc.constant('brutal'));
    await fc.assert(
      fc.asyncProperty(input, (v) =>
        onVirtualClock(async (clock) => {
          const child: ChildSpec = {
            id: 'c',
            behavior: hangingTerminate,
            options: { shutdownTimeout: Number.POSITIVE_INFINITY },
            shutdownTimeout: v as number,
          };
          const p = start(() => Supervisor.start({ children: [child] }));
          if (v !== undefined && v !== 'brutal_kill' && !isDuration(v)) {
            expectNames(await rejection(p), 'shutdownTimeout');
            return;
          }
          const sup = await p;
          const ref = (await Supervisor.getChildren(sup))[0]?.ref as AnyRef;
          const st = track(Supervisor.terminateChild(sup, 'c'));
          await checkTiming(clock, v === 'brutal_kill' ? 0 : (v ?? 5000), () => st.settled);
          expect(Process.alive(ref)).toBe(!st.settled);
        }),
      ),
      WITH_EDGES,
    );
  });

  it('Supervisor restartIntensity: withinMs a duration > 0 or Infinity, maxRestarts an integer >= 0', async () => {
    const withinOk = (v: unknown) => isDuration(v) && v !== 0;
    const maxOk = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    await fc.assert(
      fc.asyncProperty(durationInput, fc.oneof(anyValue, fc.nat()), (withinMs, maxRestarts) =>
        onVirtualClock(async () => {
          const p = start(() =>
            Supervisor.start({ restartIntensity: { maxRestarts: maxRestarts as number, withinMs: withinMs as number } }),
          );
          if (!maxOk(maxRestarts)) expectNames(await rejection(p), 'restartIntensity.maxRestarts');
          else if (!withinOk(withinMs)) expectNames(await rejection(p), 'restartIntensity.withinMs');
          else await Supervisor.stop(await p);
        }),
      ),
      { ...RUNS, examples: [...EDGES.map((v): [unknown, unknown] => [v, 1]), [1000, -1], [1000, 1.5], [1000, -0], [0, 0]] },
    );
  });

  it('Agent.start initTimeout and the Agent call timeouts follow the rule', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, (v) =>
        onVirtualClock(async () => {
          const ok = v === undefined || isDuration(v);
          const started = start(() => Agent.start(() => 1, { initTimeout: v as number }));
          if (!ok) {
            expectNames(await rejection(started), 'initTimeout');
            return;
          }
          const agent = await started;
          // 0 included: a same-thread agent answers in the current turn, before any timer.
          expect(await start(() => Agent.get(agent, (n) => n + 1, { timeout: v as number }))).toBe(2);
          await start(() => Agent.update(agent, (n) => n * 10, { timeout: v as number }));
          expect(await start(() => Agent.getAndUpdate(agent, (n) => [n, n + 1], { timeout: v as number }))).toBe(10);
        }),
      ),
      WITH_EDGES,
    );
  });
});

describe('the duration rule on Task timeouts (validation; no job runs)', () => {
  let pool: TaskPool;
  beforeAll(() => {
    pool = Task.pool({ minThreads: 0, maxThreads: 1 });
  });
  afterAll(() => pool.close({ timeout: 0 }));

  it('Task run timeout: valid ones reach the abort check, invalid ones are refused first', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, async (v) => {
        const e = await rejection(start(() => pool.run(PLAIN, 'echo', [1], { timeout: v as number, signal: AbortSignal.abort() })));
        if (v === undefined || isDuration(v)) expect(e).toBeInstanceOf(TaskAbortedError);
        else expectNames(e, 'timeout');
      }),
      WITH_EDGES,
    );
  });

  it('TaskPool idleTimeout and close timeout, and Task.closeDefault timeout', async () => {
    await fc.assert(
      fc.asyncProperty(durationInput, durationInput, async (idle, wait) => {
        const make = () => Task.pool({ minThreads: 0, maxThreads: 1, idleTimeout: idle as number });
        if (idle !== undefined && !isDuration(idle)) {
          expectNames(thrown(make), 'idleTimeout');
        } else {
          const p = make();
          const closing = start(() => p.close({ timeout: wait as number }));
          if (wait !== undefined && !isDuration(wait)) {
            expectNames(await rejection(closing), 'timeout');
            expect(p.closed).toBe(false);
            await p.close({ timeout: 0 });
          } else await closing;
        }
        const env = freshRuntime();
        try {
          const closed = start(() => Task.closeDefault({ timeout: wait as number }));
          if (wait !== undefined && !isDuration(wait)) expectNames(await rejection(closed), 'timeout');
          else await closed;
        } finally {
          env.dispose();
        }
      }),
      { numRuns: 60, examples: EDGES.map((v): [unknown, unknown] => [v, v]) },
    );
  });
});

describe('Runtime options', () => {
  const clockLike = fc.constantFrom<unknown>(
    new VirtualClock(),
    { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} },
    { now: () => 0, setTimeout: () => 0 },
    { now: 0, setTimeout: () => 0, clearTimeout: () => {} },
  );
  const loggerLike = fc.constantFrom<unknown>(silentLogger, { error() {}, warn() {} }, { error() {}, warn() {}, info: 'x' }, console);
  const option = (name: string, extra: fc.Arbitrary<unknown>[], ok: (v: unknown) => boolean) =>
    it(`${name}: valid values are accepted, anything else is an InvalidArgumentError naming it`, () => {
      fc.assert(
        fc.property(fc.oneof(anyValue, fc.constant(undefined), ...extra), (v) => {
          const make = () => new Runtime({ logger: silentLogger, [name]: v });
          if (v === undefined || ok(v)) expect(make()).toBeInstanceOf(Runtime);
          else expectNames(thrown(make), name);
        }),
        WITH_EDGES,
      );
    });
  const hasFns = (v: unknown, fns: string[]) =>
    typeof v === 'object' && v !== null && fns.every((f) => typeof (v as Record<string, unknown>)[f] === 'function');

  option('sliceMs', [validDuration], (v) => isDuration(v) && v !== 0);
  option(
    'drainBudget',
    [fc.integer({ min: -5, max: 2 ** 21 })],
    (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 2 ** 20,
  );
  option('thread', [fc.integer({ min: -5, max: 100 })], (v) => Number.isSafeInteger(v) && (v as number) >= 0);
  option(
    'node',
    [fc.string({ maxLength: 1100 }), fc.constant('n'.repeat(1025))],
    (v) => typeof v === 'string' && v !== '' && v.length <= 1024,
  );
  option('strictMessages', [fc.boolean()], (v) => typeof v === 'boolean');
  option(
    'maxInFlight',
    [fc.integer({ min: -5, max: 2 ** 22 }), fc.constant(Number.POSITIVE_INFINITY)],
    (v) => v === Number.POSITIVE_INFINITY || (Number.isSafeInteger(v) && (v as number) >= 1),
  );
  option('clock', [clockLike], (v) => hasFns(v, ['now', 'setTimeout', 'clearTimeout']));
  option('logger', [loggerLike], (v) => hasFns(v, ['error', 'warn', 'info']));

  it('GenServer.start maxMailbox (an integer >= 1 or Infinity) and overflow (a policy name)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(anyValue, fc.integer({ min: -3, max: 5000 }), fc.constant(Number.POSITIVE_INFINITY)),
        fc.oneof(anyValue, fc.constantFrom<unknown>('drop_new', 'reject', 'crash', 'drop_oldest', '')),
        async (max, overflow) => {
          const env = freshRuntime();
          try {
            const okMax = max === undefined || max === Number.POSITIVE_INFINITY || (Number.isInteger(max) && (max as number) >= 1);
            const okOverflow = overflow === undefined || overflow === 'drop_new' || overflow === 'reject' || overflow === 'crash';
            const started = GenServer.start({ init: () => null }, { maxMailbox: max as number, overflow: overflow as never });
            if (okMax && okOverflow) await GenServer.stop(await started);
            else expectNames(await rejection(started), okMax ? 'overflow' : 'maxMailbox');
          } finally {
            env.dispose();
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the options bag itself must be an object', () => {
    for (const bad of [null, 42, 'opts', [], Symbol('x')])
      expectNames(
        thrown(() => new Runtime(bad as never)),
        'runtime options',
      );
  });
});
