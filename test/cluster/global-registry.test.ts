/**
 * GlobalRegistry on the embedded backend: three nodes in one OS process over real TCP. One
 * arbiter per connected group decides, so racing registrations of a name have exactly one
 * winner; every node's replica agrees; names are released on exit and on node loss.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, GlobalNameEvent } from '../../src/index.js';
import {
  AlreadyRegisteredError,
  BehaviorRegistry,
  Cluster,
  GenServer,
  GlobalRegistry,
  InvalidArgumentError,
  NotRegisteredError,
  Runtime,
  sameRef,
  silentLogger,
  withRuntime,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { failure } from '../helpers.js';
import { startTrio, stopNodes, type TestNode } from './kit/in-process.js';

type N = TestNode;
const trio = () => startTrio(['127.0.0.71', '127.0.0.72', '127.0.0.73'], { reconnectBaseMs: 20 });

const idle = (n: N): Promise<AnyRef> => n.on(() => GenServer.start({ init: () => null, handleCall: (m: unknown, s: null) => [m, s] }));

/** Every node's replica names the same holder for `name` (or none). */
function agreed(nodes: N[], name: string): AnyRef | undefined | 'split' {
  const seen = nodes.map((n) => n.on(() => GlobalRegistry.whereis(name)));
  const first = seen[0];
  return seen.every((r) => (r === undefined ? first === undefined : first !== undefined && sameRef(r, first))) ? first : 'split';
}

afterEach(stopNodes);

describe('GlobalRegistry (embedded)', () => {
  it('registers, looks up and lists a name on every node; calls reach it by { global }', async () => {
    const [a, b, c] = await trio();
    const ref = await b.on(() => idle(b));
    await b.on(() => GlobalRegistry.register('svc', ref));
    expect(b.on(() => GlobalRegistry.whereis('svc'))).toEqual(ref); // this node's replica, at once
    await waitFor(() => agreed([a, b, c], 'svc') !== undefined && agreed([a, b, c], 'svc') !== 'split', 5000, 'every replica');
    expect(c.on(() => GlobalRegistry.lookup('svc'))).toEqual(ref);
    expect(a.on(() => GlobalRegistry.isRegistered('svc'))).toBe(true);
    expect(a.on(() => GlobalRegistry.getNames())).toEqual(['svc']);
    expect(a.on(() => GlobalRegistry.count())).toBe(1);
    expect(await c.on(() => GenServer.call({ global: 'svc' }, 'hi'))).toBe('hi');
    expect(() => c.on(() => GlobalRegistry.lookup('nope'))).toThrow(NotRegisteredError);
    expect(() => c.on(() => GlobalRegistry.whereis(''))).toThrow(InvalidArgumentError);
    // Registering the same process again is fine; another process is refused with the holder.
    await a.on(() => GlobalRegistry.register('svc', ref));
    const other = await a.on(() => idle(a));
    const e = await failure(() => a.on(() => GlobalRegistry.register('svc', other)));
    expect(AlreadyRegisteredError.is(e)).toBe(true);
  });

  it('of racing registrations of one name, exactly one wins and every replica agrees', async () => {
    const nodes = await trio();
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      const refs = await Promise.all(nodes.map((n) => idle(n)));
      const results = await Promise.allSettled(nodes.map((n, i) => n.on(() => GlobalRegistry.register(name, refs[i] as AnyRef))));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won.length).toBe(1);
      for (const r of results) if (r.status === 'rejected') expect(AlreadyRegisteredError.is(r.reason)).toBe(true);
      const winner = refs[results.findIndex((r) => r.status === 'fulfilled')] as AnyRef;
      await waitFor(
        () => {
          const h = agreed(nodes, name);
          return h !== 'split' && h !== undefined && sameRef(h, winner);
        },
        5000,
        'replicas to agree',
      );
    }
  });

  it('releases a name on every node when its process exits, is unregistered, or its node goes', async () => {
    const [a, b, c] = await trio();
    const events: GlobalNameEvent[] = [];
    a.on(() => GlobalRegistry.on('unregistered', (e) => events.push(e)));
    const p1 = await c.on(() => idle(c));
    await c.on(() => GlobalRegistry.register('p1', p1));
    await waitFor(() => a.on(() => GlobalRegistry.isRegistered('p1')), 5000, 'registered on a');
    await c.on(() => GenServer.stop(p1));
    await waitFor(() => [a, b, c].every((n) => !n.on(() => GlobalRegistry.isRegistered('p1'))), 5000, 'released on exit');
    const p2 = await c.on(() => GenServer.start({ init: () => null }, { name: { global: 'p2' } }));
    await waitFor(() => b.on(() => GlobalRegistry.isRegistered('p2')), 5000, 'p2 on b');
    await b.on(() => GlobalRegistry.unregister('p2')); // any node may
    await waitFor(() => [a, b, c].every((n) => !n.on(() => GlobalRegistry.isRegistered('p2'))), 5000, 'unregistered');
    expect(c.rt.procs.has(p2.id)).toBe(true); // unregistering does not stop the process
    const p3 = await c.on(() => idle(c));
    await c.on(() => GlobalRegistry.register('p3', p3));
    await waitFor(() => a.on(() => GlobalRegistry.isRegistered('p3')), 5000, 'p3 on a');
    await c.on(() => Cluster.stop());
    await waitFor(
      () => !a.on(() => GlobalRegistry.isRegistered('p3')) && !b.on(() => GlobalRegistry.isRegistered('p3')),
      5000,
      'node loss',
    );
    expect(events.map((e) => (e.type === 'unregistered' ? `${e.name}:${e.reason}` : e.type))).toEqual([
      'p1:exited',
      'p2:unregistered',
      'p3:node_down',
    ]);
  });

  it('keeps deciding when the arbiter node goes away', async () => {
    const [a, b, c] = await trio();
    // a has the smallest id: it is the arbiter. Names registered before stay; new ones work.
    const before = await c.on(() => idle(c));
    await c.on(() => GlobalRegistry.register('before', before));
    await a.on(() => Cluster.stop());
    await waitFor(() => b.on(() => Cluster.getNodeIds()).length === 1, 5000, 'a gone');
    const refs = [await b.on(() => idle(b)), await c.on(() => idle(c))];
    const results = await Promise.allSettled([
      b.on(() => GlobalRegistry.register('after', refs[0] as AnyRef)),
      c.on(() => GlobalRegistry.register('after', refs[1] as AnyRef)),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    await waitFor(() => agreed([b, c], 'after') !== 'split' && agreed([b, c], 'before') !== 'split', 5000, 'agreement');
    expect(agreed([b, c], 'before')).toEqual(before);
  });

  it('starts a process remotely under a global name', async () => {
    const [a, b, c] = await trio();
    c.on(() => BehaviorRegistry.register('echo', { init: () => null, handleCall: (m: unknown, s: null) => [m, s] }));
    const ref = await a.on(() => GenServer.startRemote('echo', { targetNode: c.id, name: 'remote-echo', registration: 'global' }));
    expect(ref.node.startsWith(c.id)).toBe(true);
    await waitFor(() => b.on(() => GlobalRegistry.isRegistered('remote-echo')), 5000, 'known on b');
    expect(await b.on(() => GenServer.call({ global: 'remote-echo' }, 'hello'))).toBe('hello');
    const e = await failure(() =>
      b.on(() => GenServer.startRemote('echo', { targetNode: c.id, name: 'remote-echo', registration: 'global' })),
    );
    expect(AlreadyRegisteredError.is(e)).toBe(true);
  });

  it('needs a running cluster', () => {
    const rt = new Runtime({ logger: silentLogger });
    expect(() => withRuntime(rt, () => GlobalRegistry.getNames())).toThrow(InvalidArgumentError);
  });
});
