/**
 * Membership and GlobalRegistry convergence of simulated clusters (test/cluster/sim): every
 * node in one process, the in-memory network (1 ms ± 0.5 ms per message), a virtual clock.
 *
 *   npx tsx bench/sim-convergence.ts            # 250, 500, 1000 nodes
 *   npx tsx bench/sim-convergence.ts 1000 2000  # chosen sizes
 *
 * Prints, per size: the virtual ms until the mesh is full (nodes started over 10 s; and all
 * started at once, for up to 300 nodes or with SIM_AT_ONCE=1: more need a larger heap),
 * messages per node per virtual second over that time, and the virtual ms until every replica
 * agrees after each node registers a name plus 50 racing registrations of 10 names. The membership cost grows as N³ (each new connection is announced to every
 * connected peer): 1,000 nodes move ~5·10⁸ messages and take minutes of real time.
 */
import { join, registerStorm } from '../test/cluster/sim/scenarios.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 3);
const rows: Record<string, string | number>[] = [];
for (const n of sizes.length > 0 ? sizes : [250, 500, 1000]) {
  const built = join(n, { startSpreadMs: 10_000 });
  const spread = built.result;
  // The storm runs on the mesh just built (names backends started on it).
  const storm = (await registerStorm(n, {}, 50, 10, true, built.sim)).result;
  // All nodes at once: ~N³/2 messages within a few ms keep too many in flight for the default heap past ~400 nodes.
  const at = n <= 300 || process.env.SIM_AT_ONCE === '1' ? join(n).result : undefined;
  rows.push({
    nodes: n,
    'join ms (10 s spread)': spread.converged ? spread.convergeMs : 'no',
    'msgs/node/s (spread)': Math.round(spread.msgsPerNodePerSec),
    'msgs/node': Math.round(spread.messages / n),
    'join ms (all at once)': at === undefined ? '-' : at.converged ? at.convergeMs : 'no',
    'msgs/node/s (at once)': at === undefined ? '-' : Math.round(at.msgsPerNodePerSec),
    'names agree ms': storm.convergeMs ?? 'no',
    'names msgs/node/s': Math.round(storm.msgsPerNodePerSec),
    'names problems': storm.problems.length,
    'race winners': [...storm.winners.values()].join(''),
    'real s': Math.round(((at?.realMs ?? 0) + spread.realMs + storm.realMs) / 1000),
  });
  console.table(rows.slice(-1));
}
console.table(rows);
