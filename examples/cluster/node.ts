/**
 * One node of the cluster examples, as its own OS process. examples/cluster/main.ts starts
 * three of these; examples/concepts/cluster.ts and remote-messaging.ts start one.
 *
 *   node --import tsx examples/cluster/node.ts '{"name":"b","seeds":["a@127.0.0.1:4001"],"secret":"…"}'
 *   SPINDLE_NODE=b@127.0.0.1:4002 SPINDLE_SEEDS=a@127.0.0.1:4001 SPINDLE_CLUSTER_SECRET=… \
 *     node --import tsx examples/cluster/node.ts
 *
 * The configuration comes from a JSON argument (the node then listens on 127.0.0.1 with port
 * 0, a free port), or else from the environment (`Cluster.optionsFromEnv`). The node
 * allow-lists the `counter` behaviour for remote spawn, joins the cluster, starts its
 * `node-info` server, and talks to the program that started it over the IPC channel, if any:
 *
 * - it sends `{ type: 'ready', id }` once it listens, then `{ type: 'up', node }` and
 *   `{ type: 'down', node, reason }` as other nodes come and go;
 * - on `{ type: 'stop' }` it leaves the cluster gracefully (peers see `graceful_shutdown`)
 *   and exits 0. So it does on SIGINT or SIGTERM, and when its parent goes away.
 */
import type { ClusterOptions } from '../../src/index.js';
import { BehaviorRegistry, Cluster, GenServer } from '../../src/index.js';
import { counter, nodeInfo } from './servers.js';

export type NodeReport = { type: 'ready'; id: string } | { type: 'up'; node: string } | { type: 'down'; node: string; reason: string };
export type NodeCommand = { type: 'stop' };

const report = (r: NodeReport) => process.send?.(r);

function options(): ClusterOptions {
  const arg = process.argv[2];
  if (arg === undefined) return Cluster.optionsFromEnv();
  const { name, seeds, secret } = JSON.parse(arg) as { name: string; seeds: string[]; secret: string };
  return { nodeName: name, host: '127.0.0.1', port: 0, seeds, clusterSecret: secret };
}

// The allow-list: other nodes may start these behaviours here, by name, and nothing else.
BehaviorRegistry.register('counter', counter);

// Before any process: every ref this node hands out carries its node id.
const id = await Cluster.start(options());
// Seeds are dialled once start has resolved: subscribing now misses nothing.
Cluster.onNodeUp((node) => report({ type: 'up', node }));
Cluster.onNodeDown((node, reason) => report({ type: 'down', node, reason }));
const info = await GenServer.start(nodeInfo, { name: 'node-info' });
report({ type: 'ready', id });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    await GenServer.stop(info);
    await Cluster.stop();
    process.exit(0);
  })();
  return stopping;
}

process.on('message', (cmd: NodeCommand) => {
  if (cmd.type === 'stop') void stop();
});
process.on('disconnect', () => void stop()); // the parent is gone: don't outlive it
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
