/**
 * Bad input: every public entry point rejects (or throws) InvalidArgumentError naming the
 * problem, and the runtime keeps running afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ChildSpec, GenServerBehavior, Ref, SupervisorOptions } from '../src/index.js';
import { ErrorCode, GenServer, InvalidArgumentError, Process, Registry, Supervisor } from '../src/index.js';
import { freshRuntime } from '../src/testing.js';
import type { WorkerProtocol } from './helpers.js';
import { failure, worker } from './helpers.js';

let env: ReturnType<typeof freshRuntime>;
let ref: Ref<WorkerProtocol>;
beforeEach(async () => {
  env = freshRuntime();
  ref = await GenServer.start(worker('w'));
});
afterEach(() => env.dispose());

const w = worker('x');
const spec = (extra: Partial<ChildSpec> & Record<string, unknown>): ChildSpec => ({ id: 'c', behavior: w, ...extra }) as ChildSpec;
const bad = (v: unknown): never => v as never;

const cases: [string, () => unknown][] = [
  ['GenServer.start(null)', () => GenServer.start(bad(null))],
  ['GenServer.start without init', () => GenServer.start(bad({ handleCall: () => [1, 1] }))],
  ['GenServer.start with initTimeout -1', () => GenServer.start(w, { initTimeout: -1 })],
  ['GenServer.start with shutdownTimeout "5000"', () => GenServer.start(w, { shutdownTimeout: bad('5000') })],
  ['GenServer.call to a number', () => GenServer.call(bad(42), 'ping')],
  ['GenServer.call with timeout -Infinity', () => GenServer.call(ref, 'ping', { timeout: Number.NEGATIVE_INFINITY })],
  ['GenServer.call with timeout NaN', () => GenServer.call(ref, 'ping', { timeout: Number.NaN })],
  ['GenServer.cast to null', () => GenServer.cast(bad(null), { exit: 'normal' })],
  ['GenServer.send to undefined', () => GenServer.send(bad(undefined), 'x')],
  ['GenServer.stop with reason "bogus"', () => GenServer.stop(ref, bad('bogus'))],
  ['GenServer.stop of a number', () => GenServer.stop(bad(7))],
  ['GenServer.sendAfter with -1 ms', () => GenServer.sendAfter(ref, 'x', -1)],
  ['Supervisor.start(null)', () => Supervisor.start(bad(null))],
  ['Supervisor.start with an unknown strategy', () => Supervisor.start({ strategy: bad('one_for_none') })],
  ['Supervisor.start with children not an array', () => Supervisor.start({ children: bad({}) })],
  ['Supervisor.start with negative maxRestarts', () => Supervisor.start({ restartIntensity: { maxRestarts: -1, withinMs: 10 } })],
  ['Supervisor.start with withinMs 0', () => Supervisor.start({ restartIntensity: { maxRestarts: 1, withinMs: 0 } })],
  ['Supervisor.start with an unknown autoShutdown', () => Supervisor.start({ autoShutdown: bad('sometimes') })],
  ['a child spec without id', () => Supervisor.start({ children: [spec({ id: bad(undefined) })] })],
  ['a child spec with two kinds', () => Supervisor.start({ children: [spec({ start: async () => ref })] })],
  ['a child spec with no kind', () => Supervisor.start({ children: [{ id: 'c' }] })],
  ['a child spec with an unknown restart', () => Supervisor.start({ children: [spec({ restart: bad('sometimes') })] })],
  ['a child spec with shutdownTimeout -5', () => Supervisor.start({ children: [spec({ shutdownTimeout: -5 })] })],
  ['two children with one id', () => Supervisor.start({ children: [spec({}), spec({})] })],
  ['simple_one_for_one without template', () => Supervisor.start({ strategy: 'simple_one_for_one' })],
  [
    'simple_one_for_one with static children',
    () => Supervisor.start({ strategy: 'simple_one_for_one', template: spec({}), children: [spec({})] } as SupervisorOptions),
  ],
  ['Registry.register with an empty name', () => Registry.register('', ref)],
  ['Registry.register of a non-ref', () => Registry.register('n', bad({ id: 1 }))],
  ['Registry.lookup of a number', () => Registry.lookup(bad(5))],
  ['Registry.whereis of an empty name', () => Registry.whereis('')],
  ['Registry.create with unknown keys', () => Registry.create({ keys: bad('many') })],
  ['Process.exit with an unknown reason', () => Process.exit(ref, bad('bye'))],
  ['Process.watch of a non-ref', () => Process.watch(bad('x'), () => {})],
];

describe('invalid arguments', () => {
  it.each(cases)('%s fails with InvalidArgumentError and the runtime keeps running', async (_what, fn) => {
    const procs = env.rt.procs.size;
    const err = await failure(fn);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((err as Error).message).toMatch(/^invalid /);
    // Nothing half-started is left behind, and the existing server still answers.
    expect(env.rt.procs.size).toBe(procs);
    expect(await GenServer.call(ref, 'ping')).toBe('pong');
    const fresh = await GenServer.start(worker('fresh'));
    expect(await GenServer.call(fresh, 'tag')).toBe('fresh');
  });

  it('promise-returning functions reject on bad input instead of throwing synchronously', async () => {
    for (const fn of [
      () => GenServer.call(bad(42), 'ping'),
      () => GenServer.call(ref, 'ping', { timeout: -1 }),
      () => GenServer.stop(bad(null)),
      () => GenServer.stop(ref, bad('bogus')),
      () => GenServer.start(bad(null)),
      () => Supervisor.start(bad(null)),
      () => Registry.register('', ref),
    ]) {
      let result: Promise<unknown> | undefined;
      expect(() => {
        result = fn() as Promise<unknown>;
      }).not.toThrow();
      await expect(result).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('an invalid child spec given to startChild fails the caller, not the supervisor', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a') }] });
    const err = await failure(() => Supervisor.startChild(sup, { id: 'b', behavior: w, restart: bad('often') }));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(Process.alive(sup)).toBe(true);
    expect((await Supervisor.getChildren(sup)).map((c) => c.id)).toEqual(['a']);
  });

  it('a malformed request sent straight to a supervisor fails the caller, not the supervisor', async () => {
    const sup = await Supervisor.start({});
    const reply = await GenServer.call(sup as AnyRef as Ref<{ call: [{ op: string }, { ok: boolean; error?: unknown }] }>, {
      op: 'explode',
    });
    expect(reply.ok).toBe(false);
    expect(reply.error).toBeInstanceOf(InvalidArgumentError);
    expect(Process.alive(sup)).toBe(true);
  });

  it('a cast to a server without handleCast crashes that server only', async () => {
    const noCast: GenServerBehavior<number, { cast: 'x' }> = { init: () => 0 };
    const s = await GenServer.start(noCast);
    const exit = Process.awaitExit(s);
    GenServer.cast(s, 'x');
    const reason = await exit;
    expect(typeof reason === 'object' && 'error' in reason && reason.error instanceof InvalidArgumentError).toBe(true);
    expect(await GenServer.call(ref, 'ping')).toBe('pong');
  });
});
