/**
 * The cluster demo (`npm run example:cluster`) runs as a user runs it: tsx in a child
 * process, three node processes of its own. It must form the mesh, call and spawn remotely,
 * see a killed node's monitor fire with `noconnection`, stop everything and exit 0.
 */
import { expect, it } from 'vitest';
import { runTsx } from '../helpers.js';

// SIGKILL on the demo (at the timeout) leaves its nodes without a parent: they notice and exit.
const run = (file: string, timeoutMs: number) => runTsx([file], timeoutMs);

it('examples/cluster/main.ts forms a mesh, calls and spawns remotely, sees a node die, and exits 0', async () => {
  const r = await run('examples/cluster/main.ts', 60_000);
  expect(r.code, r.out).toBe(0);
  const milestones = [
    /seed node a is listening as a@127\.0\.0\.1:\d+/,
    /this program is node demo@127\.0\.0\.1:\d+/,
    /\[demo\] node up: b@127\.0\.0\.1:\d+/,
    /\[demo\] node up: c@127\.0\.0\.1:\d+/,
    /\[b\] node up: c@127\.0\.0\.1:\d+/, // learnt by gossip: b was told only about a
    /remote call to node-info on c: pid \d+, connected to a, b, demo/,
    /full mesh: 4 nodes/,
    /startRemote\('counter'\) on c: .* counts 42/,
    /startRemote\('shell'\) on c refused: ERR_NOT_REGISTERED/,
    /DOWN for .*: noconnection/,
    /\[demo\] node down: c@127\.0\.0\.1:\d+ \(connection_closed\)/,
    /a call to the counter now fails at once: ERR_NODE_DOWN/,
    /\[demo\] node down: a@127\.0\.0\.1:\d+ \(graceful_shutdown\)/,
    /a and b left the cluster and exited with 0 and 0/,
    /demo left the cluster \(status stopped\); done/,
  ];
  for (const m of milestones) expect(r.out, `missing ${m}`).toMatch(m);
  // The demo's own order: the kill comes before its DOWN, and everything ends after both.
  const at = (re: RegExp) => r.out.search(re);
  expect(at(/killing node c/)).toBeLessThan(at(/DOWN for/));
  expect(at(/DOWN for/)).toBeLessThan(at(/done/));
}, 70_000);
