/**
 * Elixir-style tasks: Task.async / await / yield / shutdown, Task.asyncStream and
 * Task.Supervisor. Time runs on a virtual clock; waits are on conditions, never sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ExitReason, GenServerBehavior, TaskFn, TaskHandle, TaskStreamResult } from '../src/index.js';
import {
  ChildNotFoundError,
  GenServer,
  InvalidArgumentError,
  isExitMessage,
  Process,
  sameRef,
  Supervisor,
  Task,
  TaskAlreadyAwaitedError,
  TaskExitedError,
  TaskTimeoutError,
} from '../src/index.js';
import { flush, freshRuntime, VirtualClock, waitFor } from '../src/testing.js';
import { failure, gate, track } from './helpers.js';

let env: ReturnType<typeof freshRuntime>;
let clock: VirtualClock;
beforeEach(() => {
  clock = new VirtualClock();
  env = freshRuntime({ clock });
});
afterEach(() => env.dispose());

/** A process that starts tasks on request (so they are linked to it) and records EXIT messages. */
type OwnerProtocol = { call: [{ spawn: TaskFn<unknown> }, TaskHandle<unknown>] | ['exits', unknown[]] };
function owner(trap = false): GenServerBehavior<unknown[], OwnerProtocol> {
  return {
    init: () => {
      if (trap) Process.trapExit(true);
      return [];
    },
    handleCall: (msg, s) => (msg === 'exits' ? [s, s] : [Task.async(msg.spawn), s]),
    handleInfo: (msg, s) => (isExitMessage(msg) ? [...s, msg] : s),
  };
}

async function startOwner(trap = false) {
  const ref = await GenServer.start(owner(trap));
  const spawn = <T>(fn: TaskFn<T>) => GenServer.call(ref, { spawn: fn as TaskFn<unknown> }) as Promise<TaskHandle<Awaited<T>>>;
  return { ref, spawn };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('Task.async / Task.await', () => {
  it('runs a sync or async function in its own process and resolves with its value', async () => {
    const sync = Task.async(() => 21 * 2);
    const later = Task.async(async () => {
      await flush(1);
      return 'done';
    });
    expect(await Task.await(sync)).toBe(42);
    expect(await Task.await(later)).toBe('done');
    expect(Process.alive(sync.ref)).toBe(false);
  });

  it('runs the function as the task process (Process.self is the task)', async () => {
    const t = Task.async(() => Process.self());
    expect(sameRef(await Task.await(t), t.ref)).toBe(true);
  });

  it('outside any process: linked to nothing, and the failure reaches await with the thrown error as cause', async () => {
    const boom = new Error('boom');
    const t = Task.async(() => {
      throw boom;
    });
    expect(t.owner).toBeUndefined();
    expect(t.linked).toBe(false);
    const e = await failure(() => Task.await(t));
    expect(e).toBeInstanceOf(TaskExitedError);
    expect((e as TaskExitedError).reason).toEqual({ error: boom });
    expect((e as Error).cause).toBe(boom);
  });

  it('inside a process: linked to the caller, whose exit follows a crash of the task', async () => {
    const o = await startOwner();
    const t = await o.spawn(async () => {
      throw new Error('task crash');
    });
    expect(sameRef(t.owner as AnyRef, o.ref)).toBe(true);
    expect(t.linked).toBe(true);
    const reason = await Process.awaitExit(o.ref);
    expect((reason as { error: Error }).error.message).toBe('task crash');
    expect(await failure(() => Task.await(t))).toBeInstanceOf(TaskExitedError);
  });

  it('a caller trapping exits gets an EXIT message instead', async () => {
    const o = await startOwner(true);
    const t = await o.spawn(() => {
      throw new Error('trapped');
    });
    expect(await Task.yield(t)).toMatchObject({ exit: { error: expect.any(Error) } });
    // The EXIT message was queued when the task died, ahead of this call.
    const exits = await GenServer.call(o.ref, 'exits');
    expect(exits).toHaveLength(1);
    expect(Process.alive(o.ref)).toBe(true);
  });

  it('the caller exiting kills the task and aborts its signal', async () => {
    const o = await startOwner();
    const running = gate();
    let signal: AbortSignal | undefined;
    const t = await o.spawn((s) => {
      signal = s;
      return running.promise;
    });
    await waitFor(() => signal !== undefined);
    Process.exit(o.ref, 'kill');
    expect(await Task.yield(t, 0)).toEqual({ exit: 'killed' });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(TaskExitedError);
  });

  it('rejects with TaskTimeoutError after the timeout, kills the task, and keeps the caller alive', async () => {
    const o = await startOwner();
    const t = await o.spawn(() => new Promise(() => {}));
    const p = track(Task.await(t, 1000));
    await clock.advance(999);
    expect(p.settled).toBe(false);
    await clock.advance(1);
    expect(p.error).toBeInstanceOf(TaskTimeoutError);
    expect((p.error as TaskTimeoutError).timeoutMs).toBe(1000);
    expect(Process.alive(t.ref)).toBe(false);
    expect(Process.alive(o.ref)).toBe(true);
  });

  it('defaults to a 5000 ms timeout', async () => {
    const p = track(Task.await(Task.async(() => new Promise(() => {}))));
    await clock.advance(4999);
    expect(p.settled).toBe(false);
    await clock.advance(1);
    expect(p.error).toBeInstanceOf(TaskTimeoutError);
  });

  it('delivers the result once: awaiting twice, or while another await waits, is TaskAlreadyAwaitedError', async () => {
    const t = Task.async(() => 1);
    expect(await Task.await(t)).toBe(1);
    expect(await failure(() => Task.await(t))).toBeInstanceOf(TaskAlreadyAwaitedError);
    expect(await failure(() => Task.yield(t))).toBeInstanceOf(TaskAlreadyAwaitedError);
    const slow = Task.async(() => new Promise(() => {}));
    const first = track(Task.await(slow, Number.POSITIVE_INFINITY));
    expect(await failure(() => Task.await(slow))).toBeInstanceOf(TaskAlreadyAwaitedError);
    await Task.shutdown(slow);
    await waitFor(() => first.settled);
    expect(first.error).toBeInstanceOf(TaskExitedError);
  });

  it('rejects bad arguments with typed errors', async () => {
    expect(() => Task.async(42 as never)).toThrow(InvalidArgumentError);
    expect(await failure(() => Task.await({} as never))).toBeInstanceOf(InvalidArgumentError);
    const t = Task.async(() => 1);
    expect(await failure(() => Task.await(t, -1))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.yield(t, Number.NaN))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.shutdown(t, 'soon' as never))).toBeInstanceOf(InvalidArgumentError);
    expect(await Task.await(t)).toBe(1);
  });

  it('answers a call to a task with an error instead of leaving it to time out', async () => {
    const t = Task.async(() => new Promise(() => {}));
    expect(await failure(() => GenServer.call(t.ref as never, 'hello' as never))).toBeInstanceOf(InvalidArgumentError);
    await Task.shutdown(t, 'brutal_kill');
  });
});

describe('Task.yield', () => {
  it('gives undefined while the task runs (it keeps running), then its result', async () => {
    const done = gate<string>();
    const t = Task.async(() => done.promise);
    const first = track(Task.yield(t, 100));
    await clock.advance(100);
    expect(first.settled).toBe(true);
    expect(first.value).toBeUndefined();
    expect(Process.alive(t.ref)).toBe(true);
    done.open('ok');
    expect(await Task.yield(t)).toEqual({ ok: 'ok' });
  });

  it('gives { exit } for a task that crashed', async () => {
    const e = new Error('x');
    const t = Task.async(() => Promise.reject(e));
    expect(await Task.yield(t)).toEqual({ exit: { error: e } });
  });
});

describe('Task.shutdown', () => {
  it('stops a running task: resolves undefined, the process exits shutdown, the linked caller survives', async () => {
    const o = await startOwner();
    let signal: AbortSignal | undefined;
    const t = await o.spawn((s) => {
      signal = s;
      return new Promise(() => {});
    });
    await waitFor(() => signal !== undefined);
    const exit = Process.awaitExit(t.ref);
    expect(await Task.shutdown(t)).toBeUndefined();
    expect(await exit).toBe('shutdown');
    expect(signal?.aborted).toBe(true);
    expect(Process.alive(o.ref)).toBe(true);
  });

  it("'brutal_kill' kills at once", async () => {
    const t = Task.async(() => new Promise(() => {}));
    const exit = Process.awaitExit(t.ref);
    expect(await Task.shutdown(t, 'brutal_kill')).toBeUndefined();
    expect(await exit).toBe('killed');
  });

  it('resolves with the result of a task that had finished, or its exit if it had crashed', async () => {
    const t = Task.async(() => 'value');
    await waitFor(() => !Process.alive(t.ref));
    expect(await Task.shutdown(t)).toEqual({ ok: 'value' });
    const c = Task.async(() => {
      throw new Error('gone');
    });
    await waitFor(() => !Process.alive(c.ref));
    expect(await Task.shutdown(c)).toMatchObject({ exit: { error: expect.any(Error) } });
    expect(await Task.shutdown(c)).toBeUndefined();
  });

  it('kills a task that traps exits after the timeout', async () => {
    const t = Task.async(() => {
      Process.trapExit(true);
      return new Promise(() => {});
    });
    await waitFor(() => Process.alive(t.ref));
    await flush();
    const p = track(Task.shutdown(t, 200));
    await flush();
    expect(Process.alive(t.ref)).toBe(true);
    await clock.advance(200);
    await waitFor(() => p.settled);
    expect(p.value).toBeUndefined();
    expect(Process.alive(t.ref)).toBe(false);
  });
});

describe('Task.yield and Task.shutdown together', () => {
  it('a yield that times out after a shutdown took the result does not reopen it', async () => {
    const t = Task.async(() => {
      Process.trapExit(true);
      return new Promise(() => {});
    });
    await flush();
    const y = track(Task.yield(t, 10));
    const s = track(Task.shutdown(t, 100));
    await clock.advance(10);
    expect(y.settled).toBe(true);
    expect(y.value).toBeUndefined();
    expect(await failure(() => Task.await(t))).toBeInstanceOf(TaskAlreadyAwaitedError);
    await clock.advance(90);
    await waitFor(() => s.settled);
    expect(Process.alive(t.ref)).toBe(false);
  });
});

describe('Task.asyncStream', () => {
  it('yields { ok } per item in order, at most maxConcurrency at once', async () => {
    let running = 0;
    let peak = 0;
    const results = await collect(
      Task.asyncStream(
        [5, 1, 4, 2, 3],
        async (n) => {
          running++;
          peak = Math.max(peak, running);
          await flush(n);
          running--;
          return n * 10;
        },
        { maxConcurrency: 2 },
      ),
    );
    expect(results).toEqual([{ ok: 50 }, { ok: 10 }, { ok: 40 }, { ok: 20 }, { ok: 30 }]);
    expect(peak).toBe(2);
  });

  it('ordered: false yields in the order tasks finish', async () => {
    const gates = [gate<number>(), gate<number>()];
    const it = Task.asyncStream([0, 1], (i) => (gates[i] as ReturnType<typeof gate<number>>).promise, {
      ordered: false,
      maxConcurrency: 2,
    });
    const out = track(collect(it));
    await flush();
    gates[1]?.open(1);
    await flush();
    gates[0]?.open(0);
    await waitFor(() => out.settled);
    expect(out.value).toEqual([{ ok: 1 }, { ok: 0 }]);
  });

  it('gives { exit } for an item whose task crashed', async () => {
    const e = new Error('bad item');
    const out = await collect(
      Task.asyncStream([1, 2], (n) => {
        if (n === 2) throw e;
        return n;
      }),
    );
    expect(out).toEqual([{ ok: 1 }, { exit: { error: e } }]);
  });

  it("onTimeout 'kill_task' yields { exit: 'timeout' } for a task past its timeout", async () => {
    const out = track(
      collect(
        Task.asyncStream([1, 2], (n) => (n === 1 ? new Promise<number>(() => {}) : n), {
          timeout: 100,
          onTimeout: 'kill_task',
          maxConcurrency: 2,
        }),
      ),
    );
    await flush();
    await clock.advance(100);
    await waitFor(() => out.settled);
    expect(out.value).toEqual([{ exit: 'timeout' }, { ok: 2 }]);
  });

  it("onTimeout 'exit' (the default) throws TaskTimeoutError and kills the stream's tasks", async () => {
    const refs: AnyRef[] = [];
    const out = track(
      collect(
        Task.asyncStream(
          [1, 2],
          () => {
            refs.push(Process.self());
            return new Promise(() => {});
          },
          { maxConcurrency: 2 },
        ),
      ),
    );
    await waitFor(() => refs.length === 2);
    await clock.advance(5000);
    await waitFor(() => out.settled);
    expect(out.error).toBeInstanceOf(TaskTimeoutError);
    expect(refs.every((r) => !Process.alive(r))).toBe(true);
  });

  it('breaking out of the loop kills the tasks still running', async () => {
    const refs: AnyRef[] = [];
    const results: TaskStreamResult<unknown>[] = [];
    const stream = Task.asyncStream(
      [0, 1, 2],
      (i) => {
        refs.push(Process.self());
        return i === 0 ? i : new Promise(() => {});
      },
      { maxConcurrency: 3 },
    );
    for await (const r of stream) {
      results.push(r);
      break;
    }
    expect(results).toEqual([{ ok: 0 }]);
    expect(refs).toHaveLength(3);
    expect(refs.every((r) => !Process.alive(r))).toBe(true);
  });

  it('takes async iterables, and rejects bad arguments at once', async () => {
    async function* gen() {
      yield 1;
      yield 2;
    }
    expect(await collect(Task.asyncStream(gen(), (n) => n + 1))).toEqual([{ ok: 2 }, { ok: 3 }]);
    expect(() => Task.asyncStream(5 as never, () => 1)).toThrow(InvalidArgumentError);
    expect(() => Task.asyncStream([1], 'f' as never)).toThrow(InvalidArgumentError);
    expect(() => Task.asyncStream([1], () => 1, { maxConcurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => Task.asyncStream([1], () => 1, { onTimeout: 'later' as never })).toThrow(InvalidArgumentError);
    expect(() => Task.asyncStream([1], () => 1, { timeout: -5 })).toThrow(InvalidArgumentError);
  });
});

describe('Task.Supervisor', () => {
  it('runs tasks as temporary children, listed while they run', async () => {
    const sup = await Task.Supervisor.start();
    const done = gate<number>();
    const t = await Task.Supervisor.async(sup, () => done.promise);
    const children = await Task.Supervisor.children(sup);
    expect(children).toHaveLength(1);
    expect(sameRef(children[0] as AnyRef, t.ref)).toBe(true);
    done.open(7);
    expect(await Task.await(t)).toBe(7);
    await waitFor(() => !Process.alive(t.ref));
    expect(await Task.Supervisor.children(sup)).toEqual([]);
    await Task.Supervisor.stop(sup);
  });

  it('async links the task to the caller: a crash exits the caller, and is not restarted', async () => {
    const sup = await Task.Supervisor.start({ name: 'tasks' });
    type P = { cast: 'go' };
    const linked: boolean[] = [];
    const caller = await GenServer.start<null, P>({
      init: () => null,
      handleCast: async (_m, s) => {
        const t = await Task.Supervisor.async('tasks', () => {
          throw new Error('supervised crash');
        });
        linked.push(t.linked);
        return s;
      },
    });
    const exit = Process.awaitExit(caller);
    GenServer.cast(caller, 'go');
    const reason = await exit;
    expect((reason as { error: Error }).error.message).toBe('supervised crash');
    // The handler's code after its await still runs: JavaScript cannot stop it.
    await waitFor(() => linked.length === 1);
    expect(linked).toEqual([true]);
    expect(await Task.Supervisor.children(sup)).toEqual([]);
    await Task.Supervisor.stop(sup);
  });

  it('asyncNolink: a crash does not reach the caller; await rejects with the reason', async () => {
    const sup = await Task.Supervisor.start();
    type P = { call: ['go', TaskHandle<unknown>] };
    const caller = await GenServer.start<null, P>({
      init: () => null,
      handleCall: async (_m, s) => [
        await Task.Supervisor.asyncNolink(sup, () => {
          throw new Error('contained');
        }),
        s,
      ],
    });
    const t = await GenServer.call(caller, 'go');
    expect(t.linked).toBe(false);
    const e = await failure(() => Task.await(t));
    expect(e).toBeInstanceOf(TaskExitedError);
    expect(((e as Error).cause as Error).message).toBe('contained');
    expect(Process.alive(caller)).toBe(true);
    await Task.Supervisor.stop(sup);
  });

  it('terminateChild shuts a task down; stopping the supervisor shuts the rest down', async () => {
    const sup = await Task.Supervisor.start();
    const a = await Task.Supervisor.asyncNolink(sup, () => new Promise(() => {}));
    const b = await Task.Supervisor.asyncNolink(sup, () => new Promise(() => {}));
    await Task.Supervisor.terminateChild(sup, a.ref);
    expect(await Task.yield(a, 0)).toEqual({ exit: 'shutdown' });
    expect(await failure(() => Task.Supervisor.terminateChild(sup, a.ref))).toBeInstanceOf(ChildNotFoundError);
    await Task.Supervisor.stop(sup);
    expect(await Task.yield(b, 0)).toEqual({ exit: 'shutdown' });
  });

  it('asyncStream runs each item as a child of the supervisor', async () => {
    const sup = await Task.Supervisor.start();
    const seen: number[] = [];
    const out = await collect(
      Task.Supervisor.asyncStream(
        sup,
        [1, 2, 3],
        async (n) => {
          seen.push((await Task.Supervisor.children(sup)).length);
          return n * 2;
        },
        { maxConcurrency: 2 },
      ),
    );
    expect(out).toEqual([{ ok: 2 }, { ok: 4 }, { ok: 6 }]);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(1);
    await Task.Supervisor.stop(sup);
  });

  it('can be a child of another supervisor, which shuts its tasks down when it stops', async () => {
    const root = await Supervisor.start({
      children: [
        { id: 'tasks', start: () => Task.Supervisor.start({ name: 'nested-tasks' }), type: 'supervisor', shutdownTimeout: Infinity },
      ],
    });
    const t = await Task.Supervisor.asyncNolink('nested-tasks', () => new Promise(() => {}));
    await Supervisor.stop(root);
    expect(await Task.yield(t, 0)).toEqual({ exit: 'shutdown' });
  });

  it('rejects bad arguments with typed errors', async () => {
    const sup = await Task.Supervisor.start();
    expect(await failure(() => Task.Supervisor.start({ name: '' }))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.Supervisor.async(42 as never, () => 1))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.Supervisor.async(sup, null as never))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.Supervisor.children(null as never))).toBeInstanceOf(InvalidArgumentError);
    expect(await failure(() => Task.Supervisor.terminateChild(sup, 'x' as never))).toBeInstanceOf(InvalidArgumentError);
    expect(() => Task.Supervisor.asyncStream(sup, [1], () => 1, { ordered: 'yes' as never })).toThrow(InvalidArgumentError);
    await Task.Supervisor.stop(sup);
  });
});

describe('Task', () => {
  it('keeps the pool functions next to the Elixir ones', () => {
    for (const k of ['run', 'pool', 'closeDefault', 'stats', 'async', 'await', 'yield', 'shutdown', 'asyncStream'] as const)
      expect(typeof Task[k]).toBe('function');
    expect(typeof Task.Supervisor.start).toBe('function');
  });

  it('an exit reason of a killed task is killed', async () => {
    const t = Task.async(() => new Promise(() => {}));
    await flush();
    Process.exit(t.ref, 'kill');
    const r: ExitReason | undefined = ((await Task.yield(t, 0)) as { exit: ExitReason } | undefined)?.exit;
    expect(r).toBe('killed');
  });
});
