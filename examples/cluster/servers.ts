/**
 * The servers every node of the cluster examples runs, and their protocols. Kept apart from
 * ./node.ts so that programs on other nodes can import the protocol types without starting a
 * node.
 *
 * - `nodeInfo` runs on every node under the name `node-info`: who am I, whom do I see, and an
 *   echo that shows which values survive the trip between nodes.
 * - `counter` is what other nodes may start here with `GenServer.startRemote('counter', …)`:
 *   ./node.ts puts it in the node's BehaviorRegistry (the allow-list for remote spawn).
 */
import type { GenServerBehavior } from '../../src/index.js';
import { Cluster, GenServer } from '../../src/index.js';

export type NodeInfoProtocol = {
  call: ['whoami', { node: string; pid: number; peers: string[] }] | [{ echo: unknown }, unknown];
};

export const nodeInfo: GenServerBehavior<null, NodeInfoProtocol> = {
  init: () => null,
  handleCall(msg, s) {
    if (msg === 'whoami') return [{ node: Cluster.getLocalNodeId(), pid: process.pid, peers: Cluster.getNodeIds() }, s];
    return [msg.echo, s];
  },
};

/** The node-info server of a node: Erlang's `{Name, Node}`, typed with its protocol. */
export const nodeInfoOn = (node: string) => ({ name: GenServer.name<NodeInfoProtocol>('node-info'), node });

export type CounterProtocol = {
  call: ['get', number] | ['crash', never];
  cast: { add: number };
};

export const counter: GenServerBehavior<number, CounterProtocol, number> = {
  init: (start = 0) => start,
  handleCall(msg, n) {
    if (msg === 'get') return [n, n];
    throw new RangeError(`counter gave up at ${n}`);
  },
  handleCast: ({ add }, n) => n + add,
};
