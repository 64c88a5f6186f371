/**
 * The concepts together, in the smallest program: a supervisor keeps a named GenServer and
 * an Agent alive; clients reach the server by name.
 *
 *   npx tsx examples/concepts/index.ts
 */
import type { AgentRef, GenServerBehavior } from '../../src/index.js';
import { Agent, GenServer, Registry, Supervisor } from '../../src/index.js';

type KvProtocol = {
  call: [{ get: string }, string | undefined];
  cast: { put: string; value: string };
};

// GenServer: state + callbacks.
const kv: GenServerBehavior<Map<string, string>, KvProtocol> = {
  init: () => new Map(),
  handleCall: ({ get }, map) => [map.get(get), map],
  handleCast: ({ put, value }, map) => map.set(put, value),
};

// Supervisor: restarts what crashes. Registry: the name 'kv' follows the live process.
const sup = await Supervisor.start({
  children: [
    { id: 'kv', behavior: kv, options: { name: 'kv' } },
    { id: 'hits', start: () => Agent.start(() => 0, { name: 'hits' }) },
  ],
});

GenServer.cast('kv', { put: 'lang', value: 'TypeScript' });
console.log('lang =', await GenServer.call('kv', { get: 'lang' }));

const hits = Registry.lookup('hits') as AgentRef<number>; // names carry no type: say it
await Agent.update(hits, (n) => n + 1);
console.log('hits =', await Agent.get(hits, (n) => n));

console.log('children:', (await Supervisor.getChildren(sup)).map((c) => c.id).join(', '));
await Supervisor.stop(sup); // stops hits, then kv, then the supervisor
