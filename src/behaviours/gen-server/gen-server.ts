/**
 * The GenServer client API.
 *
 * ```ts
 * type P = { call: ['get', number]; cast: 'inc' };
 * const counter: GenServerBehavior<number, P> = {
 *   init: () => 0,
 *   handleCall: (_msg, n) => [n, n],
 *   handleCast: (_msg, n) => n + 1,
 * };
 * const ref = await GenServer.start(counter);
 * GenServer.cast(ref, 'inc');
 * const n: number = await GenServer.call(ref, 'get'); // 1
 * await GenServer.stop(ref);
 * ```
 */
import {
  InitFailedError,
  InitTimeoutError,
  InvalidArgumentError,
  NoProcessError,
  NotCloneableError,
  NotInProcessError,
} from '../../errors.js';
import type { ExitReason } from '../../core/exit-reason.js';
import { exitReasonProblem } from '../../core/exit-reason.js';
import type { OverflowPolicy, Proc } from '../../core/process.js';
import { CAST, INFO, MailboxBound, Status } from '../../core/process.js';
import type { CallMsg, CastMsg, InfoMsg, Name, Protocol, ReplyOf } from '../../core/protocol.js';
import type { AnyRef, Ref } from '../../core/ref.js';
import { formatRef, isRef } from '../../core/ref.js';
import type { From, Runtime } from '../../core/runtime.js';
import { currentRuntime, LocalFrom } from '../../core/runtime.js';
import type { Transferable } from '../../core/router.js';
import { checkDuration, durationProblem } from '../../core/duration.js';
import { checkBoolean, checkOptions, checkTransfer, describeValue, nameProblem } from '../../core/validate.js';
import { findUncloneable } from '../../transport/cloneable.js';
import type { ViaName } from '../registry.js';
import { checkNameOrVia, claimVia, formatTarget, isViaName, resolveVia } from '../registry.js';
import type { GenServerBehavior } from './behavior.js';
import type { RemoteName } from './remote.js';
import { type GlobalName, isGlobalName } from '../../cluster/global-registry.js';
import { callRemoteName, formatRemoteName, isRemoteName, sendRemoteName, startRemote, whereisRemoteName } from './remote.js';
import { Engine } from './engine.js';
import { getState } from '../introspection.js';
import type { Directive } from './result.js';
import { directiveKind, isDirective } from './result.js';

/** Options for {@link GenServer.start}. Every field is optional. */
export interface StartOptions<A = undefined, P extends Protocol = Protocol> {
  /**
   * Registers the process under this node-wide name; released when it exits. A typed name
   * ({@link GenServer.name}) must carry the behaviour's protocol `P`. `{ via: reg, key }`
   * registers it in the unique keyed registry `reg` instead (Elixir's `{:via, Registry, …}`).
   */
  name?: Name<P> | ViaName | GlobalName;
  /** Argument passed to `init`. */
  args?: A;
  /** Milliseconds an async `init` may take before the process is killed; default 5000. */
  initTimeout?: number;
  /** Milliseconds an async `terminate` may take; default 5000. */
  shutdownTimeout?: number;
  /** Start trapping exits (EXIT signals arrive as `handleInfo` messages); default false. */
  trapExit?: boolean;
  /**
   * Link the new process to this one (OTP's `start_link`) and treat it as the parent: a
   * `'shutdown'` exit signal from the parent runs `terminate`. Set by supervisors.
   */
  link?: AnyRef;
  /**
   * Most user messages (casts, infos, calls) the mailbox holds; default `Infinity`
   * (unbounded, as in OTP). Exit signals and DOWN messages always enter.
   */
  maxMailbox?: number;
  /**
   * What happens to a user message that finds the mailbox full (default `'drop_new'`):
   * - `'drop_new'`: a cast or info is dropped and counted (`Process.info(ref).dropped`, the
   *   runtime's `droppedCasts`, a `cast_dropped` event); a call is rejected at once with
   *   MailboxFullError (never left to time out).
   * - `'reject'`: as `drop_new`, and a same-thread `cast`/`send` also throws MailboxFullError
   *   to the sender (a sender on another thread cannot be told synchronously: counted).
   * - `'crash'`: the process exits with `{ error: MailboxOverflowError }` (terminate runs;
   *   its supervisor restarts it as after any crash).
   */
  overflow?: OverflowPolicy;
}

/** Options for {@link GenServer.call}. */
export interface CallOptions extends SendOptions {
  /** Milliseconds to wait for the reply; default 5000. `Infinity` waits forever. */
  timeout?: number;
}

/** Options for messages that may cross a thread boundary. */
export interface SendOptions {
  /**
   * ArrayBuffers (or MessagePorts) to move to the receiving thread instead of copying; the
   * sender loses access to them. Ignored within one thread (messages pass by reference).
   */
  transfer?: readonly Transferable[];
}

/** A timer made by {@link GenServer.sendAfter}. */
export interface TimerRef {
  /** The process the message is for. */
  readonly target: AnyRef;
  /** @internal */
  readonly handle: unknown;
}

/**
 * A server address: a ref, or a registered name. A typed name ({@link GenServer.name}) or ref
 * carries the protocol; a plain string is a name of the untyped `Protocol`.
 */
export type ServerRef<P extends Protocol> = Ref<P> | Name<P> | ViaName | RemoteName<P> | GlobalName;

function fail(rt: Runtime, ref: AnyRef): void {
  rt.procs.get(ref.id)?.die('killed');
}

function refProblem(ref: unknown, fn: string): InvalidArgumentError | undefined {
  if (isRef(ref) || typeof ref === 'string' || isViaName(ref) || isRemoteName(ref) || isGlobalName(ref)) return undefined;
  return new InvalidArgumentError(
    `ref passed to ${fn}`,
    `expected a ref, a registered name, { via, key }, { name, node } or { global }, got ${describeValue(ref)}`,
  );
}

function checkRef(ref: unknown, fn: string): void {
  const problem = refProblem(ref, fn);
  if (problem !== undefined) throw problem;
}

/** Resolves a name to a ref through the registry (undefined if not registered). */
function resolve(rt: Runtime, target: AnyRef | string | ViaName | RemoteName | GlobalName): AnyRef | undefined {
  if (isRemoteName(target)) return undefined; // handled by each caller
  if (isGlobalName(target)) return rt.globalNames?.whereis(target.global);
  if (isViaName(target)) return resolveVia(target);
  return typeof target === 'string' ? rt.names.get(target) : target;
}

/**
 * Checks the start options shared by every way of starting a server (a direct start, a child
 * spec's `options`): the name, both timeouts (see the duration rule in duration.ts), `trapExit`
 * and `link`. Throws InvalidArgumentError naming the first bad option; returns the timeouts
 * with their defaults. A supervisor calls it on a child spec so a bad spec fails
 * `Supervisor.start` before any child starts.
 */
export function validateStartOptions(options: unknown): { initTimeout: number; shutdownTimeout: number } {
  const o = checkOptions<StartOptions<unknown>>('options', options);
  if (!isGlobalName(o.name)) checkNameOrVia('name', o.name);
  const initTimeout = checkDuration('initTimeout', o.initTimeout, 5000);
  const shutdownTimeout = checkDuration('shutdownTimeout', o.shutdownTimeout, 5000);
  checkBoolean('trapExit', o.trapExit, false);
  if (o.link !== undefined && !isRef(o.link)) throw new InvalidArgumentError('link', `expected a ref, got ${describeValue(o.link)}`);
  return { initTimeout, shutdownTimeout };
}

/**
 * Starts a server and runs `init`; resolves with its ref once `init` has finished. A typed
 * `name` must carry the behaviour's protocol (checked at compile time).
 */
function start<S, P extends Protocol = Protocol, A = undefined>(
  behavior: GenServerBehavior<S, P, A>,
  options: StartOptions<A, NoInfer<P>> = {},
): Promise<Ref<P>> {
  if (typeof behavior !== 'object' || behavior === null || typeof behavior.init !== 'function') {
    return Promise.reject(new InvalidArgumentError('behavior', `expected an object with an init function, got ${describeValue(behavior)}`));
  }
  let initTimeout: number;
  let shutdownTimeout: number;
  try {
    ({ initTimeout, shutdownTimeout } = validateStartOptions(options));
  } catch (e) {
    return Promise.reject(e);
  }
  const rt = currentRuntime();
  let mailbox: { max: number; overflow: OverflowPolicy };
  try {
    mailbox = mailboxOptions(options);
  } catch (e) {
    return Promise.reject(e);
  }
  const p = rt.spawn();
  const engine = new Engine(p, behavior, shutdownTimeout);
  p.server = engine;
  if (mailbox.max !== Number.POSITIVE_INFINITY) p.bound = new MailboxBound(mailbox.max, mailbox.overflow);
  if (options.trapExit === true) p.trapExit = true;
  if (options.link !== undefined) {
    p.parent = options.link;
    rt.router.link(p.ref, options.link);
    // A parent already gone answers the link with 'noproc' at once: the process is dead before
    // init, so it must not run init or take a name it would never release.
    if (p.status === Status.Dead) return Promise.reject(new InitFailedError(formatRef(p.ref), p.reason ?? 'noproc'));
  }
  if (isGlobalName(options.name)) {
    // Registered across the cluster before init runs (Erlang's {:global, name}).
    const global = rt.globalNames;
    const name = options.name.global;
    if (global === undefined) {
      p.die('normal');
      return Promise.reject(
        new InvalidArgumentError('name', `{ global: ${JSON.stringify(name)} } needs a running cluster (on the main thread)`),
      );
    }
    return global.register(name, p.ref).then(
      () => {
        if (p.status === Status.Dead) throw new InitFailedError(formatRef(p.ref), p.reason ?? 'killed');
        return boot(rt, p, engine, behavior, options, initTimeout);
      },
      (e) => {
        p.die('normal');
        throw e;
      },
    );
  }
  if (isViaName(options.name)) {
    try {
      claimVia(options.name, p.ref);
    } catch (e) {
      p.die('normal');
      return Promise.reject(e);
    }
  } else if (options.name !== undefined) {
    if (rt.nameAuthority !== undefined) {
      // In a worker thread the main thread decides who wins a name.
      const name = options.name;
      return rt.nameAuthority.claim(name, p.ref).then(
        () => {
          if (p.status === Status.Dead) {
            // Killed while the claim was in flight: give the name back.
            rt.names.releaseFor(name, p.ref);
            throw new InitFailedError(formatRef(p.ref), p.reason ?? 'killed');
          }
          p.name = name;
          p.registered = new Set([name]);
          return boot(rt, p, engine, behavior, options, initTimeout);
        },
        (e) => {
          p.die('normal');
          throw e;
        },
      );
    }
    try {
      rt.names.claim(options.name, p.ref);
    } catch (e) {
      p.die('normal');
      return Promise.reject(e);
    }
    p.name = options.name;
    p.registered = new Set([options.name]);
  }
  return boot(rt, p, engine, behavior, options, initTimeout);
}

const OVERFLOW: readonly OverflowPolicy[] = ['drop_new', 'reject', 'crash'];

/** Validates `maxMailbox` (an integer >= 1, or Infinity) and `overflow`. */
function mailboxOptions(options: StartOptions<unknown>): { max: number; overflow: OverflowPolicy } {
  const max = options.maxMailbox === undefined ? Number.POSITIVE_INFINITY : options.maxMailbox;
  if (max !== Number.POSITIVE_INFINITY && !(typeof max === 'number' && Number.isInteger(max) && max >= 1)) {
    throw new InvalidArgumentError(
      'maxMailbox',
      `expected an integer >= 1 or Infinity, got ${typeof max === 'number' ? String(max) : typeof max}`,
    );
  }
  const overflow = options.overflow === undefined ? 'drop_new' : options.overflow;
  if (!OVERFLOW.includes(overflow)) {
    throw new InvalidArgumentError(
      'overflow',
      `expected 'drop_new', 'reject' or 'crash', got ${typeof overflow === 'string' ? JSON.stringify(overflow) : typeof overflow}`,
    );
  }
  return { max, overflow };
}

function boot<S, P extends Protocol, A>(
  rt: Runtime,
  p: Proc,
  engine: Engine,
  behavior: GenServerBehavior<S, P, A>,
  options: StartOptions<A>,
  initTimeout: number,
): Promise<Ref<P>> {
  const label = options.name === undefined ? formatRef(p.ref) : `${formatRef(p.ref)} (${formatTarget(options.name)})`;

  const prev = rt.current;
  rt.current = p;
  let r: unknown;
  try {
    r = behavior.init(options.args as A);
  } catch (e) {
    rt.current = prev;
    p.die({ error: e });
    return Promise.reject(new InitFailedError(label, { error: e }));
  }
  rt.current = prev;
  if (typeof r === 'object' && r !== null && typeof (r as { then?: unknown }).then === 'function') {
    return new Promise<Ref<P>>((resolveStart, rejectStart) => {
      const timer =
        initTimeout === Number.POSITIVE_INFINITY
          ? undefined
          : rt.clock.setTimeout(() => {
              if (p.status !== Status.Init) return;
              p.die('killed');
              rejectStart(new InitTimeoutError(label, initTimeout));
            }, initTimeout);
      // A process killed while init is pending (a link, Process.exit) fails the start.
      p.exited().then((reason) => rejectStart(new InitFailedError(label, reason)));
      (r as Promise<unknown>).then(
        (v) => {
          rt.clock.clearTimeout(timer);
          if (p.status !== Status.Init) {
            if (p.status === Status.Dead) rejectStart(new InitFailedError(label, p.reason ?? 'killed'));
            return;
          }
          const err = finishInit(p, engine, v, label);
          if (err === undefined) resolveStart(p.ref as Ref<P>);
          else rejectStart(err);
        },
        (e) => {
          rt.clock.clearTimeout(timer);
          if (p.status !== Status.Init) return;
          p.die({ error: e });
          rejectStart(new InitFailedError(label, { error: e }));
        },
      );
    });
  }
  const err = finishInit(p, engine, r, label);
  return err === undefined ? Promise.resolve(p.ref as Ref<P>) : Promise.reject(err);
}

function finishInit(p: Proc, engine: Engine, r: unknown, label: string): Error | undefined {
  if (isDirective(r)) {
    const d = r as Directive<unknown>;
    const kind = directiveKind(d);
    if (kind === 'stop') {
      const reason = (d as Extract<Directive<unknown>, { reason: ExitReason }>).reason;
      p.die(reason);
      return new InitFailedError(label, reason);
    }
    if (kind === 'continue') {
      const dc = d as Extract<Directive<unknown>, { hasContinue: true }>;
      engine.state = dc.state;
      events(p);
      // handleContinue runs before any queued message.
      p.status = Status.Running;
      const c = engine.runContinue(dc.continue);
      if (c === undefined) p.resume();
      else {
        p.busy = true;
        c.then(() => p.resume());
      }
      return undefined;
    }
    p.die('killed');
    return new InitFailedError(label, {
      error: new InvalidArgumentError('init result', `init returned Result.${kind}; use a state, Result.continue or Result.stop`),
    });
  }
  engine.state = r;
  events(p);
  p.markRunning();
  return undefined;
}

function events(p: Proc): void {
  const rt = p.rt;
  if (rt.events.active) rt.events.emit({ type: 'started', ref: p.ref, name: p.name }, rt.logger);
}

/**
 * Sends a call to `ref` (a ref or a registered name) and resolves with the reply, typed from
 * the protocol: a message outside it is a compile error.
 */
// `const M` with `msg: M & CallMsg<P>` rather than `M extends CallMsg<P>`: with a constraint
// computed from P, inference widened 'get' to string, failed the constraint and fell back to the
// whole union, so every reply type came out never. `const` keeps literals (strings and object
// discriminants); the intersection still rejects messages outside the protocol.
function call<P extends Protocol, const M>(ref: ServerRef<P>, msg: M & CallMsg<P>, options?: CallOptions): Promise<ReplyOf<P, M>> {
  // A promise-returning API rejects on bad input rather than throwing synchronously.
  const plain = isRef(ref);
  const bad = plain ? undefined : refProblem(ref, 'GenServer.call');
  if (bad !== undefined) return Promise.reject(bad);
  let timeout: number;
  try {
    timeout = checkCallOptions(options);
  } catch (e) {
    return Promise.reject(e);
  }
  const rt = currentRuntime();
  // A ref (the common case) needs no resolving: straight to the router.
  if (plain) return rt.router.call(ref, msg, timeout, options?.transfer) as Promise<ReplyOf<P, M>>;
  if (isRemoteName(ref)) return callRemoteName(rt, ref, msg, timeout, options?.transfer) as Promise<ReplyOf<P, M>>;
  const target = resolve(rt, ref);
  if (target === undefined) return Promise.reject(new NoProcessError(formatTarget(ref)));
  return rt.router.call(target, msg, timeout, options?.transfer) as Promise<ReplyOf<P, M>>;
}

/**
 * Checks call options; returns the timeout. 0 is a valid timeout: the deadline is now, so the
 * call fails with CallTimeoutError when the clock next fires timers unless the reply came
 * first (a same-thread server that answers in its current drain).
 */
function checkCallOptions(options: unknown): number {
  const o = checkOptions<CallOptions>('options', options);
  checkTransfer(o.transfer);
  return checkDuration('timeout', o.timeout, 5000);
}

/** Sends a cast (fire-and-forget) to `ref`; dropped and counted when no process is there. */
function cast<P extends Protocol>(ref: ServerRef<P>, msg: CastMsg<P>, options?: SendOptions): void {
  const plain = isRef(ref);
  if (!plain) checkRef(ref, 'GenServer.cast');
  if (options !== undefined) checkTransfer(checkOptions<SendOptions>('options', options).transfer);
  const rt = currentRuntime();
  if (plain) {
    rt.router.send(ref, CAST, msg, options?.transfer, true);
    return;
  }
  if (isRemoteName(ref)) {
    sendRemoteName(rt, ref, CAST, msg, options?.transfer);
    return;
  }
  const target = resolve(rt, ref);
  if (target === undefined) {
    rt.router.dropped(formatTarget(ref), 'name not registered');
    return;
  }
  rt.router.send(target, CAST, msg, options?.transfer, true);
}

/** Sends an info message (for `handleInfo`) to `ref`; dropped and counted when no process is there. */
function send<P extends Protocol>(ref: ServerRef<P>, msg: InfoMsg<P>, options?: SendOptions): void {
  checkRef(ref, 'GenServer.send');
  if (options !== undefined) checkTransfer(checkOptions<SendOptions>('options', options).transfer);
  const rt = currentRuntime();
  if (isRemoteName(ref)) {
    sendRemoteName(rt, ref, INFO, msg, options?.transfer);
    return;
  }
  const target = resolve(rt, ref);
  if (target === undefined) {
    rt.router.dropped(formatTarget(ref), 'name not registered');
    return;
  }
  rt.router.send(target, INFO, msg, options?.transfer, true);
}

/** Replies to a call answered later (the handler returned `Result.noreply`). */
function reply<R>(from: From, value: R): void {
  if (!isFrom(from))
    throw new InvalidArgumentError('from passed to GenServer.reply', `expected the from given to handleCall, got ${describeValue(from)}`);
  currentRuntime().router.reply(from, value);
}

/** True for a reply handle: a local pending call, or a remote caller's `{ node, thread, call }`. */
function isFrom(v: unknown): v is From {
  if (v instanceof LocalFrom) return true;
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return typeof f.node === 'string' && typeof f.thread === 'number' && typeof f.call === 'number';
}

/**
 * Stops the server: `terminate` runs (bounded by `timeout`, default 5000 ms, after which it is
 * killed). Resolves when the process has exited. Rejects with NoProcessError if not alive.
 */
function stop(ref: ServerRef<Protocol>, reason: ExitReason = 'normal', options: { timeout?: number } = {}): Promise<void> {
  // A promise-returning API rejects on bad input rather than throwing synchronously.
  const bad = refProblem(ref, 'GenServer.stop');
  if (bad !== undefined) return Promise.reject(bad);
  const problem = exitReasonProblem(reason);
  if (problem !== undefined) return Promise.reject(new InvalidArgumentError('reason', problem));
  let timeout: number;
  try {
    timeout = checkDuration('timeout', checkOptions<{ timeout?: number }>('options', options).timeout, 5000);
  } catch (e) {
    return Promise.reject(e);
  }
  const rt = currentRuntime();
  if (isRemoteName(ref)) {
    return whereisRemoteName(rt, ref).then((r) => {
      if (r === undefined) throw new NoProcessError(formatRemoteName(ref));
      return stopRef(rt, r, reason, timeout);
    });
  }
  const target = resolve(rt, ref);
  if (target === undefined) return Promise.reject(new NoProcessError(formatTarget(ref)));
  return stopRef(rt, target, reason, timeout);
}

/** Stops `target` (resolved) from runtime `rt`. */
function stopRef(rt: Runtime, target: AnyRef, reason: ExitReason, timeout: number): Promise<void> {
  if (!rt.router.isLocal(target)) return rt.stopElsewhere(target, reason, timeout) ?? Promise.reject(new NoProcessError(formatRef(target)));
  const p = rt.procs.get(target.id);
  if (p === undefined) return Promise.reject(new NoProcessError(formatRef(target)));
  const exited = p.exited();
  p.requestStop(reason);
  if (p.status === Status.Dead) return exited.then(() => undefined);
  if (timeout === Number.POSITIVE_INFINITY) return exited.then(() => undefined);
  return new Promise<void>((res) => {
    const timer = rt.clock.setTimeout(() => {
      fail(rt, target);
    }, timeout);
    exited.then(() => {
      rt.clock.clearTimeout(timer);
      res();
    });
  });
}

/**
 * True when the process is alive. Exact for a process on this thread; for one on another
 * thread, true while that thread is alive (monitor it to know when it exits).
 */
function isRunning(ref: ServerRef<Protocol>): boolean {
  checkRef(ref, 'GenServer.isRunning');
  const rt = currentRuntime();
  // A name on another node: whether its node is connected (ask that node with a call to know more).
  if (isRemoteName(ref)) {
    const node = rt.resolveNode?.(ref.node);
    if (node !== rt.node) return node !== undefined;
    const local = rt.names.get(ref.name);
    return local !== undefined && isRunning(local);
  }
  const target = resolve(rt, ref);
  if (target === undefined) return false;
  if (rt.router.isLocal(target)) {
    const p = rt.procs.get(target.id);
    return p !== undefined && p.status !== Status.Dead;
  }
  return rt.aliveElsewhere(target);
}

/**
 * Sends `msg` as an info message to `ref` after `ms` milliseconds (a duration: 0 delivers
 * when the clock next fires timers, `Infinity` never delivers but the timer can still be
 * cancelled, and it goes away with the target like any other).
 */
function sendAfter<P extends Protocol>(ref: Ref<P>, msg: InfoMsg<P>, ms: number): TimerRef {
  if (!isRef(ref)) throw new InvalidArgumentError('ref passed to GenServer.sendAfter', `expected a ref, got ${describeValue(ref)}`);
  const problem = durationProblem(ms);
  if (problem !== undefined) throw new InvalidArgumentError('ms', problem);
  const rt = currentRuntime();
  const isLocal = rt.router.isLocal(ref);
  if (!isLocal) {
    // It will cross a thread: refuse now, to the caller, what could not cross then.
    const bad = findUncloneable(msg);
    if (bad !== undefined) throw new NotCloneableError(bad.path, bad.valueType, formatRef(ref));
  }
  const local = isLocal ? rt.procs.get(ref.id) : undefined;
  const t = new Timer(ref);
  t.handle = rt.clock.setTimeout(() => {
    t.active = false;
    local?.timers?.delete(t.handle);
    try {
      rt.router.send(ref, INFO, msg);
    } catch (e) {
      // A timer has no caller to throw to: count the message as dropped, and say why.
      rt.router.dropped(ref, 'not_sent');
      rt.logger.warn(`sendAfter to ${formatRef(ref)} could not be delivered: ${e instanceof Error ? e.message : String(e)}`);
    }
  }, ms);
  // Timers aimed at a process die with it, so they never hold the event loop open.
  if (local !== undefined) (local.timers ??= new Set()).add(t.handle);
  return t;
}

/** A {@link sendAfter} timer; a class so {@link cancelTimer} can tell one from anything else. */
class Timer implements TimerRef {
  handle: unknown = undefined;
  active = true;
  constructor(readonly target: AnyRef) {}
}

/** Cancels a {@link sendAfter} timer. Returns false if it already fired or was cancelled. */
function cancelTimer(t: TimerRef): boolean {
  if (!(t instanceof Timer))
    throw new InvalidArgumentError('timer passed to GenServer.cancelTimer', `expected a TimerRef from sendAfter, got ${describeValue(t)}`);
  const st = t;
  if (!st.active) return false;
  st.active = false;
  const rt = currentRuntime();
  rt.clock.clearTimeout(st.handle);
  if (rt.router.isLocal(t.target)) rt.procs.get(t.target.id)?.timers?.delete(st.handle);
  return true;
}

/** The ref of the process whose callback is running. Throws NotInProcessError outside one. */
function self<P extends Protocol = Protocol>(): Ref<P> {
  const p = currentRuntime().current;
  if (p === undefined) throw new NotInProcessError('GenServer.self');
  return p.ref as Ref<P>;
}

/**
 * A registered name typed with the protocol `P` of the process that will hold it. At run time
 * it is `name` itself; use it wherever a ref or name goes (`call`, `cast`, `send`, `stop`,
 * `isRunning`, `Registry.whereis`/`lookup`, `start`'s `name` option) and calls are checked and
 * typed as through a `Ref<P>`. Throws InvalidArgumentError unless `name` is a non-empty string
 * of at most 1024 characters.
 *
 * ```ts
 * const counter = GenServer.name<CounterProtocol>('counter');
 * await GenServer.start(counterBehavior, { name: counter });
 * const n = await GenServer.call(counter, 'get'); // number
 * ```
 */
function name<P extends Protocol>(name: string): Name<P> {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError('name passed to GenServer.name', problem);
  return name as Name<P>;
}

/** GenServer: start, call, cast, send, reply, stop, timers, typed names. */
export const GenServer = {
  start,
  /** Starts a behaviour another node offers in its BehaviorRegistry (see remote.ts). */
  startRemote,
  name,
  call,
  cast,
  send,
  reply,
  stop,
  isRunning,
  sendAfter,
  cancelTimer,
  self,
  /** The state its last handler committed (OTP's `:sys.get_state`; see introspection.ts). */
  getState,
} as const;
