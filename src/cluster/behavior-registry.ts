/**
 * The behaviours this node lets other nodes start (`GenServer.startRemote`): an allow-list,
 * per runtime. Nothing else can be started from another node: a peer names a behaviour, never
 * code. Erlang's `spawn/4` runs any exported function; an authenticated peer there owns the
 * node, here it may only start what this list offers.
 */
import type { GenServerBehavior } from '../behaviours/gen-server/behavior.js';
import type { ThreadSpec } from '../behaviours/supervisor/spec.js';
import { validateThreadSpec } from '../threads/thread-spec.js';
import { currentRuntime, type Runtime } from '../core/runtime.js';
import { describeValue, nameProblem } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';

// biome-ignore lint/suspicious/noExplicitAny: behaviours of every state and protocol are stored.
type AnyBehavior = GenServerBehavior<any, any, any>;

/**
 * A thread subtree other nodes may start here: the module and its options are fixed by this
 * node; the caller only passes `args`.
 */
export interface AllowedThread {
  readonly thread: Omit<ThreadSpec, 'args'>;
}

/** What may be registered: a behaviour, or a thread subtree. */
export type Allowed = AnyBehavior | AllowedThread;

/** True for a registered thread subtree (rather than a behaviour). */
export function isAllowedThread(a: Allowed): a is AllowedThread {
  return typeof (a as { init?: unknown }).init !== 'function';
}

function checkBehaviorName(argument: string, name: unknown): void {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(argument, problem);
}

const tables = new WeakMap<Runtime, Map<string, Allowed>>();

function table(rt: Runtime): Map<string, Allowed> {
  let t = tables.get(rt);
  if (t === undefined) {
    t = new Map();
    tables.set(rt, t);
  }
  return t;
}

/** The behaviour registered under `name` in `rt`, if any. @internal */
export function allowedBehavior(rt: Runtime, name: string): Allowed | undefined {
  return tables.get(rt)?.get(name);
}

/**
 * Offers `behavior` to other nodes under `name` (a name of 1–1024 characters); replaces an
 * earlier one of the same name. `{ thread: { module, … } }` offers a thread subtree instead:
 * `GenServer.startRemote` then starts that module's subtree on a new worker thread here, under
 * a supervisor of its own, and resolves with that supervisor's ref. Throws
 * InvalidArgumentError for a bad name, a value that is neither, or a bad thread spec.
 */
function register(name: string, behavior: Allowed): void {
  checkBehaviorName('name passed to BehaviorRegistry.register', name);
  if (typeof behavior !== 'object' || behavior === null)
    throw new InvalidArgumentError(
      'behavior passed to BehaviorRegistry.register',
      `expected a behaviour or { thread }, got ${describeValue(behavior)}`,
    );
  if (isAllowedThread(behavior)) {
    const spec = (behavior as { thread?: unknown }).thread;
    if (typeof spec === 'object' && spec !== null && Object.hasOwn(spec, 'args'))
      throw new InvalidArgumentError('behavior.thread.args', 'the caller of startRemote passes args');
    validateThreadSpec(spec, 'behavior.thread');
    table(currentRuntime()).set(name, { thread: { ...(spec as Omit<ThreadSpec, 'args'>) } });
    return;
  }
  table(currentRuntime()).set(name, behavior);
}

/** Withdraws the behaviour offered under `name`; false when there was none. */
function unregister(name: string): boolean {
  checkBehaviorName('name passed to BehaviorRegistry.unregister', name);
  return tables.get(currentRuntime())?.delete(name) ?? false;
}

/** True when a behaviour is offered under `name`. */
function has(name: string): boolean {
  return typeof name === 'string' && (tables.get(currentRuntime())?.has(name) ?? false);
}

/** The names offered, in registration order. */
function names(): string[] {
  return [...(tables.get(currentRuntime())?.keys() ?? [])];
}

/** The allow-list of behaviours other nodes may start here with `GenServer.startRemote`. */
export const BehaviorRegistry = { register, unregister, has, names } as const;
