/**
 * Bad arguments, second sweep (see api-surface.test.ts for the first): every public function
 * either works or fails with a typed Spindle error, promise-returning ones reject, and a bad
 * argument neither leaves half-done work behind nor harms a bystander.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type { AgentStartOptions, AnyRef, GenServerBehavior, Ref } from '../../src/index.js';
import {
  Agent,
  Application,
  GenServer,
  InvalidArgumentError,
  NotCloneableError,
  Process,
  Result,
  currentRuntime,
  formatRef,
  isRef,
  onLifecycle,
  sameRef,
  setDefaultRuntime,
  silentLogger,
  withRuntime,
} from '../../src/index.js';
import { VirtualClock, flush, freshRuntime } from '../../src/testing.js';

const bad = (v: unknown): never => v as never;

/** What `fn` threw (undefined when it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** What `p` rejected with (undefined when it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectInvalid(e: unknown, argument: string): void {
  expect(e).toBeInstanceOf(InvalidArgumentError);
  expect((e as InvalidArgumentError).argument).toBe(argument);
}

type Rec = { call: ['count', number] | ['last', unknown]; cast: unknown; info: unknown };
/** Counts the casts and infos it got and remembers the last one. */
const recorder: GenServerBehavior<{ n: number; last: unknown }, Rec> = {
  init: () => ({ n: 0, last: undefined }),
  handleCall: (msg, s) => (msg === 'count' ? [s.n, s] : [s.last, s]),
  handleCast: (m, s) => ({ n: s.n + 1, last: m }),
  handleInfo: (m, s) => ({ n: s.n + 1, last: m }),
};

let env: ReturnType<typeof freshRuntime> | undefined;
afterEach(() => {
  env?.dispose();
  env = undefined;
});

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe('strictMessages: what could not cross a thread fails the sender with NotCloneableError', () => {
  it('cast and send throw NotCloneableError naming the path; the target gets nothing and lives on', async () => {
    env = freshRuntime({ strictMessages: true });
    const ref = await GenServer.start(recorder);
    const cases: [unknown, string][] = [
      [{ inner: new Proxy({}, {}) }, 'message.inner'],
      [{ list: [1, () => 2] }, 'message.list[1]'],
      [new Proxy([1], {}), 'message'],
      [{ s: Symbol('s') }, 'message.s'],
      [{ p: new Point(1, 2) }, 'message.p'],
    ];
    for (const [msg, path] of cases) {
      for (const send of [() => GenServer.cast(ref, msg), () => GenServer.send(ref, msg)]) {
        const e = thrown(send);
        expect(e).toBeInstanceOf(NotCloneableError);
        expect((e as NotCloneableError).path).toBe(path);
        expect((e as NotCloneableError).destination).toBe(formatRef(ref));
      }
    }
    expect(await GenServer.call(ref, 'count')).toBe(0);
    expect(Process.alive(ref)).toBe(true);
    // Plain data is still copied.
    const obj = { n: 1 };
    GenServer.cast(ref, obj);
    obj.n = 2;
    expect(await GenServer.call(ref, 'last')).toEqual({ n: 1 });
  });

  it('call rejects (never throws) with NotCloneableError naming the path; the target lives on', async () => {
    env = freshRuntime({ strictMessages: true });
    const ref = await GenServer.start(recorder);
    const target = ref as AnyRef as Ref<{ call: [unknown, unknown] }>;
    let p: Promise<unknown> | undefined;
    expect(thrown(() => (p = GenServer.call(target, { list: [new Proxy({}, {})] })))).toBeUndefined();
    const e = await rejection(p as Promise<unknown>);
    expect(e).toBeInstanceOf(NotCloneableError);
    expect((e as NotCloneableError).path).toBe('message.list[0]');
    const f = await rejection(GenServer.call(target, { f: () => 1 }));
    expect((f as NotCloneableError).path).toBe('message.f');
    expect(await GenServer.call(ref, 'count')).toBe(0);
    expect(Process.alive(ref)).toBe(true);
  });

  it('a sendAfter timer with an uncloneable message drops and counts it rather than throwing in the timer', async () => {
    const clock = new VirtualClock();
    env = freshRuntime({ strictMessages: true, clock });
    const ref = await GenServer.start(recorder);
    GenServer.sendAfter(ref, { p: new Proxy({}, {}) }, 10);
    await clock.advance(20);
    expect(env.rt.stats.droppedCasts).toBe(1);
    expect(Process.alive(ref)).toBe(true);
    const count = GenServer.call(ref, 'count');
    await clock.advance(0);
    expect(await count).toBe(0);
  });
});

describe('Application.start checks its options before starting anything', () => {
  const tree = { children: [{ id: 'r', behavior: recorder }] };
  const cases: [string, unknown, string][] = [
    ['null options', null, 'options'],
    ['numeric options', 42, 'options'],
    ['signals not an array', { signals: 'SIGINT' }, 'signals'],
    ['signals null', { signals: null }, 'signals'],
    ['an unknown signal', { signals: ['SIGINT', 'SIGBOGUS'] }, 'signals[1]'],
    ['an uncatchable signal', { signals: ['SIGKILL'] }, 'signals[0]'],
    ['a non-string signal', { signals: [15] }, 'signals[0]'],
    ['onStop not a function', { onStop: 42 }, 'onStop'],
  ];

  it.each(cases)('%s: rejects InvalidArgumentError, no tree runs and no signal listener is left', async (_label, options, argument) => {
    env = freshRuntime();
    const listeners = ['SIGINT', 'SIGTERM', 'SIGKILL'].map((s) => process.listenerCount(s));
    let p: Promise<unknown> | undefined;
    expect(thrown(() => (p = Application.start(tree, bad(options))))).toBeUndefined();
    expectInvalid(await rejection(p as Promise<unknown>), argument);
    await flush();
    expect(env.rt.procs.size).toBe(0);
    expect(['SIGINT', 'SIGTERM', 'SIGKILL'].map((s) => process.listenerCount(s))).toEqual(listeners);
  });

  it('good options still start the tree, and stop removes the listeners and runs onStop', async () => {
    env = freshRuntime();
    const before = process.listenerCount('SIGUSR2');
    let stopped = false;
    const app = await Application.start(tree, {
      signals: ['SIGUSR2'],
      onStop: () => {
        stopped = true;
      },
    });
    expect(Process.alive(app.supervisor)).toBe(true);
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    await app.stop();
    expect(stopped).toBe(true);
    expect(process.listenerCount('SIGUSR2')).toBe(before);
    expect(env.rt.procs.size).toBe(0);
  });
});

describe('runtime functions check their arguments', () => {
  it('withRuntime refuses a non-Runtime or a non-function, and runs nothing', () => {
    env = freshRuntime();
    const rt = env.rt;
    let ran = false;
    const fn = () => {
      ran = true;
    };
    for (const r of [undefined, null, 42, {}, { procs: new Map() }])
      expectInvalid(
        thrown(() => withRuntime(bad(r), fn)),
        'runtime passed to withRuntime',
      );
    for (const f of [undefined, null, 42, 'fn', {}])
      expectInvalid(
        thrown(() => withRuntime(rt, bad(f))),
        'fn passed to withRuntime',
      );
    expect(ran).toBe(false);
    expect(currentRuntime()).toBe(rt);
    expect(withRuntime(rt, () => currentRuntime())).toBe(rt);
  });

  it('setDefaultRuntime refuses anything but a Runtime or undefined, and keeps the default', () => {
    env = freshRuntime();
    for (const r of [null, 42, {}, 'rt'])
      expectInvalid(
        thrown(() => setDefaultRuntime(bad(r))),
        'runtime passed to setDefaultRuntime',
      );
    expect(currentRuntime()).toBe(env.rt);
  });

  it('Runtime.watch refuses a non-ref or a non-function callback, and leaves no monitor behind', async () => {
    const warned: string[] = [];
    env = freshRuntime({ logger: { ...silentLogger, warn: (m: string) => warned.push(m) } });
    const rt = env.rt;
    const ref = await GenServer.start(recorder);
    for (const r of [null, undefined, 42, {}, 'name', { node: rt.node, thread: 0, id: -1 }])
      expectInvalid(
        thrown(() => rt.watch(bad(r), () => {})),
        'ref passed to Runtime.watch',
      );
    for (const cb of [null, undefined, 42, {}])
      expectInvalid(
        thrown(() => rt.watch(ref, bad(cb))),
        'callback passed to Runtime.watch',
      );
    await GenServer.stop(ref);
    expect(warned).toEqual([]);
    // A good watch still fires.
    const other = await GenServer.start(recorder);
    let reason: unknown;
    rt.watch(other, (_r, why) => {
      reason = why;
    });
    await GenServer.stop(other);
    expect(reason).toBe('normal');
  });

  it('onLifecycle refuses a non-function (both the function and the method)', async () => {
    env = freshRuntime();
    for (const l of [null, undefined, 42, {}]) {
      expectInvalid(
        thrown(() => onLifecycle(bad(l))),
        'listener passed to onLifecycle',
      );
      expectInvalid(
        thrown(() => env?.rt.onLifecycle(bad(l))),
        'listener passed to onLifecycle',
      );
    }
    // Events still flow to nobody bad: a start and a stop go through.
    const ref = await GenServer.start(recorder);
    await GenServer.stop(ref);
  });
});

describe('refs: sameRef and formatRef never throw; isRef is strict', () => {
  const ref = { node: 'a@b', thread: 1, id: 2 };
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const hostile = {
    get node(): string {
      throw new Error('getter');
    },
    thread: 0,
    id: 1,
  };
  const NON_REFS: unknown[] = [
    null,
    undefined,
    42,
    'a@b/1/2',
    {},
    [],
    revoked.proxy,
    hostile,
    { node: '', thread: 0, id: 1 },
    { node: 'n'.repeat(1025), thread: 0, id: 1 },
    { node: 'a', thread: -1, id: 1 },
    { node: 'a', thread: 0, id: -1 },
    { node: 'a', thread: 0.5, id: 1 },
    { node: 'a', thread: 0, id: 1.5 },
    { node: 'a', thread: 0, id: Number.NaN },
    { node: 'a', thread: 0, id: Number.POSITIVE_INFINITY },
    { node: 'a', thread: 0, id: 2 ** 53 },
    { node: 'a', thread: '0', id: 1 },
    { node: 42, thread: 0, id: 1 },
  ];

  it('sameRef is false for anything that is not a ref, never a throw', () => {
    for (const v of NON_REFS) {
      expect(sameRef(bad(v), bad(ref))).toBe(false);
      expect(sameRef(bad(ref), bad(v))).toBe(false);
      expect(sameRef(bad(v), bad(v))).toBe(false);
    }
    expect(sameRef(ref, { ...ref })).toBe(true);
    expect(sameRef(ref, { ...ref, id: 3 })).toBe(false);
  });

  it('formatRef renders any value, never a throw', () => {
    expect(formatRef(ref)).toBe('#Ref<a@b/1/2>');
    for (const v of NON_REFS) {
      const s = formatRef(bad(v));
      expect(typeof s).toBe('string');
      expect(s.startsWith('#Ref<invalid')).toBe(true);
      expect(s.length).toBeLessThan(100);
    }
  });

  it('isRef wants a bounded non-empty node and safe integer thread and id >= 0', () => {
    for (const v of NON_REFS) expect(isRef(v)).toBe(false);
    expect(isRef(ref)).toBe(true);
    expect(isRef({ node: 'n'.repeat(1024), thread: 0, id: 0 })).toBe(true);
    expect(isRef({ node: 'a', thread: 0, id: Number.MAX_SAFE_INTEGER })).toBe(true);
  });

  it('a call to a malformed ref is refused as an invalid argument, not looked up', async () => {
    env = freshRuntime();
    const e = await rejection(GenServer.call(bad({ node: env.rt.node, thread: 0, id: -1 }), 'x'));
    expect(e).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('Result directives check their options', () => {
  it('a non-object options bag is an InvalidArgumentError naming it', () => {
    for (const o of [42, null, 'continue', [], true]) {
      expectInvalid(
        thrown(() => Result.noreply(1, bad(o))),
        'options passed to Result.noreply',
      );
      expectInvalid(
        thrown(() => Result.reply('r', 1, bad(o))),
        'options passed to Result.reply',
      );
      expectInvalid(
        thrown(() => Result.stop('normal', 1, bad(o))),
        'options passed to Result.stop',
      );
    }
  });

  it('Result.stop refuses a reason that is not an exit reason', () => {
    for (const r of [42, 'bogus', null, undefined, {}])
      expectInvalid(
        thrown(() => Result.stop(bad(r), 1)),
        'reason passed to Result.stop',
      );
  });

  it('the options forms still work', async () => {
    expect(Result.noreply(1)).toMatchObject({ state: 1, hasContinue: false });
    expect(Result.noreply(1, {})).toMatchObject({ hasContinue: false });
    expect(Result.noreply(1, { continue: 'c' })).toMatchObject({ continue: 'c', hasContinue: true });
    expect(Result.reply('r', 1, { continue: undefined })).toMatchObject({ reply: 'r', hasContinue: true });
    expect(Result.stop('normal', 1, { reply: 'bye' })).toMatchObject({ reply: 'bye', hasReply: true });
    expect(Result.stop({ shutdown: 'x' }, 1)).toMatchObject({ hasReply: false });
  });

  it('a handler that passes a bare value fails with InvalidArgumentError, and the caller is told', async () => {
    env = freshRuntime();
    const ref = await GenServer.start<number, { call: ['go', never] }>({
      init: () => 0,
      handleCall: (_m, s) => Result.noreply(s, bad(42)),
    });
    const e = await rejection(GenServer.call(ref, 'go'));
    expect((e as Error).name).toBe('ServerExitedError');
    expect((e as Error).cause).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('exports', () => {
  it('AgentStartOptions is exported from the package root', async () => {
    expectTypeOf<AgentStartOptions>().toEqualTypeOf<{ name?: string; initTimeout?: number }>();
    env = freshRuntime();
    const options: AgentStartOptions = { name: 'agent-options' };
    const agent = await Agent.start(() => 1, options);
    expect(await Agent.get(agent, (n) => n)).toBe(1);
  });
});
