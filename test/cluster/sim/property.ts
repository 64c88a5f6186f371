/**
 * One run of the names property over a schedule of cuts, heals, crashes and registrations
 * (for fast-check): after every cut heals and the cluster is quiet, the running nodes form a
 * full mesh and every name has one holder that every replica shows.
 */
import { type MembershipOptions, MembershipSim } from './membership.js';
import { NamesSim } from './names.js';

export type Op =
  | { t: 'cut'; a: number; b: number }
  | { t: 'heal'; a: number; b: number }
  | { t: 'crash'; i: number }
  | { t: 'reg'; i: number; name: number }
  | { t: 'wait'; ms: number };

export interface RunOutcome {
  meshed: boolean;
  problems: string[];
  /** Virtual ms from the final heal until the property held. */
  healMs: number | undefined;
  drops: string[];
}

export async function runSchedule(
  nodes: number,
  ops: readonly Op[],
  seed: number,
  o: Partial<MembershipOptions> = {},
  maxCrashes = 2,
): Promise<RunOutcome> {
  const sim = new MembershipSim({ nodes, seeds: [0, 1, 2], seed, heartbeatIntervalMs: 100, ...o });
  const names = new NamesSim(sim);
  if (!sim.net.run(60_000, () => sim.fullMesh())) throw new Error('no initial mesh');
  let crashes = 0;
  for (const op of ops) {
    if (op.t === 'cut' && op.a !== op.b) sim.cut(op.a, op.b);
    else if (op.t === 'heal') sim.heal(op.a, op.b);
    else if (op.t === 'crash' && crashes < maxCrashes && sim.node(op.i).status === 'running') {
      crashes++;
      sim.crash(op.i);
    } else if (op.t === 'reg') names.register(op.i, `p-${op.name}`);
    else if (op.t === 'wait') sim.net.runFor(op.ms);
  }
  sim.healAll();
  const start = sim.net.now;
  let healMs: number | undefined;
  for (let t = 50; t <= 120_000; t += 50) {
    sim.net.run(start + t);
    if (sim.fullMesh() && names.problems(1).length === 0) {
      healMs = t;
      break;
    }
  }
  sim.net.runFor(5000); // quiet
  await names.settle();
  return { meshed: sim.fullMesh(), problems: names.problems(), healMs, drops: sim.nodes.flatMap((n) => n.drops) };
}
