/**
 * DistributedSupervisor on three nodes in one OS process: children placed across nodes,
 * restarted after a crash, moved when their node leaves (including the node that started the
 * supervisor), each running exactly once; the child API and its errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, DistributedSupervisorRef, GenServerBehavior } from '../../src/index.js';
import {
  BehaviorRegistry,
  ChildNotFoundError,
  Cluster,
  DistributedSupervisor,
  DuplicateChildError,
  GenServer,
  GlobalRegistry,
  InvalidArgumentError,
  Result,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { failure } from '../helpers.js';
import { startTrio, stopNodes, type TestNode } from './kit/in-process.js';

type N = TestNode;
type WorkerP = { call: ['where', string] | ['crash', never]; cast: 'stop' };
const worker: GenServerBehavior<string, WorkerP, string> = {
  init: (tag) => tag,
  handleCall: (msg, s) => {
    if (msg === 'crash') throw new Error('child crashed');
    return [GenServer.self().node, s];
  },
  handleCast: (_m, s) => Result.stop('normal', s),
};

/** Nodes a, b, c, each offering the worker behaviour. */
async function trio(): Promise<[N, N, N]> {
  const nodes = await startTrio(['127.0.0.81', '127.0.0.82', '127.0.0.83'], { reconnectBaseMs: 20 });
  for (const n of nodes) n.on(() => BehaviorRegistry.register('worker', worker));
  started.push(...nodes);
  return nodes;
}

/** The nodes of the running test (for the exactly-once count, which looks into every runtime). */
const started: N[] = [];

afterEach(async () => {
  started.length = 0;
  await stopNodes();
});

/** How many live workers hold state `tag`, on any node (the exactly-once check). */
function copies(tag: string): number {
  let n = 0;
  for (const x of started)
    for (const p of x.rt.procs.values()) if (p.alive && (p.server as { state?: unknown } | undefined)?.state === tag) n++;
  return n;
}

/** The children as `n` sees them; none while `n` has not yet received the supervisor's record. */
const kids = (n: N, sup: DistributedSupervisorRef) =>
  n.on(() => DistributedSupervisor.isRunning(sup)) ? n.on(() => DistributedSupervisor.getChildren(sup)) : [];

describe('DistributedSupervisor', () => {
  it('places children across nodes and every node sees them', async () => {
    const [a, b, c] = await trio();
    const sup = await a.on(() =>
      DistributedSupervisor.start({
        name: 'pool',
        nodeSelector: 'round_robin',
        children: ['w1', 'w2', 'w3'].map((id) => ({ id, behavior: 'worker', args: id })),
      }),
    );
    const nodesOf = (n: N) => kids(n, sup).map((k) => k.node);
    await waitFor(() => [a, b, c].every((n) => kids(n, sup).every((k) => k.status === 'running')), 10_000, 'all running everywhere');
    expect(new Set(nodesOf(c)).size).toBe(3); // one per node
    for (const id of ['w1', 'w2', 'w3']) expect(copies(id)).toBe(1);
    const where = await c.on(() => GenServer.call({ global: 'dsup:pool:w2' }, 'where'));
    expect(kids(a, sup).find((k) => k.id === 'w2')?.ref?.node).toBe(where);
    expect(b.on(() => DistributedSupervisor.countChildren(sup))).toEqual({ specs: 3, active: 3, running: 3 });
    expect(b.on(() => DistributedSupervisor.isRunning(sup))).toBe(true);
  });

  it('restarts a crashed child, moves children when their node leaves (the starter included), exactly once', async () => {
    const [a, b, c] = await trio();
    const sup = await a.on(() =>
      DistributedSupervisor.start({
        name: 'svc',
        nodeSelector: 'local_first',
        restartIntensity: { maxRestarts: 10, withinMs: 5000 },
        children: [
          { id: 'x', behavior: 'worker', args: 'x' },
          { id: 'y', behavior: 'worker', args: 'y', nodeSelector: 'hash' },
        ],
      }),
    );
    await waitFor(() => kids(b, sup).length === 2 && kids(b, sup).every((k) => k.status === 'running'), 10_000, 'running');
    const before = GlobalRegistry.whereis === undefined ? undefined : (b.on(() => GlobalRegistry.whereis('dsup:svc:x')) as AnyRef);
    await failure(() => b.on(() => GenServer.call({ global: 'dsup:svc:x' }, 'crash')));
    await waitFor(
      () => {
        const now = b.on(() => GlobalRegistry.whereis('dsup:svc:x'));
        return now !== undefined && before !== undefined && now.id !== before.id;
      },
      5000,
      'x restarted',
    );
    // The node that started it (and leads: smallest id) leaves: its children move, the supervisor lives on.
    await a.on(() => Cluster.stop());
    await waitFor(
      () =>
        kids(b, sup).every(
          (k) => k.status === 'running' && k.node !== a.id.split('~')[0] && k.ref?.node !== undefined && !k.ref.node.startsWith(a.id),
        ),
      5000,
      'children on the survivors',
    );
    expect(c.on(() => DistributedSupervisor.isRunning(sup))).toBe(true);
    for (const id of ['x', 'y']) {
      const where = started.flatMap((x) =>
        [...x.rt.procs.values()]
          .filter((p) => p.alive && (p.server as { state?: unknown } | undefined)?.state === id)
          .map((p) => `${x.id} ${p.ref.id} ${String(p.status)}`),
      );
      expect(copies(id), where.join(' | ')).toBe(1);
    }
    await waitFor(() => c.on(() => GlobalRegistry.isRegistered('dsup:svc:x')), 5000, "c's replica");
    expect(await c.on(() => GenServer.call({ global: 'dsup:svc:x' }, 'where'))).not.toContain(a.id);
  });

  it('startChild (template), terminateChild, restartChild, deleteChild, stop everywhere', async () => {
    const [a, b, c] = await trio();
    const sup = await b.on(() =>
      DistributedSupervisor.start({
        name: 'dyn',
        childTemplate: { behavior: 'worker', restart: 'transient' },
        nodeSelector: { node: c.id },
      }),
    );
    const ref = await a.on(() => DistributedSupervisor.startChild(sup, { id: 'j1', args: 'j1' }));
    expect(ref.node.startsWith(c.id)).toBe(true); // { node } placement
    expect(await failure(() => a.on(() => DistributedSupervisor.startChild(sup, { id: 'j1', args: 'again' })))).toBeInstanceOf(
      DuplicateChildError,
    );
    await a.on(() => DistributedSupervisor.terminateChild(sup, 'j1'));
    await waitFor(
      () => kids(a, sup)[0]?.status === 'terminated' && !c.on(() => GlobalRegistry.isRegistered('dsup:dyn:j1')),
      5000,
      'terminated',
    );
    const again = await c.on(() => DistributedSupervisor.restartChild(sup, 'j1'));
    expect(again.node.startsWith(c.id)).toBe(true);
    // A transient child that stops normally is done, not restarted.
    c.on(() => GenServer.cast({ global: 'dsup:dyn:j1' }, 'stop'));
    await waitFor(() => kids(b, sup)[0]?.status === 'done', 5000, 'done');
    await b.on(() => DistributedSupervisor.deleteChild(sup, 'j1'));
    await waitFor(() => kids(a, sup).length === 0, 5000, 'deleted everywhere');
    expect(await failure(() => a.on(() => DistributedSupervisor.terminateChild(sup, 'nope')))).toBeInstanceOf(ChildNotFoundError);
    await a.on(() => DistributedSupervisor.startChild(sup, { id: 'j2', args: 'j2' }));
    await a.on(() => DistributedSupervisor.stop(sup));
    await waitFor(() => [a, b, c].every((n) => !n.on(() => DistributedSupervisor.isRunning(sup))), 5000, 'stopped everywhere');
    await waitFor(() => !a.on(() => GlobalRegistry.isRegistered('dsup:dyn:j2')), 5000, 'its child stopped');
  });

  it('terminateChild stops a child that runs on the leader', async () => {
    const [a, b] = await trio();
    const sup = await b.on(() =>
      DistributedSupervisor.start({ name: 'lead', nodeSelector: { node: a.id }, children: [{ id: 'k', behavior: 'worker', args: 'k' }] }),
    );
    await waitFor(() => a.on(() => GlobalRegistry.isRegistered('dsup:lead:k')), 5000, 'k on a');
    await b.on(() => DistributedSupervisor.terminateChild(sup, 'k')); // a leads (smallest id) and runs k
    await waitFor(() => copies('k') === 0 && !a.on(() => GlobalRegistry.isRegistered('dsup:lead:k')), 5000, 'k stopped on the leader');
    expect(kids(b, sup)[0]?.status).toBe('terminated');
  });

  it('refuses bad options and refs with typed errors', async () => {
    const [a] = await trio();
    const bad: unknown[] = [
      {},
      { name: '' },
      { name: 's', strategy: 'one_for_all' },
      { name: 's', nodeSelector: 'closest' },
      { name: 's', children: [{ id: 'x' }] },
      { name: 's', children: [{ id: 'x', behavior: 'worker', restart: 'sometimes' }] },
      { name: 's', restartIntensity: { maxRestarts: -1, withinMs: 5 } },
      { name: 's', restartIntensity: { maxRestarts: 1, withinMs: Number.NaN } },
      { name: 's', splitBrain: 'vote' },
      { name: 's', splitBrain: { staticQuorum: 0 } },
    ];
    for (const o of bad)
      expect(await failure(() => a.on(() => DistributedSupervisor.start(o as never))), JSON.stringify(o)).toBeInstanceOf(
        InvalidArgumentError,
      );
    expect(
      await failure(() =>
        a.on(() =>
          DistributedSupervisor.start({
            name: 's',
            children: [
              { id: 'x', behavior: 'worker' },
              { id: 'x', behavior: 'worker' },
            ],
          }),
        ),
      ),
    ).toBeInstanceOf(DuplicateChildError);
    expect(() => a.on(() => DistributedSupervisor.getChildren({ dsup: 42 } as never))).toThrow(InvalidArgumentError);
  });
});
