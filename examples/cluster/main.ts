/**
 * Cluster demo: three nodes, each its own OS process on 127.0.0.1, plus this program, which
 * joins as a fourth node (`demo`) to drive them.
 *
 *   npm run example:cluster        # or: npx tsx examples/cluster/main.ts
 *
 * 1. Node `a` starts first: it is the seed. `b`, `c` and `demo` are given only `a`'s id; they
 *    learn of each other by gossip and connect directly (a full mesh).
 * 2. A remote call by `{ name, node }`: every node's `node-info` server says whom it sees.
 * 3. A remote spawn: `GenServer.startRemote('counter', …)` starts a counter on `c`, from the
 *    behaviours `c` allow-lists in its BehaviorRegistry; a name it does not list is refused.
 * 4. A remote monitor: a process here monitors the counter; `c` is killed with SIGKILL, and
 *    the monitor fires DOWN with reason `noconnection` within milliseconds.
 * 5. `a` and `b` leave gracefully, then this node does; everything exits 0.
 *
 * The nodes share a random cluster secret. The per-node program is ./node.ts; its servers are
 * in ./servers.ts.
 */
import { randomBytes } from 'node:crypto';
import type { AnyRef, DownMessage, GenServerBehavior } from '../../src/index.js';
import { Cluster, GenServer, NodeDownError, NotRegisteredError, Process, formatReason, formatRef, isDownMessage } from '../../src/index.js';
import { type ChildNode, startNode } from './child.js';
import type { NodeReport } from './node.js';
import { type CounterProtocol, nodeInfoOn } from './servers.js';

const secret = randomBytes(24).toString('base64url');
const t0 = performance.now();
const ms = () => `${String(Math.round(performance.now() - t0)).padStart(5)} ms`;
const say = (line: string) => console.log(`${ms()}  ${line}`);
const short = (id: string) => id.split('@')[0] as string;
/** What the child nodes report: printed as `[b] node up: c@…`. */
const heard = (from: string) => (r: NodeReport) => {
  if (r.type === 'up') say(`[${from}] node up: ${r.node}`);
  if (r.type === 'down') say(`[${from}] node down: ${r.node} (${r.reason})`);
};

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  const until = performance.now() + withinMs;
  while (!(await ok())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const nodes: ChildNode[] = [];
try {
  // --- 1. The mesh forms ----------------------------------------------------------------
  const a = await startNode({ name: 'a', seeds: [], secret }, heard('a'));
  nodes.push(a);
  say(`seed node a is listening as ${a.id}`);

  const self = await Cluster.start({ nodeName: 'demo', seeds: [a.id], clusterSecret: secret });
  Cluster.onNodeUp((id) => say(`[demo] node up: ${id}`));
  Cluster.onNodeDown((id, reason) => say(`[demo] node down: ${id} (${reason})`));
  say(`this program is node ${self}`);

  const [b, c] = await Promise.all([
    startNode({ name: 'b', seeds: [a.id], secret }, heard('b')),
    startNode({ name: 'c', seeds: [a.id], secret }, heard('c')),
  ]);
  nodes.push(b!, c!);

  // --- 2. Remote calls by { name, node } ----------------------------------------------------
  // b and c were told only about a: wait until every node is connected to the three others.
  await waitFor('the full mesh', async () => {
    if (Cluster.getNodeIds().length < 3) return false;
    const views = await Promise.all(nodes.map((n) => GenServer.call(nodeInfoOn(n.id), 'whoami')));
    return views.every((v) => v.peers.length === 3);
  });
  for (const n of nodes) {
    const me = await GenServer.call(nodeInfoOn(n.id), 'whoami');
    say(`remote call to node-info on ${short(me.node)}: pid ${me.pid}, connected to ${me.peers.map(short).sort().join(', ')}`);
  }
  say(`full mesh: 4 nodes, each connected to the 3 others`);

  // --- 3. Remote spawn from c's allow-list ---------------------------------------------------
  const counter = await GenServer.startRemote<CounterProtocol>('counter', { targetNode: c!.id, args: 40 });
  GenServer.cast(counter, { add: 2 }); // a cast, then a call: they arrive in the order sent
  say(`startRemote('counter') on c: ${formatRef(counter)} counts ${await GenServer.call(counter, 'get')}`);
  try {
    await GenServer.startRemote('shell', { targetNode: c!.id });
  } catch (e) {
    if (NotRegisteredError.is(e)) say(`startRemote('shell') on c refused: ${e.code} (c does not allow-list it)`);
    else throw e;
  }

  // --- 4. A remote monitor, and a node killed ------------------------------------------------
  let onDown: (m: DownMessage) => void = () => {};
  const down = new Promise<DownMessage>((resolve) => (onDown = resolve));
  // A local process that monitors the counter on c and hands its DOWN message over.
  const watcher: GenServerBehavior<null, { info: DownMessage }, AnyRef> = {
    init(target) {
      Process.monitor(target);
      return null;
    },
    handleInfo(msg, s) {
      if (isDownMessage(msg)) onDown(msg);
      return s;
    },
  };
  const watcherRef = await GenServer.start(watcher, { args: counter });

  say(`killing node c (SIGKILL, pid ${c!.process.pid})`);
  const killedAt = performance.now();
  c!.process.kill('SIGKILL');
  const msg = await down;
  say(`DOWN for ${formatRef(msg.ref)}: ${formatReason(msg.reason)}, ${Math.round(performance.now() - killedAt)} ms after the kill`);
  await c!.exited;
  try {
    await GenServer.call(counter, 'get');
  } catch (e) {
    if (NodeDownError.is(e)) say(`a call to the counter now fails at once: ${e.code} (${e.reason})`);
    else throw e;
  }

  // --- 5. Everyone leaves -------------------------------------------------------------------
  await GenServer.stop(watcherRef);
  const codes = await Promise.all([a.stop(), b!.stop()]);
  say(`a and b left the cluster and exited with ${codes.join(' and ')}`);
  await Cluster.stop();
  say(`demo left the cluster (status ${Cluster.getStatus()}); done`);
} finally {
  for (const n of nodes) if (n.process.exitCode === null && n.process.signalCode === null) n.process.kill('SIGKILL');
}
