/**
 * The runtime of one thread: its process table, names, scheduler, deadlines, events and
 * logger. There is no module-level runtime state except the ambient pointer in ambient.ts,
 * so a test can run several runtimes (several "nodes") in one OS process.
 */
import { CallTimeoutError, InvalidArgumentError } from '../errors.js';
import type { Clock } from './clock.js';
import { realClock } from './clock.js';
import type { Expirable } from './deadlines.js';
import { Deadlines } from './deadlines.js';
import { checkDuration } from './duration.js';
import type { LifecycleListener, Logger } from './events.js';
import { EventBus, stderrLogger } from './events.js';
import type { ExitReason } from './exit-reason.js';
import { NameTable } from './names.js';
import { Proc } from './process.js';
import type { AnyRef, MonitorRef } from './ref.js';
import { isRef, makeRef, monitorKey } from './ref.js';
import type { Outbound } from './router.js';
import type { ThreadStats } from './process-info.js';
import type { ChannelStats } from '../threads/links.js';
import { Router } from './router.js';
import { checkBoolean, checkFunction, checkInteger, checkOptions, describeValue, nameProblem } from './validate.js';

/** Options for a runtime. Every field is optional. */
export interface RuntimeOptions {
  /** Node name; defaults to `nonode@nohost`. */
  node?: string;
  /** Thread number; 0 (main) by default. Worker hosts set it. */
  thread?: number;
  /** Time source; defaults to the real clock. Tests inject a virtual one. */
  clock?: Clock;
  /** Where crash and supervisor reports go; defaults to concise stderr lines. */
  logger?: Logger;
  /**
   * Messages a process handles before the other ready processes run; defaults to 512. With
   * `sliceMs` Infinity, the thread also yields to the event loop after each such run.
   */
  drainBudget?: number;
  /**
   * Milliseconds the thread drains mailboxes (a process, and a run of them in turns) before
   * yielding to the event loop; defaults to 5.
   */
  sliceMs?: number;
  /** Clone every same-thread message (structured clone) to catch shared-state bugs; default false. */
  strictMessages?: boolean;
  /**
   * Most messages (casts, infos, calls) this thread may have sent to one other thread that
   * it has not yet handled. Past it, calls reject at once with ChannelBusyError and casts are
   * dropped and counted. Default 2,097,152 (2^21); `Infinity` for no bound.
   */
  maxInFlight?: number;
}

/** Default of {@link RuntimeOptions.maxInFlight}. */
export const DEFAULT_MAX_IN_FLIGHT = 2 ** 21;

/**
 * What this thread has handled of the messages each peer thread sent it, so far; sent back to
 * the peer in acks. Indexed by peer thread number.
 */
export interface HandledCounts {
  /** Casts and infos handled (exact: the peer counts what was lost from it). */
  casts: number[];
  /** Every message handled: casts, infos and calls (the peer's in-flight bound). */
  frames: number[];
  /** Peers whose counts moved since the last ack. */
  dirty: number[];
}

/**
 * Largest `drainBudget` accepted. The budget bounds the messages one process handles before
 * the event loop gets a turn even when `sliceMs` is Infinity; past about a million, a backlog
 * would hold the thread for seconds.
 */
export const MAX_DRAIN_BUDGET = 2 ** 20;

/**
 * Checks every {@link RuntimeOptions} field (each option checked here by name; add new options
 * here). Throws InvalidArgumentError naming the first bad one. A bad option must fail the
 * constructor: `drainBudget: 0`, say, was accepted and then spun the CPU handling nothing.
 */
export function validateRuntimeOptions(options: unknown): void {
  const o = checkOptions<RuntimeOptions>('runtime options', options);
  if (o.node !== undefined) {
    const problem = nameProblem(o.node);
    if (problem !== undefined) throw new InvalidArgumentError('node', problem);
  }
  checkInteger('thread', o.thread, 0, 0);
  if (o.clock !== undefined) checkMethods('clock', o.clock, ['now', 'setTimeout', 'clearTimeout']);
  if (o.logger !== undefined) checkMethods('logger', o.logger, ['error', 'warn', 'info']);
  checkInteger('drainBudget', o.drainBudget, 512, 1, MAX_DRAIN_BUDGET);
  // 0 would yield after every message or two; Infinity leaves the drain bounded by drainBudget only.
  if (o.sliceMs === 0) throw new InvalidArgumentError('sliceMs', 'expected a number of milliseconds > 0 or Infinity, got 0');
  checkDuration('sliceMs', o.sliceMs, 5);
  checkBoolean('strictMessages', o.strictMessages, false);
  checkCount('maxInFlight', o.maxInFlight);
}

/** An optional bound: an integer >= 1, or Infinity for none. */
export function checkCount(option: string, v: unknown): void {
  if (v === undefined || v === Number.POSITIVE_INFINITY) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new InvalidArgumentError(option, `expected an integer >= 1 or Infinity, got ${describeValue(v)}`);
}

/** `v` must be an object whose `methods` are functions (a clock, a logger). */
function checkMethods(option: string, v: unknown, methods: readonly string[]): void {
  if (typeof v !== 'object' || v === null)
    throw new InvalidArgumentError(option, `expected an object with ${methods.join(', ')} methods, got ${describeValue(v)}`);
  for (const m of methods) {
    if (typeof (v as Record<string, unknown>)[m] !== 'function')
      throw new InvalidArgumentError(
        option,
        `expected ${option}.${m} to be a function, got ${describeValue((v as Record<string, unknown>)[m])}`,
      );
  }
}

/**
 * A pending call made from this thread. For local callees it is also the `from` they reply to.
 * One of the two forms of the opaque {@link From}: pass it to `GenServer.reply`, never read or
 * build one (it is not exported: its fields are the runtime's).
 */
export class LocalFrom implements Expirable {
  settled = false;
  deadline = 0;
  /** Set for calls to another thread or node: the id the reply will carry. */
  callId = 0;
  constructor(
    readonly rt: Runtime,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: unknown) => void,
    readonly target: AnyRef,
    readonly msg: unknown,
    readonly timeoutMs: number,
  ) {}

  /** Marks the call answered (reply, error or timeout). False if it already was. */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (this.deadline !== 0) this.rt.deadlines.done();
    return true;
  }

  expire(): void {
    if (!this.settle()) return;
    if (this.callId !== 0) this.rt.router.forgetCall(this);
    this.reject(CallTimeoutError.for(this.target, this.msg, this.timeoutMs));
  }
}

/** A call made from another thread or node: the callee's handle for the reply. */
export interface RemoteFrom {
  /** The caller's node. */
  readonly node: string;
  /** The caller's thread number inside its node. */
  readonly thread: number;
  /** The call's id, which the reply carries back. */
  readonly call: number;
  /** Set by the callee's router once answered. */
  done?: boolean;
}

/** The reply handle a `handleCall` receives. Opaque to users; pass it to `GenServer.reply`. */
export type From = LocalFrom | RemoteFrom;

/**
 * A set of processes with its scheduler, name table, clock and logger: one per thread, like a
 * BEAM node's process table. API calls act on the {@link currentRuntime}; most programs never
 * make one, and tests make a fresh one each (`freshRuntime` in `spindle/testing`).
 *
 * `new Runtime(options)` takes {@link RuntimeOptions} (defaults there) and throws
 * `InvalidArgumentError` naming the first bad option.
 */
export class Runtime {
  /** Node name (`options.node`, default `nonode@nohost`); part of every ref. */
  readonly node: string;
  /** Thread number: 0 is the main thread. */
  readonly thread: number;
  /** The time source every timer and timeout of this runtime uses. */
  readonly clock: Clock;
  /** Where crash and supervisor reports go (replaceable at any time). */
  logger: Logger;
  /** @internal */
  readonly events = new EventBus();
  /** @internal */
  readonly procs = new Map<number, Proc>();
  /** @internal */
  readonly names = new NameTable();
  /** @internal */
  readonly router: Router;
  /** @internal */
  readonly deadlines: Deadlines;
  /** {@link RuntimeOptions.drainBudget}: messages a process handles before yielding. */
  readonly drainBudget: number;
  /** {@link RuntimeOptions.sliceMs}: milliseconds a process, and a run of drains, take before yielding. */
  readonly sliceMs: number;
  /** {@link RuntimeOptions.strictMessages}: same-thread messages are cloned. */
  readonly strictMessages: boolean;
  /** The process whose callback is running (synchronous part only). @internal */
  current: Proc | undefined;
  /**
   * Observable counters: casts to dead processes or refused by a full mailbox or busy channel
   * (`droppedCasts`), messages left in a mailbox when its process exited (`droppedOnExit`),
   * and casts sent to a thread that died before handling them (`lostInFlight`).
   */
  readonly stats = { droppedCasts: 0, droppedOnExit: 0, lostInFlight: 0 };
  /** {@link RuntimeOptions.maxInFlight}: the bound on unhandled messages to one other thread. */
  readonly maxInFlight: number;
  /** Handled counts per peer thread (see {@link HandledCounts}); acks go out after each drain run. @internal */
  readonly handled: HandledCounts = { casts: [], frames: [], dirty: [] };
  /** Sends the acks for {@link handled} (installed by the threads layer). @internal */
  onHandled: (() => void) | undefined;
  /** Hooks for the threads/cluster layers. @internal */
  exitHooks: ((p: Proc) => void)[] = [];
  /** Stops a process on another thread/node (installed by the threads layer). @internal */
  remoteStop: ((ref: AnyRef, reason: ExitReason, timeoutMs: number) => Promise<void>) | undefined;
  /**
   * Where unique names are decided when the node has several threads (the threads layer
   * installs it); without it, this thread's table decides.
   * @internal
   */
  nameAuthority:
    | {
        claim(name: string, ref: AnyRef): Promise<void>;
      }
    | undefined;
  /** Liveness of a process on another thread, from the node's tables. @internal */
  remoteAlive: ((ref: AnyRef) => boolean) | undefined;
  /**
   * The long id (`name@host:port~creation`) of a connected node named by its short or long id,
   * this node's own for itself; undefined when not connected (installed by the cluster layer). @internal
   */
  resolveNode: ((node: string) => string | undefined) | undefined;
  /**
   * Cluster-wide names (GlobalRegistry), installed by the cluster layer on the main thread of a
   * clustered node. @internal
   */
  globalNames:
    | {
        register(name: string, ref: AnyRef): Promise<void>;
        whereis(name: string): AnyRef | undefined;
      }
    | undefined;
  /** As {@link remoteStop}, for a process on another node (installed by the cluster layer). @internal */
  nodeStop: ((ref: AnyRef, reason: ExitReason, timeoutMs: number) => Promise<void>) | undefined;
  /** As {@link remoteAlive}, for a process on another node: its node is connected. @internal */
  nodeAlive: ((ref: AnyRef) => boolean) | undefined;

  /** Stops a process on another thread or node; undefined when there is no path to it. @internal */
  stopElsewhere(ref: AnyRef, reason: ExitReason, timeoutMs: number): Promise<void> | undefined {
    return (ref.node === this.node ? this.remoteStop : this.nodeStop)?.(ref, reason, timeoutMs);
  }

  /** True when a process on another thread or node may be alive (its thread or node is there). @internal */
  aliveElsewhere(ref: AnyRef): boolean {
    return (ref.node === this.node ? this.remoteAlive : this.nodeAlive)?.(ref) ?? false;
  }

  /**
   * Gives this runtime its cluster node name (the cluster layer, at `Cluster.start`). Only
   * while it has no process: every ref carries the node, so a ref made before would be left
   * behind with the old name. @internal
   */
  rename(node: string): void {
    (this as { node: string }).node = node;
    (this as { selfRef: AnyRef }).selfRef = makeRef(node, this.thread, 0);
  }
  private nextId = 1;
  private nextMonitor = 1;
  private readonly external = new Map<string, { target: AnyRef; cb: (ref: AnyRef, reason: ExitReason) => void }>();
  private ready: Proc[] = [];
  private later: Proc[] = [];
  private tickQueued = false;
  private laterQueued = false;
  /** The pseudo-process id 0 stands for "this runtime" as a monitor owner. @internal */
  readonly selfRef: AnyRef;

  constructor(options: RuntimeOptions = {}) {
    validateRuntimeOptions(options);
    this.node = options.node ?? 'nonode@nohost';
    this.thread = options.thread ?? 0;
    this.clock = options.clock ?? realClock;
    this.logger = options.logger ?? stderrLogger;
    this.drainBudget = options.drainBudget ?? 512;
    this.sliceMs = options.sliceMs ?? 5;
    this.strictMessages = options.strictMessages ?? false;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.deadlines = new Deadlines(this.clock);
    this.router = new Router(this);
    this.selfRef = makeRef(this.node, this.thread, 0);
  }

  /** Sets the outbound path to other threads/nodes (installed by the threads layer). @internal */
  setOutbound(outbound: Outbound | undefined): void {
    this.router.outbound = outbound;
  }

  /** Creates a process in the Init state. @internal */
  spawn(): Proc {
    const id = this.nextId++;
    const p = new Proc(this, makeRef(this.node, this.thread, id));
    this.procs.set(id, p);
    return p;
  }

  /** @internal */
  newMonitorRef(): MonitorRef {
    return {
      node: this.node,
      thread: this.thread,
      monitor: this.nextMonitor++,
    };
  }

  /**
   * Subscribes to this runtime's lifecycle events (started, crashed, terminated, restarted;
   * with thread subtrees, those of every thread). Returns the unsubscribe function. Throws
   * `InvalidArgumentError` when `listener` is not a function. OTP's nearest: SASL reports.
   */
  onLifecycle(listener: LifecycleListener): () => void {
    checkFunction('listener passed to onLifecycle', listener);
    return this.events.on(listener);
  }

  /**
   * Watches `ref` from outside any process: `cb` runs once with the exit reason
   * ('noproc' if it is not alive). Returns a function that cancels the watch. A monitor owned
   * by no process (OTP: `erlang:monitor/2` from a non-process). Throws `InvalidArgumentError`
   * for a value that is not a ref or a `cb` that is not a function.
   */
  watch(ref: AnyRef, cb: (ref: AnyRef, reason: ExitReason) => void): () => void {
    if (!isRef(ref))
      throw new InvalidArgumentError('ref passed to Runtime.watch', `expected a ref ({ node, thread, id }), got ${describeValue(ref)}`);
    checkFunction('callback passed to Runtime.watch', cb);
    const m = this.newMonitorRef();
    const key = monitorKey(m);
    this.external.set(key, { target: ref, cb });
    this.router.monitor(this.selfRef, m, ref);
    return () => {
      if (this.external.delete(key)) this.router.demonitor(ref, key);
    };
  }

  /** The process a watch of this runtime (see {@link watch}) is on, if the watch is live. @internal */
  watchTarget(m: MonitorRef): AnyRef | undefined {
    return this.external.get(monitorKey(m))?.target;
  }

  /** A DOWN for a monitor owned by the runtime itself. @internal */
  externalDown(m: MonitorRef, ref: AnyRef, reason: ExitReason): void {
    const key = monitorKey(m);
    const w = this.external.get(key);
    if (w === undefined) return;
    this.external.delete(key);
    try {
      w.cb(ref, reason);
    } catch (e) {
      this.logger.warn(`exit watcher threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Fires external watches whose target matches (its thread or node died). @internal */
  externalThreadDown(pred: (ref: AnyRef) => boolean, reason: ExitReason): void {
    for (const [key, w] of [...this.external]) {
      if (!pred(w.target)) continue;
      const monitor = Number(key.slice(key.lastIndexOf('/m') + 2));
      this.externalDown({ node: this.node, thread: this.thread, monitor }, w.target, reason);
    }
  }

  /** A message from peer thread `src` was handed to its handler. @internal */
  handledFrom(src: number, isCast: boolean): void {
    const h = this.handled;
    const f = h.frames[src];
    if (f === undefined) {
      h.frames[src] = 1;
      h.casts[src] = isCast ? 1 : 0;
      h.dirty.push(src);
      return;
    }
    h.frames[src] = f + 1;
    if (isCast) h.casts[src] = (h.casts[src] as number) + 1;
    // Acked at the end of this drain run: the ack rides in the same batch as the replies and
    // sends the run causes, so it costs one frame per batch, not a post.
    if (!h.dirty.includes(src)) h.dirty.push(src);
  }

  /** @internal */
  onProcessExit(p: Proc): void {
    for (const h of this.exitHooks) h(p);
  }

  /** Queues a process to drain its mailbox in this turn's microtask run. @internal */
  schedule(p: Proc): void {
    p.scheduled = true;
    this.ready.push(p);
    if (!this.tickQueued) {
      this.tickQueued = true;
      // A resolved promise's then() is a plain V8 microtask; Node's queueMicrotask wraps each
      // callback for async_hooks and measured ~3x slower on the call path.
      resolved.then(this.runReady);
    }
  }

  /** Channel counters of this thread (installed by the threads layer). @internal */
  channelStats: (() => ChannelStats[]) | undefined;

  /** This thread's counters (plain data: they can cross threads). */
  threadStats(): ThreadStats {
    return {
      thread: this.thread,
      processes: this.procs.size,
      droppedCasts: this.stats.droppedCasts,
      droppedOnExit: this.stats.droppedOnExit,
      lostInFlight: this.stats.lostInFlight,
      channels: this.channelStats?.() ?? [],
    };
  }

  /** True while some process has more queued than it could handle in its last slice (it waits for the next turn). @internal */
  get behind(): boolean {
    return this.later.length > 0;
  }

  /** Runs the drains queued so far now, rather than in this turn's microtasks. @internal */
  drainNow(): void {
    if (this.ready.length > 0) this.runReady();
  }

  /**
   * Drains the ready processes in rounds: each handles up to `drainBudget` messages (or
   * `sliceMs`) and then lets the others run; those with more left run again in the next
   * round, until every mailbox is empty or the run has taken `sliceMs` since its first round
   * (one round only when `sliceMs` is Infinity). Then what is left waits for the next turn of
   * the event loop (`setImmediate`), so timers and I/O wait about `sliceMs` past the first round.
   *
   * Yielding to the event loop after every `drainBudget` messages instead (before 2026-12)
   * made a node under a flood of cheap messages read its sockets far faster than it handled
   * what it read: 512 messages per loop turn against a 64 KB read (~10,000 small casts), so
   * the mailbox grew to the whole flood, and the garbage collector's work on it cost a
   * receiving node a third of its throughput.
   */
  private readonly runReady = (): void => {
    const prev = ambient.active;
    ambient.active = this;
    const ready = this.ready;
    const budget = this.drainBudget;
    const sliceMs = this.sliceMs;
    // Bound the work done in one microtask run so timers and I/O are never starved.
    let drains = 0;
    let started = -1;
    for (;;) {
      let again: Proc[] | undefined;
      let i = 0;
      for (; i < ready.length; i++) {
        const p = ready[i] as Proc;
        if (++drains > 4096) break;
        if (p.drain(budget, sliceMs)) {
          p.scheduled = true;
          (again ??= []).push(p);
        }
      }
      for (; i < ready.length; i++) this.later.push(ready[i] as Proc);
      // Truncating an array through `length` is slow; the common case is one ready process.
      if (ready.length === 1) ready.pop();
      else ready.length = 0;
      if (again === undefined) break;
      // Another round while the run is young (timed from the end of its first round).
      const t = performance.now();
      if (started < 0) started = t;
      if (drains > 4096 || sliceMs === Number.POSITIVE_INFINITY || t - started >= sliceMs) {
        for (const p of again) this.later.push(p);
        break;
      }
      // Processes scheduled during the round were appended to `ready` and ran in it.
      for (const p of again) ready.push(p);
    }
    this.tickQueued = false;
    if (this.handled.dirty.length > 0) this.onHandled?.();
    ambient.active = prev;
    if (this.later.length > 0 && !this.laterQueued) {
      this.laterQueued = true;
      setImmediate(this.runLater);
    }
  };

  private readonly runLater = (): void => {
    this.laterQueued = false;
    const later = this.later;
    this.later = [];
    for (const p of later) {
      p.scheduled = false;
      if (p.alive) this.schedule(p);
    }
  };

  /**
   * Kills every process of this runtime at once with `reason` (default `'killed'`: no
   * `terminate` callbacks) and stops their timers. For tests and thread shutdown; a program
   * stops its supervision tree instead.
   */
  killAll(reason: ExitReason = 'killed'): void {
    for (const p of [...this.procs.values()]) p.die(reason);
    this.deadlines.close();
  }
}

const resolved = Promise.resolve();

/**
 * Higher layers plug in here once, at import (wiring, not state): the threads layer sets
 * `threadStarter` so supervisors in any runtime can start thread-subtree children.
 */
export const layers: { threadStarter?: (rt: Runtime, spec: unknown, parent: AnyRef) => Promise<AnyRef> } = {};

/** The runtime whose code is running now; outside drains, the default runtime. */
export const ambient: {
  active: Runtime | undefined;
  fallback: Runtime | undefined;
} = {
  active: undefined,
  fallback: undefined,
};

/**
 * The runtime API calls act on: the one running now (inside a process callback or
 * {@link withRuntime}), else the thread's default runtime, created on first use. Never throws.
 */
export function currentRuntime(): Runtime {
  const a = ambient.active;
  if (a !== undefined) return a;
  if (ambient.fallback === undefined) ambient.fallback = new Runtime();
  return ambient.fallback;
}

/**
 * Runs `fn` with `rt` as the current runtime and returns its result (the synchronous part of
 * `fn` only: from its first `await` on, the previous runtime is current again). Throws
 * `InvalidArgumentError` when `rt` is not a Runtime or `fn` not a function.
 */
export function withRuntime<T>(rt: Runtime, fn: () => T): T {
  if (!(rt instanceof Runtime))
    throw new InvalidArgumentError('runtime passed to withRuntime', `expected a Runtime, got ${describeValue(rt)}`);
  checkFunction('fn passed to withRuntime', fn);
  const prev = ambient.active;
  ambient.active = rt;
  try {
    return fn();
  } finally {
    ambient.active = prev;
  }
}

/**
 * Replaces the thread's default runtime (the one {@link currentRuntime} falls back to) and
 * returns the previous one; `undefined` makes the next API call create a fresh default.
 * Throws `InvalidArgumentError` for a value that is not a Runtime.
 */
export function setDefaultRuntime(rt: Runtime | undefined): Runtime | undefined {
  if (rt !== undefined && !(rt instanceof Runtime))
    throw new InvalidArgumentError('runtime passed to setDefaultRuntime', `expected a Runtime or undefined, got ${describeValue(rt)}`);
  const prev = ambient.fallback;
  ambient.fallback = rt;
  return prev;
}
