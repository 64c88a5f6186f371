/**
 * The main thread's side of a multi-threaded node: spawns worker threads for thread
 * subtrees, connects every pair of threads directly (a MessageChannel per pair, set up here
 * once), keeps the node-wide name table (main decides races), runs the hung-thread watchdog,
 * and turns a worker's death into an ordinary exit of its host process plus the cleanup
 * every other thread needs (pending calls, links, monitors, names).
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { SerializedError } from '../errors.js';
import {
  AlreadyRegisteredError,
  InvalidArgumentError,
  NoProcessError,
  ThreadExitError,
  deserializeError,
  isSerializedError,
  serializeError,
} from '../errors.js';
import type { TimerHandle } from '../core/clock.js';
import type { ExitReason } from '../core/exit-reason.js';
import { formatReason } from '../core/exit-reason.js';
import { INFO } from '../core/process.js';
import type { AnyRef } from '../core/ref.js';
import type { LifecycleEvent } from '../core/events.js';
import { formatRef, makeRef, sameRef } from '../core/ref.js';
import { nameProblem } from '../core/validate.js';
import type { Runtime } from '../core/runtime.js';
import type { ThreadSpec } from '../behaviours/supervisor/spec.js';
import type { WireReason } from '../transport/frames.js';
import { decodeEvent, decodeReason, encodeReason } from '../transport/frames.js';
import { MessagePortTransport } from '../transport/message-port.js';
import { capString, isPlainObject, isWireId, isWireRef, ownData, preview, wireReasonProblem } from '../transport/validate.js';
import type { Exposure } from './exposure.js';
import { trackExposure } from './exposure.js';
import { ThreadLinks, threadReason } from './links.js';
import { workerExecArgv } from './exec-argv.js';
import type { StartTree, WorkerBoot } from './protocol.js';
import { heartbeatMs, threadTimings, validateThreadSpec } from './thread-spec.js';

const here = import.meta.url;
const fromSource = here.endsWith('.ts');
/** The worker entry file (top-level workers/ folder), from src/threads or dist/src/threads. */
const ENTRY = new URL(here.includes('/dist/src/') ? '../../../workers/thread-worker.mjs' : '../../workers/thread-worker.mjs', here);
const BOOT = new URL(`./worker-main.${fromSource ? 'ts' : 'js'}`, here).href;

/** What the host process learns when its thread ends. */
export interface ThreadExit {
  readonly type: '$thread_exit';
  readonly thread: number;
  readonly reason: ExitReason;
}

/** One worker thread as {@link NodeThreads.observe} reports it. */
export interface ObservedWorker {
  readonly thread: number;
  /** Cumulative event-loop utilisation of the worker (undefined when it could not be read). */
  readonly elu: EventLoopUtilization | undefined;
  /** The spec's `watchdogMs` (Infinity: no watchdog). */
  readonly watchdogMs: number;
  /** When it last showed life (heartbeat or batch), on the runtime's clock; NaN before its first heartbeat. */
  readonly lastSignOfLife: number;
}

interface ThreadRecord {
  readonly thread: number;
  readonly worker: Worker;
  /** The host process; undefined while the worker is a standby spare. */
  host: AnyRef | undefined;
  readonly watchdogMs: number;
  /** Workers with the same key are interchangeable before they load a module (see standby). */
  readonly key: string;
  state: 'spare' | 'booting' | 'running' | 'stopping' | 'dead';
  root: AnyRef | undefined;
  /** When the last heartbeat was read; NaN until the first one (the watchdog judges from then on). */
  lastBeat: number;
  watchdog: TimerHandle | undefined;
  /** The boot's deadline (spawn until the subtree is up): the spec's `initTimeout`. */
  bootTimer: TimerHandle | undefined;
  error: Error | undefined;
  /** Why the main thread terminated the worker, when it did; the first verdict stands. */
  verdict: Verdict | undefined;
  rootReason: ExitReason | undefined;
  bootError: Error | undefined;
  ready: { resolve: (root: AnyRef) => void; reject: (e: unknown) => void };
  exited: Promise<ExitReason>;
  resolveExited: (r: ExitReason) => void;
}

/** The main thread ended a worker: no heartbeat for `watchdogMs`, or no subtree within `initTimeout`. */
type Verdict =
  | { readonly kind: 'hung'; readonly ms: number }
  | { readonly kind: 'init_timeout'; readonly ms: number }
  /** It sent a malformed or impersonating frame (see ThreadLinks.protocolViolation). */
  | { readonly kind: 'protocol_violation'; readonly detail: string };

const instances = new WeakMap<Runtime, NodeThreads>();

export class NodeThreads {
  readonly links: ThreadLinks;
  private nextThread = 1;
  private readonly threads = new Map<number, ThreadRecord>();
  /** Booted standby workers by key, waiting for a subtree (ThreadSpec.standby). */
  private readonly spares = new Map<string, ThreadRecord>();
  /**
   * Supervisors that own a standby child, by ref, with the spare keys their children use.
   * While one lives it may restart its child, so the spare for each of its keys is kept;
   * when it exits (stopped, or gave up at its restart intensity), those spares are retired.
   */
  private readonly owners = new Map<string, Set<string>>();
  /** Host processes (by formatted ref) that stand for a thread, until they exit. */
  private readonly hosts = new Set<string>();
  /** The main-thread processes workers may address (see exposure.ts). */
  private readonly exposure: Exposure;
  /** Claims waiting for a worker's `synced`, by request id (see claimForeign). */
  private readonly syncs = new Map<number, () => void>();
  private nextSync = 1;
  /** Names held by a worker process that another thread registered: main watches the holder. */
  private readonly heldFor = new Map<string, { ref: AnyRef; cancel: () => void }>();

  /**
   * The cluster layer's hooks on main: `boot` tells a new worker the connected peers, `out`
   * forwards a worker's batch to a peer node (returns a problem for a malformed payload).
   */
  cluster:
    | {
        boot(): { peers: string[] };
        out(thread: number, payload: Record<string, unknown>): string | undefined;
      }
    | undefined;

  /** Sends a control to every live worker. */
  broadcast(payload: unknown): void {
    for (const t of this.threads.values()) if (t.state !== 'dead') this.links.control(t.thread, payload);
  }

  /** Sends a control to worker `thread` if it is alive; false otherwise. */
  sendToThread(thread: number, payload: unknown): boolean {
    const t = this.threads.get(thread);
    if (t === undefined || t.state === 'dead') return false;
    return this.links.control(thread, payload);
  }

  /** The manager of `rt` (the main thread's runtime), created on first use. */
  static of(rt: Runtime): NodeThreads {
    if (rt.thread !== 0) {
      // A worker's runtime already has its links; a second manager would replace them.
      throw new InvalidArgumentError(
        'thread',
        `thread subtrees are placed and counted from the main thread, not from worker thread ${rt.thread}`,
      );
    }
    let t = instances.get(rt);
    if (t === undefined) {
      t = new NodeThreads(rt);
      instances.set(rt, t);
    }
    return t;
  }

  /**
   * What the observer reads of each live worker thread of `rt`'s node (standby spares and
   * dead threads left out), in thread order; empty when `rt` has never started a thread (no
   * manager is created for the asking). `elu` is the worker's cumulative event-loop
   * utilisation (`worker.performance.eventLoopUtilization()`: subtract an earlier one for an
   * interval); `lastSignOfLife` is when it last showed life on `rt.clock` (NaN before its first
   * heartbeat); `watchdogMs` is Infinity when it has no watchdog.
   */
  static observe(rt: Runtime): ObservedWorker[] {
    const t = instances.get(rt);
    if (t === undefined) return [];
    const out: ObservedWorker[] = [];
    for (const rec of t.threads.values()) {
      if (rec.state === 'dead' || rec.state === 'spare') continue;
      let elu: EventLoopUtilization | undefined;
      try {
        elu = rec.worker.performance.eventLoopUtilization();
      } catch {
        elu = undefined; // the worker is exiting
      }
      out.push({ thread: rec.thread, elu, watchdogMs: rec.watchdogMs, lastSignOfLife: t.lastSign(rec) });
    }
    return out.sort((a, b) => a.thread - b.thread);
  }

  private constructor(readonly rt: Runtime) {
    this.links = new ThreadLinks(rt);
    // Every ref main sends to a worker is recorded on the way out; workers address no others.
    this.exposure = trackExposure(rt, this.links);
    this.links.onProtocolViolation = (thread, detail) => this.cutOff(thread, detail);
    this.links.onControl = (thread, payload) => this.control(thread, payload);
    // Lifecycle events of every thread reach main's subscribers, forwarded only while any listen.
    rt.events.onActiveChange = (on) => {
      for (const t of this.threads.values()) if (t.state !== 'dead') this.links.control(t.thread, { op: 'events', on });
    };
    // Main's table is the node's: every change is published to every worker.
    for (const [, ref] of rt.names.entries()) this.exposure.mark(ref);
    rt.names.onChange = (name, ref) => {
      if (ref !== undefined) this.exposure.mark(ref);
      this.unwatchHolder(name, ref);
      for (const t of this.threads.values()) if (t.state !== 'dead') this.links.control(t.thread, { op: 'name', name, ref });
    };
  }

  /** Live worker threads running a subtree (standby spares not counted). */
  get size(): number {
    let n = 0;
    for (const t of this.threads.values()) if (t.state !== 'dead' && t.state !== 'spare') n++;
    return n;
  }

  /**
   * Starts a worker running the subtree of `spec`; resolves with its root supervisor's ref once
   * started. With `spec.standby`, a booted spare is used when one is ready, and a new spare is
   * booted after the subtree is up, so the next restart skips the worker and runtime boot.
   * `owner` is the supervisor of the thread child (standby spares live as long as it may
   * restart the child). The boot is bounded by `spec.initTimeout` and the watchdog.
   */
  spawn(spec: ThreadSpec, host: AnyRef, owner?: AnyRef): Promise<{ thread: number; root: AnyRef }> {
    try {
      validateThreadSpec(spec);
    } catch (e) {
      return Promise.reject(e);
    }
    this.exposure.scan(spec.args);
    const moduleUrl = toUrl(spec.module);
    const useTsx = fromSource || /\.[mc]?ts$/.test(new URL(moduleUrl).pathname);
    const { watchdogMs, initTimeout } = threadTimings(spec);
    const key = JSON.stringify([useTsx, String(watchdogMs), spec.resourceLimits ?? null]);
    const start: StartTree = { module: moduleUrl, export: spec.export ?? 'default', args: spec.args };
    const standby = spec.standby === true;
    if (standby && owner !== undefined) this.watchOwner(owner, key);
    const spare = standby ? this.spares.get(key) : undefined;
    const started = new Promise<{ thread: number; root: AnyRef }>((resolve, reject) => {
      let rec: ThreadRecord;
      if (spare !== undefined) {
        this.spares.delete(key);
        rec = spare;
        rec.worker.ref();
        this.links.control(rec.thread, { op: 'start', ...start });
      } else rec = this.createWorker(key, useTsx, watchdogMs, spec.resourceLimits, start);
      rec.host = host;
      rec.state = 'booting';
      rec.ready = {
        resolve: (root) => {
          this.endBoot(rec);
          resolve({ thread: rec.thread, root });
        },
        reject: (e) => {
          this.endBoot(rec);
          reject(e);
        },
      };
      this.armBootTimer(rec, initTimeout);
      const hostId = formatRef(host);
      this.hosts.add(hostId);
      // The thread lives no longer than its host: a host killed without running terminate
      // (brutal_kill, Process.exit(host, 'kill'), a failed start) must not leave an orphan
      // worker holding names and CPU.
      this.rt.watch(host, () => {
        this.hosts.delete(hostId);
        if (rec.state !== 'dead') void this.kill(rec.thread);
      });
    });
    if (standby) {
      // Boot the next spare once this subtree is up, not alongside it (2 cores).
      started.then(
        () => this.ensureSpare(key, useTsx, watchdogMs, spec.resourceLimits),
        () => undefined,
      );
    }
    return started;
  }

  /** True while `ref` is the host process of a thread (a thread child's ref). */
  isHost(ref: AnyRef): boolean {
    return this.hosts.has(formatRef(ref));
  }

  private ensureSpare(key: string, useTsx: boolean, watchdogMs: number, limits: ThreadSpec['resourceLimits']): void {
    if (this.spares.has(key) || !this.wanted(key)) return;
    const rec = this.createWorker(key, useTsx, watchdogMs, limits, undefined);
    // A spare never holds the process open.
    rec.worker.unref();
    this.spares.set(key, rec);
  }

  /**
   * Whether a spare for `key` could still be used: a subtree with that key is booting or
   * running (it may crash and restart), or a supervisor that owns such a child is alive.
   */
  private wanted(key: string): boolean {
    for (const t of this.threads.values()) if (t.key === key && (t.state === 'booting' || t.state === 'running')) return true;
    for (const keys of this.owners.values()) if (keys.has(key)) return true;
    return false;
  }

  /** Drops the spare for `key` when nothing could use it any more (see {@link wanted}). */
  private retireSpare(key: string): void {
    const spare = this.spares.get(key);
    if (spare === undefined || this.wanted(key)) return;
    this.spares.delete(key);
    spare.state = 'stopping';
    void spare.worker.terminate();
  }

  /** Remembers that `owner` has a standby child using `key`, and retires its spares when it exits. */
  private watchOwner(owner: AnyRef, key: string): void {
    const id = formatRef(owner);
    const known = this.owners.get(id);
    if (known !== undefined) {
      known.add(key);
      return;
    }
    const keys = new Set([key]);
    this.owners.set(id, keys);
    this.rt.watch(owner, () => {
      this.owners.delete(id);
      for (const k of keys) this.retireSpare(k);
    });
  }

  /** Terminates a booting thread that has not started its subtree within `ms`. */
  private armBootTimer(rec: ThreadRecord, ms: number): void {
    rec.bootTimer = this.rt.clock.setTimeout(() => {
      rec.bootTimer = undefined;
      if (rec.state === 'booting') this.terminateAs(rec, { kind: 'init_timeout', ms });
    }, ms);
    unrefTimer(rec.bootTimer);
  }

  private endBoot(rec: ThreadRecord): void {
    if (rec.bootTimer !== undefined) this.rt.clock.clearTimeout(rec.bootTimer);
    rec.bootTimer = undefined;
  }

  /** Ends a worker on the main thread's judgement; its exit is classified by the verdict. */
  private terminateAs(rec: ThreadRecord, verdict: Verdict): void {
    if (rec.verdict !== undefined || rec.state === 'dead') return;
    rec.verdict = verdict;
    this.rt.logger.error(
      verdict.kind === 'hung'
        ? `thread ${rec.thread}: no heartbeat for ${verdict.ms} ms; terminating it as hung`
        : verdict.kind === 'init_timeout'
          ? `thread ${rec.thread}: subtree not started within initTimeout (${verdict.ms} ms); terminating it`
          : `thread ${rec.thread}: sent a malformed frame (${verdict.detail}); terminating it`,
    );
    void rec.worker.terminate();
  }

  /** Creates a worker connected to every live thread; it loads `start`, or waits for one (a spare). */
  private createWorker(
    key: string,
    useTsx: boolean,
    watchdogMs: number,
    limits: ThreadSpec['resourceLimits'],
    start: StartTree | undefined,
  ): ThreadRecord {
    const thread = this.nextThread++;
    const peers: { thread: number; port: import('node:worker_threads').MessagePort }[] = [];
    for (const t of this.threads.values()) {
      if (t.state === 'dead') continue;
      const { port1, port2 } = new MessageChannel();
      this.links.control(t.thread, { op: 'peer', thread, port: port1 }, [port1]);
      peers.push({ thread: t.thread, port: port2 });
    }
    const boot: WorkerBoot = {
      node: this.rt.node,
      thread,
      bootUrl: BOOT,
      useTsx,
      start,
      beatMs: heartbeatMs(watchdogMs),
      peers,
      names: [...this.rt.names.entries()],
      events: this.rt.events.active,
      runtime: { drainBudget: this.rt.drainBudget, sliceMs: this.rt.sliceMs, maxInFlight: this.rt.maxInFlight },
      cluster: this.cluster?.boot(),
    };
    const worker = new Worker(ENTRY, {
      workerData: boot,
      transferList: peers.map((p) => p.port),
      execArgv: workerExecArgv(),
      ...(limits === undefined ? {} : { resourceLimits: limits }),
    });
    let resolveExited!: (r: ExitReason) => void;
    const exited = new Promise<ExitReason>((r) => {
      resolveExited = r;
    });
    const rec: ThreadRecord = {
      thread,
      worker,
      host: undefined,
      watchdogMs,
      key,
      state: 'spare',
      root: undefined,
      lastBeat: Number.NaN,
      watchdog: undefined,
      bootTimer: undefined,
      error: undefined,
      verdict: undefined,
      rootReason: undefined,
      bootError: undefined,
      ready: { resolve: () => undefined, reject: () => undefined },
      exited,
      resolveExited,
    };
    this.threads.set(thread, rec);
    this.links.connect(thread, new MessagePortTransport(worker, 'exit'));
    worker.on('error', (e: unknown) => {
      // The entry file throws a serialized Spindle error when it cannot boot (tsx missing for
      // a TypeScript module; see workers/thread-worker.mjs): that is the thread's boot error.
      if (rec.state === 'booting' && isSerializedError(e)) rec.bootError ??= deserializeError(e);
      else rec.error = e instanceof Error ? e : new Error(String(e));
    });
    worker.on('exit', (code) => this.onExit(rec, code));
    // From the first heartbeat on, so a module that never finishes importing is caught too.
    this.armWatchdog(rec);
    return rec;
  }

  /** Graceful stop: the subtree stops (terminate callbacks run), then the worker exits. */
  stop(thread: number): Promise<ExitReason> {
    const rec = this.threads.get(thread);
    if (rec === undefined || rec.state === 'dead') return Promise.resolve('noproc');
    if (rec.state !== 'stopping') {
      rec.state = 'stopping';
      if (!this.links.control(thread, { op: 'stop' })) void rec.worker.terminate();
      this.retireSpare(rec.key);
    }
    return rec.exited;
  }

  /** Terminates a worker at once (a kill). */
  kill(thread: number): Promise<ExitReason> {
    const rec = this.threads.get(thread);
    if (rec === undefined || rec.state === 'dead') return Promise.resolve('noproc');
    rec.state = 'stopping';
    void rec.worker.terminate();
    return rec.exited;
  }

  /** The root supervisor of a thread. */
  rootOf(thread: number): AnyRef | undefined {
    return this.threads.get(thread)?.root;
  }

  /**
   * A control payload from worker `thread`. It is untrusted data: {@link parseControl} checks
   * every field, each op may only speak for the sending thread's own processes, and a payload
   * that fails either is a protocol violation that ends the thread.
   */
  private control(thread: number, payload: unknown): void {
    const rec = this.threads.get(thread);
    if (rec === undefined || rec.state === 'dead') return;
    if (isPlainObject(payload) && ownData(payload, 'op') === 'node_out') {
      const problem = this.cluster === undefined ? undefined : this.cluster.out(thread, payload);
      if (problem !== undefined) this.links.protocolViolation(thread, `CTL ${problem}`);
      return;
    }
    const c = parseControl(payload);
    const problem = typeof c === 'string' ? c : this.handleControl(rec, c);
    if (problem !== undefined) this.links.protocolViolation(thread, `CTL ${problem}`);
  }

  /** Acts on a well-formed control from `rec`'s thread; returns what it may not do, or undefined. */
  private handleControl(rec: ThreadRecord, c: Control): string | undefined {
    const thread = rec.thread;
    switch (c.op) {
      case 'hb':
        rec.lastBeat = this.rt.clock.now();
        return undefined;
      case 'ready':
        if (!this.onThread(c.root, thread)) return `ready: root ${formatRef(c.root)} is not a process of thread ${thread}`;
        rec.root = c.root;
        if (rec.state === 'booting') rec.state = 'running';
        rec.lastBeat = this.rt.clock.now();
        this.armWatchdog(rec);
        rec.ready.resolve(c.root);
        return undefined;
      case 'boot_failed':
        rec.bootError = deserializeError(c.error);
        return undefined;
      case 'root_exit':
        rec.rootReason = decodeReason(c.reason);
        return undefined;
      case 'log':
        this.rt.logger[c.level](`[thread ${thread}] ${c.message}`);
        return undefined;
      case 'claim':
        this.claim(thread, c);
        return undefined;
      case 'release':
        // Only the holder's own thread (or main) may release a name.
        if (!this.onThread(c.ref, thread))
          return `release: ${JSON.stringify(c.name)} is held by ${formatRef(c.ref)}, not a process of thread ${thread}`;
        this.rt.names.releaseFor(c.name, c.ref);
        return undefined;
      case 'event':
        if (!eventOfThread(c.event, this.rt.node, thread)) return `event: ${c.event.type} about a process not on thread ${thread}`;
        if (this.rt.events.active) this.rt.events.emit(c.event, this.rt.logger);
        return undefined;
      case 'synced':
        // An unknown request is a sync whose holder's exit already answered the claim.
        this.syncs.get(c.req)?.();
        return undefined;
    }
  }

  /** True when `ref` names a process of worker `thread` of this node. */
  private onThread(ref: AnyRef, thread: number): boolean {
    return ref.node === this.rt.node && ref.thread === thread;
  }

  /**
   * Worker `thread` claims `c.name` for `c.ref` (Registry.register, GenServer.start with a
   * name). Main decides races (first claim wins) and checks that the ref names a live process:
   * - a process of the claiming thread: that thread checked it is alive, and releases the
   *   name when it exits;
   * - a main-thread process: alive, and shown to workers (see exposure.ts); its exit releases
   *   the name as for a name it registered itself;
   * - a process of another worker: see {@link claimForeign}.
   * Anything else (a dead thread, another node, a made-up id) is refused with NoProcessError.
   */
  private claim(thread: number, c: Extract<Control, { op: 'claim' }>): void {
    const reply = (error: Error | undefined): void => {
      this.links.control(
        thread,
        error === undefined ? { op: 'claim_reply', req: c.req } : { op: 'claim_reply', req: c.req, error: serializeError(error) },
      );
    };
    const ref = c.ref;
    const noProcess = new NoProcessError(formatRef(ref));
    if (ref.node !== this.rt.node) reply(noProcess);
    else if (ref.thread === thread) reply(this.decide(c.name, ref));
    else if (ref.thread === 0) {
      const p = this.rt.procs.get(ref.id);
      if (p === undefined || !p.alive || !this.exposure.has(ref.id)) {
        reply(noProcess);
        return;
      }
      const error = this.decide(c.name, ref);
      if (error === undefined) (p.registered ??= new Set()).add(c.name);
      reply(error);
    } else if (this.hasProcesses(ref.thread)) this.claimForeign(c.name, ref, reply);
    else reply(noProcess);
  }

  /** True when worker `thread` is alive and runs (or is starting, or stopping) a subtree. */
  private hasProcesses(thread: number): boolean {
    const state = this.threads.get(thread)?.state;
    return state === 'booting' || state === 'running' || state === 'stopping';
  }

  /** Takes `name` for `ref` in the node's table, or says why not. */
  private decide(name: string, ref: AnyRef): Error | undefined {
    const names = this.rt.names;
    const holder = names.get(name);
    const holderGone = holder !== undefined && holder.thread !== 0 && this.threads.get(holder.thread)?.state === 'dead';
    if (holder !== undefined && !sameRef(holder, ref) && !holderGone) return new AlreadyRegisteredError(name, formatRef(holder));
    if (holderGone) names.put(name, undefined);
    names.claim(name, ref);
    return undefined;
  }

  /**
   * A claim for `ref`, a process of another worker than the claimant. Main watches it first,
   * then asks its thread for a sync: that thread handles the watch's monitor before the sync,
   * so a DOWN 'noproc' arriving before the answer means it was not alive (NoProcessError).
   * Once it holds the name, the watch releases the name when it exits, on every thread.
   */
  private claimForeign(name: string, ref: AnyRef, reply: (error: Error | undefined) => void): void {
    const claim = { state: 'asking' as 'asking' | 'holding' | 'done' };
    const req = this.nextSync++;
    const cancel = this.rt.watch(ref, () => {
      this.syncs.delete(req);
      if (claim.state === 'asking') reply(new NoProcessError(formatRef(ref)));
      else if (claim.state === 'holding') this.rt.names.releaseFor(name, ref);
      claim.state = 'done';
    });
    if (claim.state === 'done') return; // its thread is already gone (the watch fired at once)
    this.syncs.set(req, () => {
      this.syncs.delete(req);
      if (claim.state !== 'asking') return;
      const error = this.decide(name, ref);
      if (error !== undefined) {
        claim.state = 'done';
        cancel();
      } else {
        claim.state = 'holding';
        this.heldFor.set(name, { ref, cancel });
      }
      reply(error);
    });
    this.links.control(ref.thread, { op: 'sync', req });
  }

  /** Thread `thread` broke the protocol: it is terminated, and its subtree exits with a protocol_violation ThreadExitError. */
  private cutOff(thread: number, detail: string): void {
    const rec = this.threads.get(thread);
    if (rec !== undefined) this.terminateAs(rec, { kind: 'protocol_violation', detail });
  }

  /** `name` now names `ref` (undefined: no one): a watch main kept on its old holder goes. */
  private unwatchHolder(name: string, ref: AnyRef | undefined): void {
    const held = this.heldFor.get(name);
    if (held === undefined || (ref !== undefined && sameRef(ref, held.ref))) return;
    this.heldFor.delete(name);
    held.cancel();
  }

  /**
   * Watchdog: a thread is hung when nothing came from it for `watchdogMs`, counted from its
   * last heartbeat or batch. It starts judging at the first heartbeat, which the worker sends
   * once the runtime is loaded and before the user's module is imported (until then the boot
   * deadline bounds it), so a module stuck in an endless loop at import is caught. A stale
   * thread is checked once more after pending I/O. Re-arming replaces the timer. No watchdog
   * at all for `watchdogMs: Infinity`.
   */
  private armWatchdog(rec: ThreadRecord): void {
    if (rec.watchdogMs === Number.POSITIVE_INFINITY || rec.state === 'dead') return;
    const clock = this.rt.clock;
    if (rec.watchdog !== undefined) clock.clearTimeout(rec.watchdog);
    const seen = this.lastSign(rec);
    const due = Number.isNaN(seen) ? rec.watchdogMs : seen + rec.watchdogMs - clock.now();
    const timer = clock.setTimeout(
      () => {
        if (rec.watchdog !== timer) return;
        rec.watchdog = undefined;
        if (rec.state === 'dead') return;
        // Heartbeats may be queued behind a busy main thread: let I/O run before judging.
        setImmediate(() => {
          if (rec.state === 'dead' || rec.watchdog !== undefined) return;
          const last = this.lastSign(rec);
          if (!Number.isNaN(last) && clock.now() - last >= rec.watchdogMs) this.terminateAs(rec, { kind: 'hung', ms: rec.watchdogMs });
          else this.armWatchdog(rec);
        });
      },
      Math.max(1, due),
    );
    rec.watchdog = timer;
    unrefTimer(timer);
  }

  /** When the thread last showed life: its last heartbeat read, or its last batch received; NaN before its first heartbeat. */
  private lastSign(rec: ThreadRecord): number {
    if (Number.isNaN(rec.lastBeat)) return Number.NaN;
    return Math.max(rec.lastBeat, this.links.heardAt(rec.thread));
  }

  private onExit(rec: ThreadRecord, code: number): void {
    if (rec.watchdog !== undefined) this.rt.clock.clearTimeout(rec.watchdog);
    rec.watchdog = undefined;
    this.endBoot(rec);
    const wasStopping = rec.state === 'stopping';
    const wasBooting = rec.state === 'booting';
    const wasSpare = rec.state === 'spare';
    rec.state = 'dead';
    if (this.spares.get(rec.key) === rec) this.spares.delete(rec.key);
    const thread = rec.thread;
    const lost = this.links.countLost(thread);
    const reason = this.classify(rec, code, wasStopping);
    const err = (reason as { error?: unknown }).error;
    if (err instanceof ThreadExitError) err.withLostCasts(lost);
    // Everyone else first, so pending calls reject now, not at their timeout.
    this.links.threadDown(thread, reason);
    for (const t of this.threads.values()) {
      if (t.state !== 'dead') this.links.control(t.thread, { op: 'thread_down', thread, reason: encodeReason(reason) });
    }
    this.threads.delete(thread);
    rec.resolveExited(reason);
    if (wasSpare) {
      if (reason !== 'shutdown') this.rt.logger.warn(`standby thread ${thread} exited: ${formatReason(reason)}`);
      return;
    }
    // A spare is kept only while something may still use it.
    this.retireSpare(rec.key);
    if (wasBooting) {
      rec.ready.reject(
        rec.bootError ??
          (reason as { error?: unknown }).error ??
          new ThreadExitError(thread, 'exited', `ended during boot: ${formatReason(reason)}`),
      );
      return;
    }
    if (!wasStopping && rec.host !== undefined) {
      const msg: ThreadExit = { type: '$thread_exit', thread, reason: rec.rootReason ?? reason };
      this.rt.router.send(rec.host, INFO, msg);
    }
  }

  private classify(rec: ThreadRecord, code: number, wasStopping: boolean): ExitReason {
    const t = rec.thread;
    if (rec.error !== undefined) {
      const e = rec.error as Error & { code?: string };
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') return threadReason(t, 'out_of_memory', 'exceeded its resourceLimits', e);
      return threadReason(t, 'crashed', `uncaught ${e.name}: ${e.message}`, e);
    }
    if (rec.verdict?.kind === 'hung') return threadReason(t, 'hung', `no heartbeat for ${rec.verdict.ms} ms; terminated by the watchdog`);
    if (rec.verdict?.kind === 'init_timeout')
      return threadReason(t, 'init_timeout', `subtree not started within initTimeout (${rec.verdict.ms} ms); terminated`);
    if (rec.verdict?.kind === 'protocol_violation')
      return threadReason(t, 'protocol_violation', `sent a malformed frame: ${rec.verdict.detail}`);
    if (rec.bootError !== undefined) return { error: rec.bootError };
    if (rec.rootReason !== undefined) return wasStopping ? 'shutdown' : rec.rootReason;
    if (wasStopping) return 'shutdown';
    return threadReason(t, 'exited', `process.exit(${code}) called in the thread`);
  }
}

/** Control payloads a worker sends to the main thread (checked by {@link parseControl}). */
type Control =
  | { op: 'hb' }
  | { op: 'ready'; root: AnyRef }
  | { op: 'boot_failed'; error: SerializedError }
  | { op: 'root_exit'; reason: WireReason }
  | { op: 'log'; level: 'error' | 'warn' | 'info'; message: string }
  | { op: 'claim'; req: number; name: string; ref: AnyRef }
  | { op: 'release'; name: string; ref: AnyRef }
  | { op: 'event'; event: LifecycleEvent }
  | { op: 'synced'; req: number };

/** Longest log line taken from a worker. */
const MAX_LOG_LINE = 16 * 1024;

/**
 * `payload` as a {@link Control}: every field type-checked and bounded, refs copied. A string
 * says what is wrong (the payload of a thread that broke the protocol).
 */
function parseControl(payload: unknown): Control | string {
  if (!isPlainObject(payload)) return `payload ${preview(payload)}`;
  const op = ownData(payload, 'op');
  const field = (k: string) => ownData(payload, k);
  switch (op) {
    case 'hb':
      return { op };
    case 'ready': {
      const root = field('root');
      return isWireRef(root) ? { op, root: makeRef(root.node, root.thread, root.id) } : `ready with root ${preview(root)}`;
    }
    case 'boot_failed': {
      const error = field('error');
      return isSerializedError(error) ? { op, error } : `boot_failed with error ${preview(error)}`;
    }
    case 'root_exit': {
      const reason = field('reason');
      const problem = wireReasonProblem(reason);
      return problem === undefined ? { op, reason: reason as WireReason } : `root_exit reason: ${problem}`;
    }
    case 'log': {
      const level = field('level');
      const message = field('message');
      if ((level !== 'error' && level !== 'warn' && level !== 'info') || typeof message !== 'string')
        return `log with level ${preview(level)} and message ${preview(message)}`;
      return { op, level, message: capString(message, MAX_LOG_LINE) };
    }
    case 'claim':
    case 'release': {
      const name = field('name');
      const ref = field('ref');
      const req = op === 'claim' ? field('req') : 0;
      const problem = nameProblem(name);
      if (problem !== undefined) return `${op} of name ${preview(name)}: ${problem}`;
      if (!isWireRef(ref)) return `${op} of ${JSON.stringify(capString(name as string, 80))} for ${preview(ref)}, not a ref`;
      if (!isWireId(req)) return `claim with request id ${preview(req)}`;
      const holder = makeRef(ref.node, ref.thread, ref.id);
      return op === 'claim' ? { op, req, name: name as string, ref: holder } : { op, name: name as string, ref: holder };
    }
    case 'event': {
      const event = decodeEvent(field('event'));
      return event === undefined ? 'event of the wrong shape' : { op, event };
    }
    case 'synced': {
      const req = field('req');
      return isWireId(req) ? { op, req } : `synced with request id ${preview(req)}`;
    }
    default:
      return `unknown op ${preview(op)}`;
  }
}

/** True when `event` is about processes of worker `thread` (a dropped cast may name any target). */
function eventOfThread(event: LifecycleEvent, node: string, thread: number): boolean {
  const on = (r: AnyRef | string) => typeof r !== 'string' && r.node === node && r.thread === thread;
  switch (event.type) {
    case 'cast_dropped':
      return true;
    case 'restarted':
      return on(event.supervisor) && on(event.ref);
    default:
      return on(event.ref);
  }
}

/** Lets the process exit with the timer pending (any clock's handle that supports it). */
function unrefTimer(h: TimerHandle): void {
  (h as { unref?: () => unknown } | undefined)?.unref?.();
}

function toUrl(module: string): string {
  if (/^(file|data):/.test(module)) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolvePath(process.cwd(), module)).href;
}
