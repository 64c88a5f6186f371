/**
 * Introspection of one process: what `Process.info(ref)` returns, built on the thread that
 * runs the process. For a process on another thread the question travels as a system call to
 * that thread's runtime (process id 0), so the answer is read where the process lives.
 */
import { getHeapStatistics } from 'node:v8';
import { Engine } from '../behaviours/gen-server/engine.js';
import { InvalidArgumentError, NoProcessError, NotCloneableError } from '../errors.js';
import { findUncloneable } from '../transport/cloneable.js';
import type { OverflowPolicy, Proc } from './process.js';
import { Status } from './process.js';
import type { AnyRef } from './ref.js';
import { formatRef } from './ref.js';

/** A snapshot of one live process. */
export interface ProcessInfo {
  /** The process. */
  readonly ref: AnyRef;
  /** `'init'` while init runs, `'running'`, or `'stopping'` while terminate runs. */
  readonly status: 'init' | 'running' | 'stopping';
  /** True while an async handler is in flight. */
  readonly busy: boolean;
  /** Messages waiting in the mailbox. */
  readonly mailbox: number;
  /** The mailbox bound (`Infinity`: unbounded). */
  readonly maxMailbox: number;
  /** What happens when the bounded mailbox is full (`StartOptions.overflow`). */
  readonly overflow: OverflowPolicy;
  /** Messages handed to the behaviour so far. */
  readonly handled: number;
  /** User messages refused by the full mailbox (casts dropped, calls rejected). */
  readonly dropped: number;
  /** The first registered name, if any. */
  readonly name: string | undefined;
  /** Every unique name the process holds (empty when it has none). */
  readonly names: string[];
  /**
   * The process that started it (its supervisor, for a supervised child), if any. How many
   * times that supervisor restarted the child is in `Supervisor.tree` / `getChildren`
   * (`restartCount`): the count belongs to the child's position, not to one process.
   */
  readonly parent: AnyRef | undefined;
  /**
   * Bytes of JS heap in use on the process's thread (`v8` `used_heap_size`), shared by every
   * process of that thread: JavaScript has no per-process heap to measure. A process's own
   * memory is best judged from `mailbox` (what waits for it) and its state (`GenServer.getState`).
   */
  readonly heapUsed: number;
  /** Thread number inside the node (0: main). */
  readonly thread: number;
  /**
   * What runs there: `'supervisor'`, `'thread'` (the host process that stands for a thread
   * child on the main thread), `'gen_server'` (any other GenServer, Agents included), or
   * `'process'` (anything else: a Task, a plain process).
   */
  readonly kind: 'supervisor' | 'thread' | 'gen_server' | 'process';
  /** True while it traps exits (`Process.trapExit`). */
  readonly trapExit: boolean;
  /** Linked processes. */
  readonly links: AnyRef[];
  /** Number of monitors this process holds on others. */
  readonly monitors: number;
  /** Number of monitors others hold on this process. */
  readonly monitoredBy: number;
}

/** What a process is, as {@link ProcessInfo.kind} reports it. */
export type ProcessKind = ProcessInfo['kind'];

/** The property that marks a behaviour object as a supervisor's or a thread host's (see {@link markKind}). */
const KIND = Symbol('spindle.processKind');

/**
 * Marks `behavior` (a GenServer behaviour object of the runtime's own) as what its processes
 * are, for {@link ProcessInfo.kind}. The mark is a non-enumerable symbol property: a spread
 * copy of the object is an ordinary GenServer again. Returns `behavior`.
 */
export function markKind<B extends object>(behavior: B, kind: 'supervisor' | 'thread'): B {
  Object.defineProperty(behavior, KIND, { value: kind, enumerable: false });
  return behavior;
}

/** The kind of process `p`: one property read on its behaviour. */
function kindOf(p: Proc): ProcessKind {
  const server = p.server;
  if (!(server instanceof Engine)) return 'process';
  const mark = (server.behavior as { [KIND]?: unknown })[KIND];
  return mark === 'supervisor' || mark === 'thread' ? mark : 'gen_server';
}

/** The snapshot of `p`, or undefined when it is dead. Plain data: it can cross threads. */
export function processInfo(p: Proc | undefined, heapUsed = threadHeapUsed()): ProcessInfo | undefined {
  if (p === undefined || p.status === Status.Dead) return undefined;
  return {
    ref: p.ref,
    status: p.status === Status.Init ? 'init' : p.status === Status.Running ? 'running' : 'stopping',
    busy: p.busy,
    mailbox: p.queued,
    maxMailbox: p.bound?.max ?? Number.POSITIVE_INFINITY,
    overflow: p.bound?.overflow ?? 'drop_new',
    handled: p.handledCount,
    dropped: p.bound?.dropped ?? 0,
    name: p.name,
    names: p.registered === undefined ? (p.name === undefined ? [] : [p.name]) : [...p.registered],
    parent: p.parent,
    heapUsed,
    thread: p.ref.thread,
    kind: kindOf(p),
    trapExit: p.trapExit,
    links: p.links === undefined ? [] : [...p.links.values()],
    monitors: p.monitoring?.size ?? 0,
    monitoredBy: p.watchers?.size ?? 0,
  };
}

/** The system call that asks a thread's runtime for one of its processes' info. */
export interface InfoRequest {
  readonly op: 'process_info';
  readonly id: number;
}

/** The system call that asks a thread's runtime for its counters. */
export interface StatsRequest {
  readonly op: 'runtime_stats';
}

/** One thread's counters, as `Threads.stats()` returns them. */
export interface ThreadStats {
  /** Thread number inside the node (0: main). */
  readonly thread: number;
  /** Live processes on the thread. */
  readonly processes: number;
  /** Casts and infos dropped: no such process, a full mailbox, a busy channel. */
  readonly droppedCasts: number;
  /** Messages left in a mailbox when its process exited. */
  readonly droppedOnExit: number;
  /** Casts this thread sent to threads that died before handling them. */
  readonly lostInFlight: number;
  /** This thread's channel to each other live thread (see `Threads.channels()`). */
  readonly channels: readonly import('../threads/links.js').ChannelStats[];
}

/** True when `v` is the {@link StatsRequest} (it may come from another thread). */
export function isStatsRequest(v: unknown): v is StatsRequest {
  return typeof v === 'object' && v !== null && (v as { op?: unknown }).op === 'runtime_stats';
}

/** True when `v` is a well-formed {@link InfoRequest} (it may come from another thread). */
export function isInfoRequest(v: unknown): v is InfoRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { op?: unknown; id?: unknown };
  return r.op === 'process_info' && typeof r.id === 'number' && Number.isSafeInteger(r.id) && r.id > 0;
}

/** Bytes of JS heap in use on this thread (one cheap V8 query). */
export function threadHeapUsed(): number {
  return getHeapStatistics().used_heap_size;
}

/** The most processes one thread lists in an answer to `Process.list()`. */
export const MAX_LIST_PER_THREAD = 10_000;

/** The system call that asks a thread's runtime for its processes (see `Process.list`). */
export interface ListRequest {
  readonly op: 'process_list';
}

/** The system call that asks a thread's runtime for a GenServer's state (`GenServer.getState`). */
export interface GetStateRequest {
  readonly op: 'get_state';
  readonly id: number;
}

/** True when `v` is the {@link ListRequest} (it may come from another thread). */
export function isListRequest(v: unknown): v is ListRequest {
  return typeof v === 'object' && v !== null && (v as { op?: unknown }).op === 'process_list';
}

/** True when `v` is a well-formed {@link GetStateRequest} (it may come from another thread). */
export function isGetStateRequest(v: unknown): v is GetStateRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { op?: unknown; id?: unknown };
  return r.op === 'get_state' && typeof r.id === 'number' && Number.isSafeInteger(r.id) && r.id > 0;
}

/**
 * The process a system call names (an info or get_state request), or undefined for one that
 * names none. A main thread uses it to hide the processes a worker may not address.
 */
export function namedProcess(v: unknown): number | undefined {
  return isInfoRequest(v) || isGetStateRequest(v) ? v.id : undefined;
}

/**
 * Snapshots of the live processes of `procs` that `shown` admits (all when unset), in start
 * order, at most {@link MAX_LIST_PER_THREAD}. The heap figure is read once for all of them.
 */
export function processList(procs: Iterable<Proc>, shown?: { has(id: number): boolean }): ProcessInfo[] {
  const heapUsed = threadHeapUsed();
  const out: ProcessInfo[] = [];
  for (const p of procs) {
    if (out.length >= MAX_LIST_PER_THREAD) break;
    if (shown !== undefined && !shown.has(p.ref.id)) continue;
    const info = processInfo(p, heapUsed);
    if (info !== undefined) out.push(info);
  }
  return out;
}

/**
 * The state of GenServer `p` as `GenServer.getState` returns it: the state its last handler
 * committed (a handler in flight has not committed yet; `undefined` while init runs). Throws
 * NoProcessError when `p` is not alive and InvalidArgumentError when it is not a GenServer.
 * With `cloneable` (the answer crosses threads) a state that cannot be copied throws
 * NotCloneableError naming the field.
 */
export function committedState(p: Proc | undefined, ref: AnyRef, cloneable: boolean): unknown {
  if (p === undefined || p.status === Status.Dead) throw new NoProcessError(formatRef(ref));
  if (!(p.server instanceof Engine))
    throw new InvalidArgumentError('ref passed to GenServer.getState', `${formatRef(ref)} is not a GenServer (it holds no state)`);
  const state = p.server.state;
  if (cloneable) {
    const problem = findUncloneable(state, 'state');
    if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, formatRef(ref));
  }
  return state;
}
