/**
 * The observer: a web page and a JSON API over the running node. This example starts it on a
 * free loopback port, reads the tree through the API, crashes a worker and sees the restart.
 * Open the printed URL in a browser while it runs (add `--wait` to keep it up).
 *
 *   npx tsx examples/concepts/observer.ts [--wait]
 */
import type { GenServerBehavior, Snapshot } from '../../src/index.js';
import { GenServer, Observer, Supervisor } from '../../src/index.js';

const TREE = new URL('./trees/threads-tree.ts', import.meta.url).href;

type CounterProtocol = { cast: 'inc' | 'boom'; call: ['get', number] };
const counter: GenServerBehavior<{ count: number }, CounterProtocol> = {
  init: () => ({ count: 0 }),
  handleCast: (msg, s) => {
    if (msg === 'boom') throw new Error('boom');
    return { count: s.count + 1 };
  },
  handleCall: (_msg, s) => [s.count, s],
};

const app = await Supervisor.start({
  children: [
    { id: 'counter', behavior: counter, options: { name: 'counter' } },
    { id: 'squarers', thread: { module: TREE, args: { name: 'squarer' } } },
  ],
});

// Loopback by default; a token is required for any other host. Actions are off by default.
const observer = await Observer.start({ port: 0 });
console.log(`observer at ${observer.url}`);

async function snapshot(): Promise<Snapshot> {
  const res = await fetch(new URL('api/snapshot', observer.url));
  return (await res.json()) as Snapshot;
}

// The page draws this: each node's trees, threads and processes.
const before = await snapshot();
const local = before.nodes[0];
console.log(`${local?.processes.length} processes on ${local?.threads.length} threads`);
const counterRestarts = async (): Promise<number | undefined> =>
  (await snapshot()).nodes[0]?.trees.flatMap((t) => t.children).find((c) => c.id === 'counter')?.restartCount;
console.log('counter restarted', await counterRestarts(), 'times');

// A crash: the supervisor restarts the counter, and the tree shows it.
GenServer.cast('counter', 'boom');
while ((await counterRestarts()) !== 1) await new Promise((r) => setTimeout(r, 20));
console.log('after a crash, counter restarted', await counterRestarts(), 'time');

// Prometheus scrapes /metrics.
const metrics = await (await fetch(new URL('metrics', observer.url))).text();
console.log(metrics.split('\n').find((l) => l.startsWith('spindle_thread_processes')));

if (process.argv.includes('--wait')) await new Promise((r) => process.once('SIGINT', r));
await observer.stop();
await Supervisor.stop(app);
