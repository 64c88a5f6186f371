/**
 * Worker threads in a cluster: a process on a worker thread of node A is reached from node B
 * by ref and by { name, node }, and reaches B's processes itself (its frames relayed through
 * A's main thread, which owns the one connection per node pair).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, Ref, SupervisorRef } from '../../src/index.js';
import {
  AlreadyRegisteredError,
  BehaviorRegistry,
  ChildStartError,
  ThreadExitError,
  Cluster,
  GenServer,
  GlobalRegistry,
  InvalidArgumentError,
  NodeDownError,
  Runtime,
  ServerExitedError,
  Supervisor,
  isDownMessage,
  sameRef,
  silentLogger,
  withRuntime,
} from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import type { ProbeProtocol } from '../fixtures/thread-extras.js';
import { failure } from '../helpers.js';
import { BOOT_MS, EXTRAS, eventually, reap, threadChild } from '../threads/helpers.js';

const SECRET = 'threads-test-secret-0123456789';
let env: ReturnType<typeof freshRuntime>;
let rtB: Runtime;
let idA: string;
let idB: string;
let sup: SupervisorRef;
let echoB: AnyRef;
const onB = <T>(fn: () => T): T => withRuntime(rtB, fn);

beforeAll(async () => {
  env = freshRuntime({ logger: silentLogger });
  idA = await Cluster.start({ nodeName: 'a', host: '127.0.0.31', clusterSecret: SECRET });
  rtB = new Runtime({ logger: silentLogger });
  idB = await onB(() => Cluster.start({ nodeName: 'b', host: '127.0.0.32', clusterSecret: SECRET, seeds: [idA] }));
  await waitFor(() => Cluster.isNodeConnected(idB), 10_000, 'connected');
  echoB = await onB(() =>
    GenServer.start(
      {
        init: () => null,
        handleCall: (m: unknown, s: null) => [m, s],
        handleCast: (_m: unknown, s: null) => s,
      },
      { name: 'echo' },
    ),
  );
  sup = await Supervisor.start({ children: [threadChild('t1', EXTRAS, { name: 'p1' })] });
}, BOOT_MS);

afterAll(async () => {
  await Supervisor.stop(sup).catch(() => {});
  await reap(env.rt);
  await Cluster.stop();
  await onB(() => Cluster.stop());
  rtB.killAll();
  env.dispose();
}, BOOT_MS);

describe('a worker thread of a clustered node', () => {
  it('is reached from another node by name and by ref', async () => {
    const named = { name: 'p1', node: idA };
    const thread = (await onB(() => GenServer.call(named as never, { type: 'thread' }))) as number;
    expect(thread).toBeGreaterThan(0);
    const self = (await onB(() => GenServer.call(named as never, { type: 'self' }))) as AnyRef;
    expect(self.thread).toBe(thread);
    expect(self.node.startsWith(`${idA}~`)).toBe(true);
    const value = { big: 2n ** 70n, when: new Date(5), set: new Set(['x']) };
    expect(await onB(() => GenServer.call(self as Ref<ProbeProtocol>, { type: 'echo', value }))).toEqual(value);
    onB(() => GenServer.cast(self as Ref<ProbeProtocol>, { type: 'add', n: 5 }));
    onB(() => GenServer.cast(named as never, { type: 'add', n: 2 }));
    // The two casts take different paths (direct, and through A's name table): wait for both.
    await eventually(
      () => onB(() => GenServer.call(self as Ref<ProbeProtocol>, { type: 'state' })) as Promise<{ total: number }>,
      (st) => st.total === 7,
      10_000,
      'both casts',
    );
  });

  it(
    'starts an allow-listed thread subtree for another node, which can stop it',
    async () => {
      BehaviorRegistry.register('extras', { thread: { module: EXTRAS } });
      expect(() => BehaviorRegistry.register('bad', { thread: { module: EXTRAS, args: 1 } as never })).toThrow(InvalidArgumentError);
      // The caller's initTimeout bounds the thread's boot there: 1 ms is too short.
      const late = await failure(() =>
        onB(() => GenServer.startRemote('extras', { targetNode: idA, args: { name: 'p3' }, initTimeout: 1 })),
      );
      expect(ChildStartError.is(late)).toBe(true);
      expect(ThreadExitError.is((late as Error).cause)).toBe(true);
      expect(String((late as Error).message)).toContain('initTimeout (1 ms)');
      expect(env.rt.names.get('p3')).toBeUndefined();
      const sup2 = await onB(() => GenServer.startRemote('extras', { targetNode: idA, args: { name: 'p2' }, initTimeout: 20_000 }));
      expect(sup2.node.startsWith(`${idA}~`)).toBe(true);
      const thread = (await onB(() => GenServer.call({ name: 'p2', node: idA } as never, { type: 'thread' }))) as number;
      expect(thread).toBeGreaterThan(0);
      await onB(() => GenServer.stop(sup2, 'shutdown', { timeout: 20_000 }));
      expect(env.rt.names.get('p2')).toBeUndefined();
    },
    BOOT_MS,
  );

  it(
    'starts an allow-listed thread subtree under a global name; a second start under that name is refused and its thread stopped',
    async () => {
      BehaviorRegistry.register('extras-g', { thread: { module: EXTRAS } });
      const start = (name: string) =>
        onB(() =>
          GenServer.startRemote('extras-g', {
            targetNode: idA,
            args: { name },
            name: 'tree-g',
            registration: 'global',
            initTimeout: 20_000,
          }),
        );
      const tree = await start('pg1');
      expect(tree.node.startsWith(`${idA}~`)).toBe(true);
      // The subtree's supervisor holds the name cluster-wide (not as a local name of A).
      const holder = (): AnyRef | undefined => GlobalRegistry.whereis('tree-g');
      expect(sameRef(holder() as AnyRef, tree)).toBe(true);
      const onBHolder = (): AnyRef | undefined => onB(() => GlobalRegistry.whereis('tree-g'));
      await waitFor(() => onBHolder() !== undefined && sameRef(onBHolder() as AnyRef, tree), 5000, "the name in B's replica");
      expect(env.rt.names.get('tree-g')).toBeUndefined();
      expect((await onB(() => Supervisor.countChildren(onBHolder() as SupervisorRef))).active).toBe(1);
      expect(await onB(() => GenServer.call({ name: 'pg1', node: idA } as never, { type: 'thread' }))).toBeGreaterThan(0);

      // The name is taken: the second subtree boots, fails to take it, and is stopped again.
      const taken = await failure(() => start('pg2'));
      expect(AlreadyRegisteredError.is(taken)).toBe(true);
      expect(env.rt.names.get('pg2')).toBeUndefined();
      expect(sameRef(holder() as AnyRef, tree)).toBe(true);

      // Stopped from B, the subtree gives the name up on every node.
      await onB(() => GenServer.stop(tree, 'shutdown', { timeout: 20_000 }));
      await waitFor(() => holder() === undefined && onBHolder() === undefined, 5000, 'the name released');
      expect(env.rt.names.get('pg1')).toBeUndefined();
    },
    BOOT_MS,
  );

  it('reaches another node from the worker, by ref and by name, and monitors there', async () => {
    const p1 = { name: 'p1', node: idA } as never as Ref<ProbeProtocol>;
    expect(await GenServer.call(p1, { type: 'call', target: echoB, msg: 'from a worker' })).toBe('from a worker');
    expect(await GenServer.call(p1, { type: 'call', target: { name: 'echo', node: idB } as never, msg: 'by name' })).toBe('by name');
    await GenServer.call(p1, { type: 'monitor', target: echoB });
    await onB(() => GenServer.stop(echoB));
    await eventually(
      () => GenServer.call(p1, { type: 'state' }) as Promise<{ infos: unknown[] }>,
      (st) => st.infos.some((m) => isDownMessage(m)),
      10_000,
      'DOWN on the worker',
    );
    // The node goes away: the worker's call to it fails with NodeDownError.
    const target = await onB(() => GenServer.start({ init: () => null, handleCall: (_m: unknown, s: null) => [1, s] }));
    await onB(() => Cluster.stop());
    await waitFor(() => !Cluster.isNodeConnected(idB), 10_000, 'b gone');
    // The probe lets the error crash it: its caller sees ServerExitedError caused by NodeDownError.
    const e = await failure(() => GenServer.call(p1, { type: 'call', target, msg: 'x', timeout: 5000 }));
    expect(ServerExitedError.is(e)).toBe(true);
    expect(NodeDownError.is((e as Error).cause)).toBe(true);
  });
});
