/**
 * Introspection across threads: Process.list and Process.info of worker processes,
 * Supervisor.tree into a thread child, GenServer.getState over a system call, and what main
 * shows a worker that asks (only the processes exposed to it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Ref, SupervisionNode } from '../../src/index.js';
import { GenServer, NoProcessError, NotCloneableError, Process, Registry, Supervisor } from '../../src/index.js';
import { makeRef } from '../../src/core/ref.js';
import type { InspectorProtocol } from '../fixtures/introspection.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, eventually, startNode, threadChild } from './helpers.js';

const INTRO = new URL('../fixtures/introspection.ts', import.meta.url).href;

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

const holder: GenServerBehavior<{ secret: number }, { call: ['ping', 'pong'] }> = {
  init: () => ({ secret: 42 }),
  handleCall: (_m, s) => ['pong', s],
};

async function boot(): Promise<{ inspector: Ref<InspectorProtocol>; thread: number }> {
  // The holder has no name: a registered name is shown to every worker.
  node = await startNode([{ id: 'main-holder', behavior: holder }, threadChild('t', INTRO, { name: 'insp' })]);
  const inspector = (await eventually(
    async () => Registry.whereis<InspectorProtocol>('insp'),
    (r) => r !== undefined,
  )) as Ref<InspectorProtocol>;
  return { inspector, thread: inspector.thread };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('introspection across threads', () => {
  it(
    'Process.list on main covers the worker thread; Process.info reads names, parent and heap there',
    async () => {
      const { inspector, thread } = await boot();
      const all = await Process.list();
      const threads = new Set(all.map((i) => i.thread));
      expect(threads).toEqual(new Set([0, thread]));
      const insp = all.find((i) => i.names.includes('insp'));
      expect(insp?.ref).toEqual(inspector);
      expect(all.filter((i) => i.thread === thread).map((i) => i.names[0])).toEqual(
        expect.arrayContaining(['insp', 'insp.opaque', 'insp.leaf']),
      );
      const info = await Process.info(inspector);
      expect(info?.names).toEqual(['insp']);
      expect(info?.parent?.thread).toBe(thread);
      expect(info?.heapUsed).toBeGreaterThan(0);
    },
    BOOT_MS * 2,
  );

  it(
    'Supervisor.tree descends through the thread child into its root supervisor and nested supervisors',
    async () => {
      const { inspector, thread } = await boot();
      const tree = await Supervisor.tree((node as TestNode).sup);
      expect(tree.kind).toBe('supervisor');
      const [mainHolder, t] = tree.children;
      expect(mainHolder).toMatchObject({ id: 'main-holder', kind: 'worker', thread: 0 });
      expect(t).toMatchObject({ id: 't', kind: 'thread', thread, restartCount: 0 });
      expect(t?.ref?.thread).toBe(0); // the host
      const root = t?.children[0] as SupervisionNode;
      expect(root).toMatchObject({ kind: 'supervisor', thread });
      expect(root.ref?.thread).toBe(thread);
      expect(root.children.map((c) => [c.id, c.kind, c.thread])).toEqual([
        ['inspector', 'worker', thread],
        ['opaque', 'worker', thread],
        ['inner', 'supervisor', thread],
      ]);
      expect(root.children[0]?.ref).toEqual(inspector);
      expect(root.children[2]?.children.map((c) => c.id)).toEqual(['leaf']);
    },
    BOOT_MS * 2,
  );

  it(
    'GenServer.getState copies a worker process state; NotCloneableError and NoProcessError as typed errors',
    async () => {
      const { inspector, thread } = await boot();
      expect(await GenServer.getState(inspector)).toEqual({ shown: [] });
      expect(await GenServer.getState('insp.leaf')).toEqual({ leaf: true });
      const err = await rejection(GenServer.getState('insp.opaque'));
      expect(NotCloneableError.is(err)).toBe(true);
      expect((err as NotCloneableError).path).toBe('state.fn');
      const gone = makeRef(inspector.node, thread, 999_999);
      expect(NoProcessError.is(await rejection(GenServer.getState(gone)))).toBe(true);
    },
    BOOT_MS * 2,
  );

  it(
    'from a worker, main lists and reads the state of only the main processes shown to that worker',
    async () => {
      const { inspector, thread } = await boot();
      const [child] = await Supervisor.getChildren((node as TestNode).sup);
      const holderRef = child?.ref as AnyRef;
      const before = await GenServer.call(inspector, { type: 'list' });
      expect(before.some((i) => i.thread === thread && i.names.includes('insp'))).toBe(true);
      expect(before.some((i) => i.thread === 0 && i.id === holderRef.id)).toBe(false);
      expect(await GenServer.call(inspector, { type: 'getState', thread: 0, id: holderRef.id })).toEqual({ error: 'NoProcessError' });
      // Shown to the worker (its ref crosses in a message): now it may see it.
      await GenServer.call(inspector, { type: 'show', ref: holderRef });
      const after = await GenServer.call(inspector, { type: 'list' });
      expect(after.some((i) => i.thread === 0 && i.id === holderRef.id)).toBe(true);
      expect(await GenServer.call(inspector, { type: 'getState', thread: 0, id: holderRef.id })).toEqual({ ok: { secret: 42 } });
    },
    BOOT_MS * 2,
  );
});
