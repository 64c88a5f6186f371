/**
 * The long chaos run: `npx tsx bench/chaos.ts --minutes=5 [--seed=N] [--nodes=4] [--children=8]`.
 * The same seeded run as test/cluster/chaos.test.ts (test/cluster/kit/chaos.ts: kill -9 and
 * restart, SIGSTOP/SIGCONT, and partitions as root with iptables), for minutes instead of
 * seconds; invariants after every step and at the end. Prints each step; on failure, the seed
 * to replay and the step log, and exits 1. Every node, frozen process and iptables rule is
 * cleaned up either way.
 */
import { runChaos } from '../test/cluster/kit/chaos.js';

function arg(name: string): number | undefined {
  const m = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  if (m === undefined) return undefined;
  const v = Number(m.slice(name.length + 3));
  if (!Number.isFinite(v)) throw new Error(`--${name} expects a number`);
  return v;
}

const minutes = arg('minutes') ?? 5;
const seed = arg('seed') ?? Math.floor(Math.random() * 2 ** 31);
console.log(`chaos: seed ${seed}, ${minutes} min`);
runChaos({
  seed,
  budgetMs: minutes * 60_000,
  ...(arg('nodes') !== undefined ? { nodes: arg('nodes') as number } : {}),
  ...(arg('children') !== undefined ? { children: arg('children') as number } : {}),
  log: (l) => console.log(l),
}).then(
  (r) => {
    console.log(`chaos: seed ${seed}: ${r.steps.length} steps in ${(r.ms / 1000).toFixed(0)} s, invariants held`);
    process.exit(0);
  },
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
