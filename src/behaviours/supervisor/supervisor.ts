/**
 * The Supervisor API.
 *
 * ```ts
 * const sup = await Supervisor.start({
 *   strategy: 'one_for_one',
 *   restartIntensity: { maxRestarts: 3, withinMs: 5000 },
 *   children: [{ id: 'counter', behavior: counter }],
 * });
 * const [child] = await Supervisor.getChildren(sup);
 * ```
 */
import { deserializeError, InvalidArgumentError, isSerializedError } from '../../errors.js';
import type { ExitReason } from '../../core/exit-reason.js';
import type { AnyRef, Ref } from '../../core/ref.js';
import { isRef } from '../../core/ref.js';
import { describeValue } from '../../core/validate.js';
import { GenServer } from '../gen-server/gen-server.js';
import { isRemoteName, type RemoteName } from '../gen-server/remote.js';
import type { ChildCounts, ChildInfo, IntensityStatus, SupProtocol, SupReply } from './server.js';
import { startSupervisor } from './server.js';
import { tree } from '../introspection.js';
import type { ChildSpec, SupervisorOptions } from './spec.js';

declare const templateArgs: unique symbol;

/**
 * A supervisor's ref. `A` is the argument type of its `simple_one_for_one` template (a
 * phantom, inferred by {@link Supervisor.start}), which `startChild` then requires.
 */
export type SupervisorRef<A = unknown> = Ref<SupProtocol> & {
  /** Phantom: never present at run time. */
  readonly [templateArgs]?: A;
};

function unwrap<T>(r: SupReply<T>): T {
  if (r.ok) return r.value;
  // From another thread or node the error comes in wire form (server.ts): rebuilt here.
  throw isSerializedError(r.error) ? deserializeError(r.error) : r.error;
}

const INF = { timeout: Number.POSITIVE_INFINITY };

/**
 * Where a supervisor is: its ref (on any thread of any node), its registered name on this
 * node, or `{ name, node }` for a name registered on another node.
 */
export type SupAddress = SupervisorRef | string | RemoteName<SupProtocol>;

/** A supervisor address (see {@link SupAddress}). Throws InvalidArgumentError otherwise. */
function checkSup(sup: unknown, fn: string): void {
  if (isRef(sup) || isRemoteName(sup) || (typeof sup === 'string' && sup !== '')) return;
  throw new InvalidArgumentError(
    `supervisor passed to Supervisor.${fn}`,
    `expected a supervisor ref, a name or { name, node }, got ${describeValue(sup)}`,
  );
}

/** A child id (a non-empty string) or, where `refOk`, a child's ref. */
function checkChild(id: unknown, fn: string, refOk: boolean): void {
  if ((typeof id === 'string' && id !== '') || (refOk && isRef(id))) return;
  throw new InvalidArgumentError(
    `child passed to Supervisor.${fn}`,
    `expected a child id (a non-empty string)${refOk ? ' or a child ref' : ''}, got ${describeValue(id)}`,
  );
}

/**
 * The Supervisor API (Elixir's `Supervisor`, OTP's `supervisor`): start a supervisor, manage
 * its children, and read its state. Every function taking `sup` accepts a supervisor ref or
 * a registered name and throws (or rejects with) InvalidArgumentError for anything else.
 */
export const Supervisor = {
  /**
   * Starts a supervisor and its children in order. If a child fails to start, the children
   * already started are stopped in reverse order and this rejects with ChildStartError
   * naming the child. Invalid options reject with InvalidArgumentError; a taken `name` with
   * AlreadyRegisteredError. Defaults: strategy `'one_for_one'`, at most 3 restarts within
   * 5000 ms. OTP: `Supervisor.start_link/2`. For `simple_one_for_one`, `A` is the template's argument type (inferred
   * from its `start` function, or given: `Supervisor.start<A>(…)`); `startChild` requires it.
   */
  start<A = unknown>(options: Omit<SupervisorOptions, 'template'> & { template?: ChildSpec<A> }): Promise<SupervisorRef<A>> {
    return startSupervisor(options as SupervisorOptions) as Promise<SupervisorRef<A>>;
  },
  /**
   * Adds and starts a child (a spec), or for `simple_one_for_one` starts an instance of the
   * template with `args` (typed by the template: see {@link Supervisor.start}). Resolves with
   * the child's ref. A spec given to a `simple_one_for_one` supervisor rejects with
   * InvalidArgumentError, as OTP returns an error (it never starts the template instead).
   * Also rejects with DuplicateChildError for a taken id, ChildStartError when the child fails
   * to start, InvalidArgumentError for a bad spec. Waits without a timeout. OTP:
   * `Supervisor.start_child/2`.
   */
  async startChild<A = unknown>(sup: SupervisorRef<A> | string, specOrArgs: ChildSpec | NoInfer<A>): Promise<AnyRef> {
    checkSup(sup, 'startChild');
    const isSpec =
      typeof specOrArgs === 'object' &&
      specOrArgs !== null &&
      'id' in specOrArgs &&
      ('start' in specOrArgs || 'behavior' in specOrArgs || 'supervisor' in specOrArgs || 'thread' in specOrArgs);
    const msg = isSpec ? { op: 'start_child' as const, spec: specOrArgs as ChildSpec } : { op: 'start_child' as const, args: specOrArgs };
    return unwrap(await GenServer.call(sup as SupervisorRef, msg, INF)) as AnyRef;
  },
  /**
   * Stops a child (by id, or by ref for `simple_one_for_one`). Its spec is kept (so
   * `restartChild` can start it again) unless it is temporary or a `simple_one_for_one` child.
   * Rejects with ChildNotFoundError when there is no such child. Waits without a timeout. OTP:
   * `Supervisor.terminate_child/2`.
   */
  async terminateChild(sup: SupAddress, id: string | AnyRef): Promise<void> {
    checkSup(sup, 'terminateChild');
    checkChild(id, 'terminateChild', true);
    unwrap(await GenServer.call(sup as SupervisorRef, { op: 'terminate_child', id }, INF));
  },
  /**
   * Starts a stopped child again from its spec; resolves with its new ref. Rejects with
   * ChildRunningError when it runs, ChildNotFoundError when there is no such child,
   * ChildStartError when it fails to start. OTP: `Supervisor.restart_child/2`.
   */
  async restartChild(sup: SupAddress, id: string): Promise<AnyRef> {
    checkSup(sup, 'restartChild');
    checkChild(id, 'restartChild', false);
    return unwrap(await GenServer.call(sup as SupervisorRef, { op: 'restart_child', id }, INF)) as AnyRef;
  },
  /**
   * Removes a stopped child's spec. Rejects with ChildRunningError when it runs (stop it
   * first with `terminateChild`), ChildNotFoundError when there is no such child. OTP:
   * `Supervisor.delete_child/2`.
   */
  async deleteChild(sup: SupAddress, id: string): Promise<void> {
    checkSup(sup, 'deleteChild');
    checkChild(id, 'deleteChild', false);
    unwrap(await GenServer.call(sup as SupervisorRef, { op: 'delete_child', id }, INF));
  },
  /**
   * The children in start order: id, ref (undefined when not running), restart type, type and
   * restart count. Uses the default 5000 ms call timeout (rejects with CallTimeoutError, or
   * NoProcessError when the supervisor is not alive). OTP: `Supervisor.which_children/1`.
   */
  async getChildren(sup: SupAddress): Promise<ChildInfo[]> {
    checkSup(sup, 'getChildren');
    return unwrap(await GenServer.call(sup as SupervisorRef, { op: 'which_children' })) as ChildInfo[];
  },
  /**
   * One child's info (as in {@link Supervisor.getChildren}): by id, or by ref (the way to name
   * a `simple_one_for_one` child). Rejects with ChildNotFoundError when there is no such child,
   * InvalidArgumentError for a bad `sup` or id. Uses the default 5000 ms call timeout. OTP has
   * no direct equivalent (filter `which_children/1`).
   */
  async getChild(sup: SupAddress, id: string | AnyRef): Promise<ChildInfo> {
    checkSup(sup, 'getChild');
    checkChild(id, 'getChild', true);
    return unwrap(await GenServer.call(sup as SupervisorRef, { op: 'which_child', id })) as ChildInfo;
  },
  /**
   * True while the supervisor (a ref or registered name) is alive; false for a name nobody
   * holds. Throws InvalidArgumentError for anything else. Like {@link GenServer.isRunning}
   * (exact on this thread; for another thread's process, true while that thread is alive).
   * OTP: `Process.alive?/1` on the supervisor's pid.
   */
  isRunning(sup: SupAddress): boolean {
    checkSup(sup, 'isRunning');
    return GenServer.isRunning(sup as SupervisorRef);
  },
  /**
   * Counts of specs, running children, supervisors and workers. Uses the default 5000 ms call
   * timeout. OTP: `Supervisor.count_children/1`.
   */
  async countChildren(sup: SupAddress): Promise<ChildCounts> {
    checkSup(sup, 'countChildren');
    return unwrap(await GenServer.call(sup as SupervisorRef, { op: 'count_children' })) as ChildCounts;
  },
  /**
   * The supervisor's restart intensity (`maxRestarts` within `withinMs`) and how much of it is
   * left now: `recent` restarts inside the window ending now, and `remaining` restarts it may
   * still make before it gives up (exceeds its intensity and exits). Reading it changes nothing.
   * Uses the default 5000 ms call timeout (rejects with CallTimeoutError, or NoProcessError when
   * the supervisor is not alive); InvalidArgumentError for a bad `sup`. OTP has no direct
   * equivalent (the counts live in the supervisor's state, `:sys.get_state/1`).
   */
  async intensity(sup: SupAddress): Promise<IntensityStatus> {
    checkSup(sup, 'intensity');
    return unwrap(await GenServer.call(sup as SupervisorRef, { op: 'intensity' })) as IntensityStatus;
  },
  /**
   * Stops the children in reverse order, then the supervisor, with `reason` (default
   * `'shutdown'`); waits as long as the children's shutdown takes. Rejects with NoProcessError
   * when the supervisor is not alive. OTP: `Supervisor.stop/2`.
   */
  stop(sup: SupAddress, reason: ExitReason = 'shutdown'): Promise<void> {
    try {
      checkSup(sup, 'stop');
    } catch (e) {
      return Promise.reject(e);
    }
    return GenServer.stop(sup as SupervisorRef, reason, {
      timeout: Number.POSITIVE_INFINITY,
    });
  },
  /**
   * The whole supervision tree under `sup`, across threads, as {@link SupervisionNode}s.
   * Rejects as `getChildren` does. OTP: `which_children/1` applied recursively.
   */
  tree,
} as const;
