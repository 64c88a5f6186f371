/**
 * Elixir's `Task`: a function run by its own short-lived process on this thread, for
 * concurrency and I/O (not for CPU: that is `Task.run`'s pool, see src/threads/task.ts).
 *
 * A task is a process: it has a ref, links and monitors work on it, and it exits `'normal'`
 * when its function returns, or `{ error }` when it throws. `Task.async` links it to the
 * calling process (a crash takes the caller down, as in Elixir); `Task.await` / `yield` /
 * `shutdown` take its result, once. `Task.Supervisor` starts tasks as temporary children of a
 * `simple_one_for_one` supervisor. These functions are merged into the exported `Task` object.
 *
 * JavaScript cannot preempt a function: killing a task ends its process at once (links,
 * monitors and the supervisor see it exit), and aborts the `AbortSignal` its function is
 * given; code the function still runs after that has no effect on the task's result.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, TaskAlreadyAwaitedError, TaskExitedError, TaskTimeoutError } from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import type { Proc, Server } from '../core/process.js';
import { CALL } from '../core/process.js';
import type { AnyRef } from '../core/ref.js';
import { formatRef, isRef } from '../core/ref.js';
import type { From, Runtime } from '../core/runtime.js';
import { currentRuntime, withRuntime } from '../core/runtime.js';
import { checkDuration } from '../core/duration.js';
import { checkBoolean, checkFunction, checkInteger, checkName, checkOptions, describeValue } from '../core/validate.js';
import type { ChildSpec } from './supervisor/spec.js';
import type { SupervisorRef } from './supervisor/supervisor.js';
import { Supervisor } from './supervisor/supervisor.js';

/** What a task ended with: its function's value, or its exit reason. Elixir's `{:ok, v}` / `{:exit, reason}`. */
export type TaskResult<T> = { readonly ok: T } | { readonly exit: ExitReason };

/** One result of an async stream: as {@link TaskResult}, plus `{ exit: 'timeout' }` under `onTimeout: 'kill_task'`. */
export type TaskStreamResult<T> = { readonly ok: T } | { readonly exit: ExitReason | 'timeout' };

/**
 * A task's function. It gets an `AbortSignal` that aborts when the task's process exits before
 * the function has finished (killed, shut down, or its linked caller died); its reason is a
 * `TaskExitedError`.
 */
export type TaskFn<T> = (signal: AbortSignal) => T | PromiseLike<T>;

/** A Task.Supervisor's ref: a `simple_one_for_one` supervisor of temporary task children. */
export type TaskSupervisorRef = SupervisorRef<unknown>;

/** Options for `Task.Supervisor.start`. */
export interface TaskSupervisorOptions {
  /** Registers the supervisor under this name (a non-empty string); default none. */
  name?: string;
}

/** Options for `asyncStream` (Elixir's `Task.async_stream` options). */
export interface AsyncStreamOptions {
  /** Most tasks running at once: an integer >= 1; default `os.availableParallelism()`. */
  maxConcurrency?: number;
  /** Yield results in the order of the items (default true); false: in the order they finish. */
  ordered?: boolean;
  /** Milliseconds each task may run, from its start (a duration); default 5000. */
  timeout?: number;
  /**
   * What a task that runs out of `timeout` does (default `'exit'`): `'exit'` kills every task
   * of the stream and makes the iteration throw `TaskTimeoutError` (Elixir exits the caller);
   * `'kill_task'` kills that task and yields `{ exit: 'timeout' }` for its item.
   */
  onTimeout?: 'exit' | 'kill_task';
}

/** Who may take the result: nobody yet, someone waiting, or it was taken. */
type Claim = 'open' | 'waiting' | 'taken';

/**
 * The task's process: a {@link Server} with no handlers that runs its function once, then
 * exits. Users hold a {@link TaskHandle}.
 *
 * @internal
 */
export class TaskProcess<T = unknown> implements Server {
  proc: Proc | undefined;
  claim: Claim = 'open';
  /** Settles when the process has exited. */
  readonly outcome: Promise<TaskResult<T>>;
  private settle!: (r: TaskResult<T>) => void;
  /** The function's value, recorded before the process exits `'normal'`. */
  private value: { readonly v: T } | undefined;
  private started = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly fn: TaskFn<T>,
    readonly owner: AnyRef | undefined,
    readonly linked: boolean,
  ) {
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** "#Ref<…>": the task as error messages name it. */
  get label(): string {
    return this.proc === undefined ? 'task' : formatRef(this.proc.ref);
  }

  /** Creates the process in `rt`, running but idle, linked to the owner when `linked`. */
  spawn(rt: Runtime): AnyRef {
    const p = rt.spawn();
    p.server = this;
    this.proc = p;
    p.markRunning();
    p.exited().then((reason) => this.exited(reason));
    if (this.linked && this.owner !== undefined) rt.router.link(p.ref, this.owner);
    return p.ref;
  }

  /** Runs the function, as the task's process (its synchronous part). Once; not if already dead. */
  begin(): void {
    const p = this.proc;
    if (p === undefined || !p.alive || this.started) return;
    this.started = true;
    const rt = p.rt;
    let r: unknown;
    try {
      r = withRuntime(rt, () => {
        const prev = rt.current;
        rt.current = p;
        try {
          return this.fn(this.abort.signal);
        } finally {
          rt.current = prev;
        }
      });
    } catch (e) {
      this.fail(e);
      return;
    }
    if (isThenable(r))
      Promise.resolve(r).then(
        (v) => this.finish(v as T),
        (e) => this.fail(e),
      );
    else this.finish(r as T);
  }

  private finish(v: T): void {
    const p = this.proc as Proc;
    if (!p.alive) return;
    this.value = { v };
    p.die('normal');
  }

  private fail(e: unknown): void {
    const p = this.proc as Proc;
    if (p.alive) p.die({ error: e });
  }

  private exited(reason: ExitReason): void {
    if (this.value !== undefined) {
      this.settle({ ok: this.value.v });
      return;
    }
    this.abort.abort(new TaskExitedError(this.label, reason));
    this.settle({ exit: reason });
  }

  /** True once the function returned a value (the process has exited or is exiting `'normal'`). */
  get finished(): boolean {
    return this.value !== undefined;
  }

  /** Ends the process with `reason` ('shutdown' or 'killed'), unlinking the owner first so it survives. */
  signal(reason: 'shutdown' | 'killed'): void {
    const p = this.proc as Proc;
    if (!p.alive) return;
    const rt = p.rt;
    if (this.linked && this.owner !== undefined) rt.router.unlink(p.ref, this.owner);
    rt.router.exitSignal(p.ref, rt.current?.ref ?? rt.selfRef, reason, false);
  }

  // ---- Server: a task takes no messages. A call is answered with an error; the rest are dropped.

  handle(kind: number, _msg: unknown, from: From | undefined): undefined {
    if (kind === CALL && from !== undefined) {
      const rt = (this.proc as Proc).rt;
      rt.router.replyError(from, new InvalidArgumentError('message', `${this.label} is a task: it takes no calls`));
    }
    return undefined;
  }

  terminate(): undefined {
    return undefined;
  }

  inflight(): undefined {
    return undefined;
  }

  deferred(): Iterable<[From, unknown]> {
    return [];
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

declare const resultType: unique symbol;

/** A running (or finished) task, as returned by `Task.async` (Elixir's `%Task{}`). */
export class TaskHandle<T = unknown> {
  /** Phantom: the type of the task's value; never present at run time. */
  declare readonly [resultType]?: T;
  /** The task's process (Elixir's `task.pid`). */
  readonly ref: AnyRef;
  /** The process that started it; undefined when started outside any process. */
  readonly owner: AnyRef | undefined;
  /** True when the task is linked to its owner (a crash of the task exits the owner). */
  readonly linked: boolean;
  readonly #task: TaskProcess<unknown>;

  /** Made by `Task.async` and `Task.Supervisor` only. */
  private constructor(task: TaskProcess<unknown>) {
    this.#task = task;
    this.ref = (task.proc as Proc).ref;
    this.owner = task.owner;
    this.linked = task.linked && task.owner !== undefined;
  }

  /** @internal The handle of a task process. */
  static of<T>(task: TaskProcess<T>): TaskHandle<T> {
    return new TaskHandle<T>(task as TaskProcess<unknown>);
  }

  /** @internal The task process behind a handle. */
  static taskOf<T>(h: TaskHandle<T>): TaskProcess<T> {
    return h.#task as TaskProcess<T>;
  }
}

/** The task behind `h`; InvalidArgumentError if `h` is not a handle. */
function taskOf<T>(h: unknown, fn: string): TaskProcess<T> {
  if (!(h instanceof TaskHandle)) throw new InvalidArgumentError(`task passed to ${fn}`, `expected a task handle, got ${describeValue(h)}`);
  return TaskHandle.taskOf(h as TaskHandle<T>);
}

/**
 * The task's outcome, or undefined when it has not exited within `ms` (the task's runtime
 * clock; `Infinity` waits for ever).
 */
function within<T>(task: TaskProcess<T>, ms: number): Promise<TaskResult<T> | undefined> {
  if (ms === Number.POSITIVE_INFINITY) return task.outcome;
  const clock = (task.proc as Proc).rt.clock;
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(undefined), ms);
    task.outcome.then((r) => {
      clock.clearTimeout(timer);
      resolve(r);
    });
  });
}

/** Starts a task process in the current runtime; its function starts in a microtask. */
function spawnTask<T>(fn: TaskFn<T>, owner: AnyRef | undefined, link: boolean): TaskHandle<T> {
  const task = new TaskProcess(fn, owner, link);
  task.spawn(currentRuntime());
  queueMicrotask(() => task.begin());
  return TaskHandle.of(task);
}

/**
 * Runs `fn()` (sync or async) in a new process, linked to the calling process: if the task
 * crashes, the caller exits with the same reason (unless it traps exits), and if the caller
 * exits the task is killed. Outside any process the task is linked to nothing, and its failure
 * reaches `Task.await` only. `fn` starts in a microtask, and is given an `AbortSignal` that
 * aborts if the task is ended before it returns. "Inside a process" means the synchronous
 * part of a callback, as for `Process.self()`.
 *
 * Throws InvalidArgumentError when `fn` is not a function. Elixir: `Task.async/1`.
 */
function async<T>(fn: TaskFn<T>): TaskHandle<Awaited<T>> {
  checkFunction('fn passed to Task.async', fn);
  const owner = currentRuntime().current?.ref;
  return spawnTask(fn as TaskFn<Awaited<T>>, owner, true);
}

/**
 * Waits for the task's result, `timeout` ms at most (a duration; default 5000; `Infinity`
 * waits for ever). Resolves with `fn`'s value.
 *
 * Rejects with TaskExitedError when the task exited without a value (`reason`; `cause`: what
 * `fn` threw), TaskTimeoutError when `timeout` ran out (the task is then unlinked and killed:
 * Elixir exits the caller, which kills the linked task), TaskAlreadyAwaitedError when its
 * result was taken or is being waited for, InvalidArgumentError for a bad argument.
 * Elixir: `Task.await/2`.
 */
function awaitTask<T>(task: TaskHandle<T>, timeout?: number): Promise<T> {
  let t: TaskProcess<T>;
  let ms: number;
  try {
    t = taskOf<T>(task, 'Task.await');
    ms = checkDuration('timeout', timeout, 5000);
  } catch (e) {
    return Promise.reject(e);
  }
  if (t.claim !== 'open') return Promise.reject(new TaskAlreadyAwaitedError(t.label));
  t.claim = 'waiting';
  return within(t, ms).then((r) => {
    t.claim = 'taken';
    if (r === undefined) {
      t.signal('killed');
      throw new TaskTimeoutError(t.label, ms);
    }
    if ('ok' in r) return r.ok;
    throw new TaskExitedError(t.label, r.exit);
  });
}

/**
 * Waits `timeout` ms at most (a duration; default 5000) for the task: resolves with
 * `{ ok: value }` or `{ exit: reason }` once it has ended, or undefined if it is still running
 * (it keeps running, and may be yielded, awaited or shut down again).
 *
 * Rejects with TaskAlreadyAwaitedError when its result was taken or is being waited for,
 * InvalidArgumentError for a bad argument. Elixir: `Task.yield/2`.
 */
function yieldTask<T>(task: TaskHandle<T>, timeout?: number): Promise<TaskResult<T> | undefined> {
  let t: TaskProcess<T>;
  let ms: number;
  try {
    t = taskOf<T>(task, 'Task.yield');
    ms = checkDuration('timeout', timeout, 5000);
  } catch (e) {
    return Promise.reject(e);
  }
  if (t.claim !== 'open') return Promise.reject(new TaskAlreadyAwaitedError(t.label));
  t.claim = 'waiting';
  return within(t, ms).then((r) => {
    // Still running: the result stays to be taken, unless a shutdown took it meanwhile.
    if (r !== undefined) t.claim = 'taken';
    else if (t.claim === 'waiting') t.claim = 'open';
    return r;
  });
}

/**
 * Stops the task: unlinks it from its owner, sends it a `'shutdown'` exit signal and kills it
 * if it has not exited after `timeout` ms (a duration; default 5000), or kills it at once with
 * `'brutal_kill'`. Resolves with `{ ok: value }` if it had finished, `{ exit: reason }` if it
 * had already exited on its own, and undefined otherwise (or when its result was already
 * taken). A task's process exits at once on `'shutdown'`; the timeout matters only when it
 * trapped exits. Rejects with InvalidArgumentError for a bad argument. Elixir: `Task.shutdown/2`.
 */
function shutdownTask<T>(task: TaskHandle<T>, timeout?: number | 'brutal_kill'): Promise<TaskResult<T> | undefined> {
  let t: TaskProcess<T>;
  let ms: number | 'brutal_kill';
  try {
    t = taskOf<T>(task, 'Task.shutdown');
    ms = timeout === 'brutal_kill' ? timeout : checkDuration('timeout', timeout, 5000);
  } catch (e) {
    return Promise.reject(e);
  }
  if (t.claim === 'taken') return Promise.resolve(undefined);
  t.claim = 'taken';
  const p = t.proc as Proc;
  if (!p.alive) return t.outcome;
  t.signal(ms === 'brutal_kill' ? 'killed' : 'shutdown');
  // A task exits at once on 'shutdown' unless it traps exits: then it gets `ms` to finish.
  const wait = p.alive && ms !== 'brutal_kill' ? within(t, ms) : t.outcome;
  return wait.then((r) => {
    if (r !== undefined) return valueOnly(r);
    t.signal('killed');
    return t.outcome.then(valueOnly);
  });
}

/** A result the shutdown caught: the value when the task had finished, else nothing. */
function valueOnly<T>(r: TaskResult<T>): TaskResult<T> | undefined {
  return 'ok' in r ? r : undefined;
}

// ---- Async streams -------------------------------------------------------------------------

/** One item of a stream: its task, and its result once known. */
interface Slot<R> {
  task: TaskProcess<R> | undefined;
  result: TaskStreamResult<R> | undefined;
  timedOut: boolean;
  timer: unknown;
}

interface StreamSettings {
  readonly max: number;
  readonly ordered: boolean;
  readonly timeout: number;
  readonly onTimeout: 'exit' | 'kill_task';
}

/** Starts one task for a stream item; resolves with its process. */
type Starter = <R>(fn: TaskFn<R>) => Promise<TaskProcess<R>>;

function checkStream(fnName: string, items: unknown, fn: unknown, options: unknown): StreamSettings {
  const ok =
    typeof items === 'object' &&
    items !== null &&
    (typeof (items as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (items as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
  if (!ok && typeof items !== 'string')
    throw new InvalidArgumentError(`items passed to ${fnName}`, `expected an iterable or async iterable, got ${describeValue(items)}`);
  checkFunction(`fn passed to ${fnName}`, fn);
  const o = checkOptions<AsyncStreamOptions>('options', options);
  const max = checkInteger('maxConcurrency', o.maxConcurrency, availableParallelism(), 1);
  const ordered = checkBoolean('ordered', o.ordered, true);
  const timeout = checkDuration('timeout', o.timeout, 5000);
  const onTimeout = o.onTimeout ?? 'exit';
  if (onTimeout !== 'exit' && onTimeout !== 'kill_task')
    throw new InvalidArgumentError('onTimeout', `expected 'exit' or 'kill_task', got ${describeValue(onTimeout)}`);
  return { max, ordered, timeout, onTimeout };
}

function iteratorOf<I>(items: Iterable<I> | AsyncIterable<I>): AsyncIterator<I> | Iterator<I> {
  const a = (items as AsyncIterable<I>)[Symbol.asyncIterator];
  return typeof a === 'function' ? a.call(items) : (items as Iterable<I>)[Symbol.iterator]();
}

/** The lazy stream: each iteration walks `items` again, as an Elixir stream does. */
function stream<I, R>(
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R | PromiseLike<R>,
  s: StreamSettings,
  start: Starter,
): AsyncIterable<TaskStreamResult<Awaited<R>>> {
  const clock = currentRuntime().clock;
  return {
    [Symbol.asyncIterator]: () => runStream(items, fn as (item: I, signal: AbortSignal) => Awaited<R>, s, start, clock),
  };
}

async function* runStream<I, R>(
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R,
  s: StreamSettings,
  start: Starter,
  clock: Runtime['clock'],
): AsyncGenerator<TaskStreamResult<R>> {
  const it = iteratorOf(items);
  const slots: Slot<R>[] = [];
  const finished: Slot<R>[] = [];
  let inFlight = 0;
  let exhausted = false;
  let signalled = false;
  let wake: (() => void) | undefined;
  const notify = (slot: Slot<R>): void => {
    inFlight--;
    finished.push(slot);
    signalled = true;
    wake?.();
  };
  try {
    for (;;) {
      signalled = false;
      while (!exhausted && inFlight < s.max) {
        const n = await it.next();
        if (n.done === true) {
          exhausted = true;
          break;
        }
        const item = n.value;
        const slot: Slot<R> = { task: undefined, result: undefined, timedOut: false, timer: undefined };
        slots.push(slot);
        inFlight++;
        await startSlot(slot, (signal) => fn(item, signal), s, start, clock, notify);
      }
      const late = slots.find((x) => x.timedOut);
      if (late !== undefined) throw new TaskTimeoutError(late.task?.label ?? 'task', s.timeout);
      const next = s.ordered ? (slots[0]?.result !== undefined ? slots[0] : undefined) : finished[0];
      if (next !== undefined) {
        slots.splice(slots.indexOf(next), 1);
        const i = finished.indexOf(next);
        if (i >= 0) finished.splice(i, 1);
        yield next.result as TaskStreamResult<R>;
        continue;
      }
      if (exhausted && slots.length === 0) return;
      if (!signalled) await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    for (const x of slots) {
      clock.clearTimeout(x.timer);
      x.task?.signal('killed');
    }
    await it.return?.();
  }
}

/** Starts the slot's task and arms its timeout; `done` runs once when the slot has a result or timed out. */
async function startSlot<R>(
  slot: Slot<R>,
  fn: TaskFn<R>,
  s: StreamSettings,
  start: Starter,
  clock: Runtime['clock'],
  done: (slot: Slot<R>) => void,
): Promise<void> {
  let task: TaskProcess<R>;
  try {
    task = await start(fn);
  } catch (e) {
    slot.result = { exit: { error: e } };
    done(slot);
    return;
  }
  task.claim = 'taken';
  slot.task = task;
  if (s.timeout !== Number.POSITIVE_INFINITY) {
    slot.timer = clock.setTimeout(() => {
      if (slot.result !== undefined) return;
      task.signal('killed');
      if (s.onTimeout === 'kill_task') slot.result = { exit: 'timeout' };
      else slot.timedOut = true;
      done(slot);
    }, s.timeout);
  }
  task.outcome.then((r) => {
    if (slot.result !== undefined || slot.timedOut) return;
    clock.clearTimeout(slot.timer);
    slot.result = r;
    done(slot);
  });
}

/**
 * Runs `fn(item)` for each item in its own task, at most `maxConcurrency` at a time, and yields
 * `{ ok: value }` or `{ exit: reason }` per item (in item order unless `ordered: false`).
 * Lazy: nothing starts until it is iterated; breaking out of the loop kills the tasks still
 * running. The tasks are linked to the process calling `asyncStream` (if any), as `Task.async`.
 * Throws InvalidArgumentError for bad arguments; see {@link AsyncStreamOptions} for timeouts.
 * Elixir: `Task.async_stream/3`.
 */
function asyncStream<I, R>(
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R | PromiseLike<R>,
  options?: AsyncStreamOptions,
): AsyncIterable<TaskStreamResult<Awaited<R>>> {
  const s = checkStream('Task.asyncStream', items, fn, options);
  const owner = currentRuntime().current?.ref;
  return stream(items, fn, s, (f) => Promise.resolve(TaskHandle.taskOf(spawnTask(f, owner, true))));
}

// ---- Task.Supervisor -----------------------------------------------------------------------

/** The template's start: the supervisor spawns the task process (its function starts later). */
function startFromSupervisor(task: unknown): Promise<AnyRef> {
  if (!(task instanceof TaskProcess))
    return Promise.reject(
      new InvalidArgumentError('args', 'a Task.Supervisor starts tasks only through Task.Supervisor.async, asyncNolink or asyncStream'),
    );
  return Promise.resolve(task.spawn(currentRuntime()));
}

const TASK_TEMPLATE: ChildSpec<unknown> = Object.freeze({
  id: 'task',
  start: startFromSupervisor,
  restart: 'temporary',
  shutdownTimeout: 5000,
});

function checkSup(sup: unknown, fn: string): void {
  if (isRef(sup) || (typeof sup === 'string' && sup !== '')) return;
  throw new InvalidArgumentError(
    `supervisor passed to Task.Supervisor.${fn}`,
    `expected a supervisor ref or name, got ${describeValue(sup)}`,
  );
}

/**
 * Starts a task under `sup`, linked to the calling process when `link`. Its function starts in
 * a microtask once the supervisor has made it a child (and linked it), as `Task.async`'s does.
 */
async function superviseTask<T>(
  sup: TaskSupervisorRef | string,
  fn: TaskFn<T>,
  owner: AnyRef | undefined,
  link: boolean,
): Promise<TaskProcess<T>> {
  const task = new TaskProcess(fn, owner, link);
  await Supervisor.startChild(sup as SupervisorRef, task as unknown as never);
  queueMicrotask(() => task.begin());
  return task;
}

/**
 * Starts a Task.Supervisor: a `simple_one_for_one` supervisor whose children are temporary
 * tasks (never restarted). Stop it with `Task.Supervisor.stop` or `Supervisor.stop`; that
 * shuts its tasks down. Rejects with InvalidArgumentError for bad options. Elixir:
 * `Task.Supervisor.start_link/1`.
 */
function startSupervisor(options?: TaskSupervisorOptions): Promise<TaskSupervisorRef> {
  let name: string | undefined;
  try {
    name = checkName('name', checkOptions<TaskSupervisorOptions>('options', options).name);
  } catch (e) {
    return Promise.reject(e);
  }
  return Supervisor.start({ strategy: 'simple_one_for_one', template: TASK_TEMPLATE, ...(name === undefined ? {} : { name }) });
}

/**
 * Starts `fn` as a child of `sup`, linked to the calling process (as `Task.async`); resolves
 * with its handle once the supervisor has started it (unlike Elixir's, this returns a promise:
 * starting a child is a call). The supervisor must be on this thread (a function cannot cross
 * threads). Rejects with InvalidArgumentError, NoProcessError (no such supervisor) or
 * ChildStartError. Elixir: `Task.Supervisor.async/2`.
 */
function supAsync<T>(sup: TaskSupervisorRef | string, fn: TaskFn<T>): Promise<TaskHandle<Awaited<T>>> {
  return supStart(sup, fn, true, 'async');
}

/**
 * As {@link supAsync} but not linked: a crash of the task does not reach the caller's process;
 * `Task.await` rejects with TaskExitedError and `Task.yield` gives `{ exit: reason }`.
 * Elixir: `Task.Supervisor.async_nolink/2`.
 */
function supAsyncNolink<T>(sup: TaskSupervisorRef | string, fn: TaskFn<T>): Promise<TaskHandle<Awaited<T>>> {
  return supStart(sup, fn, false, 'asyncNolink');
}

function supStart<T>(sup: TaskSupervisorRef | string, fn: TaskFn<T>, link: boolean, name: string): Promise<TaskHandle<Awaited<T>>> {
  try {
    checkSup(sup, name);
    checkFunction(`fn passed to Task.Supervisor.${name}`, fn);
  } catch (e) {
    return Promise.reject(e);
  }
  const owner = currentRuntime().current?.ref;
  return superviseTask(sup, fn as TaskFn<Awaited<T>>, owner, link).then((t) => TaskHandle.of(t));
}

/**
 * {@link asyncStream} with each task a child of `sup`. `link` (default true) links the tasks
 * to the calling process as Elixir's `async_stream`; `asyncStreamNolink` does not.
 * Elixir: `Task.Supervisor.async_stream/4`.
 */
function supAsyncStream<I, R>(
  sup: TaskSupervisorRef | string,
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R | PromiseLike<R>,
  options?: AsyncStreamOptions,
): AsyncIterable<TaskStreamResult<Awaited<R>>> {
  return supStream(sup, items, fn, options, true, 'asyncStream');
}

/** {@link supAsyncStream} without links to the caller. Elixir: `Task.Supervisor.async_stream_nolink/4`. */
function supAsyncStreamNolink<I, R>(
  sup: TaskSupervisorRef | string,
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R | PromiseLike<R>,
  options?: AsyncStreamOptions,
): AsyncIterable<TaskStreamResult<Awaited<R>>> {
  return supStream(sup, items, fn, options, false, 'asyncStreamNolink');
}

function supStream<I, R>(
  sup: TaskSupervisorRef | string,
  items: Iterable<I> | AsyncIterable<I>,
  fn: (item: I, signal: AbortSignal) => R | PromiseLike<R>,
  options: AsyncStreamOptions | undefined,
  link: boolean,
  name: string,
): AsyncIterable<TaskStreamResult<Awaited<R>>> {
  checkSup(sup, name);
  const s = checkStream(`Task.Supervisor.${name}`, items, fn, options);
  const owner = currentRuntime().current?.ref;
  return stream(items, fn, s, (f) => superviseTask(sup, f, owner, link));
}

/** The refs of the supervisor's running tasks. Elixir: `Task.Supervisor.children/1`. */
async function supChildren(sup: TaskSupervisorRef | string): Promise<AnyRef[]> {
  checkSup(sup, 'children');
  const children = await Supervisor.getChildren(sup as SupervisorRef);
  return children.flatMap((c) => (c.ref === undefined ? [] : [c.ref]));
}

/**
 * Shuts the task `ref` down (a `'shutdown'` exit signal; its linked caller gets it too, as in
 * Elixir). Rejects with ChildNotFoundError when it is not a running child of `sup`.
 * Elixir: `Task.Supervisor.terminate_child/2`.
 */
async function supTerminateChild(sup: TaskSupervisorRef | string, ref: AnyRef): Promise<void> {
  checkSup(sup, 'terminateChild');
  if (!isRef(ref))
    throw new InvalidArgumentError('ref passed to Task.Supervisor.terminateChild', `expected a task ref, got ${describeValue(ref)}`);
  await Supervisor.terminateChild(sup as SupervisorRef, ref);
}

/** Stops the supervisor and shuts its tasks down (as `Supervisor.stop`). */
function supStop(sup: TaskSupervisorRef | string): Promise<void> {
  return Supervisor.stop(sup as SupervisorRef);
}

/** `Task.Supervisor`: supervised tasks. */
export const TaskSupervisor = {
  /**
   * Starts a Task.Supervisor (a `simple_one_for_one` supervisor of temporary tasks). Rejects
   * with InvalidArgumentError for bad options. Elixir: `Task.Supervisor.start_link/1`.
   */
  start: startSupervisor,
  /**
   * Starts `fn` as a child of `sup`, linked to the caller; resolves with its handle. Rejects
   * with InvalidArgumentError, NoProcessError or ChildStartError. Elixir: `Task.Supervisor.async/2`.
   */
  async: supAsync,
  /** As `async`, not linked to the caller. Elixir: `Task.Supervisor.async_nolink/2`. */
  asyncNolink: supAsyncNolink,
  /** `Task.asyncStream` with each task a child of `sup`. Elixir: `Task.Supervisor.async_stream/4`. */
  asyncStream: supAsyncStream,
  /** As `asyncStream`, not linked to the caller. Elixir: `Task.Supervisor.async_stream_nolink/4`. */
  asyncStreamNolink: supAsyncStreamNolink,
  /** The refs of the supervisor's running tasks. Elixir: `Task.Supervisor.children/1`. */
  children: supChildren,
  /**
   * Shuts the task `ref` down. Rejects with ChildNotFoundError when it is not a running child.
   * Elixir: `Task.Supervisor.terminate_child/2`.
   */
  terminateChild: supTerminateChild,
  /** Stops the supervisor and shuts its tasks down (as `Supervisor.stop`). */
  stop: supStop,
} as const;

/** Elixir's Task functions, merged into the exported `Task` (src/threads/task.ts). */
export const ProcessTask = {
  async,
  await: awaitTask,
  yield: yieldTask,
  shutdown: shutdownTask,
  asyncStream,
  Supervisor: TaskSupervisor,
} as const;
