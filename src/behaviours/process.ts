/**
 * Links, monitors, exit signals and trapping exits (Elixir's `Process` module). Functions
 * that act on "the current process" must run inside a callback (in async callbacks, before
 * the first `await`); they throw NotInProcessError otherwise.
 */
import { InvalidArgumentError, NoProcessError, NodeDownError, NotInProcessError, ServerExitedError } from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import { exitReasonProblem } from '../core/exit-reason.js';
import { type Proc, Status } from '../core/process.js';
import type { AnyRef, MonitorRef } from '../core/ref.js';
import { isRef, makeRef, monitorKey } from '../core/ref.js';
import type { InfoRequest, ProcessInfo } from '../core/process-info.js';
import { processInfo } from '../core/process-info.js';
import { currentRuntime } from '../core/runtime.js';
import { checkFunction, describeValue, isMonitorRef } from '../core/validate.js';
import { list } from './introspection.js';
import { isRemoteName, type RemoteName, whereisRemoteName } from './gen-server/remote.js';

function me(fn: string): Proc {
  const p = currentRuntime().current;
  if (p === undefined) throw new NotInProcessError(fn);
  return p;
}

function checkRef(ref: unknown, fn: string): asserts ref is AnyRef {
  if (!isRef(ref))
    throw new InvalidArgumentError(`ref passed to ${fn}`, `expected a ref ({ node, thread, id }), got ${describeValue(ref)}`);
}

/** The ref of the running process. */
function self(): AnyRef {
  return me('Process.self').ref;
}

/**
 * Links the current process with `ref`: when either exits abnormally, the other gets an exit
 * signal (an `EXIT` message when trapping exits, otherwise it exits with the same reason).
 * Linking to a process that is not alive delivers `'noproc'`.
 */
function link(ref: AnyRef): void {
  checkRef(ref, 'Process.link');
  const p = me('Process.link');
  currentRuntime().router.link(p.ref, ref);
}

/** Removes a link (both directions). */
function unlink(ref: AnyRef): void {
  checkRef(ref, 'Process.unlink');
  const p = me('Process.unlink');
  currentRuntime().router.unlink(p.ref, ref);
}

/**
 * Monitors `ref` from the current process: when it exits, a `DOWN` message
 * `{ type: 'DOWN', monitor, ref, reason }` arrives in this process's own mailbox
 * (reason `'noproc'` at once if it is not alive).
 *
 * `{ name, node }` monitors the process registered under `name` on `node` when the monitor is
 * set (Erlang's `monitor(process, {Name, Node})`): the name is looked up on that node, and the
 * process found then is the one watched (a later holder of the name is not). When no process
 * holds the name, DOWN `'noproc'` arrives; when the node is not connected, or goes down before
 * the answer, DOWN `'noconnection'`. Until the process is known, the DOWN's `ref` is the
 * runtime of `node` (id 0, main thread): match on `monitor`.
 */
function monitor(ref: AnyRef | RemoteName): MonitorRef {
  if (isRemoteName(ref)) return monitorName(ref);
  checkRef(ref, 'Process.monitor');
  const p = me('Process.monitor');
  const rt = currentRuntime();
  const m = rt.newMonitorRef();
  rt.router.monitor(p.ref, m, ref);
  return m;
}

/** Monitors made by name whose lookup has not answered yet, by watcher: their keys. */
const resolving = new WeakMap<Proc, Set<string>>();

function monitorName(t: RemoteName): MonitorRef {
  const p = me('Process.monitor');
  const rt = currentRuntime();
  const m = rt.newMonitorRef();
  const key = monitorKey(m);
  const node = rt.resolveNode?.(t.node) ?? (t.node === rt.node ? rt.node : undefined);
  // Until the process is known the monitor stands on the node's runtime: a DOWN for it is
  // delivered (and the node's loss fires it, as for any monitor on that node).
  const nodeRef = makeRef(node ?? t.node, 0, 0);
  (p.monitoring ??= new Map()).set(key, nodeRef);
  if (node === undefined) {
    rt.router.down({ ref: p.ref, monitor: m }, nodeRef, 'noconnection');
    return m;
  }
  if (node === rt.node) {
    const local = rt.names.get(t.name);
    if (local === undefined) rt.router.down({ ref: p.ref, monitor: m }, nodeRef, 'noproc');
    else rt.router.monitor(p.ref, m, local);
    return m;
  }
  let keys = resolving.get(p);
  if (keys === undefined) resolving.set(p, (keys = new Set()));
  keys.add(key);
  const settle = (found: AnyRef | undefined, reason: 'noproc' | 'noconnection'): void => {
    // Demonitored meanwhile, or the watcher is gone: nothing to set up or tell.
    if (!(resolving.get(p)?.delete(key) ?? false) || p.status === Status.Dead) return;
    if (found === undefined) rt.router.down({ ref: p.ref, monitor: m }, nodeRef, reason);
    else if (p.monitoring?.has(key) === true) rt.router.monitor(p.ref, m, found);
  };
  whereisRemoteName(rt, t).then(
    (found) => settle(found, 'noproc'),
    () => settle(undefined, 'noconnection'),
  );
  return m;
}

/** Removes a monitor; no DOWN will arrive for it afterwards. */
function demonitor(m: MonitorRef): void {
  if (!isMonitorRef(m))
    throw new InvalidArgumentError(
      'monitor passed to Process.demonitor',
      `expected a MonitorRef from Process.monitor, got ${describeValue(m)}`,
    );
  const p = me('Process.demonitor');
  const key = monitorKey(m);
  const target = p.monitoring?.get(key);
  if (target === undefined) return;
  if (resolving.get(p)?.delete(key) === true) {
    // A monitor by name still being looked up: nothing was set up on the other node yet.
    p.monitoring?.delete(key);
    return;
  }
  p.monitoring?.delete(key);
  currentRuntime().router.demonitor(target, key);
}

/** Sets whether the current process traps exits; returns the previous value. */
function trapExit(flag: boolean): boolean {
  if (typeof flag !== 'boolean')
    throw new InvalidArgumentError('flag passed to Process.trapExit', `expected true or false, got ${describeValue(flag)}`);
  const p = me('Process.trapExit');
  const prev = p.trapExit;
  p.trapExit = flag;
  return prev;
}

/**
 * Sends an exit signal to `ref` as if from the current process (or from the runtime when
 * called outside a process). `'kill'` cannot be trapped and exits the target with `'killed'`.
 */
function exit(ref: AnyRef, reason: ExitReason | 'kill'): void {
  checkRef(ref, 'Process.exit');
  if (reason !== 'kill') {
    const problem = exitReasonProblem(reason);
    if (problem !== undefined) throw new InvalidArgumentError('reason', problem);
  }
  const rt = currentRuntime();
  const from = rt.current?.ref ?? rt.selfRef;
  rt.router.exitSignal(ref, from, reason === 'kill' ? 'killed' : reason, false);
}

/**
 * Watches `ref` from outside any process: `onExit` runs once with its exit reason
 * (`'noproc'` if not alive). Returns a function that cancels the watch.
 */
function watch(ref: AnyRef, onExit: (reason: ExitReason, ref: AnyRef) => void): () => void {
  checkRef(ref, 'Process.watch');
  checkFunction('onExit passed to Process.watch', onExit);
  return currentRuntime().watch(ref, (r, reason) => onExit(reason, r));
}

/** Resolves with `ref`'s exit reason when it exits (`'noproc'` if not alive). */
function awaitExit(ref: AnyRef): Promise<ExitReason> {
  return new Promise((resolve) => {
    watch(ref, (reason) => resolve(reason));
  });
}

/** True when `ref` is a live process. */
function alive(ref: AnyRef): boolean {
  checkRef(ref, 'Process.alive');
  const rt = currentRuntime();
  if (rt.router.isLocal(ref)) return rt.procs.get(ref.id)?.alive ?? false;
  return rt.aliveElsewhere(ref);
}

/**
 * A snapshot of a process (status, mailbox length and bound, messages handled and dropped,
 * links, monitors, names, parent, its thread's heap use, thread), read where the process runs: at once for this thread, by a
 * system call for another thread. Resolves with undefined when the process is not alive (as
 * Elixir's `Process.info/1` returns nil). A process on an unreachable thread is not alive.
 */
function info(ref: AnyRef): Promise<ProcessInfo | undefined> {
  if (!isRef(ref)) return Promise.reject(new InvalidArgumentError('ref passed to Process.info', 'expected a ref ({ node, thread, id })'));
  const rt = currentRuntime();
  if (rt.router.isLocal(ref)) return Promise.resolve(processInfo(rt.procs.get(ref.id)));
  if (ref.id === 0 || !rt.aliveElsewhere(ref)) return Promise.resolve(undefined);
  const req: InfoRequest = { op: 'process_info', id: ref.id };
  return rt.router.call(makeRef(ref.node, ref.thread, 0), req, 5000).then(
    (v) => v as ProcessInfo | undefined,
    (e) => {
      // The thread died meanwhile: so did the process.
      if (ServerExitedError.is(e) || NoProcessError.is(e) || NodeDownError.is(e)) return undefined;
      throw e;
    },
  );
}

/** Process-level operations: links, monitors, exits, introspection (`info`, `list`). */
export const Process = {
  self,
  link,
  unlink,
  monitor,
  demonitor,
  trapExit,
  exit,
  watch,
  awaitExit,
  alive,
  info,
  list,
} as const;
