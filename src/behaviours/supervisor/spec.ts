/**
 * Supervisor flags and child specifications (SupervisorOptions, ChildSpec),
 * and their validation. Every option says its default.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { AnyRef } from '../../core/ref.js';
import type { GenServerBehavior } from '../gen-server/behavior.js';
import type { StartOptions } from '../gen-server/gen-server.js';
import { validateStartOptions } from '../gen-server/gen-server.js';
import { durationProblem } from '../../core/duration.js';
import { checkName, describeValue } from '../../core/validate.js';
import { validateThreadSpec } from '../../threads/thread-spec.js';

/**
 * How a supervisor restarts children when one exits and must be restarted (OTP's `strategy`):
 * `'one_for_one'` (the default) restarts only that child; `'one_for_all'` stops and restarts
 * every child; `'rest_for_one'` restarts that child and those started after it;
 * `'simple_one_for_one'` holds one template child spec and starts children of it dynamically
 * with `Supervisor.startChild(sup, args)`, each restarted on its own.
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
/**
 * When a child is restarted after it exits (OTP's `restart`): `'permanent'` (the default)
 * always; `'transient'` only after an abnormal exit (not `'normal'`, `'shutdown'` or
 * `{ shutdown }`); `'temporary'` never (and it is removed from the supervisor when it exits).
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/**
 * How a thread subtree is placed (see docs/concepts/threads.md): the module's export is a
 * function `(args) => SupervisorOptions` run inside a new worker thread.
 */
export interface ThreadSpec {
  /** Path or file URL of a `.ts` or `.js` module. */
  module: string;
  /** Name of the export; default `'default'`. */
  export?: string;
  /** Passed to the export; must be structured-cloneable. */
  args?: unknown;
  /** Worker resource limits (sizes in MB, each > 0), as in `new Worker(…, { resourceLimits })`. */
  resourceLimits?: {
    maxOldGenerationSizeMb?: number;
    maxYoungGenerationSizeMb?: number;
    codeRangeSizeMb?: number;
    stackSizeMb?: number;
  };
  /**
   * Milliseconds without a heartbeat after which the thread counts as hung and is terminated;
   * at least 100, or `Infinity` for no watchdog (and no heartbeats). Runs from the worker's
   * first heartbeat, sent before the module is imported, so it covers the boot too. Default 5000.
   */
  watchdogMs?: number;
  /**
   * Milliseconds the whole boot may take (worker start, module load, the export's call, the
   * subtree's start) before the worker is terminated and the start fails with
   * `ThreadExitError` of kind `'init_timeout'`; a duration or `Infinity`. Default 30 000.
   */
  initTimeout?: number;
  /**
   * Keep one booted spare worker for this child so a restart skips the worker and runtime
   * boot (the spare holds no user code until it is handed the subtree, and never keeps the
   * process alive). Default false.
   */
  standby?: boolean;
}

/** One child of a supervisor. Give exactly one of `start`, `behavior`, `supervisor`, `thread`. */
export interface ChildSpec<A = unknown> {
  /** Unique among the supervisor's children. */
  id: string;
  /**
   * Starts the child and resolves with its ref. For `simple_one_for_one` templates it receives
   * the arguments given to `startChild`.
   */
  start?: (args: A) => Promise<AnyRef>;
  /** A GenServer behaviour to start (linked to the supervisor). */
  // biome-ignore lint/suspicious/noExplicitAny: any state and protocol.
  behavior?: GenServerBehavior<any, any, any>;
  /** Options for `behavior` (`args`, `name`, timeouts). */
  options?: StartOptions<unknown>;
  /** A nested supervisor, started directly. */
  supervisor?: SupervisorOptions;
  /** A supervision subtree placed on its own worker thread. */
  thread?: ThreadSpec;
  /** `'permanent'` (default) always restarts; `'transient'` only after an abnormal exit; `'temporary'` never. */
  restart?: RestartType;
  /**
   * Milliseconds to wait for a graceful stop before killing; `'brutal_kill'` kills at once.
   * Default 5000 for workers, Infinity for supervisors and threads.
   */
  shutdownTimeout?: number | 'brutal_kill';
  /** Default `'worker'`, or `'supervisor'` for `supervisor`/`thread` children. */
  type?: 'worker' | 'supervisor';
  /** With `autoShutdown`, this child's exit may stop the supervisor; default false. */
  significant?: boolean;
}

/** Supervisor flags. */
export interface SupervisorOptions {
  /** Default `'one_for_one'`. */
  strategy?: Strategy;
  /** Started in order, stopped in reverse. Default none. */
  children?: ChildSpec[];
  /** For `simple_one_for_one`: the spec every `startChild(sup, args)` instantiates. */
  template?: ChildSpec;
  /** More than `maxRestarts` restarts within `withinMs` → the supervisor gives up and exits. Default 3 in 5000 ms. */
  restartIntensity?: { maxRestarts: number; withinMs: number };
  /** Registers the supervisor under this name. */
  name?: string;
  /** Stop the supervisor when `'any_significant'` or `'all_significant'` children have exited for good. Default `'never'`. */
  autoShutdown?: 'never' | 'any_significant' | 'all_significant';
}

const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTARTS: readonly RestartType[] = ['permanent', 'transient', 'temporary'];
const AUTO_SHUTDOWN: readonly string[] = ['never', 'any_significant', 'all_significant'];

/** Runs `check`; an InvalidArgumentError it throws is re-labelled with where the bad value sits. */
function rethrowAs(where: string, check: () => unknown): void {
  try {
    check();
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(`${where}: ${e.argument}`, e.problem);
    throw e;
  }
}

/** Throws InvalidArgumentError naming the problem; returns normalised flags. */
export function validateOptions(o: SupervisorOptions): Required<Omit<SupervisorOptions, 'name' | 'template'>> & SupervisorOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new InvalidArgumentError('supervisor options', `expected an object, got ${describeValue(o)}`);
  const strategy = o.strategy ?? 'one_for_one';
  if (!STRATEGIES.includes(strategy))
    throw new InvalidArgumentError('strategy', `expected one of ${STRATEGIES.join(', ')}, got ${describeValue(strategy)}`);
  checkName('name', o.name);
  const intensity = restartIntensity(o.restartIntensity);
  const autoShutdown = o.autoShutdown ?? 'never';
  if (!AUTO_SHUTDOWN.includes(autoShutdown)) {
    throw new InvalidArgumentError(
      'autoShutdown',
      `expected 'never', 'any_significant' or 'all_significant', got ${describeValue(autoShutdown)}`,
    );
  }
  const children = o.children ?? [];
  if (!Array.isArray(children)) throw new InvalidArgumentError('children', 'expected an array of child specs');
  if (strategy === 'simple_one_for_one') {
    if (o.template === undefined) throw new InvalidArgumentError('template', 'simple_one_for_one needs a template child spec');
    if (children.length > 0) throw new InvalidArgumentError('children', 'simple_one_for_one starts children only with startChild');
    // As OTP (since 2024): dynamic children are never significant, so only 'never' makes sense.
    if (autoShutdown !== 'never') throw new InvalidArgumentError('autoShutdown', "simple_one_for_one supports only 'never'");
    validateSpec(o.template, autoShutdown);
  }
  const seen = new Set<string>();
  for (const c of children) {
    validateSpec(c, autoShutdown);
    if (seen.has(c.id)) throw new InvalidArgumentError('children', `two children have the id ${JSON.stringify(c.id)}`);
    seen.add(c.id);
  }
  return {
    ...o,
    strategy,
    restartIntensity: intensity,
    autoShutdown,
    children,
  };
}

/**
 * The restart intensity, default 3 restarts in 5000 ms. `maxRestarts` is an integer >= 0;
 * `withinMs` is a duration > 0 or Infinity (every restart ever counts). A window of 0 ms is
 * refused: no restart would ever fall inside it, so the supervisor would restart forever,
 * which is what the intensity exists to prevent.
 */
function restartIntensity(v: unknown): { maxRestarts: number; withinMs: number } {
  if (v === undefined) return { maxRestarts: 3, withinMs: 5000 };
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidArgumentError('restartIntensity', `expected { maxRestarts, withinMs }, got ${describeValue(v)}`);
  const { maxRestarts, withinMs } = v as Record<string, unknown>;
  if (typeof maxRestarts !== 'number' || !Number.isInteger(maxRestarts) || maxRestarts < 0)
    throw new InvalidArgumentError('restartIntensity.maxRestarts', `expected an integer >= 0, got ${describeValue(maxRestarts)}`);
  const problem = withinMs === 0 ? 'expected a number of milliseconds > 0 or Infinity, got 0' : durationProblem(withinMs);
  if (problem !== undefined) throw new InvalidArgumentError('restartIntensity.withinMs', problem);
  return { maxRestarts, withinMs: withinMs as number };
}

/** Throws InvalidArgumentError when a child spec is malformed. */
export function validateSpec(c: ChildSpec, autoShutdown: string): void {
  if (typeof c !== 'object' || c === null || Array.isArray(c))
    throw new InvalidArgumentError('child spec', `expected an object, got ${describeValue(c)}`);
  if (typeof c.id !== 'string' || c.id.length === 0)
    throw new InvalidArgumentError('child spec id', `expected a non-empty string, got ${describeValue(c.id)}`);
  const kinds = [c.start, c.behavior, c.supervisor, c.thread].filter((k) => k !== undefined).length;
  if (kinds !== 1)
    throw new InvalidArgumentError(`child spec ${JSON.stringify(c.id)}`, 'give exactly one of start, behavior, supervisor, thread');
  const label = `child spec ${JSON.stringify(c.id)}`;
  if (c.start !== undefined && typeof c.start !== 'function') throw new InvalidArgumentError(label, 'start must be a function');
  if (c.behavior !== undefined && (typeof c.behavior !== 'object' || c.behavior === null || typeof c.behavior.init !== 'function'))
    throw new InvalidArgumentError(`${label} behavior`, 'expected an object with an init function');
  if (c.options !== undefined) {
    if (c.behavior === undefined) throw new InvalidArgumentError(`${label} options`, 'options are for behavior children only');
    const { options } = c;
    rethrowAs(`${label} options`, () => validateStartOptions(options));
  }
  if (c.supervisor !== undefined) {
    const { supervisor } = c;
    rethrowAs(`${label} supervisor`, () => validateOptions(supervisor));
  }
  if (c.thread !== undefined) validateThreadSpec(c.thread, `${label} thread`);
  if (c.restart !== undefined && !RESTARTS.includes(c.restart)) {
    throw new InvalidArgumentError(`${label} restart`, `expected one of ${RESTARTS.join(', ')}, got ${describeValue(c.restart)}`);
  }
  const t = c.shutdownTimeout;
  if (t !== undefined && t !== 'brutal_kill') {
    const problem = durationProblem(t);
    if (problem !== undefined) throw new InvalidArgumentError(`${label} shutdownTimeout`, `${problem} (or 'brutal_kill')`);
  }
  if (c.type !== undefined && c.type !== 'worker' && c.type !== 'supervisor')
    throw new InvalidArgumentError(`${label} type`, `expected 'worker' or 'supervisor', got ${describeValue(c.type)}`);
  if (c.significant !== undefined && typeof c.significant !== 'boolean')
    throw new InvalidArgumentError(`${label} significant`, `expected true or false, got ${describeValue(c.significant)}`);
  if (c.significant === true && (c.restart ?? 'permanent') === 'permanent') {
    throw new InvalidArgumentError(`child spec ${JSON.stringify(c.id)}`, 'a significant child must be transient or temporary');
  }
  if (c.significant === true && autoShutdown === 'never') {
    throw new InvalidArgumentError(`child spec ${JSON.stringify(c.id)}`, "significant children need autoShutdown other than 'never'");
  }
}

/** The child's type: supervisors and threads default to 'supervisor'. */
export function childType(c: ChildSpec): 'worker' | 'supervisor' {
  return c.type ?? (c.supervisor !== undefined || c.thread !== undefined ? 'supervisor' : 'worker');
}

/** The child's shutdown timeout in ms (Infinity allowed) or 'brutal_kill'. */
export function shutdownOf(c: ChildSpec): number | 'brutal_kill' {
  return c.shutdownTimeout ?? (childType(c) === 'supervisor' ? Number.POSITIVE_INFINITY : 5000);
}
