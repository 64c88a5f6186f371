/**
 * Addressing processes of other nodes by name, and starting them there.
 *
 * - `{ name, node }` is a name registered on a given node (Erlang's `{Name, Node}`). A cast or
 *   send goes to that node's runtime (process 0 of its main thread), which looks the name up
 *   and delivers; a call goes the same way and the process found answers the caller directly
 *   (or through its node's main thread when it runs on a worker thread).
 * - `GenServer.startRemote(behaviour, { targetNode, … })` asks the target node to start a
 *   behaviour it offers in its BehaviorRegistry (an allow-list) and resolves with the ref.
 */
import { DEFAULT_THREAD_INIT_TIMEOUT_MS } from '../../threads/thread-spec.js';
import { allowedBehavior } from '../../cluster/behavior-registry.js';
import { shortNodeId } from '../../cluster/node-id.js';
import { checkDuration } from '../../core/duration.js';
import type { CAST, INFO } from '../../core/process.js';
import type { Name, Protocol } from '../../core/protocol.js';
import { type AnyRef, isRef, makeRef, type Ref } from '../../core/ref.js';
import type { Transferable } from '../../core/router.js';
import type { Runtime } from '../../core/runtime.js';
import { currentRuntime, LocalFrom } from '../../core/runtime.js';
import { checkOptions, describeValue, nameProblem } from '../../core/validate.js';
import { InvalidArgumentError, NodeDownError, NoProcessError, NotRegisteredError } from '../../errors.js';
import { isPlainObject, ownData } from '../../transport/validate.js';

/** A name registered on node `node` (`name@host:port`, or the long id of one incarnation). */
export interface RemoteName<P extends Protocol = Protocol> {
  readonly name: Name<P>;
  readonly node: string;
}

/** True for `{ name, node }` with a valid name and a node id string (own fields only). */
export function isRemoteName(v: unknown): v is RemoteName {
  // A ref (the common case, on every send) is told apart by a plain read: it has an id.
  if (typeof v !== 'object' || v === null || (v as { id?: unknown }).id !== undefined || !isPlainObject(v)) return false;
  const node = ownData(v, 'node');
  return (
    nameProblem(ownData(v, 'name')) === undefined &&
    typeof node === 'string' &&
    node !== '' &&
    node.length <= 1024 &&
    !Object.hasOwn(v, 'via') &&
    !Object.hasOwn(v, 'id')
  );
}

/** `name@node` for error messages. */
export function formatRemoteName(t: RemoteName): string {
  return `${t.name} on ${shortNodeId(t.node)}`;
}

/** The runtime ref (process 0, main thread) of the node `t` names, or undefined when it is not connected. */
function nodeRuntime(rt: Runtime, t: RemoteName): AnyRef | undefined {
  const node = rt.resolveNode?.(t.node);
  return node === undefined ? undefined : makeRef(node, 0, 0);
}

/** A call to `{ name, node }`. */
export function callRemoteName(
  rt: Runtime,
  t: RemoteName,
  msg: unknown,
  timeout: number,
  transfer?: readonly Transferable[],
): Promise<unknown> {
  const target = nodeRuntime(rt, t);
  if (target === undefined) return Promise.reject(new NodeDownError(shortNodeId(t.node), 'not_connected'));
  if (target.node === rt.node) {
    const local = rt.names.get(t.name);
    if (local === undefined) return Promise.reject(new NoProcessError(formatRemoteName(t)));
    return rt.router.call(local, msg, timeout, transfer);
  }
  return rt.router.call(target, { op: 'named_call', name: t.name, msg, timeout }, timeout);
}

/** A cast or info to `{ name, node }`: dropped and counted when the node is not connected. */
export function sendRemoteName(
  rt: Runtime,
  t: RemoteName,
  kind: typeof CAST | typeof INFO,
  msg: unknown,
  transfer?: readonly Transferable[],
): void {
  const target = nodeRuntime(rt, t);
  if (target === undefined) {
    rt.router.dropped(formatRemoteName(t), 'node not connected');
    return;
  }
  if (target.node === rt.node) {
    const local = rt.names.get(t.name);
    if (local === undefined) rt.router.dropped(formatRemoteName(t), 'name not registered');
    else rt.router.send(local, kind, msg, transfer, true);
    return;
  }
  rt.router.send(target, kind, { name: t.name, msg }, undefined, true);
}

/** The ref registered as `{ name, node }` now, asked of that node (undefined: not registered). */
export function whereisRemoteName(rt: Runtime, t: RemoteName): Promise<AnyRef | undefined> {
  const target = nodeRuntime(rt, t);
  if (target === undefined) return Promise.reject(new NodeDownError(shortNodeId(t.node), 'not_connected'));
  if (target.node === rt.node) return Promise.resolve(rt.names.get(t.name));
  return rt.router
    .call(target, { op: 'whereis', name: t.name }, 5000)
    .then((r) => (isRef(r) ? makeRef(r.node, r.thread, r.id) : undefined));
}

/** Options of {@link startRemote}. */
export interface StartRemoteOptions<A = unknown> {
  /** The node to start it on (`name@host:port`); this node's own id starts it here. */
  targetNode: string;
  /** Argument passed to `init` (crosses the wire: structured-clone values). */
  args?: A;
  /** A name to register it under on the target node. */
  name?: string;
  /**
   * `'local'` (the default with a `name`) registers `name` on the target node; `'global'`
   * registers it cluster-wide (GlobalRegistry, before `init`); `'none'` (the default without a
   * name) registers nothing.
   */
  registration?: 'local' | 'global' | 'none';
  /**
   * How long `init` may take there, in ms; default 5000. For a thread subtree it bounds the
   * thread's boot (default: the subtree's own `initTimeout`, else 30 s).
   */
  initTimeout?: number;
}

/**
 * Starts the behaviour offered as `behavior` in the BehaviorRegistry of `targetNode` and
 * resolves with its ref. Rejects with NotRegisteredError when that node does not offer it,
 * InitFailedError / InitTimeoutError as a local start would, NodeDownError when the node is not
 * connected or goes down meanwhile.
 */
export function startRemote<P extends Protocol = Protocol, A = unknown>(behavior: string, options: StartRemoteOptions<A>): Promise<Ref<P>> {
  let initTimeout: number;
  let initGiven = false;
  let name: string | undefined;
  let global = false;
  let targetNode: string;
  try {
    const problem = nameProblem(behavior);
    if (problem !== undefined) throw new InvalidArgumentError('behavior passed to GenServer.startRemote', problem);
    const o = checkOptions<StartRemoteOptions<A>>('options passed to GenServer.startRemote', options);
    if (typeof o.targetNode !== 'string' || o.targetNode === '')
      throw new InvalidArgumentError('targetNode', `expected 'name@host:port', got ${describeValue(o.targetNode)}`);
    targetNode = o.targetNode;
    const registration = o.registration ?? (o.name === undefined ? 'none' : 'local');
    if (registration !== 'local' && registration !== 'global' && registration !== 'none')
      throw new InvalidArgumentError('registration', `expected 'local', 'global' or 'none', got ${describeValue(registration)}`);
    if (registration !== 'none') {
      const np = nameProblem(o.name);
      if (np !== undefined) throw new InvalidArgumentError('name', `registration '${registration}' needs a name: ${np}`);
      name = o.name;
      global = registration === 'global';
    } else if (o.name !== undefined) throw new InvalidArgumentError('name', "a name with registration 'none'");
    initTimeout = checkDuration('initTimeout', o.initTimeout, 5000, { infinity: false });
    initGiven = o.initTimeout !== undefined;
  } catch (e) {
    return Promise.reject(e);
  }
  const rt = currentRuntime();
  const node = rt.resolveNode?.(targetNode) ?? (targetNode === rt.node ? rt.node : undefined);
  if (node === undefined) return Promise.reject(new NodeDownError(shortNodeId(targetNode), 'not_connected'));
  // Sent only when given: a thread subtree there keeps its own boot bound otherwise.
  const request = { op: 'spawn', behavior, args: options.args, name, global, initTimeout: initGiven ? initTimeout : undefined };
  // The target's init bound (the caller cannot know whether it is a thread's), plus the round trip.
  const waitMs = (initGiven ? initTimeout : Math.max(initTimeout, DEFAULT_THREAD_INIT_TIMEOUT_MS)) + 5000;
  const reply = node === rt.node ? startHere(rt, request) : rt.router.call(makeRef(node, 0, 0), request, waitMs);
  return reply.then((r) => {
    if (!isRef(r) || r.node !== node) throw new InvalidArgumentError('startRemote reply', `expected a ref on ${shortNodeId(node)}`);
    return makeRef<P>(r.node, r.thread, r.id);
  });
}

/** A spawn request answered by this node itself: the same allow-list and path as from another node. */
function startHere(rt: Runtime, request: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (allowedBehavior(rt, request.behavior as string) === undefined) {
      reject(new NotRegisteredError(`behaviour ${String(request.behavior)}`));
      return;
    }
    const from = new LocalFrom(rt, resolve, reject, rt.selfRef, request, Number.POSITIVE_INFINITY);
    if (rt.router.systemExtension?.(request, from) !== true) reject(new InvalidArgumentError('targetNode', 'no cluster is running'));
  });
}
