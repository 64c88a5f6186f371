/**
 * Supervising comlink workers: {@link comlinkChild} turns an existing worker module that calls
 * `Comlink.expose(api, nodeEndpoint(parentPort))` into a supervisor child, and
 * {@link comlinkProxy} hands out its live `Comlink.Remote`.
 *
 * The child is a GenServer, the worker's *owner*: its `init` creates the Worker and waits until
 * the API answers; when the worker dies it exits with `{ error: ThreadExitError }` (kind
 * `'crashed'`, `'exited'` or `'out_of_memory'`), so its supervisor restarts it per strategy and
 * intensity. However the owner ends (stop, crash, kill), the worker is terminated with it.
 *
 * Plain comlink leaves a call to a dead worker pending forever. The proxy handed out here races
 * every call against the worker's death: pending calls reject with ServerExitedError (its
 * `cause` is the ThreadExitError) the moment the worker dies, and later calls reject at once.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { InvalidArgumentError, NoProcessError, ServerExitedError, ThreadExitError } from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import { committedState } from '../core/process-info.js';
import type { AnyRef } from '../core/ref.js';
import { isRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime, withRuntime } from '../core/runtime.js';
import { checkDuration, durationProblem } from '../core/duration.js';
import { checkName, checkOptions, describeValue } from '../core/validate.js';
import type { GenServerBehavior } from '../behaviours/gen-server/behavior.js';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import { Result } from '../behaviours/gen-server/result.js';
import type { ChildSpec, RestartType } from '../behaviours/supervisor/spec.js';
import { workerExecArgv } from './exec-argv.js';

/** Worker options passed through to `new Worker` (`execArgv` is always `workerExecArgv`). */
export type ComlinkWorkerOptions = Omit<WorkerOptions, 'eval' | 'execArgv'>;

/** What {@link comlinkChild} takes. Only `id` and `module` are required. */
export interface ComlinkChildOptions {
  /** The child's id, unique among the supervisor's children. */
  id: string;
  /**
   * Path (absolute, or relative to the working directory) or file URL of the worker module: a
   * `.js`, `.mjs` or `.cjs` file that calls `Comlink.expose(api, nodeEndpoint(parentPort))`.
   * TypeScript modules are refused: compile them first.
   */
  module: string | URL;
  /** Registers the owner process under this name, so `comlinkProxy(name)` finds it after restarts. */
  name?: string;
  /** `'permanent'` (default), `'transient'` or `'temporary'`, as for any child. */
  restart?: RestartType;
  /**
   * Milliseconds a graceful stop lets calls in flight finish before the worker is terminated;
   * `'brutal_kill'` terminates it at once. Default 5000.
   */
  shutdownTimeout?: number | 'brutal_kill';
  /** Milliseconds the worker may take to load and answer its first request; default 30 000. */
  initTimeout?: number;
  /** Passed to `new Worker` (`workerData`, `env`, `resourceLimits`, `name`, …). */
  workerOptions?: ComlinkWorkerOptions;
}

/** Marks the state of a comlink owner process (a constant, not module state). */
const OWNER = Symbol('spindle.comlinkOwner');

/** The info message the owner gets when its worker died on its own (the reason is on its WorkerLink). */
interface WorkerDied {
  readonly type: '$comlink_worker_exit';
  readonly thread: number;
}

/** One worker and everything tied to its life: the comlink remote, the calls in flight. */
class WorkerLink {
  readonly threadId: number;
  readonly remote: Comlink.Remote<unknown>;
  /** The guarded proxy handed to users (see {@link guardProxy}). */
  readonly proxy: unknown;
  /** Why the worker (or its owner) is gone; undefined while it serves. */
  reason: ExitReason | undefined;
  /** Set when a graceful stop began: no new calls. */
  closed: ExitReason | undefined;
  /** Set once the owner ends the worker itself: its exit is then no crash. */
  stopping = false;
  /** The uncaught error the worker died of, if any. */
  error: Error | undefined;
  /** Resolves once the worker thread has exited. */
  readonly gone: Promise<void>;
  private readonly pending = new Set<(e: unknown) => void>();
  private readonly idle = new Set<() => void>();

  constructor(
    readonly owner: AnyRef,
    readonly worker: Worker,
  ) {
    this.threadId = worker.threadId;
    this.remote = Comlink.wrap(nodeEndpoint(worker));
    this.proxy = guardProxy(this, this.remote, '');
    this.gone = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Runs one comlink operation, rejecting it when the worker dies first (or is already gone). */
  call<T>(op: () => Promise<T>, path: string): Promise<T> {
    if (!this.open()) return Promise.reject(this.exitedError(path));
    return new Promise<T>((resolve, reject) => {
      const fail = (e: unknown) => reject(e);
      this.pending.add(fail);
      const settle = () => {
        this.pending.delete(fail);
        if (this.pending.size === 0) for (const f of this.idle) f();
      };
      op().then(
        (v) => {
          settle();
          resolve(v);
        },
        (e) => {
          settle();
          reject(e);
        },
      );
    });
  }

  /** Whether new calls are taken (the worker serves and no stop began). */
  open(): boolean {
    return this.reason === undefined && this.closed === undefined;
  }

  /** The owner is stopping: new calls reject at once, those in flight may still finish. */
  close(reason: ExitReason): void {
    this.closed ??= reason;
  }

  /** Resolves when no call is in flight. */
  drained(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.idle.delete(done);
        resolve();
      };
      this.idle.add(done);
    });
  }

  /** The worker (or its owner) is gone: every call in flight rejects now; later ones at once. */
  fail(reason: ExitReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    const rejects = [...this.pending];
    this.pending.clear();
    for (const f of this.idle) f();
    for (const reject of rejects) reject(this.exitedError('comlink call'));
  }

  /** Ends the worker: marks the stop as intended, releases the remote, terminates the thread. */
  async end(reason: ExitReason): Promise<void> {
    this.stopping = true;
    this.fail(reason);
    try {
      this.remote[Comlink.releaseProxy]();
    } catch {
      // Already released.
    }
    await this.worker.terminate();
    await this.gone;
  }

  /** How the worker died, as the owner's exit reason (kinds as for thread subtrees). */
  deathReason(code: number): ExitReason {
    const e = this.error as (Error & { code?: string }) | undefined;
    if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY')
      return { error: new ThreadExitError(this.threadId, 'out_of_memory', 'comlink worker exceeded its resourceLimits', e) };
    if (e !== undefined)
      return { error: new ThreadExitError(this.threadId, 'crashed', `comlink worker: uncaught ${e.name}: ${e.message}`, e) };
    return { error: new ThreadExitError(this.threadId, 'exited', `comlink worker exited with code ${code}`) };
  }

  private exitedError(path: string): ServerExitedError {
    return ServerExitedError.for(this.owner, this.reason ?? this.closed ?? 'noproc', path === '' ? 'comlink call' : path);
  }
}

/**
 * comlink's `nodeEndpoint` (its `dist/esm/node-adapter.mjs`), typed: adapts a Worker's
 * `on`/`off` messages to the `addEventListener` endpoint comlink expects.
 */
function nodeEndpoint(w: Worker): Comlink.Endpoint {
  const listeners = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => w.postMessage(message, transfer as never),
    addEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = (data: unknown) => {
        const event = { data } as MessageEvent;
        if ('handleEvent' in handler) handler.handleEvent(event);
        else handler(event);
      };
      w.on('message', l);
      listeners.set(handler, l);
    },
    removeEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = listeners.get(handler);
      if (l === undefined) return;
      w.off('message', l);
      listeners.delete(handler);
    },
  };
}

/** A proxy for `path.prop` of a worker that is gone: every use rejects at once. */
function deadEnd(link: WorkerLink, path: string, prop: string): unknown {
  return guardProxy(link, undefined, path === '' ? prop : `${path}.${prop}`);
}

/**
 * Wraps a comlink proxy so that every call, construct and property read goes through
 * {@link WorkerLink.call} (rejects when the worker dies). Symbols (`Comlink.releaseProxy`,
 * `Comlink.createEndpoint`) and property writes pass through unchanged.
 */
function guardProxy(link: WorkerLink, inner: unknown, path: string): unknown {
  // biome-ignore lint/suspicious/noExplicitAny: comlink proxies are untyped at this level.
  const target = inner as any;
  // A plain function as the target: the proxy must be callable and constructible.
  return new Proxy(function comlinkCall() {}, {
    get(_t, prop) {
      if (prop === 'then') {
        // The root is not thenable (as in comlink); `await proxy.x` reads x from the worker.
        if (path === '') return undefined;
        return (ok?: (v: unknown) => unknown, ko?: (e: unknown) => unknown) =>
          link.call(() => new Promise((resolve, reject) => target.then(resolve, reject)), path).then(ok, ko);
      }
      // Once the worker is gone its remote is released: touch nothing, every call rejects.
      if (typeof prop === 'symbol') return link.open() ? target[prop] : undefined;
      if (!link.open()) return deadEnd(link, path, prop);
      return guardProxy(link, target[prop], path === '' ? prop : `${path}.${prop}`);
    },
    set(_t, prop, value) {
      if (link.open()) target[prop] = value;
      return true;
    },
    apply(_t, _this, args) {
      return link.call(() => target(...args), path);
    },
    construct(_t, args) {
      return link.call(() => new target(...args), path);
    },
  });
}

interface OwnerState {
  readonly [OWNER]: true;
  readonly rt: Runtime;
  readonly link: WorkerLink;
  /** Milliseconds calls in flight may finish on a graceful stop. */
  readonly drainMs: number;
}

interface OwnerArgs {
  readonly url: URL;
  readonly workerOptions: ComlinkWorkerOptions;
  /** Milliseconds calls in flight may finish on a graceful stop. */
  readonly drainMs: number;
}

/**
 * Resolves once the worker's exposed API answers a first request; rejects with the
 * ThreadExitError when the worker dies first. Unbounded here: the owner's `initTimeout` bounds it.
 */
function firstAnswer(link: WorkerLink): Promise<void> {
  const probe = link.remote as unknown as Record<string, unknown>;
  // Reading any property answers once `expose` listens (messages wait on the port until then).
  // A rejection is an answer too: an API that throws on unknown properties is still live.
  return link
    .call(() => Promise.resolve(probe.__spindle_ready__), '__spindle_ready__')
    .then(
      () => undefined,
      (e) => {
        if (ServerExitedError.is(e)) throw e.cause ?? e;
      },
    );
}

/** Creates the worker with the shared worker options, and hooks its death to the owner. */
function startWorker(rt: Runtime, self: AnyRef, a: OwnerArgs): WorkerLink {
  const worker = new Worker(a.url, { ...a.workerOptions, execArgv: workerExecArgv() });
  const link = new WorkerLink(self, worker);
  worker.on('error', (e) => {
    link.error ??= e;
  });
  worker.once('exit', (code) => {
    if (link.stopping) return;
    const reason = link.deathReason(code);
    link.fail(reason);
    const died: WorkerDied = { type: '$comlink_worker_exit', thread: link.threadId };
    withRuntime(rt, () => GenServer.send(self, died));
  });
  // However the owner ends (a kill skips terminate), the worker ends with it.
  rt.watch(self, (_ref, reason) => {
    if (!link.stopping) void link.end(reason);
  });
  return link;
}

/** Resolves when the calls in flight have finished, or after `ms` (a duration or Infinity). */
function drainWithin(rt: Runtime, link: WorkerLink, ms: number): Promise<void> {
  if (ms === Number.POSITIVE_INFINITY) return link.drained();
  return new Promise((resolve) => {
    const timer = rt.clock.setTimeout(resolve, ms);
    void link.drained().then(() => {
      rt.clock.clearTimeout(timer);
      resolve();
    });
  });
}

/** The owner GenServer: holds one worker; exits with the worker's death reason. */
function ownerBehavior(): GenServerBehavior<OwnerState, { call: never }, OwnerArgs> {
  return {
    async init(a) {
      const rt = currentRuntime();
      const link = startWorker(rt, GenServer.self(), a);
      await firstAnswer(link);
      return { [OWNER]: true, rt, link, drainMs: a.drainMs };
    },
    handleInfo(msg, s) {
      const m = msg as Partial<WorkerDied>;
      if (m.type === '$comlink_worker_exit' && m.thread === s.link.threadId && s.link.reason !== undefined)
        return Result.stop(s.link.reason, s);
      return s;
    },
    async terminate(reason, s) {
      // A graceful stop: refuse new calls, let those in flight finish, then end the worker.
      s.link.close(reason);
      await drainWithin(s.rt, s.link, s.drainMs);
      await s.link.end(reason);
    },
  };
}

/** Extra time the supervisor allows, after the drain, for the worker thread to terminate. */
const TERMINATE_GRACE_MS = 1000;

/** `module` as a file URL; throws InvalidArgumentError for anything but a `.js`/`.mjs`/`.cjs` file. */
function moduleUrl(module: unknown): URL {
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module !== '')
    url = /^file:/.test(module) ? new URL(module) : pathToFileURL(isAbsolute(module) ? module : resolvePath(process.cwd(), module));
  else throw new InvalidArgumentError('module', `expected a path or file URL, got ${describeValue(module)}`);
  if (url.protocol !== 'file:') throw new InvalidArgumentError('module', `expected a file URL, got ${url.protocol} URL`);
  if (!/\.[mc]?js$/.test(url.pathname))
    throw new InvalidArgumentError(
      'module',
      `expected a .js, .mjs or .cjs file (compile TypeScript first), got ${JSON.stringify(fileURLToPath(url))}`,
    );
  return url;
}

const RESTARTS: readonly RestartType[] = ['permanent', 'transient', 'temporary'];

/** Checks every option of {@link comlinkChild}; throws InvalidArgumentError naming the first bad one. */
function validate(options: unknown): ComlinkChildOptions & { url: URL } {
  const o = checkOptions<ComlinkChildOptions>('comlinkChild options', options);
  if (options === undefined) throw new InvalidArgumentError('comlinkChild options', 'expected { id, module, … }, got undefined');
  if (typeof o.id !== 'string' || o.id === '')
    throw new InvalidArgumentError('id', `expected a non-empty string, got ${describeValue(o.id)}`);
  const url = moduleUrl(o.module);
  checkName('name', o.name);
  if (o.restart !== undefined && !RESTARTS.includes(o.restart))
    throw new InvalidArgumentError('restart', `expected one of ${RESTARTS.join(', ')}, got ${describeValue(o.restart)}`);
  const t = o.shutdownTimeout;
  if (t !== undefined && t !== 'brutal_kill') {
    const problem = durationProblem(t);
    if (problem !== undefined) throw new InvalidArgumentError('shutdownTimeout', `${problem} (or 'brutal_kill')`);
  }
  checkDuration('initTimeout', o.initTimeout, 30_000);
  checkOptions('workerOptions', o.workerOptions);
  if (o.workerOptions !== undefined && ('eval' in o.workerOptions || 'execArgv' in o.workerOptions))
    throw new InvalidArgumentError('workerOptions', 'eval and execArgv are not options here (execArgv follows workerExecArgv)');
  return { ...(o as ComlinkChildOptions), url };
}

/**
 * A child spec that runs an existing comlink worker module under supervision. The child is an
 * owner GenServer that creates the Worker (with `workerExecArgv`), waits until the
 * exposed API answers (bounded by `initTimeout`, default 30 000 ms), and exits with
 * `{ error: ThreadExitError }` (kind `'crashed'` for an uncaught error, `'exited'` for
 * `process.exit` or a worker that ended, `'out_of_memory'`) when the worker dies, so the
 * supervisor restarts it per its strategy and intensity. A graceful stop refuses new calls,
 * lets those in flight finish for up to `shutdownTimeout` ms (default 5000), then terminates
 * the worker; a kill terminates it at once. Get the API with {@link comlinkProxy}.
 *
 * Defaults: `restart` `'permanent'`, no `name`, no `workerOptions`. Throws
 * InvalidArgumentError for a bad option (a `.ts` module included: compile it first).
 * OTP equivalent: a child spec whose worker owns a port (`open_port`), exiting when it closes.
 */
export function comlinkChild(options: ComlinkChildOptions): ChildSpec {
  const o = validate(options);
  const drainMs = o.shutdownTimeout === 'brutal_kill' ? 0 : (o.shutdownTimeout ?? 5000);
  const args: OwnerArgs = { url: o.url, workerOptions: o.workerOptions ?? {}, drainMs };
  const initTimeout = o.initTimeout ?? 30_000;
  return {
    id: o.id,
    start: () =>
      GenServer.start(ownerBehavior(), {
        args,
        initTimeout,
        shutdownTimeout: drainMs + TERMINATE_GRACE_MS,
        ...(o.name === undefined ? {} : { name: o.name }),
      }),
    ...(o.restart === undefined ? {} : { restart: o.restart }),
    shutdownTimeout: o.shutdownTimeout === 'brutal_kill' ? 'brutal_kill' : drainMs + TERMINATE_GRACE_MS,
  };
}

/**
 * The live API of the comlink worker owned by `owner` (a ref or registered name of a process
 * started by {@link comlinkChild}), as a `Comlink.Remote<T>`. Every call (and every awaited
 * property read) rejects with ServerExitedError, whose `cause` is the ThreadExitError, as soon
 * as the worker dies, and at once once it is dead; its errors keep their `name` and `message`
 * (comlink's throw handler). After a restart, call this again for the new worker's proxy.
 *
 * Throws InvalidArgumentError for a bad `owner` or a process that is not a comlink owner,
 * NoProcessError when nothing is alive there (also while the supervisor is restarting it).
 * Only on the thread the owner runs on. OTP equivalent: `Supervisor.which_children/1` to find
 * the worker, then talking to its port.
 */
export function comlinkProxy<T>(owner: AnyRef | string): Comlink.Remote<T> {
  const rt = currentRuntime();
  if (typeof owner !== 'string' && !isRef(owner))
    throw new InvalidArgumentError('owner', `expected a ref or a registered name, got ${describeValue(owner)}`);
  const ref = typeof owner === 'string' ? rt.names.get(owner) : owner;
  if (ref === undefined) throw new NoProcessError(JSON.stringify(owner));
  if (!rt.router.isLocal(ref)) throw new InvalidArgumentError('owner', 'a comlink owner is reached only from the thread it runs on');
  const state = committedState(rt.procs.get(ref.id), ref, false) as Partial<OwnerState> | undefined;
  if (state?.[OWNER] !== true || state.link === undefined)
    throw new InvalidArgumentError('owner', 'expected a process started by comlinkChild');
  return state.link.proxy as Comlink.Remote<T>;
}
