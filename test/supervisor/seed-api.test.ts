/**
 * The seed's Supervisor API: getChild, isRunning; simple_one_for_one refuses a spec in
 * startChild and an autoShutdown other than 'never'; { via } names for children.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef } from '../../src/index.js';
import { ChildNotFoundError, GenServer, InvalidArgumentError, Registry, Supervisor, sameRef } from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import { exitProcess, failure, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

describe('Supervisor.getChild', () => {
  it('returns one child by id, as getChildren reports it', async () => {
    const sup = await Supervisor.start({
      children: [
        { id: 'a', behavior: worker('a') },
        { id: 'b', behavior: worker('b') },
      ],
    });
    const b = await Supervisor.getChild(sup, 'b');
    const all = await Supervisor.getChildren(sup);
    expect(b).toEqual(all[1]);
    expect(b.id).toBe('b');
    expect(b.restart).toBe('permanent');
    expect(b.type).toBe('worker');
    expect(GenServer.isRunning(b.ref as AnyRef)).toBe(true);
  });

  it('follows restarts: ref and restartCount', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a') }] });
    const before = await Supervisor.getChild(sup, 'a');
    // The supervisor handles the EXIT before this call, which queues behind it.
    await exitProcess(before.ref as AnyRef, 'error');
    const after = await Supervisor.getChild(sup, 'a');
    expect(after.restartCount).toBe(1);
    expect(sameRef(after.ref as AnyRef, before.ref as AnyRef)).toBe(false);
  });

  it('finds a simple_one_for_one child by its ref, and works by registered name', async () => {
    const sup = await Supervisor.start({ strategy: 'simple_one_for_one', name: 'pool', template: { id: 'w', behavior: worker('w') } });
    const ref = await Supervisor.startChild(sup, undefined);
    const c = await Supervisor.getChild('pool', ref);
    expect(sameRef(c.ref as AnyRef, ref)).toBe(true);
    expect(c.id).toBe('w#1');
  });

  it('rejects with ChildNotFoundError for an unknown id, InvalidArgumentError for a bad one', async () => {
    const sup = await Supervisor.start({ children: [] });
    const err = await failure(() => Supervisor.getChild(sup, 'nope'));
    expect(err).toBeInstanceOf(ChildNotFoundError);
    expect(await failure(() => Supervisor.getChild(sup, '' as string))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Supervisor.getChild(sup, 42 as unknown as string))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Supervisor.getChild(null as unknown as string, 'a'))).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('Supervisor.isRunning', () => {
  it('is true while the supervisor lives, by ref or name, and false after it stops', async () => {
    const sup = await Supervisor.start({ name: 'top', children: [] });
    expect(Supervisor.isRunning(sup)).toBe(true);
    expect(Supervisor.isRunning('top')).toBe(true);
    await Supervisor.stop(sup);
    expect(Supervisor.isRunning(sup)).toBe(false);
    expect(Supervisor.isRunning('top')).toBe(false);
  });

  it('throws InvalidArgumentError for something that is not a ref or name', () => {
    expect(() => Supervisor.isRunning(undefined as unknown as string)).toThrow(InvalidArgumentError);
    expect(() => Supervisor.isRunning('')).toThrow(InvalidArgumentError);
  });
});

describe('simple_one_for_one', () => {
  it('rejects a child spec in startChild with InvalidArgumentError and starts nothing', async () => {
    const sup = await Supervisor.start({ strategy: 'simple_one_for_one', template: { id: 'w', behavior: worker('w') } });
    const err = await failure(() => Supervisor.startChild(sup, { id: 'other', behavior: worker('other') }));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(await Supervisor.getChildren(sup)).toEqual([]);
    // Arguments still start the template, and the supervisor is unharmed.
    await Supervisor.startChild(sup, 'x');
    expect((await Supervisor.countChildren(sup)).active).toBe(1);
  });

  it.each(['any_significant', 'all_significant'] as const)('refuses autoShutdown %s', async (autoShutdown) => {
    const err = await failure(() =>
      Supervisor.start({
        strategy: 'simple_one_for_one',
        autoShutdown,
        template: { id: 'w', behavior: worker('w'), restart: 'temporary' },
      }),
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).argument).toBe('autoShutdown');
  });
});

describe('{ via } names for children', () => {
  it('a restarted child re-registers under its via key', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a'), options: { name: { via: reg, key: 'a' } } }] });
    const first = reg.lookup('a')[0]?.ref as AnyRef;
    expect(await GenServer.call({ via: reg, key: 'a' }, 'ping')).toBe('pong');
    await exitProcess(first, 'error');
    await waitFor(() => reg.countForKey('a') === 1 && !sameRef(reg.lookup('a')[0]?.ref as AnyRef, first), 1000, 're-registration');
    const c = await Supervisor.getChild(sup, 'a');
    expect(sameRef(reg.lookup('a')[0]?.ref as AnyRef, c.ref as AnyRef)).toBe(true);
  });
});
