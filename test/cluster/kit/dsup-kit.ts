/**
 * Helpers for the GlobalRegistry / DistributedSupervisor tests with node processes
 * (dsup-multi, backends, chaos): clusters on either names backend, iptables cuts between the
 * nodes' loopback addresses, frozen-node bookkeeping, and the invariants checked after every
 * step:
 * - one holder per name: every reachable node's replica gives the same holder for it;
 * - every permanent child running exactly once: exactly one live `probe` with its tag across
 *   all nodes, and that is the holder every node reports;
 * - every call settled: no kit request is left without an answer.
 */
import { execFileSync } from 'node:child_process';
import type { AnyRef, DistributedChildInfo } from '../../../src/index.js';
import { type ClusterOptions, type NodeHandle, type NodeOptions, startCluster, startNode, until, waitMesh } from './cluster-kit.js';
import type { Command } from './node-main.js';

export type BackendKind = 'embedded' | 'etcd';

/** Fast heartbeats so a frozen node is detected in about a second on a loaded machine. */
export const FAST: Partial<NodeOptions> = { heartbeatIntervalMs: 200, heartbeatMissThreshold: 5, reconnectBaseMs: 50 };

/** Node options for a backend (etcd: endpoints and a prefix unique to this cluster). */
export function backendOptions(
  kind: BackendKind,
  endpoints: readonly string[] = [],
  prefix = `/t${process.pid}-${Date.now()}`,
): Partial<NodeOptions> {
  if (kind === 'embedded') return {};
  return { backend: 'etcd', etcdEndpoints: endpoints, leaseTtlMs: 2000, etcdPrefix: prefix };
}

/** `n` nodes on `127.0.0.(hostBase + i)` with the given backend. */
export async function startBackendCluster(n: number, options: ClusterOptions): Promise<NodeHandle[]> {
  return startCluster(n, { ...FAST, ...options });
}

/** Starts node `name` again on its host and port, joining through `seed` (a fresh incarnation, same short id). */
export async function restartNode(dead: NodeHandle, seed: NodeHandle): Promise<NodeHandle> {
  const { readyTimeoutMs: _r, ...rest } = dead.options;
  return startNode({ ...rest, port: dead.port, seeds: [seed.nodeId] });
}

// ---------------------------------------------------------------------------------------
// Calls that must settle

/** Every request sent through {@link Tracker.req}: the "every call settled" invariant. */
export class Tracker {
  private readonly pending = new Map<number, string>();
  private next = 1;

  async req<T = unknown>(node: NodeHandle, cmd: Command, timeoutMs = 15000): Promise<T> {
    const id = this.next++;
    this.pending.set(id, `${cmd.cmd} on ${node.nodeId}`);
    try {
      return await node.request<T>(cmd, timeoutMs);
    } finally {
      this.pending.delete(id);
    }
  }

  /** Requests not yet settled. */
  unsettled(): string[] {
    return [...this.pending.values()];
  }
}

// ---------------------------------------------------------------------------------------
// iptables

export function iptablesWorks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('iptables', ['-L', 'INPUT', '-n'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** DROP rules between loopback addresses; {@link Cuts.healAll} removes every one. */
export class Cuts {
  private readonly rules: string[][] = [];

  cut(a: string, b: string): void {
    for (const [s, d] of [
      [a, b],
      [b, a],
    ] as const) {
      const rule = ['INPUT', '-s', s, '-d', d, '-j', 'DROP'];
      execFileSync('iptables', ['-I', ...rule]);
      this.rules.push(rule);
    }
  }

  /** Cuts every address of `left` from every address of `right`. */
  split(left: readonly string[], right: readonly string[]): void {
    for (const a of left) for (const b of right) this.cut(a, b);
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  healAll(): void {
    for (const rule of this.rules.splice(0)) {
      try {
        execFileSync('iptables', ['-D', ...rule], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Invariants

export interface ProbeInfo {
  readonly tag: string;
  readonly ref: AnyRef;
}

const refKey = (r: AnyRef): string => `${r.node}/${r.thread}/${r.id}`;

/** The live probes of every node in `nodes`, by tag: `[node, ref][]`. */
export async function probesByTag(t: Tracker, nodes: readonly NodeHandle[]): Promise<Map<string, { node: string; ref: AnyRef }[]>> {
  const out = new Map<string, { node: string; ref: AnyRef }[]>();
  const lists = await Promise.all(nodes.map((n) => t.req<ProbeInfo[]>(n, { cmd: 'probes' }, 5000)));
  nodes.forEach((n, i) => {
    for (const p of lists[i] ?? []) {
      let l = out.get(p.tag);
      if (l === undefined) out.set(p.tag, (l = []));
      l.push({ node: n.nodeId, ref: p.ref });
    }
  });
  return out;
}

/**
 * Checks, on `nodes` (running, reachable, meshed): every name in `names` has one holder in
 * every replica; every child of supervisor `sup` (ids `ids`) is running exactly once (one live
 * probe with its tag, which every node reports as the child's ref); no kit request unsettled.
 * Returns the problems (empty when all hold).
 */
export async function invariantProblems(
  t: Tracker,
  nodes: readonly NodeHandle[],
  check: { readonly names?: readonly string[]; readonly sup?: string; readonly ids?: readonly string[] },
): Promise<string[]> {
  const problems: string[] = [];
  const probes = await probesByTag(t, nodes);
  for (const name of check.names ?? []) {
    const holders = await Promise.all(nodes.map((n) => t.req<AnyRef | null>(n, { cmd: 'gWhereis', name }, 5000)));
    const keys = new Set(holders.map((h) => (h === null ? 'none' : refKey(h))));
    if (keys.size !== 1 || keys.has('none')) problems.push(`name ${name}: holders ${[...keys].join(' | ')}`);
    const live = probes.get(name) ?? [];
    if (live.length !== 1) problems.push(`name ${name}: ${live.length} live probes (${live.map((l) => l.node).join(', ')})`);
  }
  if (check.sup !== undefined) {
    const views = await Promise.all(
      nodes.map((n) => t.req<DistributedChildInfo[] | null>(n, { cmd: 'dsupChildren', name: check.sup as string }, 5000)),
    );
    for (const id of check.ids ?? []) {
      const live = probes.get(id) ?? [];
      if (live.length !== 1) problems.push(`child ${id}: ${live.length} live copies (${live.map((l) => l.node).join(', ')})`);
      const refs = new Set<string>();
      views.forEach((v, i) => {
        const c = v?.find((k) => k.id === id);
        if (c === undefined || c.status !== 'running' || c.ref === undefined)
          problems.push(
            `child ${id}: ${c?.status ?? 'no record'} on ${nodes[i]?.nodeId} (live copies on: ${live.map((l) => refKey(l.ref)).join(', ') || 'none'})`,
          );
        else refs.add(refKey(c.ref));
      });
      if (refs.size > 1) problems.push(`child ${id}: nodes disagree on its ref (${[...refs].join(' | ')})`);
      if (refs.size === 1 && live.length === 1 && !refs.has(refKey((live[0] as { ref: AnyRef }).ref)))
        problems.push(`child ${id}: reported ref is not the live copy`);
    }
  }
  // The requests above are settled by now; anything still pending is a caller's.
  const open = t.unsettled();
  if (open.length > 0) problems.push(`unsettled requests: ${open.join(', ')}`);
  return problems;
}

/** Waits until the invariants hold (they may take a moment after a fault); throws with the last problems. */
export async function settleInvariants(
  t: Tracker,
  nodes: readonly NodeHandle[],
  check: { readonly names?: readonly string[]; readonly sup?: string; readonly ids?: readonly string[] },
  timeoutMs = 10000,
): Promise<number> {
  const t0 = performance.now();
  let last: string[] = [];
  try {
    await until(
      async () => {
        last = await invariantProblems(t, nodes, check);
        return last.length === 0;
      },
      timeoutMs,
      'invariants',
      50,
    );
  } catch (e) {
    throw new Error(`invariants do not hold after ${timeoutMs} ms: ${last.join('; ')} (${String(e)})`);
  }
  return performance.now() - t0;
}

/** Waits for a full mesh of `nodes` (re-exported for the tests). */
export { waitMesh };
