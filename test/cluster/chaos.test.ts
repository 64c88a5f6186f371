/**
 * A bounded chaos run with real node processes (kit/chaos.ts): random kill -9 (then restart),
 * SIGSTOP/SIGCONT and, as root with iptables, partitions of one node, over a
 * DistributedSupervisor and global names; the invariants are checked after every step and at
 * the end, once quiet. The seed is printed on failure; `CHAOS_SEED=<n>` replays one run.
 * Bounded to fit `npm test` on a small machine: steps start only in the first 25 s.
 * The longer run is `npx tsx bench/chaos.ts --minutes=5`.
 */
import { expect, it } from 'vitest';
import { runChaos } from './kit/chaos.js';

const seed = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);

it(`chaos: kills, freezes and partitions keep one holder per name and every child once (seed ${seed})`, async () => {
  const r = await runChaos({ seed, budgetMs: 25_000, maxSteps: 12, log: (l) => console.log(`chaos[${seed}] ${l}`) });
  console.log(`chaos[${seed}]: ${r.steps.length} steps in ${(r.ms / 1000).toFixed(1)} s`);
  expect(r.steps.length).toBeGreaterThan(0);
}, 58_000);
