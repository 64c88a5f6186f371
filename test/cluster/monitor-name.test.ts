/**
 * `Process.monitor({ name, node })`, as Erlang's `monitor(process, {Name, Node})`: the name is
 * looked up on that node when the monitor is set; DOWN carries the process's exit reason,
 * `'noproc'` when no process holds the name, `'noconnection'` when the node is not connected
 * or goes away; a demonitor before the lookup answers cancels it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, DownMessage, MonitorRef } from '../../src/index.js';
import { Cluster, GenServer, isDownMessage, Process, sameRef } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { startPair, stopNodes, type TestNode } from './kit/in-process.js';

afterEach(stopNodes);

const pair = (): Promise<[TestNode, TestNode]> => startPair(['127.0.0.123', '127.0.0.124']);

type WatcherP = { call: [{ monitor: unknown }, MonitorRef] | [{ demonitor: MonitorRef }, true] };

/** A process on `n` that monitors what it is told to and keeps the DOWN messages it gets. */
async function watcher(n: TestNode): Promise<{ ref: AnyRef; downs: DownMessage[] }> {
  const downs: DownMessage[] = [];
  const ref = await n.on(() =>
    GenServer.start<null, WatcherP>({
      init: () => null,
      handleCall: (msg, s) => {
        if ('monitor' in msg) return [Process.monitor(msg.monitor as AnyRef), s];
        Process.demonitor(msg.demonitor);
        return [true, s];
      },
      handleInfo: (msg, s) => {
        if (isDownMessage(msg)) downs.push(msg);
        return s;
      },
    }),
  );
  return { ref, downs };
}

const echo = { init: () => null, handleCall: (m: unknown, s: null) => [m, s] as [unknown, null] };

describe('Process.monitor({ name, node })', () => {
  it('watches the process registered under the name there: DOWN with its reason and ref', async () => {
    const [a, b] = await pair();
    const svc = await a.on(() => GenServer.start(echo, { name: 'svc' }));
    const w = await watcher(b);
    const m = await b.on(() => GenServer.call(w.ref, { monitor: { name: 'svc', node: a.id } }));
    // The lookup answered and the monitor is set on a (a stop now must be seen).
    await waitFor(() => a.on(() => a.rt.procs.get(svc.id)?.watchers?.size) === 1, 5000, 'the monitor to reach a');
    await a.on(() => GenServer.stop(svc, { shutdown: 'bye' }));
    await waitFor(() => w.downs.length === 1, 5000, 'DOWN');
    const d = w.downs[0] as DownMessage;
    expect(d.monitor).toEqual(m);
    expect(sameRef(d.ref, svc)).toBe(true);
    expect(d.reason).toEqual({ shutdown: 'bye' });
  });

  it("a name nobody holds there: DOWN 'noproc'; a node not connected: DOWN 'noconnection'", async () => {
    const [a, b] = await pair();
    const w = await watcher(b);
    const m1 = await b.on(() => GenServer.call(w.ref, { monitor: { name: 'nobody', node: a.id } }));
    await waitFor(() => w.downs.length === 1, 5000, 'DOWN noproc');
    expect(w.downs[0]).toMatchObject({ monitor: m1, reason: 'noproc' });
    expect(w.downs[0]?.ref).toMatchObject({ thread: 0, id: 0 });
    const m2 = await b.on(() => GenServer.call(w.ref, { monitor: { name: 'svc', node: 'ghost@127.0.0.250:1' } }));
    await waitFor(() => w.downs.length === 2, 5000, 'DOWN noconnection');
    expect(w.downs[1]).toMatchObject({ monitor: m2, reason: 'noconnection' });
  });

  it("the node goes down after the lookup: DOWN 'noconnection'", async () => {
    const [a, b] = await pair();
    const svc = await a.on(() => GenServer.start(echo, { name: 'svc' }));
    const w = await watcher(b);
    const m = await b.on(() => GenServer.call(w.ref, { monitor: { name: 'svc', node: a.id } }));
    await waitFor(() => a.on(() => a.rt.procs.get(svc.id)?.watchers?.size) === 1, 5000, 'the monitor to reach a');
    await a.on(() => Cluster.stop());
    await waitFor(() => w.downs.length === 1, 10_000, 'DOWN noconnection');
    expect(w.downs[0]).toMatchObject({ monitor: m, reason: 'noconnection' });
  });

  it('a demonitor before the lookup answers cancels it: no DOWN ever', async () => {
    const [a, b] = await pair();
    const w = await watcher(b);
    const watched = await b.on(() =>
      GenServer.start<null, { call: ['go', true] }>({
        init: () => null,
        handleCall: (_m, s) => {
          // Monitor and demonitor in the same handler: the lookup cannot have answered yet.
          const m = Process.monitor({ name: 'nobody', node: a.id });
          Process.demonitor(m);
          return [true, s];
        },
        handleInfo: (msg, s) => {
          if (isDownMessage(msg)) w.downs.push(msg);
          return s;
        },
      }),
    );
    await b.on(() => GenServer.call(watched, 'go'));
    // Another lookup on the same node, made after, answers after the first one would have.
    const m2 = await b.on(() => GenServer.call(w.ref, { monitor: { name: 'nobody', node: a.id } }));
    await waitFor(() => w.downs.length >= 1, 5000, 'the later DOWN');
    expect(w.downs).toHaveLength(1);
    expect(w.downs[0]?.monitor).toEqual(m2);
  });

  it('{ name, node } of this very node is looked up here', async () => {
    const [a] = await pair();
    const svc = await a.on(() => GenServer.start(echo, { name: 'local-svc' }));
    const w = await watcher(a);
    await a.on(() => GenServer.call(w.ref, { monitor: { name: 'local-svc', node: a.id } }));
    await a.on(() => GenServer.call(w.ref, { monitor: { name: 'none-here', node: a.id } }));
    await a.on(() => GenServer.stop(svc));
    await waitFor(() => w.downs.length === 2, 5000, 'two DOWNs');
    expect(w.downs.map((d) => d.reason).sort()).toEqual(['noproc', 'normal']);
  });
});
