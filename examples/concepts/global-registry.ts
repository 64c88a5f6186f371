/**
 * GlobalRegistry: cluster-wide names. Four nodes run in this one process (a Runtime each,
 * over real TCP on 127.0.0.1). A server registered as { global: 'config' } on b is called from
 * a; two nodes race for one name; names go when their process exits; and when two groups that
 * each gave a name away meet, one holder keeps it and the other exits name_conflict.
 *
 *   npx tsx examples/concepts/global-registry.ts
 */
import { randomBytes } from 'node:crypto';
import type { AnyRef, GenServerBehavior } from '../../src/index.js';
import { Cluster, GenServer, GlobalRegistry, Process, Runtime, withRuntime } from '../../src/index.js';

const secret = randomBytes(24).toString('base64url');

/** A node in this process: its own runtime; `on` runs the synchronous part of a call there. */
async function node(name: string, seeds: string[] = []) {
  const rt = new Runtime();
  const id = await withRuntime(rt, () => Cluster.start({ nodeName: name, clusterSecret: secret, seeds }));
  return { id, on: <T>(fn: () => T): T => withRuntime(rt, fn) };
}
const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((r) => setTimeout(r, 10));
};

const echo: GenServerBehavior<string, { call: [string, string] }, string> = {
  init: (tag) => tag,
  handleCall: (msg, tag) => [`${tag} got ${msg}`, tag],
};

const a = await node('a');
const b = await node('b', [a.id]);
await until(() => a.on(() => Cluster.getNodeIds()).length === 1);

// 1. Registered on b at start; found and called from a by { global }.
a.on(() => GlobalRegistry.on('registered', (e) => console.log(`   [a] registered ${e.name}`)));
await b.on(() => GenServer.start(echo, { args: 'config@b', name: { global: 'config' } }));
await until(() => a.on(() => GlobalRegistry.isRegistered('config')));
console.log(`1. a calls { global: 'config' }: ${await a.on(() => GenServer.call({ global: 'config' }, 'hello'))}`);

// 2. Two nodes race for one name: exactly one wins, the other is told who holds it.
const mine = await a.on(() => GenServer.start(echo, { args: 'lock@a' }));
const theirs = await b.on(() => GenServer.start(echo, { args: 'lock@b' }));
const race = await Promise.allSettled([
  a.on(() => GlobalRegistry.register('lock', mine)),
  b.on(() => GlobalRegistry.register('lock', theirs)),
]);
console.log(`2. race for 'lock': ${race.map((r) => (r.status === 'fulfilled' ? 'won' : r.reason.code)).join(' / ')}`);

// 3. A name goes when its process exits, on every node.
a.on(() => GlobalRegistry.on('unregistered', (e) => console.log(`   [a] unregistered ${e.name} (${e.reason})`)));
const holder = b.on(() => GlobalRegistry.lookup('config'));
await b.on(() => GenServer.stop(holder));
await until(() => !a.on(() => GlobalRegistry.isRegistered('config')));
console.log(`3. names now: ${a.on(() => GlobalRegistry.getNames()).join(', ')}`);

// 4. Node c starts alone (no seeds) and gives 'primary' away too; a's group has its own.
const c = await node('c');
const onA = await a.on(() => GenServer.start(echo, { args: 'primary@a', name: { global: 'primary' } }));
const onC = await c.on(() => GenServer.start(echo, { args: 'primary@c', name: { global: 'primary' } }));
const exits = new Map<AnyRef, string>();
for (const [n, ref] of [
  [a, onA],
  [c, onC],
] as const)
  void n.on(() => Process.awaitExit(ref)).then((why) => exits.set(ref, JSON.stringify(why)));
const off = a.on(() =>
  GlobalRegistry.on('conflictResolved', (e) => {
    console.log(`   [a] conflict on ${e.name}: the holder on ${e.winner.node.split('@')[0]} wins`);
    off(); // it can fire again for the same conflict, as more replicas meet
  }),
);
// d joins through both: the two groups meet, as after a partition heals.
const d = await node('d', [a.id, c.id]);
await until(() => exits.size === 1);
console.log(`4. the loser exited ${[...exits.values()][0]}`);
console.log(`   everyone now calls: ${await d.on(() => GenServer.call({ global: 'primary' }, 'who?'))}`);

for (const n of [d, c, b, a]) await n.on(() => Cluster.stop());
