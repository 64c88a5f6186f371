/**
 * Agent: state behind a process, read and changed with functions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, CallTimeoutError, GenServer, InitFailedError, NoProcessError, Process, Registry, ServerExitedError } from '../src/index.js';
import { freshRuntime, VirtualClock } from '../src/testing.js';
import { failure, gate, track } from './helpers.js';

let env: ReturnType<typeof freshRuntime>;
let clock: VirtualClock;
beforeEach(() => {
  clock = new VirtualClock();
  env = freshRuntime({ clock });
});
afterEach(() => env.dispose());

describe('Agent', () => {
  it('get reads a function of the state', async () => {
    const agent = await Agent.start(() => ({ count: 1, items: ['a'] }));
    expect(await Agent.get(agent, (s) => s.count)).toBe(1);
    expect(await Agent.get(agent, (s) => s.items.length)).toBe(1);
  });

  it('update replaces the state and resolves once done', async () => {
    const agent = await Agent.start(() => 10);
    await Agent.update(agent, (n) => n + 5);
    expect(await Agent.get(agent, (n) => n)).toBe(15);
  });

  it('getAndUpdate replies and replaces the state in one step', async () => {
    const agent = await Agent.start(() => [1, 2, 3]);
    const popped = await Agent.getAndUpdate(agent, (xs) => [xs[xs.length - 1], xs.slice(0, -1)]);
    expect(popped).toBe(3);
    expect(await Agent.get(agent, (xs) => xs)).toEqual([1, 2]);
  });

  it('cast updates without waiting, in order with later calls', async () => {
    const agent = await Agent.start(() => 0);
    Agent.cast(agent, (n) => n + 1);
    Agent.cast(agent, (n) => n * 10);
    expect(await Agent.get(agent, (n) => n)).toBe(10);
  });

  it('start accepts an async initialiser and a name', async () => {
    const agent = await Agent.start(async () => 'ready', { name: 'cfg' });
    expect(await Agent.get(agent, (s) => s)).toBe('ready');
    expect(Registry.whereis('cfg')).toEqual(agent);
  });

  it('stop ends the agent; further calls reject with NoProcessError', async () => {
    const agent = await Agent.start(() => 0);
    const exit = Process.awaitExit(agent);
    await Agent.stop(agent);
    expect(await exit).toBe('normal');
    expect(NoProcessError.is(await failure(() => Agent.get(agent, (n) => n)))).toBe(true);
  });

  it('an initialiser that throws fails start with InitFailedError', async () => {
    const boom = new Error('no state');
    const err = await failure(() =>
      Agent.start(() => {
        throw boom;
      }),
    );
    expect(InitFailedError.is(err)).toBe(true);
    expect((err as Error).cause).toBe(boom);
  });

  it('a function that throws crashes the agent and the caller gets ServerExitedError with the cause', async () => {
    const agent = await Agent.start(() => 0);
    const boom = new Error('bad update');
    const err = await failure(() =>
      Agent.update(agent, () => {
        throw boom;
      }),
    );
    expect(ServerExitedError.is(err)).toBe(true);
    expect((err as Error).cause).toBe(boom);
    expect(GenServer.isRunning(agent)).toBe(false);
  });

  it('get honours the call timeout option', async () => {
    const g = gate<number>();
    const started = Agent.start(() => g.promise, { name: 'slow' });
    // Still initialising: the call waits in the queue and times out.
    const agent = Registry.lookup('slow') as Awaited<typeof started>;
    const st = track(Agent.get(agent, (n) => n, { timeout: 50 }));
    await clock.advance(49);
    expect(st.settled).toBe(false);
    await clock.advance(1);
    expect(CallTimeoutError.is(st.error)).toBe(true);
    g.open(3);
    await started;
    expect(await Agent.get(agent, (n) => n)).toBe(3);
  });
});
