import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior, Logger, Ref, ServerRef, SupervisorRef } from '../../src/index.js';
import { GenServer, isErrorExit, onLifecycle, Process, ServerExitedError, Supervisor, Threads } from '../../src/index.js';
import { flush, freshRuntime, VirtualClock, waitFor } from '../../src/testing.js';
import type { DoublerProtocol } from './trees/doubler-tree.js';

// The server under test: counts bumps, and forgets them every minute.
type CounterProtocol = { call: ['get', number] | ['crash', never]; cast: 'bump'; info: 'reset' };

const counter: GenServerBehavior<number, CounterProtocol> = {
  init: () => {
    GenServer.sendAfter(GenServer.self(), 'reset', 60_000);
    return 0;
  },
  handleCall(msg, n) {
    if (msg === 'crash') throw new Error('asked to crash');
    return [n, n];
  },
  handleCast: (_msg, n) => n + 1,
  handleInfo(_msg, _n) {
    GenServer.sendAfter(GenServer.self(), 'reset', 60_000);
    return 0;
  },
};

describe('a GenServer, on a fresh runtime with a virtual clock', () => {
  let env: ReturnType<typeof freshRuntime>;
  let clock: VirtualClock;
  beforeEach(() => {
    clock = new VirtualClock();
    // A new default runtime per test; its logger is silent.
    env = freshRuntime({ clock });
  });
  afterEach(() => env.dispose()); // kills every process the test left behind

  it('counts bumps and forgets them after a minute, without waiting a minute', async () => {
    const ref = await GenServer.start(counter);
    GenServer.cast(ref, 'bump');
    GenServer.cast(ref, 'bump');
    expect(await GenServer.call(ref, 'get')).toBe(2);
    await clock.advance(59_999);
    expect(await GenServer.call(ref, 'get')).toBe(2);
    await clock.advance(1); // the timer fires; advance lets the handler run
    expect(await GenServer.call(ref, 'get')).toBe(0);
  });

  it('crashes on a bad request: the caller gets the cause, the exit reason is an error', async () => {
    const ref = await GenServer.start(counter);
    const exited = Process.awaitExit(ref); // resolves with the exit reason
    const err = await GenServer.call(ref, 'crash').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerExitedError);
    expect((err as ServerExitedError).cause).toEqual(new Error('asked to crash'));
    const reason = await exited;
    expect(isErrorExit(reason) && (reason.error as Error).message).toBe('asked to crash');
  });

  it('is restarted by its supervisor', async () => {
    const sup: SupervisorRef = await Supervisor.start({ children: [{ id: 'counter', behavior: counter }] });
    const [before] = await Supervisor.getChildren(sup);
    // Subscribe before causing the crash, so the event cannot be missed.
    const restarted = new Promise<void>((resolve) => {
      const off = onLifecycle((e) => {
        if (e.type === 'restarted' && e.childId === 'counter') {
          off();
          resolve();
        }
      });
    });
    await GenServer.call(before?.ref as Ref<CounterProtocol>, 'crash').catch(() => {});
    await restarted;
    const [after] = await Supervisor.getChildren(sup);
    expect(after?.restartCount).toBe(1);
    expect(after?.ref).not.toEqual(before?.ref);
  });

  it('sends nothing once stopped', async () => {
    const ref = await GenServer.start(counter);
    await GenServer.stop(ref);
    GenServer.cast(ref, 'bump'); // dropped: counted, never thrown
    await flush(); // let queued work settle
    expect(env.rt.stats.droppedCasts).toBe(1);
  });
});

describe('crash reports', () => {
  it('go to the logger you pass, where a test can read them', async () => {
    const errors: string[] = [];
    const logger: Logger = { error: (m) => errors.push(m), warn() {}, info() {} };
    const env = freshRuntime({ logger });
    try {
      const ref = await GenServer.start(counter);
      await GenServer.call(ref, 'crash').catch(() => {});
      await waitFor(() => errors.length > 0);
      expect(errors[0]).toContain('crashed: { error: Error: asked to crash }');
    } finally {
      env.dispose();
    }
  });
});

describe('a thread subtree', () => {
  let env: ReturnType<typeof freshRuntime>;
  let sup: SupervisorRef | undefined;
  beforeEach(() => {
    env = freshRuntime();
  });
  afterEach(async () => {
    // Stopping the supervisor ends its worker threads; no worker may outlive the test.
    if (sup !== undefined) await Supervisor.stop(sup);
    sup = undefined;
    env.dispose();
    expect(Threads.count()).toBe(0);
  });

  it('answers calls from another thread', async () => {
    const module = new URL('./trees/doubler-tree.ts', import.meta.url).href;
    sup = await Supervisor.start({ children: [{ id: 'doublers', thread: { module, args: { name: 'doubler' } } }] });
    // Names are node-wide: call the server on the worker thread by its name.
    const doubler: ServerRef<DoublerProtocol> = 'doubler';
    const reply = await GenServer.call(doubler, { double: 21 });
    expect(reply.value).toBe(42);
    expect(reply.thread).not.toBe(0);
  }, 30_000);
});
