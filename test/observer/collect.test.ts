/**
 * The observer's collector: a known app (a root supervisor with a GenServer, a nested
 * supervisor and a thread child) in the snapshot with its tree, kinds, threads and budgets;
 * rates between samples; lifecycle events; `resolve`; `Supervisor.intensity`; a two-node
 * cluster (both views, peer traffic); and the checker of a peer's answer, fed hostile input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Ref, SupervisorRef } from '../../src/index.js';
import { Cluster, GenServer, InvalidArgumentError, NoProcessError, Registry, Supervisor } from '../../src/index.js';
import { setObserveProvider } from '../../src/cluster/cluster.js';
import { formatRef, makeRef } from '../../src/core/ref.js';
import { createCollector, observeAnswer, watchdogOf } from '../../src/observer/collect.js';
import type { NodeView, ObservedEvent, ObservedProcess, ObservedTreeNode, ObserverSource } from '../../src/observer/model.js';
import { MAX_PEER_PROCESSES, checkPeerView, trimForWire } from '../../src/observer/peer-view.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import type { WorkerProtocol } from '../fixtures/tree.js';
import { startNode as startClusterNode, stopNodes, type TestNode as ClusterTestNode } from '../cluster/kit/in-process.js';
import type { TestNode } from '../threads/helpers.js';
import { BOOT_MS, TREE, eventually, startNode, threadChild, whereisEventually } from '../threads/helpers.js';

type Counter = { cast: 'inc' | 'crash'; call: ['get', number] };
const counter: GenServerBehavior<number, Counter> = {
  init: () => 0,
  handleCast: (m, n) => {
    if (m === 'crash') throw new Error('crashed on purpose');
    return n + 1;
  },
  handleCall: (_m, n) => [n, n],
};

let node: TestNode | undefined;
let collector: ObserverSource | undefined;
let dispose: (() => void) | undefined;
afterEach(async () => {
  collector?.close();
  collector = undefined;
  await node?.shutdown();
  node = undefined;
  dispose?.();
  dispose = undefined;
  setObserveProvider(observeAnswer);
  await stopNodes();
});

/** The app: root supervisor { w: GenServer, inner: supervisor { leaf }, t: thread child { worker } }. */
async function app(): Promise<{ sup: SupervisorRef; w: AnyRef; tw: Ref<WorkerProtocol> }> {
  node = await startNode(
    [
      { id: 'w', behavior: counter, options: { name: 'obs.w' } },
      { id: 'inner', supervisor: { children: [{ id: 'leaf', behavior: counter }] } },
      threadChild('t', TREE, { name: 'obs.tw' }),
    ],
    { restartIntensity: { maxRestarts: 5, withinMs: 60_000 } },
  );
  const tw = await whereisEventually<WorkerProtocol>('obs.tw');
  return { sup: node.sup, w: Registry.whereis('obs.w') as AnyRef, tw };
}

function proc(view: NodeView, ref: AnyRef): ObservedProcess | undefined {
  return view.processes.find((p) => p.ref === formatRef(ref));
}

/** Snapshots until `ok` holds for this node's view (a new sample comes at most every 250 ms). */
function viewUntil(c: ObserverSource, ok: (v: NodeView) => boolean, what: string): Promise<NodeView> {
  return eventually(async () => (await c.snapshot()).nodes[0] as NodeView, ok, 10_000, what);
}

describe('createCollector: this node', () => {
  it(
    'shows the app: tree shape, kinds, thread numbers, budgets, threads with ELU and heap, and resolves its refs',
    async () => {
      const { sup, w, tw } = await app();
      collector = createCollector((node as TestNode).rt);
      const snap = await collector.snapshot();
      expect(snap.nodes).toHaveLength(1);
      const view = snap.nodes[0] as NodeView;
      expect(view.node).toBe('local');
      expect(view.truncated).toBe(false);
      expect(() => JSON.stringify(view)).not.toThrow();

      // One tree: the worker's root supervisor is reached through the thread child, not listed again.
      expect(view.trees).toHaveLength(1);
      const root = view.trees[0] as ObservedTreeNode;
      expect(root).toMatchObject({ ref: formatRef(sup), id: null, kind: 'supervisor', thread: 0, restartCount: 0 });
      expect(root.budget).toEqual({ maxRestarts: 5, withinMs: 60_000, recent: 0, remaining: 5 });
      const [wNode, inner, t] = root.children as ObservedTreeNode[];
      expect(wNode).toMatchObject({ id: 'w', ref: formatRef(w), kind: 'worker', thread: 0, budget: null, children: [] });
      expect(inner).toMatchObject({ id: 'inner', kind: 'supervisor', thread: 0 });
      expect(inner?.budget).toEqual({ maxRestarts: 3, withinMs: 5000, recent: 0, remaining: 3 });
      expect(inner?.children.map((c) => [c.id, c.kind])).toEqual([['leaf', 'worker']]);
      expect(t).toMatchObject({ id: 't', kind: 'thread', thread: tw.thread });
      const wroot = t?.children[0] as ObservedTreeNode;
      expect(wroot).toMatchObject({ kind: 'supervisor', thread: tw.thread });
      expect(wroot.budget).toEqual({ maxRestarts: 3, withinMs: 5000, recent: 0, remaining: 3 });
      expect(wroot.children.map((c) => [c.id, c.kind, c.thread, c.ref])).toEqual([['worker', 'worker', tw.thread, formatRef(tw)]]);

      // Kinds of processes, on both threads.
      expect(proc(view, sup)?.kind).toBe('supervisor');
      expect(proc(view, w)).toMatchObject({ kind: 'gen_server', thread: 0, names: ['obs.w'], parent: formatRef(sup), maxMailbox: null });
      const host = view.processes.find((p) => p.ref === t?.ref);
      expect(host).toMatchObject({ kind: 'thread', thread: 0 });
      expect(view.processes.find((p) => p.ref === wroot.ref)).toMatchObject({ kind: 'supervisor', thread: tw.thread });
      expect(proc(view, tw)).toMatchObject({ kind: 'gen_server', thread: tw.thread, names: ['obs.tw'] });

      // Threads: main, then the worker with its ELU, heap and watchdog.
      expect(view.threads.map((x) => x.thread)).toEqual([0, tw.thread]);
      const [main, worker] = view.threads;
      expect(main?.watchdog).toEqual({ state: 'off', limitMs: null, silentMs: null });
      expect(main?.heapUsed).toBeGreaterThan(0);
      expect(worker?.processes).toBe(view.processes.filter((p) => p.thread === tw.thread).length);
      expect(worker?.elu).toBeGreaterThanOrEqual(0);
      expect(worker?.elu).toBeLessThanOrEqual(1);
      expect(worker?.heapUsed).toBeGreaterThan(0);
      expect(worker?.watchdog.state).toBe('ok');
      expect(worker?.watchdog.limitMs).toBe(5000);

      // resolve: every process and tree node of the snapshot, nothing else.
      expect(collector.resolve(formatRef(w))).toEqual(w);
      expect(collector.resolve(formatRef(tw))).toEqual(tw);
      expect(collector.resolve(wroot.ref as string)?.thread).toBe(tw.thread);
      expect(collector.resolve('#Ref<nonode@nohost/0/999999>')).toBeUndefined();
      expect(collector.resolve(42 as never)).toBeUndefined();
    },
    BOOT_MS * 2,
  );

  it(
    'computes rates between samples: messages handled and messages crossing threads',
    async () => {
      const { w, tw } = await app();
      collector = createCollector((node as TestNode).rt);
      const first = (await collector.snapshot()).nodes[0] as NodeView;
      expect(proc(first, w)?.rate).toBe(0);
      for (let i = 0; i < 50; i++) {
        GenServer.cast(w as Ref<Counter>, 'inc');
        GenServer.cast(tw, { type: 'add', n: 1 });
      }
      await GenServer.call(w as Ref<Counter>, 'get');
      await GenServer.call(tw, { type: 'echo', value: 1 });
      const c = collector;
      const later = await viewUntil(c, (v) => (proc(v, w)?.rate ?? 0) > 0, 'a handled rate');
      expect(proc(later, w)?.handled).toBeGreaterThanOrEqual(51);
      const [main, worker] = later.threads;
      expect(main?.outPerSec).toBeGreaterThan(0);
      expect(worker?.inPerSec).toBeGreaterThan(0);
      // Replies are not messages: the worker sent none of its own.
      expect(worker?.outPerSec).toBe(0);
    },
    BOOT_MS * 2,
  );

  it(
    'reports crashes and restarts as events (worker threads included); restartCount and budget move',
    async () => {
      const { sup, w, tw } = await app();
      collector = createCollector((node as TestNode).rt);
      const events: ObservedEvent[] = [];
      const off = collector.onEvent((e) => events.push(e));
      GenServer.cast(w as Ref<Counter>, 'crash');
      await waitFor(() => events.some((e) => e.event === 'restarted' && e.detail?.includes('"w"') === true), 5000, 'a restart event');
      const crashed = events.find((e) => e.event === 'crashed');
      expect(crashed).toMatchObject({ node: 'local', ref: formatRef(w) });
      expect(crashed?.detail).toContain('crashed on purpose');
      const restarted = events.find((e) => e.event === 'restarted') as ObservedEvent;
      expect(restarted.detail?.length).toBeLessThanOrEqual(200);
      expect(restarted.detail).toContain(formatRef(sup));
      const fresh = Registry.whereis('obs.w') as AnyRef;
      expect(restarted.ref).toBe(formatRef(fresh));
      expect(events.some((e) => e.event === 'started' && e.ref === formatRef(fresh))).toBe(true);

      // A crash on the worker thread reaches main's subscribers too.
      await GenServer.call(tw, { type: 'throw' }).catch(() => undefined);
      await waitFor(() => events.some((e) => e.event === 'crashed' && e.ref === formatRef(tw)), 5000, 'the worker crash event');

      const c = collector;
      const view = await viewUntil(
        c,
        (v) => v.trees[0]?.children[0]?.restartCount === 1 && v.trees[0]?.children[0]?.ref === formatRef(fresh),
        'the restart in the tree',
      );
      expect(view.trees[0]?.budget).toEqual({ maxRestarts: 5, withinMs: 60_000, recent: 1, remaining: 4 });
      const wroot = view.trees[0]?.children[2]?.children[0];
      expect(wroot?.budget?.recent).toBe(1);

      // Unsubscribed (and closed): no more events.
      off();
      off();
      collector.close();
      collector.close();
      const before = events.length;
      GenServer.cast(fresh as Ref<Counter>, 'crash');
      await waitFor(() => {
        const r = Registry.whereis('obs.w');
        return r !== undefined && r.id !== fresh.id;
      });
      await GenServer.call(Registry.whereis('obs.w') as Ref<Counter>, 'get');
      expect(events.length).toBe(before);
      expect((node as TestNode).rt.events.active).toBe(false);
    },
    BOOT_MS * 2,
  );

  it('resolve knows the refs of the last snapshot only', async () => {
    const env = freshRuntime();
    dispose = env.dispose;
    collector = createCollector(env.rt);
    const x = await GenServer.start(counter);
    await collector.snapshot();
    expect(collector.resolve(formatRef(x))).toEqual(x);
    await GenServer.stop(x);
    const y = await GenServer.start(counter);
    expect(collector.resolve(formatRef(y))).toBeUndefined();
    const c = collector;
    await viewUntil(c, (v) => proc(v, y) !== undefined && proc(v, x) === undefined, 'a sample with y and without x');
    expect(collector.resolve(formatRef(y))).toEqual(y);
    expect(collector.resolve(formatRef(x))).toBeUndefined();
  });

  it('names a process of no kind "process", and shows a supervisor started by a GenServer as a root', async () => {
    const env = freshRuntime();
    dispose = env.dispose;
    const starter: GenServerBehavior<SupervisorRef | null, { call: ['start', SupervisorRef] }> = {
      init: () => null,
      async handleCall(_m, _s) {
        const sup = await Supervisor.start({ children: [{ id: 'c', behavior: counter }] });
        return [sup, sup];
      },
    };
    const g = await GenServer.start(starter);
    const sup = await GenServer.call(g, 'start');
    collector = createCollector(env.rt);
    const view = (await collector.snapshot()).nodes[0] as NodeView;
    expect(view.trees.map((t) => t.ref)).toEqual([formatRef(sup)]);
    expect(proc(view, g)?.kind).toBe('gen_server');
    expect(view.threads).toHaveLength(1);
  });
});

describe('watchdog state', () => {
  const clock = (now: number) => ({ clock: { now: () => now, setTimeout: () => 0, clearTimeout: () => {} } });
  const w = { thread: 1, elu: undefined };
  it('is off without a watchdog, ok before half the limit, late after', () => {
    expect(watchdogOf(clock(0), { ...w, watchdogMs: Number.POSITIVE_INFINITY, lastSignOfLife: 0 })).toEqual({
      state: 'off',
      limitMs: null,
      silentMs: null,
    });
    expect(watchdogOf(clock(1000), { ...w, watchdogMs: 1000, lastSignOfLife: Number.NaN })).toEqual({
      state: 'ok',
      limitMs: 1000,
      silentMs: null,
    });
    expect(watchdogOf(clock(1400), { ...w, watchdogMs: 1000, lastSignOfLife: 1000 })).toEqual({
      state: 'ok',
      limitMs: 1000,
      silentMs: 400,
    });
    expect(watchdogOf(clock(1600), { ...w, watchdogMs: 1000, lastSignOfLife: 1000 })).toEqual({
      state: 'late',
      limitMs: 1000,
      silentMs: 600,
    });
  });

  it(
    'is off for a worker whose watchdogMs is Infinity',
    async () => {
      node = await startNode([threadChild('t', TREE, { name: 'obs.nowd' }, { watchdogMs: Number.POSITIVE_INFINITY })]);
      const tw = await whereisEventually('obs.nowd');
      collector = createCollector(node.rt);
      const view = (await collector.snapshot()).nodes[0] as NodeView;
      expect(view.threads.find((t) => t.thread === tw.thread)?.watchdog).toEqual({ state: 'off', limitMs: null, silentMs: null });
    },
    BOOT_MS * 2,
  );
});

describe('a hung worker thread', () => {
  it(
    'does not stall the view: a sample leaves it out within about a second and shows its watchdog late',
    async () => {
      // Late after 4 s of silence; the watchdog ends the thread at 8 s.
      node = await startNode([threadChild('t', TREE, { name: 'obs.hung' }, { watchdogMs: 8000 })]);
      const tw = await whereisEventually<WorkerProtocol>('obs.hung');
      collector = createCollector(node.rt);
      const c = collector;
      await c.snapshot();
      GenServer.call(tw, { type: 'spin' }, { timeout: Number.POSITIVE_INFINITY }).catch(() => {});
      const slowest: number[] = [];
      const view = await eventually(
        async () => {
          await new Promise((r) => setTimeout(r, 300)); // past the 250 ms sample cache
          const t0 = performance.now();
          const v = (await c.snapshot()).nodes[0] as NodeView;
          slowest.push(performance.now() - t0);
          return v;
        },
        (v) => v.threads.find((t) => t.thread === tw.thread)?.watchdog.state === 'late',
        7_500,
        'the hung thread shown late',
      );
      // Each sample waited for the hung thread at most ASK_TIMEOUT_MS (1 s), not the 5 s of Process.list.
      expect(Math.max(...slowest)).toBeLessThan(3_500);
      expect(view.processes.some((p) => p.thread === tw.thread)).toBe(false);
      expect(view.processes.some((p) => p.thread === 0)).toBe(true);
    },
    BOOT_MS * 2 + 20_000,
  );
});

describe('Supervisor.intensity', () => {
  it('reports the budget and its use, by ref or name, without changing it', async () => {
    const env = freshRuntime();
    dispose = env.dispose;
    const sup = await Supervisor.start({
      name: 'obs.sup',
      restartIntensity: { maxRestarts: 2, withinMs: 60_000 },
      children: [{ id: 'c', behavior: counter, options: { name: 'obs.c' } }],
    });
    expect(await Supervisor.intensity(sup)).toEqual({ maxRestarts: 2, withinMs: 60_000, recent: 0, remaining: 2 });
    const c = Registry.whereis('obs.c') as Ref<Counter>;
    GenServer.cast(c, 'crash');
    await waitFor(() => {
      const r = Registry.whereis('obs.c');
      return r !== undefined && r.id !== c.id;
    });
    expect(await Supervisor.intensity('obs.sup')).toEqual({ maxRestarts: 2, withinMs: 60_000, recent: 1, remaining: 1 });
    expect(await Supervisor.intensity(sup)).toEqual({ maxRestarts: 2, withinMs: 60_000, recent: 1, remaining: 1 });
    const forever = await Supervisor.start({ restartIntensity: { maxRestarts: 0, withinMs: Number.POSITIVE_INFINITY }, children: [] });
    expect(await Supervisor.intensity(forever)).toEqual({ maxRestarts: 0, withinMs: Number.POSITIVE_INFINITY, recent: 0, remaining: 0 });
  });

  it('rejects a bad argument with InvalidArgumentError and a dead supervisor with NoProcessError', async () => {
    const env = freshRuntime();
    dispose = env.dispose;
    for (const bad of [42, '', null, undefined, {}]) {
      const e = await Supervisor.intensity(bad as never).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(InvalidArgumentError.is(e)).toBe(true);
    }
    const sup = await Supervisor.start({ children: [] });
    await Supervisor.stop(sup);
    const e = await Supervisor.intensity(sup).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(NoProcessError.is(e)).toBe(true);
    const unnamed = await Supervisor.intensity('obs.nobody').then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(NoProcessError.is(unnamed)).toBe(true);
  });
});

describe('createCollector: a two-node cluster', () => {
  async function pair(): Promise<[ClusterTestNode, ClusterTestNode]> {
    const a = await startClusterNode('a', '127.0.0.31');
    const b = await startClusterNode('b', '127.0.0.32', { seeds: [a.id] });
    await waitFor(
      () => a.on(() => Cluster.isNodeConnected(b.id)) && b.on(() => Cluster.isNodeConnected(a.id)),
      10_000,
      'the pair to connect',
    );
    return [a, b];
  }

  it('shows both nodes, resolves the peer refs, and counts the traffic to the peer', async () => {
    const [a, b] = await pair();
    const onB = await b.on(() => GenServer.start(counter, { name: 'obs.b' }));
    collector = createCollector(a.rt);
    const snap = await collector.snapshot();
    expect(snap.nodes.map((n) => n.node)).toEqual([a.id, b.id]);
    const bView = snap.nodes[1] as NodeView;
    expect(proc(bView, onB)).toMatchObject({ kind: 'gen_server', names: ['obs.b'], thread: 0 });
    expect(collector.resolve(formatRef(onB))).toEqual(onB);
    const peer = (snap.nodes[0] as NodeView).peers.find((p) => p.id === b.id);
    expect(peer?.status).toBe('connected');
    expect(peer?.history.map((h) => h.event)).toEqual(['up']);
    expect(peer?.heartbeatLagMs).toBeGreaterThanOrEqual(0);
    expect(bView.peers.find((p) => p.id === a.id)?.status).toBe('connected');

    const bytesOut = (text: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`spindle_node_bytes_out_total{node="${b.id}"}`));
      return Number(line?.split(' ').pop());
    };
    const before = bytesOut(await collector.metrics());
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) await a.on(() => GenServer.call(onB as Ref<Counter>, 'get'));
    const c = collector;
    const view = await viewUntil(c, (v) => (v.peers.find((p) => p.id === b.id)?.bytesOutPerSec ?? 0) > 0, 'traffic to b');
    expect(view.peers.find((p) => p.id === b.id)?.framesInPerSec).toBeGreaterThan(0);
    expect(bytesOut(await collector.metrics())).toBeGreaterThan(before);
    expect(await collector.metrics()).toContain(`spindle_node_connected{node="${b.id}"} 1`);
  });

  it('leaves out a peer that does not answer in time, or answers something malformed', async () => {
    const [a, b] = await pair();
    collector = createCollector(a.rt);
    setObserveProvider(() => new Promise(() => {}));
    const t0 = Date.now();
    const silent = await collector.snapshot();
    expect(silent.nodes.map((n) => n.node)).toEqual([a.id]);
    expect(Date.now() - t0).toBeLessThan(3000);
    setObserveProvider(async (rt) => ({ ...(await observeAnswer(rt)), processes: [{ ref: `#Ref<${a.rt.node}/0/1>` }] }));
    const hostile = await collector.snapshot();
    expect(hostile.nodes.map((n) => n.node)).toEqual([a.id]);
    setObserveProvider(observeAnswer);
    expect((await collector.snapshot()).nodes.map((n) => n.node)).toEqual([a.id, b.id]);
  });
});

describe('checkPeerView (a peer answer is hostile input)', () => {
  const LONG = 'b@127.0.0.2:4000~abc';
  const SHORT = 'b@127.0.0.2:4000';
  const process = (id: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ref: `#Ref<${LONG}/0/${id}>`,
    thread: 0,
    kind: 'gen_server',
    status: 'running',
    busy: false,
    mailbox: 0,
    maxMailbox: null,
    handled: 3,
    rate: 1.5,
    dropped: 0,
    names: ['x'],
    parent: null,
    links: [`#Ref<${LONG}/0/1>`],
    monitors: 0,
    monitoredBy: 1,
    trapExit: false,
    ...extra,
  });
  const tree = (children: unknown[] = []): Record<string, unknown> => ({
    ref: `#Ref<${LONG}/0/1>`,
    id: null,
    kind: 'supervisor',
    thread: 0,
    restartCount: 0,
    budget: { maxRestarts: 3, withinMs: null, recent: 0, remaining: 3 },
    children,
  });
  const valid = (): Record<string, unknown> => ({
    node: SHORT,
    at: 1,
    processes: [process(1, { kind: 'supervisor' }), process(2)],
    truncated: false,
    trees: [tree([{ ...tree(), ref: `#Ref<${LONG}/0/2>`, id: 'w', kind: 'worker', budget: null }])],
    threads: [
      {
        thread: 0,
        processes: 2,
        elu: 0.5,
        heapUsed: 1000,
        inPerSec: 0,
        outPerSec: 0,
        watchdog: { state: 'off', limitMs: null, silentMs: null },
      },
    ],
    peers: [
      {
        id: 'a@127.0.0.1:1',
        status: 'connected',
        bytesInPerSec: 1,
        bytesOutPerSec: 2,
        framesInPerSec: 3,
        framesOutPerSec: 4,
        heartbeatLagMs: 5,
        history: [{ at: 1, event: 'up', reason: null }],
      },
    ],
  });

  it('accepts a well-formed view, copies it, and lists its refs', () => {
    const v = valid();
    const checked = checkPeerView(v, SHORT, LONG);
    expect(checked?.view).toEqual(v);
    expect(checked?.view).not.toBe(v);
    expect([...(checked?.refs.keys() ?? [])].sort()).toEqual([`#Ref<${LONG}/0/1>`, `#Ref<${LONG}/0/2>`]);
    expect(checked?.refs.get(`#Ref<${LONG}/0/2>`)).toEqual(makeRef(LONG, 0, 2));
    // Extra fields are not copied.
    const extra = checkPeerView({ ...valid(), evil: 'x' }, SHORT, LONG);
    expect(extra?.view).not.toHaveProperty('evil');
  });

  it('drops a view with anything malformed', () => {
    const bad: [string, (v: Record<string, unknown>) => unknown][] = [
      ['not an object', () => 'view'],
      ['an array', () => []],
      ['another node', (v) => ({ ...v, node: 'c@127.0.0.3:1' })],
      ['a process of another node', (v) => ({ ...v, processes: [process(1, { ref: '#Ref<c@127.0.0.3:1~x/0/1>' })] })],
      ['a thread that is not the ref thread', (v) => ({ ...v, processes: [process(1, { thread: 2 })] })],
      ['a bad kind', (v) => ({ ...v, processes: [process(1, { kind: 'king' })] })],
      ['a NaN count', (v) => ({ ...v, processes: [process(1, { handled: Number.NaN })] })],
      ['a negative rate', (v) => ({ ...v, processes: [process(1, { rate: -1 })] })],
      ['a huge name', (v) => ({ ...v, processes: [process(1, { names: ['x'.repeat(5000)] })] })],
      ['a name that is not a string', (v) => ({ ...v, processes: [process(1, { names: [{}] })] })],
      ['a bad link', (v) => ({ ...v, processes: [process(1, { links: ['nope'] })] })],
      ['too many processes', (v) => ({ ...v, processes: Array.from({ length: MAX_PEER_PROCESSES + 1 }, (_, i) => process(i + 1)) })],
      ['an elu above 1', (v) => ({ ...v, threads: [{ ...(v.threads as object[])[0], elu: 2 }] })],
      ['a bad watchdog', (v) => ({ ...v, threads: [{ ...(v.threads as object[])[0], watchdog: null }] })],
      ['a bad tree kind', (v) => ({ ...v, trees: [{ ...tree(), kind: 'root' }] })],
      ['a tree ref of another node', (v) => ({ ...v, trees: [{ ...tree(), ref: '#Ref<c@h:1~x/0/1>' }] })],
      ['a bad budget', (v) => ({ ...v, trees: [{ ...tree(), budget: { maxRestarts: 'x' } }] })],
      ['a missing field', (v) => ({ ...v, truncated: undefined })],
      ['a bad peer status', (v) => ({ ...v, peers: [{ ...(v.peers as object[])[0], status: 'up' }] })],
      [
        'a long history',
        (v) => ({ ...v, peers: [{ ...(v.peers as object[])[0], history: Array(51).fill({ at: 1, event: 'up', reason: null }) }] }),
      ],
      ['a class instance', (v) => ({ ...v, threads: [new (class X {})()] })],
    ];
    for (const [what, make] of bad) expect(checkPeerView(make(valid()), SHORT, LONG), what).toBeUndefined();
  });

  it('drops a view with a tree too deep, getters, Proxies and inherited fields, never throwing', () => {
    let deep: Record<string, unknown> = tree();
    for (let i = 0; i < 100; i++) deep = tree([deep]);
    expect(checkPeerView({ ...valid(), trees: [deep] }, SHORT, LONG)).toBeUndefined();
    const getter = valid();
    Object.defineProperty(getter, 'at', { get: () => 1, enumerable: true });
    expect(checkPeerView(getter, SHORT, LONG)).toBeUndefined();
    const trap = new Proxy(valid(), {
      getOwnPropertyDescriptor() {
        throw new Error('trap');
      },
    });
    expect(checkPeerView(trap, SHORT, LONG)).toBeUndefined();
    const inherited = Object.assign(Object.create({ node: SHORT }), { ...valid(), node: undefined });
    expect(checkPeerView(inherited, SHORT, LONG)).toBeUndefined();
  });

  it('trimForWire bounds the processes (truncated) and the trees to what the checker accepts', () => {
    const v = valid();
    const many = { ...v, processes: Array.from({ length: MAX_PEER_PROCESSES + 10 }, (_, i) => process(i + 1)) } as unknown as NodeView;
    const trimmed = trimForWire(many);
    expect(trimmed.processes).toHaveLength(MAX_PEER_PROCESSES);
    expect(trimmed.truncated).toBe(true);
    expect(checkPeerView(structuredClone(trimmed), SHORT, LONG)?.view.processes).toHaveLength(MAX_PEER_PROCESSES);
    let deep = tree() as unknown as ObservedTreeNode;
    for (let i = 0; i < 100; i++) deep = tree([deep]) as unknown as ObservedTreeNode;
    const cut = trimForWire({ ...(v as unknown as NodeView), trees: [deep] });
    expect(checkPeerView(structuredClone(cut), SHORT, LONG)).toBeDefined();
  });
});
