/**
 * DistributedSupervisor: children placed across three nodes (a Runtime each, in this one
 * process, over real TCP), each running exactly once under the global name
 * `dsup:<sup>:<child>`. A crashed child is restarted; when a node leaves, its children move to
 * the others; dynamic children come from a template.
 *
 *   npx tsx examples/concepts/distributed-supervisor.ts
 */
import { randomBytes } from 'node:crypto';
import type { DistributedSupervisorRef, GenServerBehavior } from '../../src/index.js';
import { BehaviorRegistry, Cluster, DistributedSupervisor, GenServer, Runtime, withRuntime } from '../../src/index.js';

const secret = randomBytes(24).toString('base64url');

type WorkerProtocol = { call: ['where', string] | ['crash', never] };
const worker: GenServerBehavior<string, WorkerProtocol, string> = {
  init: (tag) => tag,
  handleCall: (msg, tag) => {
    if (msg === 'crash') throw new Error(`${tag} crashed`);
    return [`${tag} on ${GenServer.self().node.split('@')[0]}`, tag];
  },
};

/** A node in this process: its own runtime; `on` runs the synchronous part of a call there. */
async function node(name: string, seeds: string[] = []) {
  const rt = new Runtime();
  const id = await withRuntime(rt, () => Cluster.start({ nodeName: name, clusterSecret: secret, seeds }));
  const on = <T>(fn: () => T): T => withRuntime(rt, fn);
  // Every node that may run a child offers its behaviour, and every node that may lead (any
  // of them) knows the custom selectors: here 'last', the last of the candidate nodes.
  on(() => BehaviorRegistry.register('worker', worker));
  on(() => DistributedSupervisor.registerSelector('last', (nodes) => nodes[nodes.length - 1] as string));
  return { id, on };
}
const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((r) => setTimeout(r, 10));
};
const placement = (sup: DistributedSupervisorRef) =>
  b
    .on(() => DistributedSupervisor.getChildren(sup))
    .map((k) => `${k.id}@${k.node?.split('@')[0] ?? '-'} (${k.status})`)
    .join(', ');

const a = await node('a');
const b = await node('b', [a.id]);
const c = await node('c', [a.id]);
await until(() => [a, b, c].every((n) => n.on(() => Cluster.getNodeIds()).length === 2));

// 1. Started from c; resolves once every child runs somewhere. Every node holds the record.
const sup = await c.on(() =>
  DistributedSupervisor.start({
    name: 'jobs',
    nodeSelector: 'round_robin',
    children: ['w1', 'w2', 'w3'].map((id) => ({ id, behavior: 'worker', args: id })),
    // What startChild(sup, { id, args }) fills in: here, placed by the custom selector.
    childTemplate: { behavior: 'worker', restart: 'transient', nodeSelector: { custom: 'last' } },
  }),
);
console.log(`1. placed: ${placement(sup)}`);

// 2. Any node reaches a child by its global name; a crash is restarted (a new process).
const before = b.on(() => DistributedSupervisor.getChild(sup, 'w1'))?.ref;
await a.on(() => GenServer.call({ global: 'dsup:jobs:w1' }, 'crash')).catch(() => {});
await until(() => {
  const now = b.on(() => DistributedSupervisor.getChild(sup, 'w1'))?.ref;
  return now !== undefined && now.id !== before?.id;
});
console.log(`2. after a crash: ${await a.on(() => GenServer.call({ global: 'dsup:jobs:w1' }, 'where'))}`);

// 3. Dynamic children from the template; one is terminated (kept in the record, not running).
for (const id of ['e1', 'e2']) await a.on(() => DistributedSupervisor.startChild(sup, { id, args: id }));
await a.on(() => DistributedSupervisor.terminateChild(sup, 'e2'));
await until(() => b.on(() => DistributedSupervisor.countChildren(sup)).running === 4);
console.log(`3. ${placement(sup)}`);
console.log(`   counts: ${JSON.stringify(a.on(() => DistributedSupervisor.countChildren(sup)))}`);

// 4. c leaves gracefully: its children stop there and start on a and b at once.
await c.on(() => Cluster.stop());
await until(() => b.on(() => DistributedSupervisor.getChildren(sup)).every((k) => k.status !== 'pending' && k.node !== c.id));
console.log(`4. c left; now: ${placement(sup)}`);

await a.on(() => DistributedSupervisor.stop(sup)); // on every node: each stops its children
for (const n of [b, a]) await n.on(() => Cluster.stop());
