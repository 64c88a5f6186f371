/**
 * Supervisor flags and child specifications (seed names: SupervisorOptions, ChildSpec),
 * and their validation. Every option says its default.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { AnyRef } from '../../core/ref.js';
import type { GenServerBehavior } from '../gen-server/behavior.js';
import type { StartOptions } from '../gen-server/gen-server.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
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
  /** Worker resource limits (heap sizes in MB), as in `new Worker(…, { resourceLimits })`. */
  resourceLimits?: {
    maxOldGenerationSizeMb?: number;
    maxYoungGenerationSizeMb?: number;
    stackSizeMb?: number;
  };
  /** Milliseconds without a heartbeat after which the thread counts as hung and is terminated; default 5000. */
  watchdogMs?: number;
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

/** Throws InvalidArgumentError naming the problem; returns normalised flags. */
export function validateOptions(o: SupervisorOptions): Required<Omit<SupervisorOptions, 'name' | 'template'>> & SupervisorOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('supervisor options', 'expected an object');
  const strategy = o.strategy ?? 'one_for_one';
  if (!STRATEGIES.includes(strategy))
    throw new InvalidArgumentError('strategy', `expected one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`);
  const intensity = o.restartIntensity ?? { maxRestarts: 3, withinMs: 5000 };
  if (!(intensity.maxRestarts >= 0) || !(intensity.withinMs > 0)) {
    throw new InvalidArgumentError('restartIntensity', 'maxRestarts must be >= 0 and withinMs > 0');
  }
  const autoShutdown = o.autoShutdown ?? 'never';
  if (!['never', 'any_significant', 'all_significant'].includes(autoShutdown)) {
    throw new InvalidArgumentError(
      'autoShutdown',
      `expected 'never', 'any_significant' or 'all_significant', got ${JSON.stringify(autoShutdown)}`,
    );
  }
  const children = o.children ?? [];
  if (!Array.isArray(children)) throw new InvalidArgumentError('children', 'expected an array of child specs');
  if (strategy === 'simple_one_for_one') {
    if (o.template === undefined) throw new InvalidArgumentError('template', 'simple_one_for_one needs a template child spec');
    if (children.length > 0) throw new InvalidArgumentError('children', 'simple_one_for_one starts children only with startChild');
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

/** Throws InvalidArgumentError when a child spec is malformed. */
export function validateSpec(c: ChildSpec, autoShutdown: string): void {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError('child spec', 'expected an object');
  if (typeof c.id !== 'string' || c.id.length === 0) throw new InvalidArgumentError('child spec id', 'expected a non-empty string');
  const kinds = [c.start, c.behavior, c.supervisor, c.thread].filter((k) => k !== undefined).length;
  if (kinds !== 1)
    throw new InvalidArgumentError(`child spec ${JSON.stringify(c.id)}`, 'give exactly one of start, behavior, supervisor, thread');
  if (c.start !== undefined && typeof c.start !== 'function')
    throw new InvalidArgumentError(`child spec ${JSON.stringify(c.id)}`, 'start must be a function');
  if (c.restart !== undefined && !RESTARTS.includes(c.restart)) {
    throw new InvalidArgumentError(
      `child spec ${JSON.stringify(c.id)} restart`,
      `expected one of ${RESTARTS.join(', ')}, got ${JSON.stringify(c.restart)}`,
    );
  }
  const t = c.shutdownTimeout;
  if (t !== undefined && t !== 'brutal_kill' && !(typeof t === 'number' && t > 0)) {
    throw new InvalidArgumentError(
      `child spec ${JSON.stringify(c.id)} shutdownTimeout`,
      "expected a positive number of ms, Infinity or 'brutal_kill'",
    );
  }
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
