/**
 * Multi-process cluster test kit: starts real node processes (kit/node-main.ts) on loopback,
 * talks to them over the IPC channel, and cleans them all up.
 *
 * ```ts
 * afterEach(() => stopAll());
 * const [a, b, c] = await startCluster(3);
 * await a.request({ cmd: 'call', target: { name: 'counter', node: b.nodeId }, msg: 'get' });
 * b.kill('SIGKILL');
 * await a.waitFor((e) => e.event === 'nodeDown' && e.node === b.nodeId, 5000);
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AnyRef } from '../../../src/index.js';
import type { Command, NodeConfig, NodeEvent, Reply, WireError } from './node-main.js';
import { FaultProxy } from './proxy.js';

export type { Command, NodeConfig, NodeEvent, WireError } from './node-main.js';

const NODE_MAIN = fileURLToPath(new URL('./node-main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A secret shared by the kit's clusters (>= 16 characters). */
export const TEST_SECRET = 'spindle-test-secret-0123456789';

export interface NodeOptions extends Partial<NodeConfig> {
  readonly nodeName: string;
  readonly host: string;
  /** How long to wait for the node to be ready; default 20000 ms. */
  readonly readyTimeoutMs?: number;
}

/** An event as the parent saw it: `at` is the parent's performance.now() on receipt. */
export type SeenEvent = NodeEvent & { readonly at: number };

/** A request failed on the node: carries the node's serialised error. */
export class NodeRequestError extends Error {
  override name = 'NodeRequestError';
  constructor(
    readonly remote: WireError,
    readonly cmd: string,
  ) {
    super(`${cmd}: ${remote.name}${remote.code !== undefined ? ` (${remote.code})` : ''}: ${remote.message}`);
  }
}

export interface NodeHandle {
  readonly name: string;
  readonly host: string;
  readonly options: NodeOptions;
  readonly pid: number;
  /** Short id `name@host:port`. */
  readonly nodeId: string;
  readonly port: number;
  /** Refs of the servers the node started (counter, echo, crasher, slow, collector). */
  readonly refs: Record<string, AnyRef>;
  /** Every event received, in order. */
  readonly events: SeenEvent[];
  /** Sends a command; resolves with its value, rejects with NodeRequestError (default timeout 15000 ms). */
  request<T = unknown>(cmd: Command, timeoutMs?: number): Promise<T>;
  /** Sends a command; resolves with the serialised error it failed with (throws if it succeeded). */
  requestError(cmd: Command, timeoutMs?: number): Promise<WireError>;
  /** Resolves with the first event (already seen or later) matching `pred`. */
  waitFor(pred: (e: SeenEvent) => boolean, timeoutMs?: number, what?: string): Promise<SeenEvent>;
  kill(signal?: NodeJS.Signals): void;
  /** Graceful leave (`Cluster.stop`), then waits for the process to exit. */
  stop(timeoutMs?: number): Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** What the node wrote to stderr (and stdout), for failure messages. */
  output(): string;
}

const children = new Set<ChildProcess>();

/** Polls `cond` until it is truthy or the deadline passes (then throws). */
export async function until<T>(cond: () => T | Promise<T>, timeoutMs = 15000, what = 'condition', everyMs = 20): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Starts one node process; resolves once its cluster is running and its servers started. */
export async function startNode(options: NodeOptions): Promise<NodeHandle> {
  const config: NodeConfig = {
    clusterSecret: TEST_SECRET,
    ...Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'readyTimeoutMs')),
  } as NodeConfig;
  const child = spawn(process.execPath, ['--import', 'tsx', NODE_MAIN, JSON.stringify(config)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.add(child);
  let out = '';
  const append = (c: Buffer): void => {
    out += c.toString('utf8');
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      children.delete(child);
      resolve({ code, signal });
    });
  });

  const events: SeenEvent[] = [];
  const waiters = new Set<{ pred: (e: SeenEvent) => boolean; resolve: (e: SeenEvent) => void }>();
  const pending = new Map<number, { resolve: (r: Reply) => void }>();
  let nextId = 1;
  child.on('message', (m: NodeEvent | Reply) => {
    if ('id' in m) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      p?.resolve(m);
      return;
    }
    const e = { ...m, at: performance.now() } as SeenEvent;
    events.push(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.delete(w);
        w.resolve(e);
      }
    }
  });
  child.on('error', () => {});

  const label = `${options.nodeName}@${options.host}`;
  const ready = await new Promise<Extract<NodeEvent, { event: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${label} not ready in time; output:\n${out}`)), options.readyTimeoutMs ?? 20000);
    const onMessage = (m: NodeEvent | Reply): void => {
      if ('event' in m && m.event === 'ready') {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      } else if ('event' in m && m.event === 'fatal') {
        clearTimeout(timer);
        child.off('message', onMessage);
        reject(new Error(`node ${label} failed to start: ${m.error.name}: ${m.error.message}\n${out}`));
      }
    };
    child.on('message', onMessage);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node ${label} exited (code ${code}, signal ${signal}) before ready; output:\n${out}`));
    });
  }).catch((e: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e;
  });

  const port = Number(ready.nodeId.slice(ready.nodeId.lastIndexOf(':') + 1));

  function raw(cmd: Command, timeoutMs: number): Promise<Reply> {
    if (!alive || !child.connected) return Promise.reject(new Error(`${cmd.cmd}: node ${ready.nodeId} is not running`));
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${cmd.cmd} to ${ready.nodeId} got no answer in ${timeoutMs} ms; output: ${out.slice(-2000)}`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      void exited.then(() => {
        if (!pending.has(id)) return;
        pending.delete(id);
        clearTimeout(timer);
        reject(new Error(`${cmd.cmd}: node ${ready.nodeId} exited before answering`));
      });
      child.send({ ...cmd, id }, (err) => {
        if (err !== null && pending.has(id)) {
          pending.delete(id);
          clearTimeout(timer);
          reject(err);
        }
      });
    });
  }

  const handle: NodeHandle = {
    name: options.nodeName,
    host: options.host,
    options,
    pid: child.pid ?? -1,
    nodeId: ready.nodeId,
    port,
    refs: ready.refs,
    events,
    async request<T>(cmd: Command, timeoutMs = 15000): Promise<T> {
      const r = await raw(cmd, timeoutMs);
      if (r.ok) return r.value as T;
      throw new NodeRequestError(r.error, cmd.cmd);
    },
    async requestError(cmd: Command, timeoutMs = 15000): Promise<WireError> {
      const r = await raw(cmd, timeoutMs);
      if (r.ok) throw new Error(`${cmd.cmd} on ${ready.nodeId} was expected to fail but returned ${JSON.stringify(r.value)}`);
      return r.error;
    },
    waitFor(pred, timeoutMs = 15000, what = 'event') {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<SeenEvent>((resolve, reject) => {
        const w = {
          pred,
          resolve: (e: SeenEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `${ready.nodeId}: timed out after ${timeoutMs} ms waiting for ${what}; last events: ${JSON.stringify(events.slice(-20))}; output: ${out.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(w);
      });
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (alive) child.kill(signal);
    },
    async stop(timeoutMs = 15000) {
      if (!alive) return;
      await raw({ cmd: 'stop' }, timeoutMs).catch(() => undefined);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
    exited,
    get alive() {
      return alive;
    },
    output: () => out,
  };
  return handle;
}

export interface ClusterOptions extends Partial<Omit<NodeOptions, 'nodeName' | 'host' | 'seeds'>> {
  /** Node names are `${prefix}${i}` (i from 1); default 'n'. */
  readonly prefix?: string;
  /** Node i listens on 127.0.0.(hostBase + i); default 10. */
  readonly hostBase?: number;
  /** How long to wait for the full mesh; default 20000 ms. */
  readonly meshTimeoutMs?: number;
}

/** The loopback address of node i (1-based). */
export function hostOf(i: number, hostBase = 10): string {
  return `127.0.0.${hostBase + i}`;
}

/**
 * Starts `n` nodes: node 1 first, then the others with node 1 as their seed (in parallel);
 * resolves once every node has every other one connected.
 */
export async function startCluster(n: number, options: ClusterOptions = {}): Promise<NodeHandle[]> {
  const { prefix = 'n', hostBase = 10, meshTimeoutMs = 20000, ...rest } = options;
  const first = await startNode({ ...rest, nodeName: `${prefix}1`, host: hostOf(1, hostBase) });
  const others = await Promise.all(
    Array.from({ length: n - 1 }, (_, k) =>
      startNode({ ...rest, nodeName: `${prefix}${k + 2}`, host: hostOf(k + 2, hostBase), seeds: [first.nodeId] }),
    ),
  );
  const nodes = [first, ...others];
  await waitMesh(nodes, meshTimeoutMs);
  return nodes;
}

/** Waits until every node in `nodes` reports every other one connected (getNodeIds). */
export async function waitMesh(nodes: readonly NodeHandle[], timeoutMs = 20000): Promise<void> {
  await Promise.all(
    nodes.map((node) =>
      until(
        async () => {
          const ids = await node.request<string[]>({ cmd: 'nodeIds' }, 5000);
          return nodes.every((o) => o === node || ids.includes(o.nodeId));
        },
        timeoutMs,
        `${node.nodeId} to see ${nodes
          .filter((o) => o !== node)
          .map((o) => o.nodeId)
          .join(', ')} connected`,
        50,
      ),
    ),
  );
}

/** SIGKILLs every node process the kit started that is still running, and waits for them. */
export async function stopAll(): Promise<void> {
  const all = [...children];
  const exits = all.map(
    (c) =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve();
        else c.once('exit', () => resolve());
      }),
  );
  for (const c of all) {
    try {
      c.kill('SIGKILL');
    } catch {
      if (c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {}
      }
    }
  }
  await Promise.all(exits);
}

/** The number of node processes still running. */
export function runningNodes(): number {
  return children.size;
}

/** Two nodes whose every connection goes through a fault proxy (see {@link startProxiedPair}). */
export interface ProxiedPair {
  readonly a: NodeHandle;
  readonly b: NodeHandle;
  /** In front of a (b dials a through it) and in front of b (a dials b through it). */
  readonly proxies: readonly [FaultProxy, FaultProxy];
  blackhole(): void;
  heal(): void;
  cut(): void;
  throttle(bytesPerSecond: number): void;
  /** Kills both nodes and closes both proxies. */
  close(): Promise<void>;
}

/**
 * Starts nodes `a` and `b` (hosts 127.0.0.(base) and 127.0.0.(base+1)), each advertising the
 * address of a proxy in front of it (127.0.0.(base+10) and 127.0.0.(base+11), same port), so
 * whichever side dials, the connection goes through a proxy; `a` is seeded with `b`. The
 * proxies' outgoing sockets come from the dialer's own host. Resolves once both see each other.
 */
export async function startProxiedPair(
  names: readonly [string, string],
  base: number,
  options: Partial<Omit<NodeOptions, 'nodeName' | 'host' | 'seeds' | 'advertise'>> = {},
): Promise<ProxiedPair> {
  const hostA = `127.0.0.${base}`;
  const hostB = `127.0.0.${base + 1}`;
  const frontA = `127.0.0.${base + 10}`;
  const frontB = `127.0.0.${base + 11}`;
  const opened: FaultProxy[] = [];
  const started: NodeHandle[] = [];
  try {
    const b = await startNode({ ...options, nodeName: names[1], host: hostB, advertise: frontB });
    started.push(b);
    const proxyB = await FaultProxy.start({
      target: { host: hostB, port: b.port },
      listenHost: frontB,
      listenPort: b.port,
      localAddress: hostA,
    });
    opened.push(proxyB);
    const a = await startNode({ ...options, nodeName: names[0], host: hostA, advertise: frontA, seeds: [b.nodeId] });
    started.push(a);
    const proxyA = await FaultProxy.start({
      target: { host: hostA, port: a.port },
      listenHost: frontA,
      listenPort: a.port,
      localAddress: hostB,
    });
    opened.push(proxyA);
    await waitMesh([a, b]);
    const both = [proxyA, proxyB] as const;
    return {
      a,
      b,
      proxies: both,
      blackhole: () => {
        for (const p of both) p.blackhole();
      },
      heal: () => {
        for (const p of both) p.heal();
      },
      cut: () => {
        for (const p of both) p.cut();
      },
      throttle: (rate) => {
        for (const p of both) p.throttle(rate);
      },
      close: async () => {
        for (const n of [a, b]) n.kill('SIGKILL');
        await Promise.all([a.exited, b.exited]);
        await Promise.all(both.map((p) => p.close()));
      },
    };
  } catch (e) {
    for (const n of started) n.kill('SIGKILL');
    await Promise.all(started.map((n) => n.exited));
    await Promise.all(opened.map((p) => p.close()));
    throw e;
  }
}
