/**
 * Introspection: the whole supervision tree across threads, every process of the node, one
 * process's info, and a GenServer's state.
 *
 *   npx tsx examples/concepts/introspection.ts
 */
import type { GenServerBehavior, SupervisionNode } from '../../src/index.js';
import { GenServer, Process, Registry, Supervisor } from '../../src/index.js';

// The subtree module is loaded by the worker itself: pass a URL, not an import.
const TREE = new URL('./trees/threads-tree.ts', import.meta.url).href;

type CounterProtocol = { cast: 'inc'; call: ['get', number] };
const counter: GenServerBehavior<{ count: number }, CounterProtocol> = {
  init: () => ({ count: 0 }),
  handleCast: (_msg, s) => ({ count: s.count + 1 }),
  handleCall: (_msg, s) => [s.count, s],
};

const app = await Supervisor.start({
  children: [
    { id: 'counter', behavior: counter, options: { name: 'counter' } },
    { id: 'squarers', thread: { module: TREE, args: { name: 'squarer' } } },
  ],
});

// The tree, across the thread boundary: a thread child leads to its root supervisor there.
function print(n: SupervisionNode, depth = 0): void {
  const id = n.id ?? '(root)';
  console.log(`${'  '.repeat(depth)}${id}: ${n.kind} on thread ${n.thread}, restarted ${n.restartCount}x`);
  for (const c of n.children) print(c, depth + 1);
}
print(await Supervisor.tree(app));

// Every live process of the node, each thread answering for its own.
const all = await Process.list();
console.log(`${all.length} processes:`, all.map((i) => `${i.ref.thread}/${i.ref.id}${i.name ? ` (${i.name})` : ''}`).join(', '));

// One process in detail: names, parent, mailbox, its thread's heap.
GenServer.cast('counter', 'inc');
GenServer.cast('counter', 'inc');
await GenServer.call('counter', 'get');
const ref = Registry.whereis('counter');
if (ref !== undefined) {
  const info = await Process.info(ref);
  console.log(`counter: names ${info?.names.join(', ')}, handled ${info?.handled}, heap ${info?.heapUsed} bytes`);
}

// A GenServer's state (OTP's :sys.get_state): here at once, on the worker by a system call.
console.log('counter state:', await GenServer.getState('counter'));
console.log('squarer state:', await GenServer.getState('squarer'));

await Supervisor.stop(app);
