/**
 * The Supervisor API: start (and start failure), startChild, terminateChild, restartChild,
 * deleteChild, getChildren, countChildren, stop; simple_one_for_one; custom start functions;
 * significant children; supervisors in a runtime that is not the default one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ChildSpec, GenServerBehavior, LifecycleEvent, Ref } from '../../src/index.js';
import {
  ChildNotFoundError,
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  ErrorCode,
  GenServer,
  InitFailedError,
  InvalidArgumentError,
  Process,
  Runtime,
  Supervisor,
  sameRef,
  silentLogger,
  withRuntime,
} from '../../src/index.js';
import { flush, freshRuntime, waitFor } from '../../src/testing.js';
import type { WorkerProtocol } from '../helpers.js';
import { exitProcess, failure, recordUnhandledRejections, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
let rejections: ReturnType<typeof recordUnhandledRejections>;
beforeEach(() => {
  env = freshRuntime();
  rejections = recordUnhandledRejections();
});
afterEach(async () => {
  await flush();
  rejections.stop();
  env.dispose();
  expect(rejections.fired).toEqual([]);
});

type SupRef = Awaited<ReturnType<typeof Supervisor.start>>;

async function refOf(sup: SupRef, id: string): Promise<AnyRef | undefined> {
  return (await Supervisor.getChildren(sup)).find((c) => c.id === id)?.ref;
}

describe('Supervisor.start', () => {
  it('starts the children in order and reports them with getChildren and countChildren', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      children: [
        { id: 'a', behavior: worker('a', log) },
        { id: 'b', behavior: worker('b', log), restart: 'transient' },
        { id: 'sub', supervisor: { children: [{ id: 'x', behavior: worker('x', log) }] } },
      ],
    });
    expect(log).toEqual(['init:a', 'init:b', 'init:x']);
    const children = await Supervisor.getChildren(sup);
    expect(children.map(({ id, restart, type, restartCount }) => ({ id, restart, type, restartCount }))).toEqual([
      { id: 'a', restart: 'permanent', type: 'worker', restartCount: 0 },
      { id: 'b', restart: 'transient', type: 'worker', restartCount: 0 },
      { id: 'sub', restart: 'permanent', type: 'supervisor', restartCount: 0 },
    ]);
    for (const c of children) expect(Process.alive(c.ref as AnyRef)).toBe(true);
    expect(await Supervisor.countChildren(sup)).toEqual({ specs: 3, active: 3, supervisors: 1, workers: 2 });
  });

  it('rejects with ChildStartError naming the child when one fails, after stopping the started ones in reverse', async () => {
    const log: string[] = [];
    const boom = new Error('b cannot start');
    const err = await failure(() =>
      Supervisor.start({
        children: [
          { id: 'a', behavior: worker('a', log) },
          { id: 'a2', behavior: worker('a2', log) },
          {
            id: 'b',
            behavior: {
              init: () => {
                throw boom;
              },
            },
          },
          { id: 'c', behavior: worker('c', log) },
        ],
      }),
    );
    expect(err).toBeInstanceOf(ChildStartError);
    expect((err as ChildStartError).code).toBe(ErrorCode.CHILD_START);
    expect((err as ChildStartError).childId).toBe('b');
    const cause = (err as Error).cause;
    expect(InitFailedError.is(cause)).toBe(true);
    expect((cause as Error).cause).toBe(boom);
    expect(log).toEqual(['init:a', 'init:a2', 'terminate:a2:shutdown', 'terminate:a:shutdown']);
    expect(env.rt.procs.size).toBe(0);
  });

  it('registers the supervisor under its name', async () => {
    const sup = await Supervisor.start({ name: 'top', children: [{ id: 'a', behavior: worker('a') }] });
    expect((await Supervisor.getChildren('top')).map((c) => c.id)).toEqual(['a']);
    await Supervisor.stop('top');
    expect(Process.alive(sup)).toBe(false);
  });
});

describe('Supervisor.stop', () => {
  it('stops the children in reverse start order, running their terminate, then exits with shutdown', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({ children: ['a', 'b', 'c'].map((id) => ({ id, behavior: worker(id, log) })) });
    const exit = Process.awaitExit(sup);
    log.length = 0;
    await Supervisor.stop(sup);
    expect(await exit).toBe('shutdown');
    expect(log).toEqual(['terminate:c:shutdown', 'terminate:b:shutdown', 'terminate:a:shutdown']);
    expect(env.rt.procs.size).toBe(0);
  });
});

describe('Supervisor child management', () => {
  it('startChild adds and starts a child; a duplicate id is rejected with DuplicateChildError', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a') }] });
    const ref = await Supervisor.startChild(sup, { id: 'b', behavior: worker('b') });
    expect(await GenServer.call(ref as Ref<WorkerProtocol>, 'tag')).toBe('b');
    expect((await Supervisor.getChildren(sup)).map((c) => c.id)).toEqual(['a', 'b']);
    const err = await failure(() => Supervisor.startChild(sup, { id: 'b', behavior: worker('b') }));
    expect(err).toBeInstanceOf(DuplicateChildError);
    expect((err as DuplicateChildError).code).toBe(ErrorCode.DUPLICATE_CHILD);
  });

  it('startChild of a child that fails to start rejects with ChildStartError and the supervisor carries on', async () => {
    const sup = await Supervisor.start({});
    const err = await failure(() =>
      Supervisor.startChild(sup, {
        id: 'bad',
        behavior: {
          init: () => {
            throw new Error('nope');
          },
        },
      }),
    );
    expect(ChildStartError.is(err)).toBe(true);
    expect(await Supervisor.getChildren(sup)).toEqual([]);
    expect(Process.alive(sup)).toBe(true);
  });

  it('terminateChild keeps the spec, restartChild starts it again, deleteChild removes it', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a') }] });
    const first = (await refOf(sup, 'a')) as AnyRef;
    await Supervisor.terminateChild(sup, 'a');
    expect(Process.alive(first)).toBe(false);
    expect(await refOf(sup, 'a')).toBeUndefined();
    expect(await Supervisor.countChildren(sup)).toMatchObject({ specs: 1, active: 0 });

    const second = await Supervisor.restartChild(sup, 'a');
    expect(sameRef(second, first)).toBe(false);
    expect(Process.alive(second)).toBe(true);

    const running = await failure(() => Supervisor.restartChild(sup, 'a'));
    expect(running).toBeInstanceOf(ChildRunningError);
    expect((running as ChildRunningError).code).toBe(ErrorCode.CHILD_RUNNING);
    expect(await failure(() => Supervisor.deleteChild(sup, 'a'))).toBeInstanceOf(ChildRunningError);

    await Supervisor.terminateChild(sup, 'a');
    await Supervisor.deleteChild(sup, 'a');
    expect(await Supervisor.getChildren(sup)).toEqual([]);
  });

  it('rejects with ChildNotFoundError for an unknown child id', async () => {
    const sup = await Supervisor.start({});
    for (const op of [
      () => Supervisor.terminateChild(sup, 'ghost'),
      () => Supervisor.restartChild(sup, 'ghost'),
      () => Supervisor.deleteChild(sup, 'ghost'),
    ]) {
      const err = await failure(op);
      expect(err).toBeInstanceOf(ChildNotFoundError);
      expect((err as ChildNotFoundError).code).toBe(ErrorCode.CHILD_NOT_FOUND);
    }
  });

  it('terminateChild removes a temporary child entirely', async () => {
    const sup = await Supervisor.start({ children: [{ id: 't', behavior: worker('t'), restart: 'temporary' }] });
    await Supervisor.terminateChild(sup, 't');
    expect(await Supervisor.getChildren(sup)).toEqual([]);
  });

  it('supervises a child started by a custom start function: linked, and restarted after a crash', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'c', start: () => GenServer.start(worker('c')) }] });
    const first = (await refOf(sup, 'c')) as AnyRef;
    await exitProcess(first, 'error');
    const [info] = await Supervisor.getChildren(sup);
    expect(info?.restartCount).toBe(1);
    expect(sameRef(info?.ref as AnyRef, first)).toBe(false);
    // The custom child also stops with its supervisor, running terminate (the supervisor is its parent).
    const log: string[] = [];
    const sup2 = await Supervisor.start({ children: [{ id: 'c', start: () => GenServer.start(worker('c', log)) }] });
    await Supervisor.stop(sup2);
    expect(log).toEqual(['init:c', 'terminate:c:shutdown']);
  });

  it("reports each restart as a 'restarted' lifecycle event", async () => {
    const events: LifecycleEvent[] = [];
    env.rt.onLifecycle((e) => events.push(e));
    const sup = await Supervisor.start({ children: [{ id: 'a', behavior: worker('a') }] });
    await exitProcess((await refOf(sup, 'a')) as AnyRef, 'killed');
    await exitProcess((await refOf(sup, 'a')) as AnyRef, 'error');
    const now = await refOf(sup, 'a');
    const restarted = events.filter((e) => e.type === 'restarted');
    expect(restarted.map((e) => [e.childId, e.restartCount])).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
    const last = restarted[1] as Extract<LifecycleEvent, { type: 'restarted' }>;
    expect(sameRef(last.supervisor, sup)).toBe(true);
    expect(sameRef(last.ref, now as AnyRef)).toBe(true);
  });

  it('does not restart a temporary sibling stopped by a one_for_all restart (OTP drops it)', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      strategy: 'one_for_all',
      children: [
        { id: 'perm', behavior: worker('perm', log) },
        { id: 'temp', behavior: worker('temp', log), restart: 'temporary' },
      ],
    });
    const perm = (await refOf(sup, 'perm')) as AnyRef;
    await exitProcess(perm, 'error');
    const children = await Supervisor.getChildren(sup);
    expect(children.map((c) => c.id)).toEqual(['perm']);
    expect(log.filter((l) => l === 'init:temp')).toHaveLength(1);
  });

  it('rest_for_one stops the later children in reverse order before restarting them in order', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      strategy: 'rest_for_one',
      children: ['a', 'b', 'c', 'd'].map((id) => ({ id, behavior: worker(id, log) })),
    });
    log.length = 0;
    await exitProcess((await refOf(sup, 'b')) as AnyRef, 'error');
    await Supervisor.getChildren(sup);
    expect(log).toEqual(['terminate:b:error', 'terminate:d:shutdown', 'terminate:c:shutdown', 'init:b', 'init:c', 'init:d']);
  });

  it('a restart that fails counts as another exit, until the intensity is exceeded', async () => {
    let starts = 0;
    const flaky: GenServerBehavior<number, WorkerProtocol> = {
      ...(worker('f') as unknown as GenServerBehavior<number, WorkerProtocol>),
      init: () => {
        starts++;
        if (starts > 1) throw new Error(`start ${starts} failed`);
        return 0;
      },
    };
    const sup = await Supervisor.start({
      restartIntensity: { maxRestarts: 3, withinMs: 60_000 },
      children: [{ id: 'f', behavior: flaky }],
    });
    const exit = Process.awaitExit(sup);
    await exitProcess((await refOf(sup, 'f')) as AnyRef, 'error');
    expect(await exit).toEqual({ shutdown: 'reached_max_restart_intensity' });
    expect(starts).toBe(4);
  });
});

describe('simple_one_for_one', () => {
  it('startChild(sup, args) passes args to the template start function; terminateChild by ref removes the child', async () => {
    const sup = await Supervisor.start({
      strategy: 'simple_one_for_one',
      template: { id: 'conn', start: (tag: unknown) => GenServer.start(worker(String(tag))) },
    });
    const x = await Supervisor.startChild(sup, 'x');
    const y = await Supervisor.startChild(sup, 'y');
    expect(await GenServer.call(x as Ref<WorkerProtocol>, 'tag')).toBe('x');
    expect(await GenServer.call(y as Ref<WorkerProtocol>, 'tag')).toBe('y');
    const children = await Supervisor.getChildren(sup);
    expect(children).toHaveLength(2);
    expect(new Set(children.map((c) => c.id)).size).toBe(2);
    await Supervisor.terminateChild(sup, x);
    const left = await Supervisor.getChildren(sup);
    expect(left.map((c) => c.ref && sameRef(c.ref, y))).toEqual([true]);
    expect(Process.alive(x)).toBe(false);
  });

  it('startChild(sup, args) passes args to init for a behaviour template', async () => {
    type P = { call: ['args', unknown] };
    const echo: GenServerBehavior<unknown, P, unknown> = { init: (a) => a, handleCall: (_m, s) => [s, s] };
    const sup = await Supervisor.start({
      strategy: 'simple_one_for_one',
      template: { id: 'e', behavior: echo, options: { args: 'default' } } as ChildSpec,
    });
    const a = await Supervisor.startChild(sup, { port: 1 });
    expect(await GenServer.call(a as Ref<P>, 'args')).toEqual({ port: 1 });
    // A restarted instance gets the same arguments back.
    await exitProcess(a, 'killed');
    const [info] = await Supervisor.getChildren(sup);
    expect(await GenServer.call(info?.ref as Ref<P>, 'args')).toEqual({ port: 1 });
  });
});

describe('significant children', () => {
  it("with autoShutdown 'any_significant' the supervisor exits when a significant child exits normally", async () => {
    const sup = await Supervisor.start({
      autoShutdown: 'any_significant',
      children: [
        { id: 'main', behavior: worker('main'), restart: 'transient', significant: true },
        { id: 'other', behavior: worker('other') },
      ],
    });
    const exit = Process.awaitExit(sup);
    await exitProcess((await refOf(sup, 'main')) as AnyRef, 'normal');
    expect(await exit).toBe('shutdown');
  });

  it('a significant permanent child is an invalid spec', async () => {
    const err = await failure(() =>
      Supervisor.start({ autoShutdown: 'any_significant', children: [{ id: 'm', behavior: worker('m'), significant: true }] }),
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('a supervisor in a runtime that is not the default', () => {
  it('starts and restarts its children in its own runtime', async () => {
    const other = new Runtime({ node: 'other@host', logger: silentLogger });
    try {
      const sup = await withRuntime(other, () => Supervisor.start({ children: ['a', 'b'].map((id) => ({ id, behavior: worker(id) })) }));
      expect(sup.node).toBe('other@host');
      const children = await withRuntime(other, () => Supervisor.getChildren(sup));
      for (const c of children) {
        expect(c.ref?.node).toBe('other@host');
        expect(other.procs.has((c.ref as AnyRef).id)).toBe(true);
      }
      const b = children[1]?.ref as AnyRef;
      withRuntime(other, () => Process.exit(b, 'kill'));
      await waitFor(() => !other.procs.has(b.id));
      await flush();
      const after = await withRuntime(other, () => Supervisor.getChildren(sup));
      const nb = after[1]?.ref as AnyRef;
      expect(after[1]?.restartCount).toBe(1);
      expect(nb.node).toBe('other@host');
      expect(other.procs.get(nb.id)?.alive).toBe(true);
      expect(env.rt.procs.size).toBe(0);
    } finally {
      other.killAll();
    }
  });
});
