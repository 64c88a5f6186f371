/**
 * Remote messaging: a call by { name, node }, values across nodes, a remote spawn from the
 * target's allow-list, a ref that carries its node, a remote crash as a typed error, and what
 * a lost node does to calls, monitors and links. Node `b` runs in a child process.
 *
 *   npx tsx examples/concepts/remote-messaging.ts
 */
import { randomBytes } from 'node:crypto';
import type { GenServerBehavior, Ref, SystemMessage } from '../../src/index.js';
import {
  Cluster,
  GenServer,
  NodeDownError,
  NotRegisteredError,
  Process,
  ServerExitedError,
  formatReason,
  formatRef,
} from '../../src/index.js';
import { startNode } from '../cluster/child.js';
import { type CounterProtocol, nodeInfoOn } from '../cluster/servers.js';

const secret = randomBytes(24).toString('base64url');
const self = await Cluster.start({ nodeName: 'a', clusterSecret: secret });
const b = await startNode({ name: 'b', seeds: [self], secret });
while (!Cluster.isNodeConnected(b.id)) await new Promise((r) => setTimeout(r, 20));

// 1. A registered name on another node, and values that cross it (structured clone).
const sent = { when: new Date(0), tags: new Set(['x']), big: 2n ** 70n, scores: new Map([['ann', 3]]) };
const back = (await GenServer.call(nodeInfoOn(b.id), { echo: sent })) as typeof sent;
const kinds = [back.when instanceof Date, back.tags instanceof Set, typeof back.big === 'bigint', back.scores instanceof Map];
console.log(`1. b echoed a Date, a Set, a BigInt and a Map, types kept: ${kinds.every(Boolean)} (${back.big})`);

// 2. Remote spawn: b starts a 'counter' because b allow-lists that name (BehaviorRegistry).
const counter = await GenServer.startRemote<CounterProtocol>('counter', { targetNode: b.id, args: 1 });
GenServer.cast(counter, { add: 41 }); // same sender, same receiver: the cast arrives before the call
console.log(`2. startRemote('counter') -> ${formatRef(counter)}, which counts ${await GenServer.call(counter, 'get')}`);
await GenServer.startRemote('eval', { targetNode: b.id }).catch((e) => {
  if (NotRegisteredError.is(e)) console.log(`   startRemote('eval') -> ${e.code}`);
});

// 3. A remote handler throws: the caller gets the same typed error as for a local crash.
try {
  await GenServer.call(counter, 'crash');
} catch (e) {
  if (ServerExitedError.is(e))
    console.log(`3. ${e.code}, cause ${String(e.cause)}; its stack stayed on b: ${!(e.cause as Error).stack?.includes('\n')}`);
}

// 4. Links and monitors across nodes. A local process traps exits, links to a new counter
//    on b and monitors it; then b is killed.
const seen: string[] = [];
let settle: () => void = () => {};
const bothSignals = new Promise<void>((resolve) => (settle = resolve));
const guard: GenServerBehavior<null, { info: SystemMessage }, Ref<CounterProtocol>> = {
  init(target) {
    Process.link(target);
    Process.monitor(target);
    return null;
  },
  handleInfo(msg, s) {
    seen.push(`${msg.type} ${formatReason(msg.reason)}`);
    if (seen.length === 2) settle();
    return s;
  },
};
const other = await GenServer.startRemote<CounterProtocol>('counter', { targetNode: b.id });
const guardRef = await GenServer.start(guard, { args: other, trapExit: true });
b.process.kill('SIGKILL');
await bothSignals;
console.log(`4. b killed; the guard got: ${seen.sort().join(' and ')}`);

// 5. Calls to a node that is down fail at once; they never wait for a timeout.
await GenServer.call(other, 'get').catch((e) => {
  if (NodeDownError.is(e)) console.log(`5. ${e.code}: ${e.message}`);
});

await GenServer.stop(guardRef);
await Cluster.stop();
