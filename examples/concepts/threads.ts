/**
 * Worker threads: a supervision subtree on its own thread, called by name from the main
 * thread; a thread crash is an ordinary child exit, and the supervisor restarts the subtree
 * on a new thread.
 *
 *   npx tsx examples/concepts/threads.ts
 */
import type { LifecycleEvent, ServerRef } from '../../src/index.js';
import { GenServer, onLifecycle, Supervisor, Threads } from '../../src/index.js';
import type { SquarerProtocol } from './trees/threads-tree.js';

// The subtree module is loaded by the worker itself: pass a URL, not an import.
const TREE = new URL('./trees/threads-tree.ts', import.meta.url).href;
// A registered name, typed with the server's protocol.
const squarer: ServerRef<SquarerProtocol> = 'squarer';

const app = await Supervisor.start({
  strategy: 'one_for_one',
  children: [{ id: 'squarers', thread: { module: TREE, args: { name: squarer } } }],
});

// Same call as for a process on this thread; the message and reply cross by structured clone.
const first = await GenServer.call(squarer, { type: 'square', n: 7 });
console.log(`7² = ${first.square}, computed on thread ${first.thread}; threads running: ${Threads.count()}`);

// Crash the worker thread and wait for the supervisor to restart the subtree.
const restarted = new Promise<LifecycleEvent>((resolve) => {
  const off = onLifecycle((e) => {
    if (e.type === 'restarted' && e.childId === 'squarers') {
      off();
      resolve(e);
    }
  });
});
await GenServer.call(squarer, { type: 'crash_thread' });
await restarted;

// The name now points at the new squarer, on a new thread.
const again = await GenServer.call(squarer, { type: 'square', n: 8 });
console.log(`after the crash: 8² = ${again.square}, computed on thread ${again.thread}`);

// Stopping the supervisor stops the subtree (its terminate callbacks run) and ends the worker.
await Supervisor.stop(app);
console.log(`stopped; threads running: ${Threads.count()}`);
