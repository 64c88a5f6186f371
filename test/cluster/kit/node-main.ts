/**
 * One cluster node for the multi-process tests, run as a child process:
 *
 *     node --import tsx test/cluster/kit/node-main.ts '<NodeConfig as JSON>'
 *
 * It starts distribution (`Cluster.start`), registers the test behaviours with
 * `BehaviorRegistry`, starts the registered servers `counter`, `echo`, `crasher`, `slow` and
 * `collector`, then serves a small fixed command set from its parent over the IPC channel
 * (see {@link Command}; no eval). Replies are `{ id, ok: true, value }` or
 * `{ id, ok: false, error }`; unsolicited events are `{ event, ... }` (see {@link NodeEvent}).
 * It exits when the parent disconnects, so no node outlives a crashed test run.
 */
import {
  type AnyRef,
  BehaviorRegistry,
  Cluster,
  DistributedSupervisor,
  type DistributedSupervisorOptions,
  type ExitReason,
  formatReason,
  GenServer,
  type GenServerBehavior,
  GlobalRegistry,
  isDownMessage,
  isExitMessage,
  Process,
  Registry,
  Result,
  Supervisor,
} from '../../../src/index.js';
import type { ClusterBackend } from '../../../src/etcd.js';

const THREAD_TREE = new URL('./thread-tree.ts', import.meta.url).href;

/** What the parent passes as argv[2]. */
export interface NodeConfig {
  readonly nodeName: string;
  readonly host: string;
  readonly port?: number;
  /** Host written in the node id (peers dial it), e.g. a proxy's address; default `host`. */
  readonly advertise?: string;
  readonly seeds?: readonly string[];
  readonly clusterSecret?: string;
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatMissThreshold?: number;
  readonly handshakeTimeoutMs?: number;
  readonly reconnectBaseMs?: number;
  /** Start the registered servers (default true). */
  readonly startServers?: boolean;
  /** The names backend: `'embedded'` (default) or `'etcd'` (then `etcdEndpoints` is required). */
  readonly backend?: 'embedded' | 'etcd';
  readonly etcdEndpoints?: readonly string[];
  /** The etcd lease TTL (ms); default the backend's. */
  readonly leaseTtlMs?: number;
  /** The etcd key prefix (distinct per test cluster sharing one etcd). */
  readonly etcdPrefix?: string;
}

/** A remote or local target: a ref, a registered name here, or `{ name, node }`. */
export type Target = AnyRef | string | { readonly name: string; readonly node: string };

/** The commands a node answers. */
export type Command =
  /** `{ nodeId, pid, refs }`: the short node id, the OS pid, the refs of the boot servers. */
  | { readonly cmd: 'info' }
  | { readonly cmd: 'nodes' }
  | { readonly cmd: 'nodeIds' }
  | { readonly cmd: 'connectedNodes' }
  | { readonly cmd: 'call'; readonly target: Target; readonly msg: unknown; readonly timeout?: number }
  | { readonly cmd: 'cast'; readonly target: Target; readonly msg: unknown }
  /** Casts `{ seq: i, from }` for i in 0..count-1, in one turn. */
  | { readonly cmd: 'castSeq'; readonly target: Target; readonly count: number; readonly from: string }
  /**
   * Casts `'inc'` to `target` at `rate` per second for `ms` (paced by a 1 ms timer, as an
   * application producing steadily); resolves with `{ sent, ms }` once done.
   */
  | { readonly cmd: 'flood'; readonly target: Target; readonly rate: number; readonly ms: number }
  /** Calls `target` with `{ measure: <bytes-long Uint8Array> }`; resolves with the reply. */
  | { readonly cmd: 'callBig'; readonly target: Target; readonly bytes: number; readonly timeout?: number }
  /** A local watcher process monitors `target`; an event `down` comes later. */
  | { readonly cmd: 'monitor'; readonly target: AnyRef }
  /** A local linker process (trapping exits unless `trap` is false) links to `target`; events `exit` come later. */
  | { readonly cmd: 'link'; readonly target: AnyRef; readonly trap?: boolean }
  /** The linker `linkId` exits with `reason`. */
  | { readonly cmd: 'linkerExit'; readonly linkId: number; readonly reason: ExitReason }
  /** Starts a registered behaviour locally (unnamed unless `name`). */
  | { readonly cmd: 'spawn'; readonly behavior: string; readonly name?: string; readonly args?: unknown }
  | { readonly cmd: 'alive'; readonly target: AnyRef }
  | { readonly cmd: 'exit'; readonly target: AnyRef; readonly reason: ExitReason | 'kill' }
  | {
      readonly cmd: 'startRemote';
      readonly behavior: string;
      readonly targetNode: string;
      readonly name?: string;
      readonly args?: unknown;
    }
  /** Starts a worker-thread subtree (kit/thread-tree.ts) whose relay server is registered as `name`; resolves with its ref. */
  | { readonly cmd: 'startThread'; readonly name: string }
  | { readonly cmd: 'status' }
  /** `process.memoryUsage()` of the node. */
  | { readonly cmd: 'memory' }
  /** Starts a `probe` (args `tag`) and registers it globally as `name`; resolves with its ref. */
  | { readonly cmd: 'gRegister'; readonly name: string; readonly tag?: string }
  /** Registers an existing ref globally as `name`. */
  | { readonly cmd: 'gRegisterRef'; readonly name: string; readonly ref: AnyRef }
  | { readonly cmd: 'gUnregister'; readonly name: string }
  /** The holder of `name` in this node's replica, or null. */
  | { readonly cmd: 'gWhereis'; readonly name: string }
  | { readonly cmd: 'gNames' }
  /** Starts a DistributedSupervisor; children default to behaviour `probe` with args = their id. */
  | {
      readonly cmd: 'dsupStart';
      readonly name: string;
      readonly children: readonly {
        readonly id: string;
        readonly behavior?: string;
        readonly args?: unknown;
        readonly restart?: 'permanent' | 'transient' | 'temporary';
      }[];
      readonly nodeSelector?: DistributedSupervisorOptions['nodeSelector'];
      readonly splitBrain?: DistributedSupervisorOptions['splitBrain'];
      readonly restartIntensity?: DistributedSupervisorOptions['restartIntensity'];
    }
  /** `getChildren`, or null while this node holds no record of the supervisor. */
  | { readonly cmd: 'dsupChildren'; readonly name: string }
  /** `countChildren`, or null while this node holds no record of the supervisor. */
  | { readonly cmd: 'dsupCount'; readonly name: string }
  | { readonly cmd: 'dsupRunning'; readonly name: string }
  | { readonly cmd: 'dsupStop'; readonly name: string }
  /** The probes alive on this node: `{ tag, ref }[]` (the exactly-once ground truth). */
  | { readonly cmd: 'probes' }
  /** Graceful leave (`Cluster.stop()`), staying alive. */
  | { readonly cmd: 'leave' }
  /** Graceful leave, then exit 0. */
  | { readonly cmd: 'stop' };

/** A command with its request id, as sent by the parent. */
export type Request = Command & { readonly id: number };

/** An error as it crosses the IPC channel. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly node?: string;
  readonly reason?: string;
  readonly cause?: WireError;
}

/** Unsolicited messages from a node. */
export type NodeEvent =
  | { readonly event: 'ready'; readonly nodeId: string; readonly refs: Record<string, AnyRef>; readonly pid: number }
  | { readonly event: 'fatal'; readonly error: WireError }
  | { readonly event: 'nodeUp'; readonly node: string; readonly t: number }
  | { readonly event: 'nodeDown'; readonly node: string; readonly reason: string; readonly t: number }
  | { readonly event: 'down'; readonly watchId: number; readonly ref: AnyRef; readonly reason: string; readonly t: number }
  | { readonly event: 'exit'; readonly linkId: number; readonly from: AnyRef; readonly reason: string; readonly t: number }
  | { readonly event: 'slowStarted'; readonly ms: number; readonly t: number }
  | { readonly event: 'linkerDown'; readonly linkId: number; readonly reason: string; readonly t: number }
  /** A `probe` ran its init (tag = its args): which node and OS process runs it. */
  | { readonly event: 'probeInit'; readonly tag: string; readonly ref: AnyRef; readonly pid: number; readonly t: number }
  /** A `probe` ran its terminate. */
  | { readonly event: 'probeExit'; readonly tag: string; readonly ref: AnyRef; readonly reason: string; readonly t: number };

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

// ---------------------------------------------------------------------------------------
// Behaviours

/** A handler error with a custom class and code (it must reach a remote caller by name and code). */
export class CustomBoomError extends Error {
  override name = 'CustomBoomError';
  readonly code = 'E_CUSTOM_BOOM';
}

type CounterP = { call: ['get', number] | [{ add: number }, number]; cast: 'inc' };
const counter: GenServerBehavior<number, CounterP, number | undefined> = {
  init: (start) => start ?? 0,
  handleCall: (msg, n) => {
    if (msg === 'get') return [n, n];
    return [n + msg.add, n + msg.add];
  },
  handleCast: (_msg, n) => n + 1,
};

type EchoP = { call: [unknown, unknown]; cast: unknown };
const echo: GenServerBehavior<null, EchoP> = {
  init: () => null,
  handleCall: (msg, s) => {
    if (typeof msg === 'object' && msg !== null && 'measure' in msg) {
      const data = (msg as { measure: unknown }).measure;
      if (!(data instanceof Uint8Array)) return [{ bytes: -1, type: typeof data }, s];
      let sum = 0;
      for (let i = 0; i < data.length; i += 4096) sum = (sum + data[i]!) % 1_000_000_007;
      return [{ bytes: data.byteLength, sum }, s];
    }
    return [msg, s];
  },
  handleCast: (_msg, s) => s,
};

type CrasherP = { call: ['ping', 'pong'] | ['crash', never]; cast: 'crash' };
const crasher: GenServerBehavior<null, CrasherP> = {
  init: () => null,
  handleCall: (msg, s) => {
    if (msg === 'crash') throw new CustomBoomError('boom from the handler');
    return ['pong', s];
  },
  handleCast: () => {
    throw new CustomBoomError('boom from a cast');
  },
};

type SlowP = { call: [{ sleep: number }, string] };
const slow: GenServerBehavior<null, SlowP> = {
  init: () => null,
  handleCall: async (msg, s) => {
    send({ event: 'slowStarted', ms: msg.sleep, t: Date.now() });
    await new Promise((r) => setTimeout(r, msg.sleep));
    return ['slept', s];
  },
};

type CollectorP = { call: ['take', { from: string; seq: number }[]]; cast: { from: string; seq: number } };
const collector: GenServerBehavior<{ from: string; seq: number }[], CollectorP> = {
  init: () => [],
  handleCall: (_msg, s) => [s, []],
  handleCast: (msg, s) => {
    s.push(msg);
    return s;
  },
};

/** A behaviour whose init fails (for startRemote's InitFailedError). */
const failsInit: GenServerBehavior<null> = {
  init: () => {
    throw new CustomBoomError('init refused');
  },
};

/** Probes alive here (the `probes` command filters by liveness). */
const probes = new Map<string, { tag: string; ref: AnyRef }>();

/**
 * A test child for GlobalRegistry and DistributedSupervisor: reports its init and terminate as
 * events; call `'where'` answers `{ tag, node, pid }`; cast `'crash'` crashes it.
 */
type ProbeP = { call: ['where', { tag: string; node: string; pid: number }]; cast: 'crash' | 'stop' };
const probe: GenServerBehavior<string, ProbeP, string> = {
  init: (tag) => {
    const ref = GenServer.self();
    probes.set(`${ref.id}`, { tag: String(tag), ref });
    send({ event: 'probeInit', tag: String(tag), ref, pid: process.pid, t: Date.now() });
    return String(tag);
  },
  handleCall: (_msg, s) => [{ tag: s, node: GenServer.self().node, pid: process.pid }, s],
  handleCast: (msg, s) => {
    if (msg === 'crash') throw new Error(`probe ${s} crashed on request`);
    return Result.stop('normal', s);
  },
  terminate: (reason, s) => {
    send({ event: 'probeExit', tag: s, ref: GenServer.self(), reason: reasonText(reason), t: Date.now() });
  },
};

export const BEHAVIOURS = { counter, echo, crasher, slow, collector, failsInit, probe } as const;

// ---------------------------------------------------------------------------------------
// Plumbing

function send(m: NodeEvent | Reply, then?: () => void): void {
  if (process.connected && process.send !== undefined) process.send(m, undefined, {}, () => then?.());
  else then?.();
}

function reasonText(reason: ExitReason): string {
  try {
    return formatReason(reason);
  } catch {
    return String(reason);
  }
}

function wireError(e: unknown, depth = 0): WireError {
  if (typeof e !== 'object' || e === null) return { name: 'NonError', message: String(e) };
  const o = e as Record<string, unknown>;
  const out: {
    name: string;
    message: string;
    code?: string;
    node?: string;
    reason?: string;
    cause?: WireError;
  } = {
    name: typeof o.name === 'string' ? o.name : 'Error',
    message: typeof o.message === 'string' ? o.message : '',
  };
  if (typeof o.code === 'string') out.code = o.code;
  if (typeof o.node === 'string') out.node = o.node;
  if (typeof o.reason === 'string') out.reason = o.reason;
  else if (o.reason !== undefined) out.reason = reasonText(o.reason as ExitReason);
  if (depth < 3 && o.cause !== undefined) out.cause = wireError(o.cause, depth + 1);
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: targets of every protocol.
function target(t: Target): any {
  return t;
}

// A watcher: monitors on request, reports DOWN messages.
type WatcherP = { call: [{ monitor: AnyRef }, 'ok'] };
function watcher(watchId: number): GenServerBehavior<null, WatcherP> {
  return {
    init: () => null,
    handleCall: (msg, s) => {
      Process.monitor(msg.monitor);
      return ['ok', s];
    },
    handleInfo: (msg, s) => {
      if (isDownMessage(msg)) send({ event: 'down', watchId, ref: msg.ref, reason: reasonText(msg.reason), t: Date.now() });
      return s;
    },
  };
}

// A linker: links on request, reports EXIT messages (when trapping), exits on request.
type LinkerP = { call: [{ link: AnyRef }, 'ok']; cast: { exit: ExitReason } };
function linker(linkId: number): GenServerBehavior<null, LinkerP> {
  return {
    init: () => null,
    handleCall: (msg, s) => {
      Process.link(msg.link);
      return ['ok', s];
    },
    handleCast: (msg, s) => Result.stop(msg.exit, s),
    handleInfo: (msg, s) => {
      if (isExitMessage(msg)) send({ event: 'exit', linkId, from: msg.from, reason: reasonText(msg.reason), t: Date.now() });
      return s;
    },
  };
}

/** The servers started at boot, by name. */
const refs: Record<string, AnyRef> = {};
const linkers = new Map<number, AnyRef>();
let nextWatch = 1;
let nextLink = 1;

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'info':
      return { nodeId: Cluster.getLocalNodeId(), pid: process.pid, refs };
    case 'startThread': {
      await Supervisor.start({
        strategy: 'one_for_one',
        children: [{ id: `thread-${c.name}`, thread: { module: THREAD_TREE, args: { name: c.name } } }],
      });
      const deadline = Date.now() + 20000;
      for (;;) {
        const ref = Registry.whereis(c.name);
        if (ref !== undefined) return ref;
        if (Date.now() > deadline) throw new Error(`the thread's ${c.name} did not register`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    case 'status':
      return Cluster.getStatus();
    case 'memory':
      return process.memoryUsage();
    case 'nodes':
      return Cluster.getNodes();
    case 'connectedNodes':
      return Cluster.getConnectedNodes();
    case 'nodeIds':
      return Cluster.getNodeIds();
    case 'call':
      return GenServer.call(target(c.target), c.msg, c.timeout !== undefined ? { timeout: c.timeout } : {});
    case 'cast':
      GenServer.cast(target(c.target), c.msg);
      return 'ok';
    case 'castSeq':
      for (let i = 0; i < c.count; i++) GenServer.cast(target(c.target), { from: c.from, seq: i });
      return 'ok';
    case 'flood': {
      const to = target(c.target);
      const t0 = performance.now();
      let sent = 0;
      for (let elapsed = 0; elapsed < c.ms; elapsed = performance.now() - t0) {
        const due = Math.floor((elapsed * c.rate) / 1000);
        for (; sent < due; sent++) GenServer.cast(to, 'inc');
        await new Promise((r) => setTimeout(r, 1));
      }
      return { sent, ms: performance.now() - t0 };
    }
    case 'callBig': {
      const data = new Uint8Array(c.bytes);
      for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) % 251;
      return GenServer.call(target(c.target), { measure: data }, c.timeout !== undefined ? { timeout: c.timeout } : {});
    }
    case 'monitor': {
      const watchId = nextWatch++;
      const ref = await GenServer.start(watcher(watchId));
      await GenServer.call(ref, { monitor: c.target });
      return { watchId };
    }
    case 'link': {
      const linkId = nextLink++;
      const ref = await GenServer.start(linker(linkId), { trapExit: c.trap ?? true });
      linkers.set(linkId, ref);
      Process.watch(ref, (reason) => send({ event: 'linkerDown', linkId, reason: reasonText(reason), t: Date.now() }));
      await GenServer.call(ref, { link: c.target });
      return { linkId, ref };
    }
    case 'linkerExit': {
      const ref = linkers.get(c.linkId);
      if (ref === undefined) throw new Error(`no linker ${c.linkId}`);
      GenServer.cast(ref, { exit: c.reason });
      return 'ok';
    }
    case 'spawn': {
      const b = (BEHAVIOURS as unknown as Record<string, GenServerBehavior<unknown, never, unknown>>)[c.behavior];
      if (b === undefined) throw new Error(`no behaviour ${c.behavior}`);
      return GenServer.start(b, { ...(c.name !== undefined ? { name: c.name } : {}), args: c.args });
    }
    case 'alive':
      return Process.alive(c.target);
    case 'exit':
      Process.exit(c.target, c.reason);
      return 'ok';
    case 'startRemote':
      return GenServer.startRemote(c.behavior, {
        targetNode: c.targetNode,
        ...(c.name !== undefined ? { name: c.name } : {}),
        ...(c.args !== undefined ? { args: c.args } : {}),
      });
    case 'gRegister': {
      const ref = await GenServer.start(probe, { args: c.tag ?? c.name });
      try {
        await GlobalRegistry.register(c.name, ref);
      } catch (e) {
        await GenServer.stop(ref).catch(() => {});
        throw e;
      }
      return ref;
    }
    case 'gRegisterRef':
      await GlobalRegistry.register(c.name, c.ref);
      return 'ok';
    case 'gUnregister':
      await GlobalRegistry.unregister(c.name);
      return 'ok';
    case 'gWhereis':
      return GlobalRegistry.whereis(c.name) ?? null;
    case 'gNames':
      return GlobalRegistry.getNames();
    case 'dsupStart': {
      const ref = await DistributedSupervisor.start({
        name: c.name,
        children: c.children.map((k) => ({
          id: k.id,
          behavior: k.behavior ?? 'probe',
          args: k.args ?? k.id,
          ...(k.restart !== undefined ? { restart: k.restart } : {}),
        })),
        ...(c.nodeSelector !== undefined ? { nodeSelector: c.nodeSelector } : {}),
        ...(c.splitBrain !== undefined ? { splitBrain: c.splitBrain } : {}),
        ...(c.restartIntensity !== undefined ? { restartIntensity: c.restartIntensity } : {}),
      });
      return ref;
    }
    case 'dsupChildren':
      return DistributedSupervisor.isRunning({ dsup: c.name }) ? DistributedSupervisor.getChildren({ dsup: c.name }) : null;
    case 'dsupCount':
      return DistributedSupervisor.isRunning({ dsup: c.name }) ? DistributedSupervisor.countChildren({ dsup: c.name }) : null;
    case 'dsupRunning':
      return DistributedSupervisor.isRunning({ dsup: c.name });
    case 'dsupStop':
      await DistributedSupervisor.stop({ dsup: c.name });
      return 'ok';
    case 'probes': {
      const out: { tag: string; ref: AnyRef }[] = [];
      for (const [k, p] of probes) {
        if (Process.alive(p.ref)) out.push(p);
        else probes.delete(k);
      }
      return out;
    }
    case 'leave':
      await Cluster.stop();
      return Cluster.getStatus();
    case 'stop':
      await Cluster.stop();
      return 'stopped';
  }
}

async function etcdBackend(config: NodeConfig): Promise<ClusterBackend> {
  if (config.etcdEndpoints === undefined || config.etcdEndpoints.length === 0) throw new Error("backend 'etcd' needs etcdEndpoints");
  const { etcd } = await import('../../../src/etcd.js');
  return etcd({
    endpoints: [...config.etcdEndpoints],
    ...(config.leaseTtlMs !== undefined ? { leaseTtlMs: config.leaseTtlMs } : {}),
    ...(config.etcdPrefix !== undefined ? { prefix: config.etcdPrefix } : {}),
  });
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('node-main: expected the config as JSON in argv[2]');
  const config = JSON.parse(raw) as NodeConfig;
  for (const [name, b] of Object.entries(BEHAVIOURS)) BehaviorRegistry.register(name, b as GenServerBehavior<unknown>);
  const nodeId = await Cluster.start({
    nodeName: config.nodeName,
    host: config.host,
    port: config.port ?? 0,
    seeds: [...(config.seeds ?? [])],
    ...(config.clusterSecret !== undefined ? { clusterSecret: config.clusterSecret } : {}),
    ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
    ...(config.heartbeatMissThreshold !== undefined ? { heartbeatMissThreshold: config.heartbeatMissThreshold } : {}),
    ...(config.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: config.handshakeTimeoutMs } : {}),
    ...(config.reconnectBaseMs !== undefined ? { reconnectBaseMs: config.reconnectBaseMs } : {}),
    ...(config.advertise !== undefined ? { advertise: config.advertise } : {}),
    ...(config.backend === 'etcd' ? { backend: await etcdBackend(config) } : {}),
  });
  // Right after start (same turn): no session can come up before these are installed.
  Cluster.onNodeUp((node) => send({ event: 'nodeUp', node, t: Date.now() }));
  Cluster.onNodeDown((node, reason) => send({ event: 'nodeDown', node, reason, t: Date.now() }));
  if (config.startServers !== false) {
    refs.counter = await GenServer.start(counter, { name: 'counter' });
    refs.echo = await GenServer.start(echo, { name: 'echo' });
    refs.crasher = await GenServer.start(crasher, { name: 'crasher' });
    refs.slow = await GenServer.start(slow, { name: 'slow' });
    refs.collector = await GenServer.start(collector, { name: 'collector' });
  }
  process.on('message', (m: Request) => {
    const id = m.id;
    handle(m).then(
      (value) => {
        send({ id, ok: true, value }, m.cmd === 'stop' ? () => process.exit(0) : undefined);
      },
      (e: unknown) => send({ id, ok: false, error: wireError(e) }),
    );
  });
  send({ event: 'ready', nodeId, refs, pid: process.pid });
}

process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (e) => {
  process.stderr.write(`node-main uncaught: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  send({ event: 'fatal', error: wireError(e) }, () => process.exit(70));
});
main().catch((e: unknown) => {
  process.stderr.write(`node-main failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  send({ event: 'fatal', error: wireError(e) }, () => process.exit(1));
});
