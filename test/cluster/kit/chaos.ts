/**
 * A seeded chaos run over node processes (used by test/cluster/chaos.test.ts, bounded, and
 * bench/chaos.ts, for minutes): a cluster of `nodes` processes runs a DistributedSupervisor of
 * `children` probes (splitBrain 'none') and a few global names; each step is one fault, then
 * the invariants (kit/dsup-kit.ts) are checked:
 * - `kill`: kill -9 of a node; invariants on the survivors; the node restarts (same host and
 *   port, a fresh incarnation); invariants on all;
 * - `stop`: SIGSTOP of a node until the others see it down; invariants on them; SIGCONT;
 *   invariants on all (its stale copies must not stay);
 * - `partition` (root with iptables only): one node is cut off; each side runs every child
 *   exactly once (splitBrain 'none'); heal; exactly once overall.
 * Global names lost with a killed node are registered again by the run (as an application
 * would). Every rule, process and frozen node is undone in `close()`, even after a failure.
 * Failures carry the seed and the step log: rerun with `seed` to replay the same choices.
 */
import type { AnyRef } from '../../../src/index.js';
import { type NodeHandle, startCluster, stopAll, until, waitMesh } from './cluster-kit.js';
import { Cuts, FAST, iptablesWorks, restartNode, settleInvariants, Tracker } from './dsup-kit.js';

export interface ChaosOptions {
  readonly seed: number;
  /** Stop starting steps after this long (ms). */
  readonly budgetMs: number;
  readonly maxSteps?: number;
  readonly nodes?: number;
  readonly children?: number;
  readonly hostBase?: number;
  readonly log?: (line: string) => void;
}

export interface ChaosResult {
  readonly seed: number;
  readonly steps: string[];
  readonly ms: number;
}

/** mulberry32: small, seedable, good enough to pick faults. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['g1', 'g2', 'g3'];

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const rand = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const log = o.log ?? (() => {});
  const steps: string[] = [];
  const t = new Tracker();
  const cuts = new Cuts();
  const canCut = iptablesWorks();
  const frozen = new Set<NodeHandle>();
  const kids = Array.from({ length: o.children ?? 8 }, (_, i) => `k${i + 1}`);
  const t0 = performance.now();
  let nodes: NodeHandle[] = [];
  /** Names lost with a node: registered again from a random live node. */
  const reRegister = async (on: readonly NodeHandle[]) => {
    for (const name of NAMES) {
      const holder = await t.req<AnyRef | null>(on[0] as NodeHandle, { cmd: 'gWhereis', name }, 5000);
      if (holder === null) await t.req(pick(on), { cmd: 'gRegister', name }).catch(() => undefined);
    }
  };
  /**
   * The invariants, given time to settle. A name lost with a node is registered again (as an
   * application would); the first look may still see a stale holder on a node that has not yet
   * seen the loss, so names are looked at again before each of three tries.
   */
  const check = async (on: readonly NodeHandle[], timeoutMs = 15000) => {
    for (let attempt = 1; ; attempt++) {
      await reRegister(on);
      try {
        return await settleInvariants(t, on, { sup: 'chaos', ids: kids, names: NAMES }, timeoutMs / 3);
      } catch (e) {
        if (attempt === 3) throw e;
      }
    }
  };
  try {
    nodes = await startCluster(o.nodes ?? 4, { ...FAST, prefix: 'x', hostBase: o.hostBase ?? 160 });
    await t.req(nodes[0] as NodeHandle, {
      cmd: 'dsupStart',
      name: 'chaos',
      nodeSelector: 'round_robin',
      restartIntensity: { maxRestarts: 1000, withinMs: 1000 },
      children: kids.map((id) => ({ id })),
    });
    for (const name of NAMES) await t.req(pick(nodes), { cmd: 'gRegister', name });
    await check(nodes);
    const kinds = canCut ? (['kill', 'stop', 'partition'] as const) : (['kill', 'stop'] as const);
    while (performance.now() - t0 < o.budgetMs && steps.length < (o.maxSteps ?? Number.POSITIVE_INFINITY)) {
      const kind = pick(kinds);
      const i = Math.floor(rand() * nodes.length);
      const victim = nodes[i] as NodeHandle;
      const rest = nodes.filter((n) => n !== victim);
      const step = `${steps.length + 1}: ${kind} ${victim.name}`;
      steps.push(step);
      const s0 = performance.now();
      if (kind === 'kill') {
        const at = performance.now();
        victim.kill('SIGKILL');
        await victim.exited;
        await Promise.all(rest.map((n) => n.waitFor((e) => e.event === 'nodeDown' && e.node === victim.nodeId && e.at >= at, 15000)));
        await reRegister(rest);
        await check(rest);
        const again = await restartNode(victim, rest[0] as NodeHandle);
        nodes = nodes.map((n) => (n === victim ? again : n));
        await waitMesh(nodes, 20000);
      } else if (kind === 'stop') {
        const at = performance.now();
        victim.kill('SIGSTOP');
        frozen.add(victim);
        await Promise.all(rest.map((n) => n.waitFor((e) => e.event === 'nodeDown' && e.node === victim.nodeId && e.at >= at, 15000)));
        await reRegister(rest);
        await check(rest);
        victim.kill('SIGCONT');
        frozen.delete(victim);
        await waitMesh(nodes, 20000);
      } else {
        cuts.split(
          [victim.host],
          rest.map((n) => n.host),
        );
        await until(
          async () =>
            (await t.req<string[]>(victim, { cmd: 'nodeIds' }, 5000)).length === 0 &&
            (await Promise.all(rest.map((n) => t.req<string[]>(n, { cmd: 'nodeIds' }, 5000)))).every((ids) => !ids.includes(victim.nodeId)),
          20000,
          'the cut',
        );
        // splitBrain 'none': each side runs every child once, and every name once.
        await reRegister(rest);
        await reRegister([victim]);
        await check(rest);
        await check([victim]);
        cuts.healAll();
        await waitMesh(nodes, 30000);
      }
      await reRegister(nodes);
      await check(nodes);
      const line = `${step} (${(performance.now() - s0).toFixed(0)} ms)`;
      steps[steps.length - 1] = line;
      log(line);
    }
    // Once quiet: the invariants still hold a moment later.
    await new Promise((r) => setTimeout(r, 1500));
    await check(nodes, 5000);
    return { seed: o.seed, steps, ms: performance.now() - t0 };
  } catch (e) {
    const outputs = nodes.map((n) => `--- ${n.nodeId}\n${n.output().slice(-1500)}`).join('\n');
    throw new Error(
      `chaos failed (seed ${o.seed}: replay with CHAOS_SEED=${o.seed} for the test, --seed=${o.seed} for bench/chaos.ts) after steps:\n  ${steps.join('\n  ')}\n${e instanceof Error ? e.message : String(e)}\n${outputs}`,
    );
  } finally {
    cuts.healAll();
    for (const n of frozen) n.kill('SIGCONT');
    await stopAll();
  }
}
