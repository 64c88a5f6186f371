/**
 * Introspection on one thread: Process.info's names/parent/heapUsed, Process.list,
 * Supervisor.tree, GenServer.getState, and the system calls behind them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior } from '../src/index.js';
import { GenServer, InvalidArgumentError, NoProcessError, Process, Registry, Supervisor, Task } from '../src/index.js';
import { isGetStateRequest, isListRequest, namedProcess } from '../src/core/process-info.js';
import { currentRuntime } from '../src/core/runtime.js';
import { freshRuntime, waitFor } from '../src/testing.js';

let dispose: (() => void) | undefined;
beforeEach(() => {
  dispose = freshRuntime().dispose;
});
afterEach(() => {
  dispose?.();
  dispose = undefined;
});

type Counter = { cast: 'inc' | 'crash'; call: ['get', number] | ['hold', number] };

/** A counter whose 'hold' call waits until `release` is called (a handler in flight). */
function counter(gate: { release?: () => void } = {}): GenServerBehavior<{ n: number }, Counter> {
  return {
    init: () => ({ n: 0 }),
    handleCast: (m, s) => {
      if (m === 'crash') throw new Error('boom');
      return { n: s.n + 1 };
    },
    async handleCall(m, s) {
      if (m === 'hold') await new Promise<void>((r) => (gate.release = r));
      return [s.n, { n: s.n + 100 }];
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('Process.info', () => {
  it('reports every registered name, the parent supervisor and the thread heap', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'c', behavior: counter(), options: { name: 'first' } }] });
    const ref = Registry.whereis('first') as AnyRef;
    await Registry.register('second', ref);
    const info = await Process.info(ref);
    expect(info?.name).toBe('first');
    expect(info?.names.sort()).toEqual(['first', 'second']);
    expect(info?.parent).toEqual(sup);
    expect(info?.heapUsed).toBeGreaterThan(0);
    const top = await Process.info(sup);
    expect(top?.names).toEqual([]);
    await Supervisor.stop(sup);
  });
});

describe('Process.list', () => {
  it('lists every live process of the thread and drops the dead', async () => {
    const a = await GenServer.start(counter());
    const b = await GenServer.start(counter(), { name: 'b' });
    let all = await Process.list();
    expect(all.map((i) => i.ref.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(all.find((i) => i.ref.id === b.id)?.names).toEqual(['b']);
    await GenServer.stop(a);
    all = await Process.list();
    expect(all.some((i) => i.ref.id === a.id)).toBe(false);
    expect(all.every((i) => i.thread === 0)).toBe(true);
  });
});

describe('Supervisor.tree', () => {
  it('descends into nested supervisors with kinds, ids, threads and restart counts', async () => {
    const sup = await Supervisor.start({
      children: [
        { id: 'w', behavior: counter(), options: { name: 'w' } },
        { id: 'inner', supervisor: { children: [{ id: 'leaf', behavior: counter(), options: { name: 'leaf' } }] } },
      ],
    });
    GenServer.cast('w', 'crash');
    await waitFor(() => {
      const r = Registry.whereis('w');
      return r !== undefined && GenServer.isRunning(r);
    });
    let tree = await Supervisor.tree(sup);
    for (let i = 0; i < 100 && tree.children[0]?.restartCount === 0; i++) tree = await Supervisor.tree(sup);
    expect(tree.ref).toEqual(sup);
    expect(tree.kind).toBe('supervisor');
    expect(tree.thread).toBe(0);
    const [w, inner] = tree.children;
    expect(w).toMatchObject({ id: 'w', kind: 'worker', thread: 0, restartCount: 1, children: [] });
    expect(w?.ref).toEqual(Registry.whereis('w'));
    expect(inner).toMatchObject({ id: 'inner', kind: 'supervisor', restartCount: 0 });
    expect(inner?.children).toEqual([
      { id: 'leaf', ref: Registry.whereis('leaf'), kind: 'worker', thread: 0, restartCount: 0, children: [] },
    ]);
    // By name too.
    await Registry.register('top', sup);
    expect((await Supervisor.tree('top')).children).toHaveLength(2);
    await Supervisor.stop(sup);
  });

  it('rejects a bad argument with InvalidArgumentError and a dead supervisor with NoProcessError', async () => {
    expect(InvalidArgumentError.is(await rejection(Supervisor.tree(42 as never)))).toBe(true);
    const sup = await Supervisor.start({ children: [] });
    await Supervisor.stop(sup);
    expect(NoProcessError.is(await rejection(Supervisor.tree(sup)))).toBe(true);
  });
});

describe('GenServer.getState', () => {
  it('reads the committed state by ref or name', async () => {
    const ref = await GenServer.start(counter(), { name: 'cnt' });
    GenServer.cast(ref, 'inc');
    GenServer.cast(ref, 'inc');
    await GenServer.call(ref, 'get');
    expect(await GenServer.getState(ref)).toEqual({ n: 102 });
    expect(await GenServer.getState('cnt')).toEqual({ n: 102 });
  });

  it('answers during a handler in flight with the last committed state, without waiting for it', async () => {
    const gate: { release?: () => void } = {};
    const ref = await GenServer.start(counter(gate));
    const held = GenServer.call(ref, 'hold');
    await waitFor(() => gate.release !== undefined);
    expect(await GenServer.getState(ref)).toEqual({ n: 0 });
    gate.release?.();
    await held;
    expect(await GenServer.getState(ref)).toEqual({ n: 100 });
  });

  it('copies the state under strictMessages', async () => {
    dispose?.();
    dispose = freshRuntime({ strictMessages: true }).dispose;
    const ref = await GenServer.start(counter());
    const s = await GenServer.getState<{ n: number }>(ref);
    s.n = 999;
    expect(await GenServer.getState(ref)).toEqual({ n: 0 });
  });

  it('rejects with typed errors: dead process, unknown name, bad ref, bad timeout, not a GenServer', async () => {
    const ref = await GenServer.start(counter());
    await GenServer.stop(ref);
    expect(NoProcessError.is(await rejection(GenServer.getState(ref)))).toBe(true);
    expect(NoProcessError.is(await rejection(GenServer.getState('nobody')))).toBe(true);
    expect(InvalidArgumentError.is(await rejection(GenServer.getState({ id: 1 } as never)))).toBe(true);
    expect(InvalidArgumentError.is(await rejection(GenServer.getState('')))).toBe(true);
    const live = await GenServer.start(counter());
    expect(InvalidArgumentError.is(await rejection(GenServer.getState(live, -1)))).toBe(true);
    let release: (() => void) | undefined;
    const task = Task.async(() => new Promise<void>((r) => (release = r)));
    const err = await rejection(GenServer.getState(task.ref));
    expect(InvalidArgumentError.is(err)).toBe(true);
    release?.();
    await Task.await(task);
  });
});

describe('the introspection system calls', () => {
  it('are recognised only in their exact shape (they may come from another thread)', () => {
    expect(isListRequest({ op: 'process_list' })).toBe(true);
    expect(isListRequest(null)).toBe(false);
    expect(isGetStateRequest({ op: 'get_state', id: 3 })).toBe(true);
    for (const id of [0, -1, 1.5, '3', Number.NaN, 2 ** 60]) expect(isGetStateRequest({ op: 'get_state', id })).toBe(false);
    expect(namedProcess({ op: 'get_state', id: 3 })).toBe(3);
    expect(namedProcess({ op: 'process_info', id: 4 })).toBe(4);
    expect(namedProcess({ op: 'process_list' })).toBeUndefined();
  });

  it('answer a list, a state, and typed errors through the runtime (process id 0)', async () => {
    const rt = currentRuntime();
    const ref = await GenServer.start(counter());
    const answers: unknown[] = [];
    const from = { node: rt.node, thread: 1, call: 1 } as never;
    const router = rt.router;
    const orig = router.reply.bind(router);
    const origErr = router.replyError.bind(router);
    router.reply = (_f, v) => void answers.push({ ok: v });
    router.replyError = (_f, e) => void answers.push({ err: e });
    try {
      router.systemCall({ op: 'process_list' }, from, { has: (id) => id === ref.id });
      router.systemCall({ op: 'get_state', id: ref.id }, from);
      router.systemCall({ op: 'get_state', id: 99_999 }, from);
      router.systemCall({ op: 'nope' }, from);
    } finally {
      router.reply = orig;
      router.replyError = origErr;
    }
    const list = (answers[0] as { ok: { ref: AnyRef }[] }).ok;
    expect(list.map((i) => i.ref)).toEqual([ref]);
    expect(answers[1]).toEqual({ ok: { n: 0 } });
    expect(NoProcessError.is((answers[2] as { err: unknown }).err)).toBe(true);
    expect(InvalidArgumentError.is((answers[3] as { err: unknown }).err)).toBe(true);
  });
});
