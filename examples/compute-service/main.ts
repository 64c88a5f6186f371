/**
 * Compute service: an HTTP endpoint whose CPU-heavy work runs on worker threads.
 *
 * The main thread runs the HTTP server and the application's root supervisor. That
 * supervisor has one `thread:` child per core (at most 4); each thread runs
 * ./hasher-tree.ts, whose GenServer registers the node-wide name `hasher-<i>`. Requests are
 * spread round-robin over those names with `GenServer.call`; a hasher whose thread is down
 * (crashed, restarting) is skipped and the request goes to the next one.
 *
 *   npm run example:compute                      # self-demo: requests, a crash, a restart; exits 0
 *   npx tsx examples/compute-service/main.ts     # serve until Ctrl-C (PORT=8080 to pick the port)
 *
 * Endpoints:
 *   GET  /hash?rounds=N[&worker=i]   sha256 applied N times (default 5000, ~15 ms); `worker` pins a hasher
 *   GET  /stats                      which thread served how many requests, restarts per thread child
 *   POST /crash?worker=i             makes hasher-i's thread die of an uncaught exception in a timer
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { ChildSpec, LifecycleEvent, ServerRef } from '../../src/index.js';
import {
  Application,
  formatReason,
  GenServer,
  NoProcessError,
  onLifecycle,
  ServerExitedError,
  Supervisor,
  ThreadExitError,
  Threads,
} from '../../src/index.js';
import type { HasherProtocol, HasherStats, HashReply } from './hasher-tree.js';

const DEMO = process.argv.includes('--demo');
const THREADS = Math.min(os.availableParallelism(), 4);
const TREE = new URL('./hasher-tree.ts', import.meta.url).href;
/**
 * A hash request blocks its thread's event loop while it runs, heartbeats included: keep the
 * longest one (~0.7 s here) well under the thread's watchdog (`watchdogMs`, default 5000), or
 * the watchdog ends the thread as hung.
 */
const MAX_ROUNDS = 200_000;

const hasherName = (i: number): ServerRef<HasherProtocol> => `hasher-${i}`;

// --- The supervision tree: one thread child per hasher ------------------------------------

const children: ChildSpec[] = Array.from({ length: THREADS }, (_, i) => ({
  id: `thread-${i}`,
  thread: { module: TREE, args: { index: i } },
}));

// Say what the supervisor does with the threads (main-thread events: thread hosts and the root).
const stopWatching = onLifecycle((e: LifecycleEvent) => {
  if (e.type === 'restarted') console.log(`  [supervisor] restarted ${e.childId} (restart #${e.restartCount})`);
  if (e.type === 'crashed') console.log(`  [supervisor] a thread child exited: ${formatReason(e.reason)}`);
});

const t0 = performance.now();
const app = await Application.start(
  { strategy: 'one_for_one', restartIntensity: { maxRestarts: 5, withinMs: 10_000 }, children },
  {
    async onStop() {
      stopWatching();
      server.closeAllConnections();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      console.log('application stopped, server closed');
    },
  },
);
console.log(`started ${Threads.count()} hasher threads in ${Math.round(performance.now() - t0)} ms`);

// --- Routing: round-robin, skipping hashers whose thread is down -------------------------

/** Requests served, per thread number (a restarted hasher gets a new thread number). */
const servedByThread = new Map<number, { hasher: string; served: number }>();
let next = 0;
/** Times a request skipped a hasher whose thread was down and went to the next one. */
let failovers = 0;

/** True when the hasher cannot answer because its thread is gone (or not yet back). */
function unavailable(e: unknown): boolean {
  return NoProcessError.is(e) || (ServerExitedError.is(e) && ThreadExitError.is(e.cause));
}

async function hash(rounds: number, input: string, pinned?: number): Promise<HashReply> {
  const order = pinned === undefined ? Array.from({ length: THREADS }, (_, k) => (next + k) % THREADS) : [pinned];
  if (pinned === undefined) next = (next + 1) % THREADS;
  let lastError: unknown;
  for (const i of order) {
    try {
      const reply = await GenServer.call(hasherName(i), { type: 'hash', rounds, input });
      const tally = servedByThread.get(reply.thread) ?? { hasher: reply.hasher, served: 0 };
      tally.served++;
      servedByThread.set(reply.thread, tally);
      return reply;
    } catch (e) {
      if (!unavailable(e)) throw e;
      lastError = e;
      if (pinned === undefined) failovers++;
    }
  }
  throw lastError;
}

async function stats(): Promise<unknown> {
  const hashers = await Promise.all(
    Array.from({ length: THREADS }, (_, i) =>
      GenServer.call(hasherName(i), { type: 'stats' }, { timeout: 2000 }).catch(
        (e: unknown): HasherStats | { hasher: string; down: string } => ({
          hasher: `hasher-${i}`,
          down: e instanceof Error ? e.message : String(e),
        }),
      ),
    ),
  );
  const restarts = Object.fromEntries((await Supervisor.getChildren(app.supervisor)).map((c) => [c.id, c.restartCount]));
  return {
    threads: Threads.count(),
    servedByThread: Object.fromEntries(servedByThread),
    failovers,
    hashers,
    restarts,
  };
}

// --- HTTP ----------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function intParam(url: URL, key: string, fallback: number | undefined, max: number): number | undefined {
  const raw = url.searchParams.get(key);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new HttpError(400, `${key} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

async function route(req: http.IncomingMessage): Promise<[number, unknown]> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const key = `${req.method} ${url.pathname}`;
  switch (key) {
    case 'GET /hash': {
      const rounds = intParam(url, 'rounds', 5000, MAX_ROUNDS) as number;
      const worker = intParam(url, 'worker', undefined, THREADS - 1);
      try {
        return [200, await hash(rounds, url.searchParams.get('input') ?? 'spindle', worker)];
      } catch (e) {
        if (unavailable(e)) throw new HttpError(503, `no hasher available: ${(e as Error).message}`);
        throw e;
      }
    }
    case 'GET /stats':
      return [200, await stats()];
    case 'POST /crash': {
      const worker = intParam(url, 'worker', undefined, THREADS - 1);
      if (worker === undefined) throw new HttpError(400, 'worker is required');
      const { thread } = await GenServer.call(hasherName(worker), { type: 'crash' });
      return [202, { crashing: `hasher-${worker}`, thread }];
    }
    default:
      throw new HttpError(404, `no route for ${key}`);
  }
}

const server = http.createServer((req, res) => {
  req.resume(); // no endpoint reads a body
  route(req).then(
    ([status, body]) => send(res, status, body),
    (e: unknown) => send(res, e instanceof HttpError ? e.status : 500, { error: e instanceof Error ? e.message : String(e) }),
  );
});

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const port = Number(process.env.PORT ?? 0);
server.listen(port, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`compute-service listening on ${base}`);

if (DEMO) {
  await demo();
} else {
  console.log(`try: curl '${base}/hash?rounds=20000'   curl ${base}/stats   curl -X POST '${base}/crash?worker=0'`);
  console.log('Ctrl-C (SIGINT) or SIGTERM stops the application gracefully');
}

// --- Self-demo: talks to itself over loopback, then stops everything ----------------------

async function demo(): Promise<void> {
  // If anything hangs, fail loudly instead of waiting forever (unref: does not keep us alive).
  setTimeout(() => {
    console.error('demo did not finish within 25 s');
    process.exit(1);
  }, 25_000).unref();

  const agent = new http.Agent({ keepAlive: true });
  const request = (method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    });
  let ok = 0;
  let failed = 0;
  const get = async (path: string): Promise<Record<string, unknown>> => {
    const r = await request('GET', path);
    if (r.status === 200) ok++;
    else failed++;
    if (r.status !== 200) console.log(`  GET ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const lifecycle = (match: (e: LifecycleEvent) => boolean, timeoutMessage: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${timeoutMessage} within 10 s`)), 10_000);
      const off = onLifecycle((e) => {
        if (!match(e)) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  const show = (b: Record<string, unknown>): string => `${b.hasher} on thread ${b.thread}, ${b.ms} ms, ${String(b.digest).slice(0, 12)}…`;

  try {
    console.log(`\n1. ${THREADS * 3} requests at once, spread round-robin over ${THREADS} hasher threads`);
    const wall = performance.now();
    const replies = await Promise.all(Array.from({ length: THREADS * 3 }, () => get('/hash?rounds=5000')));
    const busy = replies.reduce((sum, b) => sum + Number(b.ms), 0);
    for (const b of replies) console.log(`  ${show(b)}`);
    console.log(`  ${Math.round(busy)} ms of hashing done in ${Math.round(performance.now() - wall)} ms of wall time`);

    console.log('\n2. POST /crash?worker=0: an uncaught exception in a timer kills that thread');
    // Lifecycle events on the main thread tell us when the thread child exits and comes back.
    const exited = lifecycle((e) => e.type === 'crashed' && ThreadExitError.is(e.reason.error), 'thread-0 did not exit');
    const restarted = lifecycle((e) => e.type === 'restarted' && e.childId === 'thread-0', 'thread-0 was not restarted');
    const crash = await request('POST', '/crash?worker=0');
    console.log(`  -> ${crash.status} ${JSON.stringify(crash.body)}`);
    await exited;
    // While thread-0 restarts, the service keeps answering: hasher-0 is skipped, the next one serves.
    const during = await Promise.all([get('/hash?rounds=2000'), get('/hash?rounds=2000')]);
    for (const b of during) console.log(`  while thread-0 restarts: ${show(b)}`);
    await restarted;

    console.log('\n3. after the restart, hasher-0 answers again, from a new thread');
    console.log(`  ${show(await get('/hash?rounds=5000&worker=0'))}`);
    for (const b of await Promise.all(Array.from({ length: THREADS }, () => get('/hash?rounds=5000')))) console.log(`  ${show(b)}`);

    console.log('\n4. GET /stats');
    const s = await get('/stats');
    console.log(`  served by thread: ${JSON.stringify(s.servedByThread)}`);
    console.log(`  restarts: ${JSON.stringify(s.restarts)}, failovers: ${s.failovers}, live threads: ${s.threads}`);

    console.log(
      `\nsummary: ${ok} requests answered 200, ${failed} failed, 1 thread crashed and was restarted, ${s.failovers} request(s) failed over`,
    );
    if (failed > 0) process.exitCode = 1;
  } catch (e) {
    console.error('demo failed:', e);
    process.exitCode = 1;
  } finally {
    agent.destroy();
    await app.stop(); // stops the thread subtrees in reverse order, then closes the server (onStop)
  }
}
