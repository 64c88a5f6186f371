/**
 * Partitions between nodes of one cluster, made two ways: with iptables between loopback
 * addresses (each node binds its own 127.0.0.x, listening and dialling; needs root and
 * iptables, which CI has), and with a fault-injecting proxy in front of each node (it
 * advertises the proxy's address; a cut blackholes the connections from the other node's
 * address: sockets open and silent, as a dropped packet). The second needs nothing, so the
 * partition semantics are tested on every machine.
 *
 * A cut between two nodes of three that both still see the third must not leave overlapping
 * groups: the third drops the larger of the two (every node computes it alike), so the groups
 * are cliques; when the cut heals, the mesh is whole again. Every rule and proxy is removed in
 * afterEach.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, ClusterOptions, ExitReason, GlobalNameEvent } from '../../src/index.js';
import { Cluster, GenServer, GlobalRegistry, Process, sameRef } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { connectedIds, startNode, stopNodes, type TestNode } from './kit/in-process.js';
import { FaultProxy } from './kit/proxy.js';

function iptablesWorks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('iptables', ['-L', 'INPUT', '-n'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

type N = TestNode;

/** Quick failure detection (a 500 ms silence cap) and quick redials. */
const QUICK = { heartbeatIntervalMs: 100, heartbeatMissThreshold: 5, reconnectBaseMs: 50 };

/** A way to start nodes and cut them apart. */
interface Net {
  /** Starts node `name` as this network's `k`-th node (1–9), seeded with `seeds`; `options` over the quick defaults. */
  node(name: string, k: number, seeds?: string[], options?: Partial<ClusterOptions>): Promise<N>;
  /** Cuts `a` from `b`, both ways, silently: what either sends is dropped, nothing closes. */
  cut(a: N, b: N): void;
  /** Lifts every cut. */
  healAll(): void;
  /** Lifts every cut and releases what the network holds (after the nodes stopped). */
  close(): Promise<void>;
}

/** iptables DROP rules between the nodes' own addresses 127.0.0.61–66. */
function iptablesNet(): Net {
  const hosts = new Map<N, string>();
  const rules: string[][] = [];
  const healAll = (): void => {
    for (const rule of rules.splice(0)) {
      try {
        execFileSync('iptables', ['-D', ...rule], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  };
  return {
    async node(name, k, seeds = [], options = {}) {
      const host = `127.0.0.${60 + k}`;
      const n = await startNode(name, host, { ...QUICK, ...options, seeds });
      hosts.set(n, host);
      return n;
    },
    cut(a, b) {
      const [x, y] = [hosts.get(a) as string, hosts.get(b) as string];
      for (const [s, d] of [
        [x, y],
        [y, x],
      ] as const) {
        const rule = ['INPUT', '-s', s, '-d', d, '-j', 'DROP'];
        execFileSync('iptables', ['-I', ...rule]);
        rules.push(rule);
      }
    },
    healAll,
    async close() {
      healAll();
    },
  };
}

/**
 * A proxy in front of each node: node k binds 127.0.0.(140+k) and advertises 127.0.0.(150+k),
 * where its proxy listens on the same port and forwards from the dialer's own address. A cut
 * blackholes, in each node's proxy, the connections dialled from the other node's address.
 */
function proxyNet(): Net {
  const nodes = new Map<N, { host: string; proxy: FaultProxy }>();
  const healAll = (): void => {
    for (const { proxy } of nodes.values()) proxy.heal();
  };
  return {
    async node(name, k, seeds = [], options = {}) {
      const host = `127.0.0.${140 + k}`;
      const front = `127.0.0.${150 + k}`;
      const n = await startNode(name, host, { ...QUICK, ...options, seeds, advertise: front });
      const port = Number(n.id.slice(n.id.lastIndexOf(':') + 1));
      const proxy = await FaultProxy.start({ target: { host, port }, listenHost: front, listenPort: port, localAddress: 'client' });
      nodes.set(n, { host, proxy });
      return n;
    },
    cut(a, b) {
      const x = nodes.get(a);
      const y = nodes.get(b);
      if (x === undefined || y === undefined) throw new Error('cut: a node this network did not start');
      x.proxy.blackholeFrom(y.host);
      y.proxy.blackholeFrom(x.host);
    },
    healAll,
    async close() {
      for (const { proxy } of nodes.values()) await proxy.close();
      nodes.clear();
    },
  };
}

const ids = connectedIds;

const nets: [string, () => Net, boolean][] = [
  ['iptables', iptablesNet, iptablesWorks()],
  ['fault proxies', proxyNet, true],
];

describe.each(nets)('partitions (%s)', (_what, makeNet, available) => {
  let net: Net;
  afterEach(async () => {
    net?.healAll();
    await stopNodes();
    await net?.close();
  });
  const node = (name: string, k: number, seeds?: string[], options?: Partial<ClusterOptions>): Promise<N> =>
    net.node(name, k, seeds, options);
  const cut = (a: N, b: N): void => net.cut(a, b);
  const healAll = (): void => net.healAll();

  it.skipIf(!available)(
    'a cut between two of three leaves cliques, not overlapping groups, and heals to a full mesh',
    async () => {
      net = makeNet();
      const a = await node('a', 1);
      const b = await node('b', 2, [a.id]);
      const c = await node('c', 3, [a.id]);
      await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 10_000, 'full mesh');
      const down: string[] = [];
      c.on(() => Cluster.onNodeDown((n, r) => down.push(`${n} ${r}`)));
      cut(a, b);
      // a and b lose each other; c sees both and leaves b (the larger id), so {a, c} and {b}.
      await waitFor(() => ids(c).join() === a.id && ids(b).length === 0 && ids(a).join() === c.id, 15_000, 'cliques');
      expect(down).toContain(`${b.id} partitioned`);
      // And it stays that way while the cut lasts (b is kept away, not redialled into overlap).
      const echo = await c.on(() => GenServer.start({ init: () => null, handleCall: (m: unknown, s: null) => [m, s] }));
      expect(await a.on(() => GenServer.call(echo, 'a-c works'))).toBe('a-c works');
      await new Promise((r) => setTimeout(r, 1500));
      expect(ids(c)).toEqual([a.id]);
      expect(ids(b)).toEqual([]);
      healAll();
      await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 20_000, 'the mesh healed');
      expect(await b.on(() => GenServer.call(echo, 'b-c again'))).toBe('b-c again');
    },
    60_000,
  );

  it.skipIf(!available)(
    'a name given away on both sides of a partition has one holder after the heal; the loser exits name_conflict',
    async () => {
      net = makeNet();
      const a = await node('a', 4);
      const b = await node('b', 5, [a.id]);
      const c = await node('c', 6, [a.id]);
      await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 10_000, 'full mesh');
      const conflicts: GlobalNameEvent[] = [];
      for (const n of [a, b, c]) n.on(() => GlobalRegistry.on('conflictResolved', (e) => conflicts.push(e)));
      cut(a, c);
      cut(b, c);
      await waitFor(() => ids(c).length === 0 && ids(a).join() === b.id, 15_000, '{a, b} and {c}');
      const start = (n: N) => n.on(() => GenServer.start({ init: () => null, handleCall: (m: unknown, s: null) => [m, s] }));
      const onAB = await start(b);
      const onC = await start(c);
      await b.on(() => GlobalRegistry.register('leader', onAB));
      await c.on(() => GlobalRegistry.register('leader', onC)); // c's group is c alone: it holds the name too
      const exits = new Map<string, ExitReason>();
      void b.on(() => Process.awaitExit(onAB)).then((r) => exits.set('ab', r));
      void c.on(() => Process.awaitExit(onC)).then((r) => exits.set('c', r));
      healAll();
      await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 20_000, 'the mesh healed');
      const holder = (n: N) => n.on(() => GlobalRegistry.whereis('leader'));
      await waitFor(
        () => {
          const h = [a, b, c].map(holder);
          return h.every((r) => r !== undefined && sameRef(r, h[0] as AnyRef)) && exits.size === 1;
        },
        10_000,
        'one holder everywhere, and the loser gone',
      );
      const winner = holder(a) as AnyRef;
      const loserKey = sameRef(winner, onAB) ? 'c' : 'ab';
      expect(exits.get(loserKey)).toEqual({ shutdown: { name_conflict: 'leader' } });
      expect(conflicts.length).toBeGreaterThan(0);
      for (const e of conflicts) if (e.type === 'conflictResolved') expect(sameRef(e.winner, winner)).toBe(true);
      expect(await c.on(() => GenServer.call({ global: 'leader' }, 'still there'))).toBe('still there');
    },
    60_000,
  );
  it.skipIf(!available)(
    'a gossiped loss is checked first: a node that is merely silent to the checker too drops nobody',
    async () => {
      net = makeNet();
      // Every node ticks every 50 ms; z judges silence fast (a 200 ms cap), c slowly (3 s): z
      // reports losing b to c well before c sees it. c asks b itself; b, cut from everyone, does
      // not answer, so c keeps z. Taking z's word would drop z (the larger of z and b) as
      // 'partitioned'.
      const z = await node('z', 7, [], { heartbeatIntervalMs: 50, heartbeatMissThreshold: 4 });
      const b = await node('b', 8, [z.id], { heartbeatIntervalMs: 50, heartbeatMissThreshold: 10 });
      const c = await node('c', 9, [z.id], { heartbeatIntervalMs: 50, heartbeatMissThreshold: 60 });
      await waitFor(() => [z, b, c].every((n) => ids(n).length === 2), 10_000, 'full mesh');
      const downs: string[] = [];
      c.on(() => Cluster.onNodeDown((n, r) => downs.push(`${n} ${r}`)));
      const zDowns: string[] = [];
      z.on(() => Cluster.onNodeDown((n, r) => zDowns.push(`${n} ${r}`)));
      cut(b, z);
      cut(b, c);
      await waitFor(() => zDowns.includes(`${b.id} heartbeat_timeout`), 10_000, 'z to lose b');
      await waitFor(() => downs.length > 0, 10_000, 'c to lose b itself');
      expect(downs).toEqual([`${b.id} heartbeat_timeout`]);
      expect(ids(c)).toEqual([z.id]);
      expect(ids(z)).toEqual([c.id]);
    },
    60_000,
  );
});
