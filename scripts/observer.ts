/**
 * Serves the observer page.
 *
 *   npm run observer                                   # a small demo app, on 127.0.0.1
 *   npm run observer -- --join a@127.0.0.1:4370 --secret S
 *
 * With `--join name@host:port`, this program joins a running cluster as its own node (named
 * by `--name`, default `observer`) and serves the observer for every node it sees. Without it,
 * it starts a demo: a supervision tree of a few GenServers (one of which crashes now and then),
 * a subtree on a worker thread, and some load. It prints the URL; Ctrl-C stops it cleanly.
 *
 * Options: `--port P` and `--host H` of the page (default an ephemeral port on 127.0.0.1; a
 * non-loopback host needs `--token T`), `--token T`, `--actions` (enable kill/restart/stop),
 * `--interval MS`, `--secret S` (default `SPINDLE_CLUSTER_SECRET`), `--cluster-port P`.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { GenServerBehavior, SupervisorRef } from '../src/index.js';
import { Cluster, GenServer, Supervisor } from '../src/index.js';
import { Observer, type RunningObserver } from '../src/observer/observer.js';

/** The subtree the demo runs on worker threads (a squarer server). */
const THREAD_TREE = new URL('../examples/concepts/trees/threads-tree.ts', import.meta.url).href;

type KvProtocol = { cast: { put: string; value: number } | 'crash'; call: ['size', number] };

/** A small key-value server; `'crash'` makes it throw (to show a restart). */
const kv: GenServerBehavior<Map<string, number>, KvProtocol> = {
  init: () => new Map(),
  handleCast(msg, s) {
    if (msg === 'crash') throw new Error('simulated failure');
    s.set(msg.put, msg.value);
    if (s.size > 500) s.clear();
    return s;
  },
  handleCall: (_m, s) => [s.size, s],
};

/** A running demo: its root supervisor and a stop function. */
export interface Demo {
  readonly root: SupervisorRef;
  stop(): Promise<void>;
}

/**
 * Starts the demo app on the current runtime: `root` → `web` (sessions, cache, 12
 * connections), `jobs` (queue, a flaky worker that crashes every few seconds), `metrics`, and
 * two `compute` thread children with a squarer each; plus a load generator.
 */
export async function startDemo(options: { crashEveryMs?: number } = {}): Promise<Demo> {
  const conns = Array.from({ length: 12 }, (_, i) => ({ id: `conn-${i + 1}`, behavior: kv, options: { name: `conn-${i + 1}` } }));
  const root = await Supervisor.start({
    strategy: 'one_for_one',
    restartIntensity: { maxRestarts: 10, withinMs: 60_000 },
    children: [
      {
        id: 'web',
        supervisor: {
          strategy: 'one_for_one',
          children: [
            { id: 'sessions', behavior: kv, options: { name: 'sessions' } },
            { id: 'cache', behavior: kv, options: { name: 'cache', maxMailbox: 10_000 } },
            { id: 'connections', supervisor: { strategy: 'one_for_one', children: conns } },
          ],
        },
      },
      {
        id: 'jobs',
        supervisor: {
          strategy: 'one_for_all',
          restartIntensity: { maxRestarts: 5, withinMs: 30_000 },
          children: [
            { id: 'queue', behavior: kv, options: { name: 'job_queue' } },
            { id: 'flaky', behavior: kv, options: { name: 'flaky' } },
          ],
        },
      },
      { id: 'metrics', behavior: kv, options: { name: 'metrics' } },
      { id: 'compute-1', thread: { module: THREAD_TREE, args: { name: 'squarer-1' } } },
      { id: 'compute-2', thread: { module: THREAD_TREE, args: { name: 'squarer-2' } } },
    ],
  });
  let n = 0;
  const load = setInterval(() => {
    n++;
    for (let i = 0; i < 20; i++) GenServer.cast('cache', { put: `k${(n * 20 + i) % 300}`, value: n });
    GenServer.cast('sessions', { put: `s${n % 50}`, value: n });
    GenServer.cast(`conn-${(n % 12) + 1}`, { put: 'seen', value: n });
    if (n % 5 === 0) GenServer.cast('metrics', { put: 'tick', value: n });
    if (n % 3 === 0) {
      for (const name of ['squarer-1', 'squarer-2'])
        GenServer.call(name, { type: 'square', n } as never).catch(() => {
          // the thread may be restarting
        });
    }
  }, 20);
  const crashEvery = options.crashEveryMs ?? 7000;
  const crash = setInterval(() => GenServer.cast('flaky', 'crash'), crashEvery);
  return {
    root,
    async stop() {
      clearInterval(load);
      clearInterval(crash);
      await Supervisor.stop(root);
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      join: { type: 'string' },
      name: { type: 'string', default: 'observer' },
      secret: { type: 'string' },
      'cluster-port': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      actions: { type: 'boolean', default: false },
      interval: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run observer -- [--join name@host:port [--secret S] [--name N] [--cluster-port P]]\n' +
        '                          [--port P] [--host H] [--token T] [--actions] [--interval MS]',
    );
    return;
  }
  let demo: Demo | undefined;
  if (values.join !== undefined) {
    const secret = values.secret ?? process.env.SPINDLE_CLUSTER_SECRET;
    const id = await Cluster.start({
      nodeName: values.name,
      seeds: [values.join],
      ...(secret === undefined ? {} : { clusterSecret: secret }),
      ...(values['cluster-port'] === undefined ? {} : { port: Number(values['cluster-port']) }),
    });
    console.log(`joined the cluster as ${id} (seed ${values.join})`);
  } else {
    demo = await startDemo();
    console.log('started the demo app (a supervision tree, two worker threads, some load)');
  }
  let observer: RunningObserver;
  try {
    observer = await Observer.start({
      ...(values.port === undefined ? {} : { port: Number(values.port) }),
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values.token === undefined ? {} : { token: values.token }),
      ...(values.interval === undefined ? {} : { intervalMs: Number(values.interval) }),
      actions: values.actions,
    });
  } catch (e) {
    console.error(`observer: ${e instanceof Error ? e.message : String(e)}`);
    await demo?.stop();
    if (values.join !== undefined) await Cluster.stop();
    process.exit(1);
  }
  console.log(`\n  Spindle observer: ${observer.url}\n`);
  console.log(values.actions ? '  actions are ENABLED (kill, restart, stop)' : '  read-only (pass --actions to enable kill/restart/stop)');
  console.log('  Ctrl-C to stop\n');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    await observer.stop();
    await demo?.stop();
    if (values.join !== undefined) await Cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
