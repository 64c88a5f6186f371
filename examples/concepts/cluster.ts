/**
 * Cluster: this program becomes node `a`; a second node, `b`, runs in a child process (the
 * per-node program of examples/cluster) with `a` as its seed. `a` sees it come up, lists the
 * members, calls a server on `b` by name, then sees `b` leave gracefully, and leaves too.
 *
 *   npx tsx examples/concepts/cluster.ts
 */
import { randomBytes } from 'node:crypto';
import { Cluster, GenServer } from '../../src/index.js';
import { startNode } from '../cluster/child.js';
import { nodeInfoOn } from '../cluster/servers.js';

// Every node of a cluster shares one secret (at least 16 characters; use random bytes).
const secret = randomBytes(24).toString('base64url');

// Start distribution before any process: refs carry the node they live on.
const self = await Cluster.start({ nodeName: 'a', host: '127.0.0.1', port: 0, clusterSecret: secret });
console.log(`this node: ${self} (${Cluster.getStatus()})`);

// Node events: subscribe once started (seeds are dialled after start resolves).
Cluster.onNodeUp((id) => console.log(`node up: ${id}`));
const bLeft = new Promise<void>((resolve) =>
  Cluster.onNodeDown((id, reason) => {
    console.log(`node down: ${id} (${reason})`);
    resolve();
  }),
);

// Node b, in its own OS process, joins through its seed: this node.
const b = await startNode({ name: 'b', seeds: [self], secret });
while (!Cluster.isNodeConnected(b.id)) await new Promise((r) => setTimeout(r, 20));

for (const n of Cluster.getNodes()) console.log(`member ${n.id}: ${n.status}, incarnation ${n.incarnation}`);

// A registered name on another node is { name, node }: Erlang's {Name, Node}.
const who = await GenServer.call(nodeInfoOn(b.id), 'whoami');
console.log(`${who.node} is pid ${who.pid} and sees ${who.peers.join(', ')}`);

// b leaves gracefully (Cluster.stop() on b): this node sees 'graceful_shutdown'.
await b.stop();
await bLeft;
await Cluster.stop();
console.log(`cluster ${Cluster.getStatus()}`);
