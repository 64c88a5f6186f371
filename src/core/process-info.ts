/**
 * Introspection of one process: what `Process.info(ref)` returns, built on the thread that
 * runs the process. For a process on another thread the question travels as a system call to
 * that thread's runtime (process id 0), so the answer is read where the process lives.
 */
import type { OverflowPolicy, Proc } from './process.js';
import { Status } from './process.js';
import type { AnyRef } from './ref.js';

/** A snapshot of one live process. */
export interface ProcessInfo {
  readonly ref: AnyRef;
  /** `'init'` while init runs, `'running'`, or `'stopping'` while terminate runs. */
  readonly status: 'init' | 'running' | 'stopping';
  /** True while an async handler is in flight. */
  readonly busy: boolean;
  /** Messages waiting in the mailbox. */
  readonly mailbox: number;
  /** The mailbox bound (`Infinity`: unbounded). */
  readonly maxMailbox: number;
  readonly overflow: OverflowPolicy;
  /** Messages handed to the behaviour so far. */
  readonly handled: number;
  /** User messages refused by the full mailbox (casts dropped, calls rejected). */
  readonly dropped: number;
  /** The first registered name, if any. */
  readonly name: string | undefined;
  /** Thread number inside the node (0: main). */
  readonly thread: number;
  readonly trapExit: boolean;
  /** Linked processes. */
  readonly links: AnyRef[];
  /** Number of monitors this process holds on others. */
  readonly monitors: number;
  /** Number of monitors others hold on this process. */
  readonly monitoredBy: number;
}

/** The snapshot of `p`, or undefined when it is dead. Plain data: it can cross threads. */
export function processInfo(p: Proc | undefined): ProcessInfo | undefined {
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
    thread: p.ref.thread,
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
