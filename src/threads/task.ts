/**
 * Task. This file holds the pool jobs (below); the Elixir-style tasks (`Task.async`, `await`,
 * `yield`, `shutdown`, `asyncStream`, `Task.Supervisor`: in-thread processes) live in
 * src/behaviours/task-process.ts and are merged into the exported `Task` object here.
 *
 * Pool jobs: stateless CPU jobs on a pool of worker threads (piscina). A job is an exported
 * function of a module, named by path and export name; it runs on a pool thread with
 * structured-clone arguments and result. Use it for coarse-grained, independent work
 * (hashing, parsing, image or number crunching); for state, messages and supervision use a
 * GenServer in a thread subtree.
 *
 * `Task.run` uses the current runtime's default pool, created on first use and closed by
 * `Task.closeDefault()` (and by `Application`'s stop). `Task.pool()` makes an explicit one.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { isAbsolute, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Piscina } from 'piscina';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime } from '../core/runtime.js';
import type { SerializedError } from '../errors.js';
import {
  deserializeError,
  InvalidArgumentError,
  isSerializedError,
  NotCloneableError,
  RuntimeClosedError,
  TaskAbortedError,
  TaskFailedError,
  TaskTimeoutError,
} from '../errors.js';
import { realClock } from '../core/clock.js';
import { checkDuration, MAX_TIMER_MS } from '../core/duration.js';
import { checkOptions } from '../core/validate.js';
import { findUncloneable } from '../transport/cloneable.js';
import { workerExecArgv } from './exec-argv.js';
import { ProcessTask } from '../behaviours/task-process.js';
import type { TaskSupervisor } from '../behaviours/task-process.js';

const here = import.meta.url;
/** The pool's worker entry file (top-level workers/ folder), from src/threads or dist/src/threads. */
const ENTRY = new URL(here.includes('/dist/src/') ? '../../../workers/task-worker.mjs' : '../../workers/task-worker.mjs', here).href;

/** Options for {@link Task.pool}. */
export interface TaskPoolOptions {
  /** Threads kept running even when idle; default `maxThreads`. */
  minThreads?: number;
  /** Most threads; default `os.availableParallelism()`. */
  maxThreads?: number;
  /**
   * How long a thread above `minThreads` may sit idle before it exits, in ms (a duration);
   * default 30 000. `Infinity` keeps idle threads; so does anything past 2^31−1 ms (~24.8
   * days), which piscina's timer could not wait for.
   */
  idleTimeout?: number;
}

/** Options for one job. */
export interface TaskRunOptions {
  /**
   * Milliseconds the job may take, queueing included (a duration; default none). When it runs
   * out the job's thread is terminated (a pool thread takes its place) and the promise rejects
   * with `TaskTimeoutError`. `0` rejects at once without running the job; `Infinity` is the
   * same as no timeout.
   */
  timeout?: number;
  /** Aborting cancels the job (terminating its thread if it runs); rejects with `TaskAbortedError`. */
  signal?: AbortSignal;
}

/** Options for {@link TaskPool.close}. */
export interface TaskCloseOptions {
  /**
   * Milliseconds to let submitted jobs finish before the threads are terminated (a duration);
   * default 5000. Jobs still unfinished then reject with `RuntimeClosedError`. `0` stops at
   * once; `Infinity` waits for every submitted job.
   */
  timeout?: number;
}

/** A snapshot of a pool's counters. */
export interface TaskPoolStats {
  /** Jobs that returned a value. */
  readonly completed: number;
  /** Jobs that rejected (threw, timed out, aborted, or cut off by close). */
  readonly failed: number;
  /** Jobs submitted and not settled yet (queued or on a thread). */
  readonly running: number;
  /** Jobs waiting for a free thread. */
  readonly queued: number;
  /** Pool threads alive now. */
  readonly threads: number;
}

/** Any job function; the type parameter of `run` (`Task.run<typeof fib>(…)`) types args and result. */
// biome-ignore lint/suspicious/noExplicitAny: the widest function type, so any job function fits.
export type JobFn = (...args: any[]) => unknown;

interface Job {
  readonly module: string;
  readonly export: string;
  readonly args: readonly unknown[];
}

function checkCount(name: string, v: unknown, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new InvalidArgumentError(name, `expected an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** The file URL of a job module given as a path (relative to the working directory) or file URL. */
function moduleUrl(module: unknown): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw new InvalidArgumentError('module', `expected a path or file: URL, got ${module.href}`);
    return module.href;
  }
  if (typeof module !== 'string' || module === '') {
    throw new InvalidArgumentError(
      'module',
      `expected a module path or file URL, got ${module === '' ? 'an empty string' : typeof module}`,
    );
  }
  if (module.startsWith('file:')) {
    try {
      return new URL(module).href;
    } catch {
      throw new InvalidArgumentError('module', `${JSON.stringify(module)} is not a valid file URL`);
    }
  }
  if (/^[a-z][a-z0-9+.-]+:/i.test(module) && !isAbsolute(module)) {
    throw new InvalidArgumentError('module', `expected a path or file: URL, got ${JSON.stringify(module)}`);
  }
  return pathToFileURL(resolvePath(process.cwd(), module)).href;
}

/** True when every argument is a primitive that structured clone carries (the common case). */
function primitiveArgs(args: readonly unknown[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const t = typeof args[i];
    if (t === 'object' ? args[i] !== null : t === 'function' || t === 'symbol') return false;
  }
  return true;
}

/** "test/fixtures/jobs.ts#fib": the job as error messages name it. */
function jobLabel(url: string, exportName: string): string {
  let shown = url;
  try {
    const file = fileURLToPath(url);
    const rel = relative(process.cwd(), file);
    shown = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  } catch {
    // Keep the URL.
  }
  return `${shown}#${exportName}`;
}

/**
 * The job's thrown value, rebuilt: original name, message, stack, `code`, own fields and cause
 * chain. What the pool thread sent is untrusted (the job's code may throw anything):
 * deserializeError checks and bounds every field, and never throws.
 */
function rebuild(s: SerializedError): Error {
  return deserializeError(s);
}

/**
 * piscina, loaded when the first pool is made. The index re-exports Task, so a static import
 * made every thread subtree's worker (and every app) load piscina at start whether or not it
 * ever runs a Task: measured ~15 ms of each worker's start (importing the index in a fresh
 * worker: 47 → 32 ms), paid again at every thread restart.
 */
let piscinaClass: typeof Piscina | undefined;
function loadPiscina(): typeof Piscina {
  piscinaClass ??= (createRequire(import.meta.url)('piscina') as typeof import('piscina')).Piscina;
  return piscinaClass;
}

/** A pool of worker threads running stateless jobs. Create with {@link Task.pool}. */
export class TaskPool {
  private readonly piscina: Piscina<Job, unknown>;
  private closing: Promise<void> | undefined;
  /** Set once the threads are being terminated: rejections then mean "cut off by close". */
  private terminating = false;
  private active = 0;
  private completed = 0;
  private failed = 0;
  private onIdle: (() => void) | undefined;
  /** Module strings already resolved to URLs (resolving a path costs microseconds), for `cwd`. */
  private readonly urls = new Map<string, string>();
  private urlsCwd = '';

  constructor(options: TaskPoolOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'expected an object');
    const max = checkCount('maxThreads', options.maxThreads, 1);
    const min = checkCount('minThreads', options.minThreads, 0);
    const idleTimeout = idleTimeoutFor(options.idleTimeout);
    const maxThreads = max ?? Math.max(availableParallelism(), min ?? 1);
    const minThreads = min ?? maxThreads;
    if (minThreads > maxThreads) throw new InvalidArgumentError('minThreads', `${minThreads} is more than maxThreads (${maxThreads})`);
    const PiscinaPool = loadPiscina();
    this.piscina = new PiscinaPool<Job, unknown>({
      filename: ENTRY,
      minThreads,
      maxThreads,
      idleTimeout,
      recordTiming: false,
      // The same options as a thread subtree's worker (see exec-argv.ts): e.g. no --input-type.
      execArgv: workerExecArgv(),
    });
    // An error outside any job (a thread that failed with no job on it) must not become an
    // uncaught 'error' event that kills the process; report it as a warning.
    this.piscina.on('error', (e: unknown) => {
      process.emitWarning(`Task pool thread failed outside a job: ${e instanceof Error ? e.message : String(e)}`, 'SpindleTaskWarning');
    });
  }

  /** True once {@link TaskPool.close} was called: `run` rejects from then on. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Runs `module`'s export `exportName` with `args` on a pool thread and resolves with its
   * (awaited) return value. `module` is a path (relative to the working directory) or file
   * URL of a `.js`/`.mjs` or TypeScript (`.ts`/`.mts`/`.cts`, loaded through tsx) module.
   *
   * Rejects with `TaskFailedError` (the job threw, or its module or export could not be
   * loaded; `cause` is the original error), `TaskTimeoutError`, `TaskAbortedError`,
   * `RuntimeClosedError` (the pool is closed), `NotCloneableError` (an argument cannot cross
   * to a thread) or `InvalidArgumentError`.
   */
  run<F extends JobFn = JobFn>(
    module: string | URL,
    exportName: string,
    args?: Parameters<F>,
    options?: TaskRunOptions,
  ): Promise<Awaited<ReturnType<F>>>;
  run(module: string | URL, exportName: string, args: readonly unknown[] = [], options: TaskRunOptions = {}): Promise<unknown> {
    let job: Job;
    try {
      const url = this.resolve(module);
      if (typeof exportName !== 'string' || exportName === '') {
        throw new InvalidArgumentError(
          'exportName',
          `expected the name of an exported function, got ${exportName === '' ? 'an empty string' : typeof exportName}`,
        );
      }
      if (this.closing !== undefined) throw new RuntimeClosedError(`Task.run(${jobLabel(url, exportName)})`);
      if (!Array.isArray(args)) throw new InvalidArgumentError('args', `expected an array of arguments, got ${typeof args}`);
      const bad = primitiveArgs(args) ? undefined : findUncloneable(args, 'args');
      if (bad !== undefined) throw new NotCloneableError(bad.path, bad.valueType, `task ${jobLabel(url, exportName)}`);
      checkRunOptions(options);
      job = { module: url, export: exportName, args };
    } catch (e) {
      return Promise.reject(e);
    }
    const { signal } = options;
    // No deadline at all is the same as no timeout.
    const timeout = options.timeout === Number.POSITIVE_INFINITY ? undefined : options.timeout;
    if (timeout === undefined && signal === undefined) {
      this.active++;
      return this.piscina.run(job).then(
        (v) => this.settled(true, v),
        (e) => this.settled(false, this.failure(job, e)),
      );
    }
    if (signal?.aborted) return Promise.reject(aborted(jobLabel(job.module, job.export), signal));
    // A deadline already reached: the job is not started (a thread would be lost for nothing).
    if (timeout === 0) return Promise.reject(new TaskTimeoutError(jobLabel(job.module, job.export), 0));

    // Timeout and abort both cancel through one controller: piscina drops the job if it is
    // still queued, or terminates its thread (and starts another) if it runs.
    const ac = new AbortController();
    let why: 'timeout' | 'abort' | undefined;
    // The real clock, not Node's setTimeout: it waits past 2^31−1 ms instead of firing at once.
    const timer =
      timeout === undefined
        ? undefined
        : realClock.setTimeout(() => {
            why ??= 'timeout';
            ac.abort();
          }, timeout);
    const onAbort = (): void => {
      why ??= 'abort';
      ac.abort();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      if (timer !== undefined) realClock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    this.active++;
    return this.piscina.run(job, { signal: ac.signal }).then(
      (v) => {
        cleanup();
        return this.settled(true, v);
      },
      (e) => {
        cleanup();
        const label = jobLabel(job.module, job.export);
        if (why === 'timeout') return this.settled(false, new TaskTimeoutError(label, timeout as number));
        if (why === 'abort') return this.settled(false, aborted(label, signal as AbortSignal));
        return this.settled(false, this.failure(job, e));
      },
    );
  }

  /** Counters: completed, failed, running, queued, threads. */
  stats(): TaskPoolStats {
    return {
      completed: this.completed,
      failed: this.failed,
      running: this.active,
      queued: this.piscina.queueSize,
      threads: this.piscina.threads.length,
    };
  }

  /**
   * Stops taking jobs (`run` rejects with `RuntimeClosedError`), lets submitted jobs finish
   * for up to `timeout` ms, then terminates the threads, so the pool no longer holds the
   * process open. Idempotent: later calls return the same promise.
   */
  close(options: TaskCloseOptions = {}): Promise<void> {
    if (this.closing === undefined) {
      let wait: number;
      try {
        wait = checkDuration('timeout', checkOptions<TaskCloseOptions>('options', options).timeout, 5000);
      } catch (e) {
        return Promise.reject(e);
      }
      this.closing = (async () => {
        if (this.active > 0 && wait > 0) {
          let timer: unknown;
          await new Promise<void>((resolve) => {
            this.onIdle = resolve;
            // The real clock: a long grace period waits as long as it says; Infinity has no timer.
            timer = realClock.setTimeout(resolve, wait);
          });
          realClock.clearTimeout(timer);
          this.onIdle = undefined;
        }
        this.terminating = true;
        await this.piscina.destroy();
      })();
    }
    return this.closing;
  }

  private resolve(module: unknown): string {
    if (typeof module !== 'string') return moduleUrl(module);
    const cwd = process.cwd();
    if (cwd !== this.urlsCwd || this.urls.size >= 1024) {
      this.urls.clear();
      this.urlsCwd = cwd;
    }
    let url = this.urls.get(module);
    if (url === undefined) {
      url = moduleUrl(module);
      this.urls.set(module, url);
    }
    return url;
  }

  private settled(ok: true, value: unknown): unknown;
  private settled(ok: false, error: Error): never;
  private settled(ok: boolean, value: unknown): unknown {
    if (ok) this.completed++;
    else this.failed++;
    if (--this.active === 0) this.onIdle?.();
    if (!ok) throw value;
    return value;
  }

  /** Turns what piscina rejected with into Spindle's typed error. */
  private failure(job: Job, e: unknown): Error {
    const label = jobLabel(job.module, job.export);
    // The job threw: the worker sent the error as plain data.
    if (isSerializedError(e)) return new TaskFailedError(label, rebuild(e));
    if (this.terminating) {
      const closed = new RuntimeClosedError(`task ${label}`);
      Object.defineProperty(closed, 'cause', { value: e, configurable: true, writable: true });
      return closed;
    }
    // The thread died under the job (process.exit, out of memory, an uncaught error), or
    // piscina refused the job.
    const cause = e instanceof Error ? e : new Error(`the job's thread failed: ${describe(e)}`);
    return new TaskFailedError(label, cause);
  }
}

function describe(e: unknown): string {
  try {
    return typeof e === 'string' ? e : (JSON.stringify(e) ?? String(e));
  } catch {
    return String(e);
  }
}

function aborted(label: string, signal: AbortSignal): TaskAbortedError {
  const e = new TaskAbortedError(label);
  if (signal.reason !== undefined) Object.defineProperty(e, 'cause', { value: signal.reason, configurable: true, writable: true });
  return e;
}

function checkRunOptions(options: TaskRunOptions): void {
  const { timeout, signal } = checkOptions<TaskRunOptions>('options', options);
  checkDuration('timeout', timeout, 0);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal', 'expected an AbortSignal');
}

/**
 * piscina's idle timeout for a valid duration (default 30 000 ms). piscina arms a plain Node
 * timer, which fires at once past 2^31−1 ms; such a wait becomes Infinity (idle threads stay),
 * the side that errs late: a thread kept is harmless, a thread reaped at once is churn.
 */
function idleTimeoutFor(v: unknown): number {
  const ms = checkDuration('idleTimeout', v, 30_000);
  return ms > MAX_TIMER_MS ? Number.POSITIVE_INFINITY : ms;
}

/** Each runtime's default pool (runtime state hangs off the runtime, not the module). */
const defaults = new WeakMap<Runtime, TaskPool>();

/** The current runtime's default pool, created on first use (a closed one is replaced). */
function defaultPool(): TaskPool {
  const rt = currentRuntime();
  let pool = defaults.get(rt);
  if (pool === undefined || pool.closed) {
    pool = new TaskPool();
    defaults.set(rt, pool);
  }
  return pool;
}

/** Closes `rt`'s default pool, if it has one (used by `Application`'s stop). */
export function closeDefaultTaskPool(rt: Runtime = currentRuntime(), options?: TaskCloseOptions): Promise<void> {
  // Checked first: a bad call never passes silently, nor drops the pool without closing it.
  try {
    checkDuration('timeout', checkOptions<TaskCloseOptions>('options', options).timeout, 5000);
  } catch (e) {
    return Promise.reject(e);
  }
  const pool = defaults.get(rt);
  if (pool === undefined) return Promise.resolve();
  defaults.delete(rt);
  return pool.close(options);
}

/**
 * `Task`: Elixir-style tasks (`async`, `await`, `yield`, `shutdown`, `asyncStream`,
 * `Supervisor`: in-thread processes for concurrency and I/O, see
 * src/behaviours/task-process.ts) and pool jobs (`run`, `pool`, `closeDefault`, `stats`: CPU
 * work on worker threads).
 */
export const Task = {
  /**
   * Runs `fn()` in a new process linked to the caller; returns its {@link TaskHandle} at once.
   * Throws InvalidArgumentError when `fn` is not a function. Elixir: `Task.async/1`.
   */
  async: ProcessTask.async,
  /**
   * Waits for the task's value, `timeout` ms at most (default 5000). Rejects with
   * TaskExitedError, TaskTimeoutError (the task is then killed), TaskAlreadyAwaitedError or
   * InvalidArgumentError. Elixir: `Task.await/2`.
   */
  await: ProcessTask.await,
  /**
   * Waits `timeout` ms at most (default 5000): `{ ok: value }`, `{ exit: reason }`, or
   * undefined while it still runs. Rejects with TaskAlreadyAwaitedError or
   * InvalidArgumentError. Elixir: `Task.yield/2`.
   */
  yield: ProcessTask.yield,
  /**
   * Stops the task (`'shutdown'`, killed after `timeout` ms, default 5000; or `'brutal_kill'`);
   * resolves with its result if it had one, else undefined. Elixir: `Task.shutdown/2`.
   */
  shutdown: ProcessTask.shutdown,
  /**
   * Runs `fn(item)` per item, each in its own task, at most `maxConcurrency` at a time; lazily
   * yields `{ ok }` / `{ exit }` per item. Throws InvalidArgumentError for bad arguments.
   * Elixir: `Task.async_stream/3`.
   */
  asyncStream: ProcessTask.asyncStream,
  /** Task.Supervisor: supervised tasks (`start`, `async`, `asyncNolink`, `asyncStream`, …). Elixir: `Task.Supervisor`. */
  // Typed by name so the d.ts keeps the docs of each Task.Supervisor function.
  Supervisor: ProcessTask.Supervisor as typeof TaskSupervisor,
  /**
   * Runs a job on the default pool: see {@link TaskPool.run}. The pool starts on first use
   * with `os.availableParallelism()` threads.
   *
   * ```ts
   * import type { fib } from './jobs.js';
   * const n = await Task.run<typeof fib>('./jobs.ts', 'fib', [30], { timeout: 5000 });
   * ```
   */
  run<F extends JobFn = JobFn>(
    module: string | URL,
    exportName: string,
    args?: Parameters<F>,
    options?: TaskRunOptions,
  ): Promise<Awaited<ReturnType<F>>> {
    return defaultPool().run<F>(module, exportName, args, options);
  },

  /** Creates an explicit pool; close it with `pool.close()` when done. */
  pool(options?: TaskPoolOptions): TaskPool {
    return new TaskPool(options);
  },

  /**
   * Closes the default pool (see {@link TaskPool.close}); a later `Task.run` starts a new
   * one. `Application`'s stop calls this.
   */
  closeDefault(options?: TaskCloseOptions): Promise<void> {
    return closeDefaultTaskPool(currentRuntime(), options);
  },

  /** The default pool's counters (all zero before its first job). */
  stats(): TaskPoolStats {
    const pool = defaults.get(currentRuntime());
    return pool === undefined ? { completed: 0, failed: 0, running: 0, queued: 0, threads: 0 } : pool.stats();
  },
} as const;
