/**
 * GlobalRegistry: names that hold across the cluster (Erlang's `:global`), decided by the
 * cluster's backend (embedded: one arbiter per connected group; or etcd) and read from this
 * node's replica. A name is released when its process exits or its node goes down, on every
 * node. After a partition heals, a resolver every node computes alike keeps one holder and the
 * other exits with `{ shutdown: { name_conflict: name } }`.
 *
 * `GenServer.start(b, { name: { global: 'x' } })` registers on start, and `{ global: 'x' }`
 * addresses the holder wherever it runs.
 */
import type { AnyRef, Ref } from '../core/ref.js';
import { isRef } from '../core/ref.js';
import type { Protocol } from '../core/protocol.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime } from '../core/runtime.js';
import { checkFunction, describeValue, nameProblem } from '../core/validate.js';
import { InvalidArgumentError, NoProcessError, NotRegisteredError } from '../errors.js';
import type { ClusterBackend, GlobalNameEvent } from './backend.js';

/** The events of {@link GlobalRegistry.on}. */
export type GlobalRegistryEvent = GlobalNameEvent['type'];

interface Registry {
  readonly backend: ClusterBackend;
  readonly listeners: Map<GlobalRegistryEvent, Set<(e: GlobalNameEvent) => void>>;
}

const registries = new WeakMap<Runtime, Registry>();

/** Installs the backend of `rt`'s cluster (the cluster layer, at start). @internal */
export function attachGlobalNames(rt: Runtime, backend: ClusterBackend): (e: GlobalNameEvent) => void {
  const reg: Registry = { backend, listeners: new Map() };
  registries.set(rt, reg);
  rt.globalNames = { register: (name, ref) => backend.register(name, ref), whereis: (name) => backend.whereis(name) };
  return (e) => {
    for (const fn of [...(reg.listeners.get(e.type) ?? [])]) {
      try {
        fn(e);
      } catch (err) {
        rt.logger.warn(`GlobalRegistry ${e.type} listener threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
}

/** Removes it again (the cluster stopped). @internal */
export function detachGlobalNames(rt: Runtime): void {
  registries.delete(rt);
  rt.globalNames = undefined;
}

function registry(fn: string): Registry {
  const r = registries.get(currentRuntime());
  if (r === undefined) throw new InvalidArgumentError(fn, 'the cluster is not running (call Cluster.start first, on the main thread)');
  return r;
}

function checkGlobalName(fn: string, name: unknown): asserts name is string {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(`name passed to ${fn}`, problem);
}

/**
 * Registers `ref` under `name` across the cluster. Resolves once the name is held (this node's
 * replica shows it); rejects with AlreadyRegisteredError naming the holder, NoProcessError for
 * a ref that is not alive, NodeDownError when the arbiter's node goes down meanwhile.
 */
async function register(name: string, ref: AnyRef): Promise<void> {
  checkGlobalName('GlobalRegistry.register', name);
  if (!isRef(ref)) throw new InvalidArgumentError('ref passed to GlobalRegistry.register', `expected a ref, got ${describeValue(ref)}`);
  const reg = registry('GlobalRegistry.register');
  const rt = currentRuntime();
  const alive = rt.router.isLocal(ref) ? rt.procs.get(ref.id)?.alive === true : rt.aliveElsewhere(ref);
  if (!alive) throw new NoProcessError(`${ref.node}/${ref.thread}/${ref.id}`);
  await reg.backend.register(name, ref);
}

/** Releases `name` wherever it is held (any node may); resolves whether or not it was held. */
async function unregister(name: string): Promise<void> {
  checkGlobalName('GlobalRegistry.unregister', name);
  await registry('GlobalRegistry.unregister').backend.unregister(name);
}

/** The holder of `name` from this node's replica; throws NotRegisteredError when none. */
function lookup<P extends Protocol = Protocol>(name: string): Ref<P> {
  checkGlobalName('GlobalRegistry.lookup', name);
  const ref = registry('GlobalRegistry.lookup').backend.whereis(name);
  if (ref === undefined) throw new NotRegisteredError(name);
  return ref as Ref<P>;
}

/** The holder of `name` from this node's replica, or undefined. Synchronous. */
function whereis<P extends Protocol = Protocol>(name: string): Ref<P> | undefined {
  checkGlobalName('GlobalRegistry.whereis', name);
  return registry('GlobalRegistry.whereis').backend.whereis(name) as Ref<P> | undefined;
}

function isRegistered(name: string): boolean {
  return whereis(name) !== undefined;
}

function getNames(): string[] {
  return registry('GlobalRegistry.getNames').backend.names();
}

function count(): number {
  return getNames().length;
}

/**
 * Subscribes to `registered`, `unregistered` (with a reason: `unregistered`, `exited`,
 * `node_down`) or `conflictResolved` (winner and loser after a heal). Returns the unsubscribe.
 */
function on<E extends GlobalRegistryEvent>(event: E, fn: (e: Extract<GlobalNameEvent, { type: E }>) => void): () => void {
  if (event !== 'registered' && event !== 'unregistered' && event !== 'conflictResolved')
    throw new InvalidArgumentError(
      'event passed to GlobalRegistry.on',
      `expected 'registered', 'unregistered' or 'conflictResolved', got ${describeValue(event)}`,
    );
  checkFunction('fn passed to GlobalRegistry.on', fn);
  const reg = registry('GlobalRegistry.on');
  let set = reg.listeners.get(event);
  if (set === undefined) {
    set = new Set();
    reg.listeners.set(event, set);
  }
  const listener = fn as (e: GlobalNameEvent) => void;
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

/** Cluster-wide names (Erlang's `:global`). */
export const GlobalRegistry = { register, unregister, lookup, whereis, isRegistered, getNames, count, on } as const;

/** `{ global: name }`: a name registered in the GlobalRegistry (Erlang's `{:global, name}`). */
export interface GlobalName {
  readonly global: string;
}

/** True for `{ global: name }` with a valid name (own fields only). */
export function isGlobalName(v: unknown): v is GlobalName {
  if (typeof v !== 'object' || v === null || !Object.hasOwn(v, 'global')) return false;
  return nameProblem((v as { global: unknown }).global) === undefined;
}
