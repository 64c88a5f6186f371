/**
 * The simulation scenarios, shared by test/cluster/simulation.test.ts (small N) and
 * bench/sim-convergence.ts (1,000 nodes).
 */
import { refKey } from '../../../src/core/ref.js';
import { MembershipSim, type MembershipOptions } from './membership.js';
import { NamesSim } from './names.js';

export interface JoinResult {
  nodes: number;
  converged: boolean;
  /** Virtual ms from the start until every node is connected to every other. */
  convergeMs: number;
  messages: number;
  /** Messages sent per node per virtual second, over the convergence time. */
  msgsPerNodePerSec: number;
  byType: Record<string, number>;
  realMs: number;
}

/** `nodes` nodes join through seeds 0..2; run until the mesh is full (or `limitMs`). */
export function join(nodes: number, o: Partial<MembershipOptions> = {}, limitMs = 120_000): { sim: MembershipSim; result: JoinResult } {
  const t0 = performance.now();
  const sim = new MembershipSim({ nodes, seeds: [0, 1, 2], seed: 1, ...o });
  const converged = sim.net.run(limitMs, () => sim.fullMesh());
  const convergeMs = sim.net.now;
  const messages = sim.net.totalSent();
  return {
    sim,
    result: {
      nodes,
      converged,
      convergeMs,
      messages,
      msgsPerNodePerSec: messages / nodes / (Math.max(convergeMs, 0.1) / 1000),
      byType: Object.fromEntries(sim.net.byType),
      realMs: performance.now() - t0,
    },
  };
}

/** Runs until `cond` or `limitMs` more; returns the virtual ms it took, or undefined. */
export function until(sim: MembershipSim, cond: () => boolean, limitMs: number): number | undefined {
  const start = sim.net.now;
  return sim.net.run(start + limitMs, cond) ? sim.net.now - start : undefined;
}

export interface NamesResult {
  nodes: number;
  /** Virtual ms from the registrations until every replica agrees. */
  convergeMs: number | undefined;
  messages: number;
  msgsPerNodePerSec: number;
  problems: string[];
  /** Per raced name: registrations that resolved ok. */
  winners: Map<string, number>;
  realMs: number;
}

/**
 * A full mesh; then every node registers a distinct name, and `racers` registrations of
 * `raced` shared names start from random nodes, all at the same virtual moment.
 */
export async function registerStorm(
  nodes: number,
  o: Partial<MembershipOptions> = {},
  racers = 50,
  raced = 10,
  /**
   * Start the names backends once the mesh is full (each then starts with itself as the
   * arbiter it last saw; `register` asks `currentArbiter()` afresh, so the storm is the
   * same). For 1,000 nodes: otherwise every `nodeUp` of the join recomputes the arbiter over
   * all peers, ~5·10^8 id comparisons.
   */
  namesAfterMesh = false,
  /** A cluster already built (its mesh is completed first). */
  existing?: MembershipSim,
): Promise<{ sim: MembershipSim; names: NamesSim; result: NamesResult }> {
  const t0 = performance.now();
  const sim = existing ?? new MembershipSim({ nodes, seeds: [0, 1, 2], seed: 2, ...o });
  let names = namesAfterMesh ? undefined : new NamesSim(sim);
  if (!sim.net.run(120_000, () => sim.fullMesh())) throw new Error('no full mesh');
  names ??= new NamesSim(sim);
  const sent0 = sim.net.totalSent();
  for (let i = 0; i < nodes; i++) names.register(i, `own-${i}`);
  for (let k = 0; k < racers; k++) names.register(sim.net.rng.int(nodes), `race-${k % raced}`);
  const start = sim.net.now;
  const agree = () =>
    names.registrations.every((r) => names.names[r.node]?.whereis(r.name) !== undefined) && names.problems(1).length === 0;
  // Checking agreement is O(names × nodes): check every 5 virtual ms.
  let convergeMs: number | undefined;
  for (let t = 5; t <= 10_000; t += 5) {
    sim.net.run(start + t);
    if (agree()) {
      convergeMs = t;
      break;
    }
  }
  const messages = sim.net.totalSent() - sent0;
  sim.net.runFor(1000); // quiet
  await names.settle();
  const winners = new Map<string, number>();
  for (const r of names.registrations)
    if (r.name.startsWith('race-')) winners.set(r.name, (winners.get(r.name) ?? 0) + (r.outcome === 'ok' ? 1 : 0));
  return {
    sim,
    names,
    result: {
      nodes,
      convergeMs,
      messages,
      msgsPerNodePerSec: messages / nodes / (Math.max(convergeMs ?? 10_000, 1) / 1000),
      problems: names.problems(),
      winners,
      realMs: performance.now() - t0,
    },
  };
}

export interface PartitionResult {
  nodes: number;
  /** Virtual ms from the heal until the mesh is full again and every replica agrees. */
  healMs: number | undefined;
  problems: string[];
  contested: number;
  /** Contested names whose losing registration was evicted on its node. */
  evictedLosers: number;
  /** Contested names held by exactly one ref on every node. */
  singleHolder: number;
  realMs: number;
}

/**
 * A full mesh with names, split `fraction` / rest; each side registers the same `contested`
 * names (and some of its own); then the split heals.
 */
export async function partitionHeal(nodes: number, fraction = 0.6, contested = 20, seed = 3): Promise<PartitionResult> {
  const t0 = performance.now();
  const sim = new MembershipSim({ nodes, seeds: [0, 1, 2], seed });
  const names = new NamesSim(sim);
  if (!sim.net.run(120_000, () => sim.fullMesh())) throw new Error('no full mesh');
  const order = sim.net.rng.shuffle([...Array(nodes).keys()]);
  const a = order.slice(0, Math.round(nodes * fraction));
  const b = order.slice(a.length);
  sim.partition([a, b]);
  // Until each side sees only itself.
  const sideOf = new Map<number, Set<string>>();
  for (const side of [a, b]) {
    const longs = new Set(side.map((i) => sim.node(i).long));
    for (const i of side) sideOf.set(i, longs);
  }
  const split = () =>
    sim.nodes.every(
      (n) => n.byLong.size === (sideOf.get(n.idx) as Set<string>).size - 1 && n.connected().every((l) => sideOf.get(n.idx)?.has(l)),
    );
  if (until(sim, split, 60_000) === undefined) throw new Error('the sides did not split');
  const pick = (side: number[]) => side[sim.net.rng.int(side.length)] as number;
  const regs = [];
  for (let k = 0; k < contested; k++) {
    regs.push(names.register(pick(a), `c-${k}`), names.register(pick(b), `c-${k}`));
    names.register(pick(a), `a-${k}`);
    names.register(pick(b), `b-${k}`);
  }
  sim.net.runFor(2000);
  sim.healAll();
  const healStart = sim.net.now;
  let healMs: number | undefined;
  for (let t = 100; t <= 120_000; t += 100) {
    sim.net.run(healStart + t);
    if (sim.fullMesh() && names.problems(1).length === 0) {
      healMs = t;
      break;
    }
  }
  sim.net.runFor(5000); // quiet
  await names.settle();
  let evictedLosers = 0;
  let singleHolder = 0;
  const evicted = new Set(names.evictions.map((e) => `${e.name}|${refKey(e.ref)}`));
  for (let k = 0; k < contested; k++) {
    const name = `c-${k}`;
    const hs = names.holders(name);
    const first = hs[0];
    if (first !== undefined && hs.every((h) => h !== undefined && refKey(h) === refKey(first))) singleHolder++;
    const mine = regs.filter((r) => r.name === name);
    const loser = mine.find((r) => first === undefined || refKey(r.ref) !== refKey(first));
    if (loser !== undefined && evicted.has(`${name}|${refKey(loser.ref)}`)) evictedLosers++;
  }
  return { nodes, healMs, problems: names.problems(), contested, evictedLosers, singleHolder, realMs: performance.now() - t0 };
}

export interface CrashResult {
  nodes: number;
  arbiter: string;
  convergeMs: number | undefined;
  problems: string[];
  realMs: number;
}

/**
 * A full mesh with names; a storm of `storm` registrations from random nodes, and the
 * arbiter (the smallest id) crashes `afterMs` into it, while its `g_add`s are in flight.
 */
export async function arbiterCrash(nodes: number, storm = 100, afterMs = 1, seed = 4): Promise<CrashResult> {
  const t0 = performance.now();
  const sim = new MembershipSim({ nodes, seeds: [0, 1, 2], seed });
  const names = new NamesSim(sim);
  if (!sim.net.run(120_000, () => sim.fullMesh())) throw new Error('no full mesh');
  const arbiter = [...sim.nodes].sort((x, y) => (x.short < y.short ? -1 : 1))[0] as (typeof sim.nodes)[number];
  for (let k = 0; k < storm; k++) {
    let i = sim.net.rng.int(nodes);
    if (i === arbiter.idx) i = (i + 1) % nodes;
    names.register(i, `s-${k}`);
  }
  sim.net.runFor(afterMs);
  sim.crash(arbiter.idx);
  const start = sim.net.now;
  let convergeMs: number | undefined;
  for (let t = 10; t <= 30_000; t += 10) {
    sim.net.run(start + t);
    if (sim.fullMesh() && names.problems(1).length === 0) {
      convergeMs = t;
      break;
    }
  }
  sim.net.runFor(2000);
  await names.settle();
  return { nodes, arbiter: arbiter.short, convergeMs, problems: names.problems(), realMs: performance.now() - t0 };
}
