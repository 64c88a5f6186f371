/**
 * Typed names (docs/concepts/genserver.md, "Typed names and client modules"): `GenServer.name<P>`
 * validates the name and returns it unchanged, so a typed name works at run time wherever a
 * plain name does (start, call, cast, send, stop, isRunning, Registry). A typed
 * `simple_one_for_one` supervisor passes `startChild`'s args to the template as before.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer, InvalidArgumentError, NoProcessError, Registry, Supervisor } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

type CounterProtocol = {
  call: ['get', number] | [{ type: 'add'; n: number }, number] | ['ticks', number];
  cast: 'inc';
  info: 'tick';
};

type State = { n: number; ticks: number };

const counterBehavior: GenServerBehavior<State, CounterProtocol, number | undefined> = {
  init: (start) => ({ n: start ?? 0, ticks: 0 }),
  handleCall: (msg, s) => {
    if (msg === 'get') return [s.n, s];
    if (msg === 'ticks') return [s.ticks, s];
    return [s.n + msg.n, { ...s, n: s.n + msg.n }];
  },
  handleCast: (_msg, s) => ({ ...s, n: s.n + 1 }),
  handleInfo: (msg, s) => (msg === 'tick' ? { ...s, ticks: s.ticks + 1 } : s),
};

const counter = GenServer.name<CounterProtocol>('counter');

/** The client API module: a typed facade over call and cast. */
const Counter = {
  start: (n?: number) => GenServer.start(counterBehavior, { name: counter, args: n }),
  get: () => GenServer.call(counter, 'get'),
  add: (n: number) => GenServer.call(counter, { type: 'add', n }),
  inc: () => GenServer.cast(counter, 'inc'),
  stop: () => GenServer.stop(counter),
};

describe('GenServer.name', () => {
  it('returns the name itself', () => {
    expect(counter).toBe('counter');
    expect(typeof GenServer.name<CounterProtocol>('x')).toBe('string');
  });

  it.each([
    ['an empty string', ''],
    ['a name over 1024 characters', 'n'.repeat(1025)],
    ['a number', 42],
    ['undefined', undefined],
    ['an object', { name: 'counter' }],
  ])('rejects %s with InvalidArgumentError', (_what, bad) => {
    expect(() => GenServer.name(bad as string)).toThrow(InvalidArgumentError);
  });

  it('accepts a name of exactly 1024 characters', () => {
    const long = 'n'.repeat(1024);
    expect(GenServer.name(long)).toBe(long);
  });
});

describe('a typed name at run time', () => {
  it('starts, calls, casts, sends and stops through the name', async () => {
    const ref = await Counter.start(5);
    expect(Registry.whereis(counter)).toEqual(ref);
    expect(Registry.lookup(counter)).toEqual(ref);
    Counter.inc();
    expect(await Counter.get()).toBe(6);
    expect(await Counter.add(4)).toBe(10);
    GenServer.send(counter, 'tick');
    expect(await GenServer.call(counter, 'ticks')).toBe(1);
    expect(GenServer.isRunning(counter)).toBe(true);
    await Counter.stop();
    expect(GenServer.isRunning(counter)).toBe(false);
    expect(Registry.whereis(counter)).toBeUndefined();
  });

  it('behaves like the plain name when nothing is registered', async () => {
    await expect(Counter.get()).rejects.toBeInstanceOf(NoProcessError);
    await expect(Counter.stop()).rejects.toBeInstanceOf(NoProcessError);
    expect(() => Counter.inc()).not.toThrow();
  });

  it('registers through Registry.register like a plain name', async () => {
    const ref = await GenServer.start(counterBehavior);
    const alias = GenServer.name<CounterProtocol>('alias');
    await Registry.register(alias, ref);
    expect(await GenServer.call(alias, 'get')).toBe(0);
    expect(Registry.unregister(alias)).toBe(true);
    await GenServer.stop(ref);
  });
});

describe('a typed simple_one_for_one supervisor', () => {
  it('passes startChild args to the template', async () => {
    const sup = await Supervisor.start({
      strategy: 'simple_one_for_one',
      template: { id: 'c', start: (args: { start: number }) => GenServer.start(counterBehavior, { args: args.start }) },
    });
    const child = await Supervisor.startChild(sup, { start: 7 });
    expect(await GenServer.call(child, 'get')).toBe(7);
    await Supervisor.stop(sup);
  });
});
