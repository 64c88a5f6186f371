/**
 * Introspection for users (and, later, an observer): every process of the node
 * (`Process.list`), a whole supervision tree across threads (`Supervisor.tree`), and a
 * GenServer's state (`GenServer.getState`, OTP's `:sys.get_state`). Each question is read
 * where the process lives: at once on this thread, by a system call (process id 0) to the
 * runtime of another thread. Everything another thread answers is checked before use.
 */
import { checkDuration } from '../core/duration.js';
import type { GetStateRequest, ListRequest, ProcessInfo } from '../core/process-info.js';
import { MAX_LIST_PER_THREAD, committedState, processList } from '../core/process-info.js';
import type { AnyRef } from '../core/ref.js';
import { formatRef, isRef, makeRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime, withRuntime } from '../core/runtime.js';
import { describeValue, nameProblem } from '../core/validate.js';
import { InvalidArgumentError, NoProcessError, ServerExitedError } from '../errors.js';
import { Threads } from '../threads/thread-host.js';
import { isPlainObject, isWireRef } from '../transport/validate.js';
import { GenServer } from './gen-server/gen-server.js';
import type { ChildInfo, SupReply } from './supervisor/server.js';
import type { SupervisorRef } from './supervisor/supervisor.js';
import { Supervisor } from './supervisor/supervisor.js';

/** How long one thread may take to answer a `Process.list` system call before it is left out. */
const LIST_TIMEOUT_MS = 5000;

/** The deepest `Supervisor.tree` descends (a deeper tree is cut there: its nodes have no children). */
export const MAX_TREE_DEPTH = 64;

/** The most children `Supervisor.tree` reports for one supervisor. */
export const MAX_TREE_CHILDREN = 10_000;

// --- Process.list ------------------------------------------------------------------------

/**
 * Snapshots ({@link ProcessInfo}) of every live process of the node: this thread's first,
 * then each other thread's (asked by a system call `{ op: 'process_list' }`, answered at once
 * by that thread's runtime). Each thread lists at most {@link MAX_LIST_PER_THREAD} processes;
 * a thread that does not answer within 5 s, or answers with something malformed, is left out.
 * From a worker thread, the main thread lists only its processes that worker may address (those
 * whose refs were shown to it). Never rejects. OTP equivalent: `Process.list/0` mapped with
 * `Process.info/1`.
 */
export function list(): Promise<ProcessInfo[]> {
  return listWithin(LIST_TIMEOUT_MS);
}

/**
 * {@link list}, leaving out a thread that does not answer within `timeoutMs` (the observer
 * asks with a short bound, so one hung thread cannot stall its whole view). Internal.
 */
export async function listWithin(timeoutMs: number): Promise<ProcessInfo[]> {
  const rt = currentRuntime();
  const own = processList(rt.procs.values());
  const threads = (rt.channelStats?.() ?? []).map((c) => c.thread).sort((a, b) => a - b);
  const req: ListRequest = { op: 'process_list' };
  const answers = await Promise.all(
    threads.map((t) =>
      rt.router.call(makeRef(rt.node, t, 0), req, timeoutMs).then(
        (v) => checkedList(v, rt.node, t),
        () => [],
      ),
    ),
  );
  return own.concat(...answers);
}

/** The entries of thread `thread`'s answer that are well-formed snapshots of its own processes. */
function checkedList(v: unknown, node: string, thread: number): ProcessInfo[] {
  if (!Array.isArray(v)) return [];
  return v.slice(0, MAX_LIST_PER_THREAD).filter((e) => isInfoShape(e, node, thread)) as ProcessInfo[];
}

/** True when `e` looks like a {@link ProcessInfo} of a process of `node`/`thread` (hostile input). */
function isInfoShape(e: unknown, node: string, thread: number): boolean {
  if (!isPlainObject(e)) return false;
  const ref = e.ref;
  if (!isWireRef(ref) || ref.node !== node || ref.thread !== thread || e.thread !== thread) return false;
  const counts = [e.mailbox, e.handled, e.dropped, e.monitors, e.monitoredBy, e.heapUsed];
  return (
    (e.status === 'init' || e.status === 'running' || e.status === 'stopping') &&
    (e.kind === 'supervisor' || e.kind === 'thread' || e.kind === 'gen_server' || e.kind === 'process') &&
    counts.every((n) => typeof n === 'number') &&
    Array.isArray(e.names) &&
    Array.isArray(e.links)
  );
}

// --- Supervisor.tree -------------------------------------------------------------------

/** One node of `Supervisor.tree`: a supervisor, a worker, or a thread child (its host). */
export interface SupervisionNode {
  /** The process; undefined for a child that is not running. */
  readonly ref: AnyRef | undefined;
  /** The child id in its supervisor's spec (absent on the root). */
  readonly id?: string;
  /**
   * `'thread'`: a thread child; `ref` is its host process on the main thread, `thread` the
   * worker thread it owns, and its one child is the subtree's root supervisor on that thread.
   */
  readonly kind: 'supervisor' | 'worker' | 'thread';
  /** Thread number the node's processes run on (0: main; for `'thread'`, the worker thread). */
  readonly thread: number;
  /** How many times its supervisor restarted this child (0 for the root). */
  readonly restartCount: number;
  /** Its children in start order (empty for workers, and where the tree was cut). */
  readonly children: SupervisionNode[];
}

/**
 * The whole supervision tree under `sup` (a supervisor ref or registered name), read with
 * `Supervisor.getChildren` at every level: nested supervisors, and thread children through
 * `Threads.info` into the root supervisor on their worker thread. Levels are read one after
 * another, not atomically: a child that exits meanwhile is reported with no children. Stops
 * descending at {@link MAX_TREE_DEPTH} and reports at most {@link MAX_TREE_CHILDREN} children
 * per supervisor. Rejects with what `Supervisor.getChildren(sup)` rejects with
 * (InvalidArgumentError for a bad `sup`, NoProcessError when it is not alive). OTP
 * equivalent: `supervisor:which_children/1` applied recursively (what observer draws).
 */
export function tree(sup: SupervisorRef | string): Promise<SupervisionNode> {
  return treeWithin(sup, DEFAULT_CALL_MS);
}

/** The call timeout of `Supervisor.getChildren`, which {@link tree} uses at every level. */
const DEFAULT_CALL_MS = 5000;

/**
 * {@link tree} with `timeoutMs` for each level's `which_children` call: a supervisor that
 * does not answer in time (its thread hung) is reported without children. Internal: the
 * observer reads trees with a short bound.
 */
export async function treeWithin(sup: SupervisorRef | string, timeoutMs: number): Promise<SupervisionNode> {
  const rt = currentRuntime();
  const children = await childrenOf(sup, timeoutMs);
  const ref = typeof sup === 'string' ? rt.names.get(sup) : sup;
  return {
    ref,
    kind: 'supervisor',
    thread: ref?.thread ?? rt.thread,
    restartCount: 0,
    children: await childNodes(rt, children, 1, timeoutMs),
  };
}

/** `Supervisor.getChildren(sup)` with a call timeout of `timeoutMs` (the same errors). */
async function childrenOf(sup: SupervisorRef | string, timeoutMs: number): Promise<ChildInfo[]> {
  if (timeoutMs === DEFAULT_CALL_MS || (typeof sup !== 'string' && !isRef(sup))) return Supervisor.getChildren(sup);
  const r = (await GenServer.call(sup as SupervisorRef, { op: 'which_children' }, { timeout: timeoutMs })) as SupReply<ChildInfo[]>;
  if (r.ok) return r.value;
  throw r.error;
}

/** The nodes for the children one supervisor reported (checked: they may come from another thread). */
function childNodes(rt: Runtime, children: unknown, depth: number, timeoutMs: number): Promise<SupervisionNode[]> {
  if (!Array.isArray(children)) return Promise.resolve([]);
  const valid = children.slice(0, MAX_TREE_CHILDREN).filter(isChildShape);
  return Promise.all(valid.map((c) => childNode(rt, c, depth, timeoutMs)));
}

/** True when `c` is a well-formed {@link ChildInfo}. */
function isChildShape(c: unknown): c is ChildInfo {
  if (!isPlainObject(c)) return false;
  return (
    typeof c.id === 'string' &&
    (c.ref === undefined || isWireRef(c.ref)) &&
    (c.type === 'worker' || c.type === 'supervisor') &&
    typeof c.restartCount === 'number'
  );
}

/** One child's node, descending into it when it is a supervisor or a thread child. */
async function childNode(rt: Runtime, c: ChildInfo, depth: number, timeoutMs: number): Promise<SupervisionNode> {
  const base = { ref: c.ref, id: c.id, restartCount: c.restartCount };
  const ref = c.ref;
  if (c.type === 'worker' || ref === undefined) return { ...base, kind: c.type, thread: ref?.thread ?? rt.thread, children: [] };
  // Thread children exist only on a main thread that has started threads (channelStats is
  // installed then); asking Threads.info elsewhere would set the threads layer up for nothing.
  const host = rt.thread === 0 && rt.channelStats !== undefined ? await threadOf(rt, ref) : undefined;
  if (host === undefined) return { ...base, kind: 'supervisor', thread: ref.thread, children: await subtree(rt, ref, depth, timeoutMs) };
  const root: SupervisionNode = {
    ref: host.root,
    kind: 'supervisor',
    thread: host.thread,
    restartCount: 0,
    children: await subtree(rt, host.root, depth + 1, timeoutMs),
  };
  return { ...base, kind: 'thread', thread: host.thread, children: [root] };
}

/** The thread behind `ref` when it is a thread child's host (undefined otherwise, or when it died). */
async function threadOf(rt: Runtime, ref: AnyRef): Promise<{ thread: number; root: AnyRef } | undefined> {
  try {
    // In `rt`, not the ambient runtime: this runs after an await, where `rt` is no longer current.
    const info = await withRuntime(rt, () => Threads.info(ref));
    return isWireRef(info.root) ? info : undefined;
  } catch {
    return undefined; // not a host (InvalidArgumentError), or no longer alive
  }
}

/** The children of supervisor `ref`, or none when it is too deep or no longer answers. */
async function subtree(rt: Runtime, ref: AnyRef, depth: number, timeoutMs: number): Promise<SupervisionNode[]> {
  if (depth >= MAX_TREE_DEPTH) return [];
  let children: unknown;
  try {
    children = await withRuntime(rt, () => childrenOf(ref as SupervisorRef, timeoutMs));
  } catch {
    return []; // it exited (or its thread did) while the tree was read, or did not answer in time
  }
  return childNodes(rt, children, depth + 1, timeoutMs);
}

// --- GenServer.getState ------------------------------------------------------------------

/**
 * The state of the GenServer at `ref` (a ref or registered name): the state its last handler
 * committed, read between messages without queueing behind the mailbox (a handler in flight,
 * sync or async, has not committed yet; `undefined` while init runs). For a process on this
 * thread it is the state object itself (do not mutate it; a copy under `strictMessages`); for
 * another thread, a copy taken by a system call `{ op: 'get_state', id }` to that thread's
 * runtime. Rejects with
 * InvalidArgumentError for a bad `ref`/`timeout` or a process that is not a GenServer,
 * NoProcessError when nothing is alive there, NotCloneableError when the state must cross
 * threads and cannot be copied, CallTimeoutError after `timeout` ms (default 5000). A debugging
 * aid: OTP equivalent `:sys.get_state/2`.
 */
export function getState<S = unknown>(ref: AnyRef | string, timeout?: number): Promise<S> {
  try {
    return stateOf(currentRuntime(), ref, checkDuration('timeout passed to GenServer.getState', timeout, 5000)) as Promise<S>;
  } catch (e) {
    return Promise.reject(e);
  }
}

/** {@link getState} after its arguments are checked for type. */
function stateOf(rt: Runtime, ref: unknown, timeoutMs: number): Promise<unknown> {
  const target = targetOf(rt, ref);
  if (rt.router.isLocal(target)) {
    // With strictMessages a same-thread answer is what another thread would get: a copy.
    const state = committedState(rt.procs.get(target.id), target, rt.strictMessages);
    return Promise.resolve(rt.strictMessages ? structuredClone(state) : state);
  }
  if (target.id === 0 || !rt.aliveElsewhere(target)) return Promise.reject(new NoProcessError(formatRef(target)));
  const req: GetStateRequest = { op: 'get_state', id: target.id };
  return rt.router.call(makeRef(target.node, target.thread, 0), req, timeoutMs).catch((e: unknown) => {
    // The thread died meanwhile: so did the process.
    throw ServerExitedError.is(e) ? new NoProcessError(formatRef(target)) : e;
  });
}

/** The ref `ref` stands for (a registered name resolved here). Throws typed errors. */
function targetOf(rt: Runtime, ref: unknown): AnyRef {
  if (typeof ref === 'string') {
    const problem = nameProblem(ref);
    if (problem !== undefined) throw new InvalidArgumentError('name passed to GenServer.getState', problem);
    const found = rt.names.get(ref);
    if (found === undefined) throw new NoProcessError(ref);
    return found;
  }
  if (!isRef(ref))
    throw new InvalidArgumentError('ref passed to GenServer.getState', `expected a ref or a registered name, got ${describeValue(ref)}`);
  return ref;
}
