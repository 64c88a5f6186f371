/**
 * The behaviours this node lets other nodes start (`GenServer.startRemote`): an allow-list,
 * per runtime. Nothing else can be started from another node: a peer names a behaviour, never
 * code. Erlang's `spawn/4` runs any exported function; an authenticated peer there owns the
 * node, here it may only start what this list offers.
 */
import type { GenServerBehavior } from '../behaviours/gen-server/behavior.js';
import { currentRuntime, type Runtime } from '../core/runtime.js';
import { describeValue, nameProblem } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';

// biome-ignore lint/suspicious/noExplicitAny: behaviours of every state and protocol are stored.
type AnyBehavior = GenServerBehavior<any, any, any>;

function checkBehaviorName(argument: string, name: unknown): void {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(argument, problem);
}

const tables = new WeakMap<Runtime, Map<string, AnyBehavior>>();

function table(rt: Runtime): Map<string, AnyBehavior> {
  let t = tables.get(rt);
  if (t === undefined) {
    t = new Map();
    tables.set(rt, t);
  }
  return t;
}

/** The behaviour registered under `name` in `rt`, if any. @internal */
export function allowedBehavior(rt: Runtime, name: string): AnyBehavior | undefined {
  return tables.get(rt)?.get(name);
}

/**
 * Offers `behavior` to other nodes under `name` (a name of 1–1024 characters); replaces an
 * earlier one of the same name. Throws InvalidArgumentError for a bad name or a value that is
 * not a behaviour object.
 */
function register(name: string, behavior: AnyBehavior): void {
  checkBehaviorName('name passed to BehaviorRegistry.register', name);
  if (typeof behavior !== 'object' || behavior === null || typeof (behavior as { init?: unknown }).init !== 'function')
    throw new InvalidArgumentError(
      'behavior passed to BehaviorRegistry.register',
      `expected a behaviour with init, got ${describeValue(behavior)}`,
    );
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
