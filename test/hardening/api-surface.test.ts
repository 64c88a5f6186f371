/**
 * Bad arguments across the public API. Names are non-empty strings of at most 1024 chars;
 * every Runtime option is checked when the runtime is made; and every public function, given
 * undefined, null, numbers, strings, objects, symbols, Proxies or functions where it expects
 * something else, either works or fails with a typed Spindle error: promise-returning ones
 * reject (never throw synchronously), and no bystander process is harmed.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeRef } from '../../src/core/ref.js';
import type { AnyRef, GenServerBehavior, Ref, TaskPool } from '../../src/index.js';
import {
  Agent,
  GenServer,
  InvalidArgumentError,
  NotCloneableError,
  Process,
  Registry,
  Runtime,
  SpindleError,
  Supervisor,
  Task,
  silentLogger,
  withRuntime,
} from '../../src/index.js';
import { findUncloneable } from '../../src/transport/cloneable.js';
import { loopbackPair } from '../../src/transport/loopback.js';
import { ThreadLinks } from '../../src/threads/links.js';
import { flush, freshRuntime, VirtualClock } from '../../src/testing.js';

const PLAIN = new URL('../fixtures/plain-jobs.mjs', import.meta.url);
const bad = (v: unknown): never => v as never;

type Echo = { call: [unknown, unknown]; cast: unknown; info: unknown };
/** Answers any call with the message and survives any cast or info: only bad arguments can hurt it. */
const echo: GenServerBehavior<number, Echo> = {
  init: () => 0,
  handleCall: (msg, s) => [msg, s],
  handleCast: (_m, s) => s,
  handleInfo: (_m, s) => s,
};

/** The values the sweep puts in every argument position. */
const BAD_VALUES: [string, () => unknown][] = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['42', () => 42],
  ['NaN', () => Number.NaN],
  ['-1', () => -1],
  ["'bogus'", () => 'bogus'],
  ["''", () => ''],
  ['{}', () => ({})],
  ['[]', () => []],
  ['a symbol', () => Symbol('bad')],
  ['a Proxy', () => new Proxy({}, {})],
  ['a function', () => () => 'fn'],
  ['a bigint', () => 10n],
];

/** A runtime per case, with processes the calls aim at. */
interface Fixtures {
  rt: Runtime;
  echo: Ref<Echo>;
  agent: Awaited<ReturnType<typeof Agent.start<number>>>;
  sup: Awaited<ReturnType<typeof Supervisor.start>>;
  /** Runs the function it is called with, inside its handleCall. */
  runner: Ref<Runner>;
  pool: TaskPool;
}

type Runner = { call: [() => unknown, unknown] };
const runner: GenServerBehavior<number, Runner> = { init: () => 0, handleCall: (fn, s) => [fn(), s] };

let pool: TaskPool;
beforeAll(() => {
  pool = Task.pool({ minThreads: 0, maxThreads: 1 });
});
afterAll(async () => {
  await pool.close({ timeout: 0 });
  await Task.closeDefault({ timeout: 0 });
});

async function fixtures(): Promise<{ fx: Fixtures; dispose: () => void }> {
  const env = freshRuntime({ clock: new VirtualClock() });
  const fx: Fixtures = {
    rt: env.rt,
    echo: await GenServer.start(echo),
    agent: await Agent.start(() => 1),
    sup: await Supervisor.start({ children: [{ id: 'c', behavior: echo }] }),
    runner: await GenServer.start(runner),
    pool,
  };
  return { fx, dispose: env.dispose };
}

/** A public function, with valid arguments for every position. */
interface Api {
  readonly name: string;
  /** Returns a promise: must reject, never throw. */
  readonly async: boolean;
  /** It may legitimately stop a fixture when the bad value happens to be acceptable. */
  readonly stops?: boolean;
  /** Acts on the current process: swept from inside one. */
  readonly inProcess?: boolean;
  readonly valid: (fx: Fixtures) => unknown[];
  readonly call: (fx: Fixtures, args: unknown[]) => unknown;
}

const api = (name: string, async: boolean, valid: Api['valid'], call: (...args: unknown[]) => unknown, stops = false): Api => ({
  name,
  async,
  stops,
  valid,
  call: (_fx, args) => call(...args),
});

type Outcome = { kind: 'ok' } | { kind: 'typed'; error: SpindleError } | { kind: 'bad'; how: string };

/**
 * How a call ended: it worked (returned, resolved, or is still pending after the event loop
 * turned a few times), or failed with a Spindle error, or did something else (`bad`).
 */
async function outcome(fn: () => unknown, isAsync: boolean): Promise<Outcome> {
  return classify(attempt(fn), isAsync);
}

/** What calling `fn` returned or threw. */
type Attempt = { threw: false; value: unknown } | { threw: true; error: unknown };
function attempt(fn: () => unknown): Attempt {
  try {
    return { threw: false, value: fn() };
  } catch (error) {
    return { threw: true, error };
  }
}

async function classify(a: Attempt, isAsync: boolean): Promise<Outcome> {
  if (a.threw) {
    const e = a.error;
    if (isAsync) return { kind: 'bad', how: `threw synchronously: ${String(e)}` };
    return e instanceof SpindleError ? { kind: 'typed', error: e } : { kind: 'bad', how: `threw ${String(e)}` };
  }
  const r = a.value;
  if (!(r instanceof Promise)) return isAsync ? { kind: 'bad', how: 'returned no promise' } : { kind: 'ok' };
  const settled = r.then(
    (): Outcome => ({ kind: 'ok' }),
    (e): Outcome => (e instanceof SpindleError ? { kind: 'typed', error: e } : { kind: 'bad', how: `rejected with ${String(e)}` }),
  );
  return Promise.race([settled, flush().then((): Outcome => ({ kind: 'ok' }))]);
}

/** Puts every bad value in every argument position of `fn`; collects what went wrong. */
async function sweep(fn: Api): Promise<string[]> {
  const problems: string[] = [];
  const arity = await (async () => {
    const { fx, dispose } = await fixtures();
    const n = fn.valid(fx).length;
    dispose();
    return n;
  })();
  for (let pos = 0; pos < Math.max(arity, 1); pos++) {
    for (const [label, make] of BAD_VALUES) {
      const { fx, dispose } = await fixtures();
      try {
        const args = fn.valid(fx);
        if (arity > 0) args[pos] = make();
        const run = () => fn.call(fx, args);
        // Process functions act on the calling process: call them from inside one.
        const o = fn.inProcess
          ? await classify((await GenServer.call(fx.runner, () => attempt(run))) as Attempt, fn.async)
          : await withRuntime(fx.rt, () => outcome(run, fn.async));
        const where = `${fn.name} with ${label} as argument ${pos + 1}`;
        if (o.kind === 'bad') problems.push(`${where}: ${o.how}`);
        if (!fn.stops) {
          for (const [what, ref] of [
            ['echo', fx.echo],
            ['agent', fx.agent],
            ['supervisor', fx.sup],
            ['runner', fx.runner],
          ] as const)
            if (!Process.alive(ref)) problems.push(`${where}: the ${what} died`);
        }
      } finally {
        dispose();
      }
    }
  }
  return problems;
}

const remoteFrom = { node: 'nonode@nohost', thread: 0, call: 1 };

describe('every public function either works or fails with a typed Spindle error', () => {
  const groups: [string, Api[]][] = [
    [
      'GenServer',
      [
        api('GenServer.start', true, () => [echo, {}], GenServer.start as never),
        api('GenServer.name', false, () => ['counter'], GenServer.name as never),
        api('GenServer.call', true, (fx) => [fx.echo, 'ping', { timeout: 100 }], GenServer.call as never),
        api('GenServer.cast', false, (fx) => [fx.echo, 'hi', {}], GenServer.cast as never),
        api('GenServer.send', false, (fx) => [fx.echo, 'hi', {}], GenServer.send as never),
        api('GenServer.reply', false, () => [remoteFrom, 'v'], GenServer.reply as never),
        api('GenServer.stop', true, (fx) => [fx.echo, 'normal', {}], GenServer.stop as never, true),
        api('GenServer.isRunning', false, (fx) => [fx.echo], GenServer.isRunning as never),
        api('GenServer.sendAfter', false, (fx) => [fx.echo, 'tick', 10], GenServer.sendAfter as never),
        api('GenServer.cancelTimer', false, (fx) => [GenServer.sendAfter(fx.echo, 'tick', 10)], GenServer.cancelTimer as never),
        api('GenServer.self', false, () => [], GenServer.self as never),
      ],
    ],
    [
      'Supervisor',
      [
        api('Supervisor.start', true, () => [{ children: [] }], Supervisor.start as never),
        api('Supervisor.startChild', true, (fx) => [fx.sup, { id: 'd', behavior: echo }], Supervisor.startChild as never),
        api('Supervisor.terminateChild', true, (fx) => [fx.sup, 'c'], Supervisor.terminateChild as never),
        api('Supervisor.restartChild', true, (fx) => [fx.sup, 'c'], Supervisor.restartChild as never),
        api('Supervisor.deleteChild', true, (fx) => [fx.sup, 'c'], Supervisor.deleteChild as never),
        api('Supervisor.getChildren', true, (fx) => [fx.sup], Supervisor.getChildren as never),
        api('Supervisor.countChildren', true, (fx) => [fx.sup], Supervisor.countChildren as never),
        api('Supervisor.stop', true, (fx) => [fx.sup, 'shutdown'], Supervisor.stop as never, true),
      ],
    ],
    [
      'Agent',
      [
        api('Agent.start', true, () => [() => 1, {}], Agent.start as never),
        api('Agent.get', true, (fx) => [fx.agent, (n: number) => n, {}], Agent.get as never),
        api('Agent.update', true, (fx) => [fx.agent, (n: number) => n, {}], Agent.update as never),
        api('Agent.getAndUpdate', true, (fx) => [fx.agent, (n: number) => [n, n], {}], Agent.getAndUpdate as never),
        api('Agent.cast', false, (fx) => [fx.agent, (n: number) => n], Agent.cast as never),
        api('Agent.stop', true, (fx) => [fx.agent, 'normal'], Agent.stop as never, true),
      ],
    ],
    [
      'Process (called from inside a process)',
      [
        api('Process.link', false, (fx) => [fx.echo], Process.link as never),
        api('Process.unlink', false, (fx) => [fx.echo], Process.unlink as never),
        api('Process.monitor', false, (fx) => [fx.echo], Process.monitor as never),
        api('Process.demonitor', false, (fx) => [{ node: fx.rt.node, thread: 0, monitor: 1 }], Process.demonitor as never),
        api('Process.trapExit', false, () => [false], Process.trapExit as never),
        api('Process.exit', false, (fx) => [fx.echo, 'normal'], Process.exit as never),
        api('Process.watch', false, (fx) => [fx.echo, () => {}], Process.watch as never),
        api('Process.awaitExit', true, (fx) => [fx.echo], Process.awaitExit as never),
        api('Process.alive', false, (fx) => [fx.echo], Process.alive as never),
      ].map((a) => ({ ...a, inProcess: true })),
    ],
    [
      'Task and TaskPool',
      [
        api(
          'Task.pool',
          false,
          () => [{ minThreads: 0, maxThreads: 1 }],
          (o) => Task.pool(o as never).close({ timeout: 0 }),
        ),
        api('Task.closeDefault', true, () => [{ timeout: 0 }], Task.closeDefault as never),
        {
          name: 'TaskPool.run',
          async: true,
          valid: () => [PLAIN, 'echo', [1], { signal: AbortSignal.abort() }],
          call: (fx, args) => fx.pool.run(...(args as Parameters<TaskPool['run']>)),
        },
        {
          name: 'TaskPool.close',
          async: true,
          valid: () => [{ timeout: 0 }],
          call: (_fx, [o]) => {
            const p = Task.pool({ minThreads: 0, maxThreads: 1 });
            const closing = p.close(o as never);
            // Whatever the options did, the pool goes.
            void closing.catch(() => {}).then(() => p.close({ timeout: 0 }));
            return closing;
          },
        },
      ],
    ],
  ];

  it.each(groups)('%s', async (_group, fns) => {
    const problems: string[] = [];
    for (const fn of fns) problems.push(...(await sweep(fn)));
    expect(problems).toEqual([]);
  });
});

describe('names are non-empty strings of at most 1024 characters', () => {
  let env: ReturnType<typeof freshRuntime>;
  afterEach(() => env.dispose());

  const BAD_NAMES: unknown[] = [42, {}, '', null, Symbol('n'), 'n'.repeat(1025), ['a'], new Proxy({}, {}), () => 'n', 10n, true];

  it('GenServer.start, Supervisor.start and Agent.start refuse a bad name, and no junk lands in the registry', async () => {
    env = freshRuntime();
    for (const name of BAD_NAMES) {
      for (const start of [
        () => GenServer.start(echo, { name: bad(name) }),
        () => Supervisor.start({ name: bad(name) }),
        () => Agent.start(() => 1, { name: bad(name) }),
      ]) {
        const e = await start().then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(InvalidArgumentError);
        expect((e as InvalidArgumentError).argument).toBe('name');
      }
    }
    expect(Registry.registered()).toEqual([]);
    expect(env.rt.procs.size).toBe(0);
    // The bound itself is a valid name.
    const name = 'n'.repeat(1024);
    const ref = await GenServer.start(echo, { name });
    expect(Registry.whereis(name)).toEqual(ref);
  });

  it('GenServer.name throws InvalidArgumentError for a bad name and accepts the 1024-character bound', () => {
    env = freshRuntime();
    for (const name of BAD_NAMES) {
      let e: unknown;
      try {
        GenServer.name(bad(name));
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe('name passed to GenServer.name');
    }
    const name = 'n'.repeat(1024);
    expect(GenServer.name(name)).toBe(name);
  });

  it('property: a name is accepted exactly when it is a non-empty string of at most 1024 characters', async () => {
    env = freshRuntime();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), fc.string({ maxLength: 1100 }), fc.constantFrom(...BAD_NAMES)), async (name) => {
        // undefined: no name at all.
        const ok = name === undefined || (typeof name === 'string' && name !== '' && name.length <= 1024);
        const r = await GenServer.start(echo, { name: bad(name) }).then(
          (ref) => ({ ref }),
          (error: unknown) => ({ error }),
        );
        if ('ref' in r) {
          expect(ok).toBe(true);
          await GenServer.stop(r.ref);
        } else if (ok) expect((r.error as Error).name).toBe('AlreadyRegisteredError');
        else expect((r.error as InvalidArgumentError).argument).toBe('name');
        for (const n of Registry.registered()) expect(typeof n).toBe('string');
      }),
      { numRuns: 150 },
    );
  });
});

describe('Runtime options are checked when the runtime is made', () => {
  const cases: [string, string, unknown][] = [
    ['drainBudget', '0 (it spun the CPU handling nothing)', 0],
    ['drainBudget', '1.5', 1.5],
    ['drainBudget', '2^20 + 1', 2 ** 20 + 1],
    ['drainBudget', "'512'", '512'],
    ['sliceMs', '0', 0],
    ['sliceMs', '-1', -1],
    ['sliceMs', 'NaN', Number.NaN],
    ['sliceMs', "'5'", '5'],
    ['node', "''", ''],
    ['node', '42', 42],
    ['node', '1025 characters', 'n'.repeat(1025)],
    ['thread', '-1', -1],
    ['thread', '1.5', 1.5],
    ['thread', "'0'", '0'],
    ['clock', '{}', {}],
    ['clock', 'an object without clearTimeout', { now: () => 0, setTimeout: () => 0 }],
    ['clock', 'Date', Date],
    ['logger', 'an object without info', { error() {}, warn() {} }],
    ['logger', "'console'", 'console'],
    ['strictMessages', "'yes'", 'yes'],
    ['strictMessages', '1', 1],
  ];

  it.each(cases)('%s: %s is refused with InvalidArgumentError naming it', (option, _label, value) => {
    let e: unknown;
    try {
      new Runtime({ [option]: value });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).argument).toBe(option);
  });

  it('the bounds: drainBudget 1 and 2^20, sliceMs Infinity and 0.5 are accepted; just past them is refused', () => {
    const rt = new Runtime({
      node: 'a@b',
      thread: 3,
      clock: new VirtualClock(),
      logger: silentLogger,
      drainBudget: 2 ** 20,
      sliceMs: Number.POSITIVE_INFINITY,
      strictMessages: true,
    });
    expect(rt.drainBudget).toBe(2 ** 20);
    expect(new Runtime({ drainBudget: 1, sliceMs: 0.5 }).sliceMs).toBe(0.5);
    expect(() => new Runtime({ drainBudget: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Runtime({ drainBudget: 2 ** 20 + 1 })).toThrow(InvalidArgumentError);
    expect(() => new Runtime({ sliceMs: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('typed errors where untyped ones escaped', () => {
  let env: ReturnType<typeof freshRuntime>;
  afterEach(() => env.dispose());

  it('cancelTimer(undefined), reply(undefined) and terminateChild(sup, null) throw or reject InvalidArgumentError', async () => {
    env = freshRuntime();
    expect(() => GenServer.cancelTimer(bad(undefined))).toThrow(InvalidArgumentError);
    expect(() => GenServer.reply(bad(undefined), 1)).toThrow(InvalidArgumentError);
    const sup = await Supervisor.start({ children: [{ id: 'c', behavior: echo }] });
    await expect(Supervisor.terminateChild(sup, bad(null))).rejects.toBeInstanceOf(InvalidArgumentError);
    // Straight to the supervisor, the malformed request fails the caller with a typed error too.
    const raw = await GenServer.call(sup as AnyRef as Ref<{ call: [unknown, { ok: boolean; error?: unknown }] }>, {
      op: 'terminate_child',
      id: null,
    });
    expect(raw.error).toBeInstanceOf(InvalidArgumentError);
    expect(Process.alive(sup)).toBe(true);
  });

  it('a bad function given to an Agent fails the caller, and the agent lives on', async () => {
    env = freshRuntime();
    const agent = await Agent.start(() => 1);
    await expect(Agent.get(agent, bad(42))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Agent.update(agent, bad(null))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => Agent.cast(agent, bad('x'))).toThrow(InvalidArgumentError);
    await expect(Agent.start(bad(5))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await Agent.get(agent, (n) => n)).toBe(1);
  });

  it('a Proxy is found by the clone check, with its path', () => {
    expect(findUncloneable(new Proxy({}, {}))).toMatchObject({ path: 'message' });
    expect(findUncloneable({ a: [1, { b: new Proxy([1], {}) }] })?.path).toBe('message.a[1].b');
    expect(findUncloneable({ a: new Proxy({}, {}) })?.valueType).toMatch(/Proxy/);
  });

  it('a Proxy in a message to another thread fails the sender with NotCloneableError naming its path', async () => {
    const [t0, t1] = loopbackPair();
    const main = new Runtime({ logger: silentLogger, thread: 0 });
    const worker = new Runtime({ logger: silentLogger, thread: 1 });
    new ThreadLinks(main).connect(1, t0);
    new ThreadLinks(worker).connect(0, t1);
    env = {
      rt: main,
      dispose: () => {
        main.killAll();
        worker.killAll();
        t0.close();
      },
    };
    const there = await withRuntime(worker, () => GenServer.start(echo));
    expect(there).toEqual(makeRef(main.node, 1, there.id));
    withRuntime(main, () => {
      const e = (() => {
        try {
          GenServer.cast(there, { inner: new Proxy({}, {}) });
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(NotCloneableError);
      expect((e as NotCloneableError).path).toBe('message.inner');
    });
    const e = await withRuntime(main, () => GenServer.call(there, { list: [new Proxy({}, {})] }, { timeout: 1000 })).catch((x) => x);
    expect(e).toBeInstanceOf(NotCloneableError);
    expect((e as NotCloneableError).path).toBe('message.list[0]');
    // Plain data still crosses.
    expect(await withRuntime(main, () => GenServer.call(there, { list: [1] }, { timeout: 1000 }))).toEqual({ list: [1] });
  });

  it('a Proxy in Task args or thread args is a NotCloneableError, not a raw DataCloneError', async () => {
    env = freshRuntime();
    const e = await pool.run(PLAIN, 'echo', [new Proxy({}, {})]).catch((x) => x);
    expect(e).toBeInstanceOf(NotCloneableError);
    expect((e as NotCloneableError).path).toBe('args[0]');
    const t = await Supervisor.start({ children: [{ id: 't', thread: { module: 'x.ts', args: { p: new Proxy({}, {}) } } }] }).catch(
      (x) => x,
    );
    expect(t).toBeInstanceOf(NotCloneableError);
    expect((t as NotCloneableError).path).toBe('thread.args.p');
  });
});
