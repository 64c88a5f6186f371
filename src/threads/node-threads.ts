/**
 * The main thread's side of a multi-threaded node: spawns worker threads for thread
 * subtrees, connects every pair of threads directly (a MessageChannel per pair, set up here
 * once), keeps the node-wide name table (main decides races), runs the hung-thread watchdog,
 * and turns a worker's death into an ordinary exit of its host process plus the cleanup
 * every other thread needs (pending calls, links, monitors, names).
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { AlreadyRegisteredError, InvalidArgumentError, NotCloneableError, deserializeError, serializeError } from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import { formatReason } from '../core/exit-reason.js';
import { INFO } from '../core/process.js';
import type { AnyRef } from '../core/ref.js';
import { formatRef, sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import type { ThreadSpec } from '../behaviours/supervisor/spec.js';
import type { WireReason } from '../transport/frames.js';
import { decodeEvent, decodeReason, encodeReason } from '../transport/frames.js';
import { findUncloneable } from '../transport/cloneable.js';
import { MessagePortTransport } from '../transport/message-port.js';
import { ThreadLinks, threadReason } from './links.js';
import type { StartTree, WorkerBoot } from './protocol.js';

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
  lastBeat: number;
  watchdog: ReturnType<typeof setTimeout> | undefined;
  error: Error | undefined;
  hung: boolean;
  rootReason: ExitReason | undefined;
  bootError: Error | undefined;
  ready: { resolve: (root: AnyRef) => void; reject: (e: unknown) => void };
  exited: Promise<ExitReason>;
  resolveExited: (r: ExitReason) => void;
}

const instances = new WeakMap<Runtime, NodeThreads>();

export class NodeThreads {
  readonly links: ThreadLinks;
  private nextThread = 1;
  private readonly threads = new Map<number, ThreadRecord>();
  /** Booted standby workers by key, waiting for a subtree (ThreadSpec.standby). */
  private readonly spares = new Map<string, ThreadRecord>();

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

  private constructor(readonly rt: Runtime) {
    this.links = new ThreadLinks(rt);
    this.links.onControl = (thread, payload) => this.control(thread, payload as Control);
    // Lifecycle events of every thread reach main's subscribers, forwarded only while any listen.
    rt.events.onActiveChange = (on) => {
      for (const t of this.threads.values()) if (t.state !== 'dead') this.links.control(t.thread, { op: 'events', on });
    };
    // Main's table is the node's: every change is published to every worker.
    rt.names.onChange = (name, ref) => {
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
   */
  spawn(spec: ThreadSpec, host: AnyRef): Promise<{ thread: number; root: AnyRef }> {
    if (typeof spec.module !== 'string' || spec.module.length === 0) {
      return Promise.reject(new InvalidArgumentError('thread.module', 'expected a path or file URL of a .ts or .js module'));
    }
    const problem = findUncloneable(spec.args, 'thread.args');
    if (problem !== undefined) return Promise.reject(new NotCloneableError(problem.path, problem.valueType, 'a new worker thread'));
    const moduleUrl = toUrl(spec.module);
    const useTsx = fromSource || /\.[mc]?ts$/.test(new URL(moduleUrl).pathname);
    const watchdogMs = spec.watchdogMs ?? 5000;
    const key = JSON.stringify([useTsx, watchdogMs, spec.resourceLimits ?? null]);
    const start: StartTree = { module: moduleUrl, export: spec.export ?? 'default', args: spec.args };
    const spare = spec.standby === true ? this.spares.get(key) : undefined;
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
      rec.ready = { resolve: (root) => resolve({ thread: rec.thread, root }), reject };
      // The thread lives no longer than its host: a host killed without running terminate
      // (brutal_kill, Process.exit(host, 'kill'), init timeout) must not leave an orphan
      // worker holding names and CPU.
      this.rt.watch(host, () => {
        if (rec.state !== 'dead') void this.kill(rec.thread);
      });
    });
    if (spec.standby === true) {
      // Boot the next spare once this subtree is up, not alongside it (2 cores).
      started.then(
        () => this.ensureSpare(key, useTsx, watchdogMs, spec.resourceLimits),
        () => undefined,
      );
    }
    return started;
  }

  private ensureSpare(key: string, useTsx: boolean, watchdogMs: number, limits: ThreadSpec['resourceLimits']): void {
    if (this.spares.has(key)) return;
    const rec = this.createWorker(key, useTsx, watchdogMs, limits, undefined);
    // A spare never holds the process open.
    rec.worker.unref();
    this.spares.set(key, rec);
  }

  /** Drops the spare for `key` when no running subtree could use it any more. */
  private retireSpare(key: string): void {
    const spare = this.spares.get(key);
    if (spare === undefined) return;
    for (const t of this.threads.values()) if (t.key === key && t.state !== 'dead' && t.state !== 'spare' && t.state !== 'stopping') return;
    this.spares.delete(key);
    spare.state = 'stopping';
    void spare.worker.terminate();
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
      beatMs: Math.max(5, Math.floor(watchdogMs / 4)),
      peers,
      names: [...this.rt.names.entries()],
      events: this.rt.events.active,
      runtime: { drainBudget: this.rt.drainBudget, sliceMs: this.rt.sliceMs, maxInFlight: this.rt.maxInFlight },
    };
    const worker = new Worker(ENTRY, {
      workerData: boot,
      transferList: peers.map((p) => p.port),
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
      lastBeat: this.rt.clock.now(),
      watchdog: undefined,
      error: undefined,
      hung: false,
      rootReason: undefined,
      bootError: undefined,
      ready: { resolve: () => undefined, reject: () => undefined },
      exited,
      resolveExited,
    };
    this.threads.set(thread, rec);
    this.links.connect(thread, new MessagePortTransport(worker, 'exit'));
    worker.on('error', (e) => {
      rec.error = e;
    });
    worker.on('exit', (code) => this.onExit(rec, code));
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

  private control(thread: number, c: Control): void {
    const rec = this.threads.get(thread);
    if (rec === undefined) return;
    switch (c.op) {
      case 'hb':
        rec.lastBeat = this.rt.clock.now();
        break;
      case 'ready':
        rec.root = c.root;
        if (rec.state === 'booting') rec.state = 'running';
        rec.lastBeat = this.rt.clock.now();
        this.armWatchdog(rec);
        rec.ready.resolve(c.root);
        break;
      case 'boot_failed':
        rec.bootError = deserializeError(c.error);
        break;
      case 'root_exit':
        rec.rootReason = decodeReason(c.reason);
        break;
      case 'log':
        this.rt.logger[c.level](`[thread ${thread}] ${c.message}`);
        break;
      case 'claim':
        this.claim(thread, c);
        break;
      case 'event':
        if (this.rt.events.active) this.rt.events.emit(decodeEvent(c.event), this.rt.logger);
        break;
      case 'release':
        this.rt.names.releaseFor(c.name, c.ref);
        break;
      default:
        this.rt.logger.warn(`unknown control ${JSON.stringify((c as { op?: unknown }).op)} from thread ${thread}`);
    }
  }

  private claim(thread: number, c: Extract<Control, { op: 'claim' }>): void {
    const names = this.rt.names;
    const holder = names.get(c.name);
    const holderGone = holder !== undefined && holder.thread !== 0 && this.threads.get(holder.thread)?.state === 'dead';
    if (holder !== undefined && !sameRef(holder, c.ref) && !holderGone) {
      this.links.control(thread, {
        op: 'claim_reply',
        req: c.req,
        error: serializeError(new AlreadyRegisteredError(c.name, formatRef(holder))),
      });
      return;
    }
    if (holderGone) names.put(c.name, undefined);
    names.claim(c.name, c.ref);
    this.links.control(thread, { op: 'claim_reply', req: c.req });
  }

  /** Watchdog: re-armed from the last heartbeat; a stale thread is checked once more after pending I/O. */
  private armWatchdog(rec: ThreadRecord): void {
    const due = rec.lastBeat + rec.watchdogMs - this.rt.clock.now();
    rec.watchdog = setTimeout(
      () => {
        rec.watchdog = undefined;
        if (rec.state === 'dead') return;
        // Heartbeats may be queued behind a busy main thread: let I/O run before judging.
        setImmediate(() => {
          if (rec.state === 'dead') return;
          if (this.rt.clock.now() - rec.lastBeat >= rec.watchdogMs) {
            rec.hung = true;
            this.rt.logger.error(`thread ${rec.thread}: no heartbeat for ${rec.watchdogMs} ms; terminating it as hung`);
            void rec.worker.terminate();
          } else this.armWatchdog(rec);
        });
      },
      Math.max(1, due),
    );
    rec.watchdog.unref?.();
  }

  private onExit(rec: ThreadRecord, code: number): void {
    if (rec.watchdog !== undefined) clearTimeout(rec.watchdog);
    const wasStopping = rec.state === 'stopping';
    const wasBooting = rec.state === 'booting';
    const wasSpare = rec.state === 'spare';
    rec.state = 'dead';
    if (this.spares.get(rec.key) === rec) this.spares.delete(rec.key);
    const thread = rec.thread;
    const reason = this.classify(rec, code, wasStopping);
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
    if (wasBooting) {
      rec.ready.reject(
        rec.bootError ?? (reason as { error?: unknown }).error ?? new Error(`thread ${thread} exited during boot: ${formatReason(reason)}`),
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
    if (rec.hung) return threadReason(t, 'hung', `no heartbeat for ${rec.watchdogMs} ms; terminated by the watchdog`);
    if (rec.bootError !== undefined) return { error: rec.bootError };
    if (rec.rootReason !== undefined) return wasStopping ? 'shutdown' : rec.rootReason;
    if (wasStopping) return 'shutdown';
    return threadReason(t, 'exited', `process.exit(${code}) called in the thread`);
  }
}

type Control =
  | { op: 'hb' }
  | { op: 'ready'; root: AnyRef }
  | { op: 'boot_failed'; error: import('../errors.js').SerializedError }
  | { op: 'root_exit'; reason: WireReason }
  | { op: 'log'; level: 'error' | 'warn' | 'info'; message: string }
  | { op: 'claim'; req: number; name: string; ref: AnyRef }
  | { op: 'release'; name: string; ref: AnyRef }
  | { op: 'event'; event: unknown };

function toUrl(module: string): string {
  if (/^(file|data):/.test(module)) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolvePath(process.cwd(), module)).href;
}
