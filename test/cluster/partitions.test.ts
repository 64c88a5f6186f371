/**
 * Partitions made with iptables between loopback addresses (each node binds its own
 * 127.0.0.x, listening and dialling): a cut between two nodes of three that both still see the
 * third must not leave overlapping groups. The third drops the larger of the two (every node
 * computes it alike), so the groups are cliques; when the cut heals, the mesh is whole again.
 * Needs root and iptables (CI runs as root and installs it); every rule is removed in afterEach.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, ExitReason, GlobalNameEvent } from '../../src/index.js';
import { Cluster, GenServer, GlobalRegistry, Process, sameRef } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { connectedIds, startNode, stopNodes, type TestNode } from './kit/in-process.js';

function iptablesWorks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('iptables', ['-L', 'INPUT', '-n'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const rules: string[][] = [];
function cut(a: string, b: string): void {
  for (const [s, d] of [
    [a, b],
    [b, a],
  ] as const) {
    const rule = ['INPUT', '-s', s, '-d', d, '-j', 'DROP'];
    execFileSync('iptables', ['-I', ...rule]);
    rules.push(rule);
  }
}
function healAll(): void {
  for (const rule of rules.splice(0)) {
    try {
      execFileSync('iptables', ['-D', ...rule], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

type N = TestNode;

/** A node with quick failure detection (a 500 ms silence cap) and quick redials. */
const node = (name: string, host: string, seeds: string[] = []): Promise<N> =>
  startNode(name, host, { seeds, heartbeatIntervalMs: 100, heartbeatMissThreshold: 5, reconnectBaseMs: 50 });

const ids = connectedIds;

afterEach(async () => {
  healAll();
  await stopNodes();
});

describe.skipIf(!iptablesWorks())('partitions (iptables)', () => {
  it('a cut between two of three leaves cliques, not overlapping groups, and heals to a full mesh', async () => {
    const a = await node('a', '127.0.0.61');
    const b = await node('b', '127.0.0.62', [a.id]);
    const c = await node('c', '127.0.0.63', [a.id]);
    await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 10_000, 'full mesh');
    const down: string[] = [];
    c.on(() => Cluster.onNodeDown((n, r) => down.push(`${n} ${r}`)));
    cut('127.0.0.61', '127.0.0.62');
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
  }, 60_000);

  it('a name given away on both sides of a partition has one holder after the heal; the loser exits name_conflict', async () => {
    const a = await node('a', '127.0.0.64');
    const b = await node('b', '127.0.0.65', [a.id]);
    const c = await node('c', '127.0.0.66', [a.id]);
    await waitFor(() => [a, b, c].every((n) => ids(n).length === 2), 10_000, 'full mesh');
    const conflicts: GlobalNameEvent[] = [];
    for (const n of [a, b, c]) n.on(() => GlobalRegistry.on('conflictResolved', (e) => conflicts.push(e)));
    cut('127.0.0.64', '127.0.0.66');
    cut('127.0.0.65', '127.0.0.66');
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
  }, 60_000);
});
