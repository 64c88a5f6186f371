/**
 * The one router (docs/architecture.md). Every message and signal — call, cast, info, reply, link,
 * unlink, monitor, demonitor, exit, down — goes through here, and this is the only place that
 * decides: same thread → the process; other thread or node → the {@link Outbound} installed
 * by the threads/cluster layer. So every feature works the same at all three distances.
 */
import {
  ACROSS_NODES,
  InvalidArgumentError,
  MailboxFullError,
  NoProcessError,
  NotCloneableError,
  ServerExitedError,
  serializeError,
} from '../errors.js';
import { findUncloneable } from '../transport/cloneable.js';
import type { ExitReason } from './exit-reason.js';
import type { Proc } from './process.js';
import {
  committedState,
  isGetStateRequest,
  isInfoRequest,
  isListRequest,
  isStatsRequest,
  processInfo,
  processList,
} from './process-info.js';
import { Admit, CALL, type CAST, INFO, Status } from './process.js';
import type { AnyRef, MonitorRef } from './ref.js';
import { formatRef, makeRef, monitorKey, refKey } from './ref.js';
import type { From, RemoteFrom, Runtime } from './runtime.js';
import { LocalFrom } from './runtime.js';

/**
 * The path to processes outside this thread. Implementations only encode and forward
 * (transports only adapt); every decision stays in the router.
 */
export interface Outbound {
  /** A call/cast/info for a process elsewhere; `callId` is the call's id (0 for a cast or info). Throws if `msg` cannot cross. */
  deliver(to: AnyRef, kind: number, msg: unknown, callId: number, transfer?: readonly Transferable[]): void;
  /** A reply (or error) to a caller elsewhere. */
  reply(to: RemoteFrom, ok: boolean, value: unknown): void;
  /** The caller gave up (timeout): drop the call if not started. */
  cancel(to: AnyRef, call: { node: string; thread: number; call: number }): void;
  exit(to: AnyRef, from: AnyRef, reason: ExitReason, viaLink: boolean): void;
  link(to: AnyRef, from: AnyRef): void;
  unlink(to: AnyRef, from: AnyRef): void;
  monitor(to: AnyRef, watcher: AnyRef, m: MonitorRef): void;
  demonitor(to: AnyRef, key: string): void;
  down(to: AnyRef, m: MonitorRef, ref: AnyRef, reason: ExitReason): void;
  /** False when the thread/node of `ref` is known to be gone (so calls fail fast). */
  reachable(ref: AnyRef): boolean;
}

/** Objects moved (not copied) to another thread: ArrayBuffers, MessagePorts. */
export type Transferable = ArrayBuffer | { close(): void };

/** The capability of the promise {@link Router.call} just made (see `grab`). */
const noop = (): void => {};
const grabbed: { resolve: (v: unknown) => void; reject: (e: unknown) => void } = { resolve: noop, reject: noop };
/** The executor every call's promise shares: it runs synchronously inside `new Promise`. */
function grab(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  grabbed.resolve = resolve;
  grabbed.reject = reject;
}

/**
 * The calls this thread made to other threads/nodes that await a reply, by call id.
 *
 * Ids are issued in sequence and nearly every call settles before many later ones are made, so
 * a ring of slots indexed by `id & mask` holds them: no hashing, no allocation per call. A call
 * still pending when a new id lands on its slot moves to a small overflow Map, and the ring
 * doubles (up to a cap) when it is more than half full.
 *
 * Not a plain Map: with a steady insert/delete churn a Map rehashes its table every few hundred
 * calls, and V8 links each obsolete table to its successor. Obsolete tables that were promoted
 * then keep every later table, and through them settled calls with their promises and replies,
 * alive until the next full GC: measured on the pipelined cross-thread call path as ~25% of
 * young-generation allocation surviving scavenges (vs ~1% with this table) once the old
 * generation holds a few tens of MB (tsx loaded, or any real application).
 */
class CallTable {
  private slots: (LocalFrom | undefined)[] = new Array<LocalFrom | undefined>(256).fill(undefined);
  private mask = 255;
  private overflow: Map<number, LocalFrom> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(id: number, from: LocalFrom): void {
    if (this.count >= this.slots.length >> 1 && this.slots.length < 65536) this.grow();
    const i = id & this.mask;
    const cur = this.slots[i];
    if (cur !== undefined) (this.overflow ??= new Map()).set(cur.callId, cur);
    this.slots[i] = from;
    this.count++;
  }

  /** Removes and returns call `id` (undefined if not pending). */
  take(id: number): LocalFrom | undefined {
    const i = id & this.mask;
    const f = this.slots[i];
    if (f !== undefined && f.callId === id) {
      this.slots[i] = undefined;
      this.count--;
      return f;
    }
    const o = this.overflow?.get(id);
    if (o !== undefined) {
      (this.overflow as Map<number, LocalFrom>).delete(id);
      this.count--;
    }
    return o;
  }

  /** Every pending call (a snapshot: safe to take from while iterating). */
  all(): LocalFrom[] {
    const out: LocalFrom[] = [];
    for (const f of this.slots) if (f !== undefined) out.push(f);
    if (this.overflow !== undefined) for (const f of this.overflow.values()) out.push(f);
    return out;
  }

  private grow(): void {
    const all = this.all();
    const n = this.slots.length * 2;
    this.slots = new Array<LocalFrom | undefined>(n).fill(undefined);
    this.mask = n - 1;
    this.overflow = undefined;
    this.count = 0;
    for (const f of all) {
      const i = f.callId & this.mask;
      const cur = this.slots[i];
      if (cur !== undefined) (this.overflow ??= new Map()).set(cur.callId, cur);
      this.slots[i] = f;
      this.count++;
    }
  }
}

export class Router {
  /** The path to the other threads of this node (installed by the threads layer). */
  outbound: Outbound | undefined;
  /** The path to other nodes (installed by the cluster layer). */
  nodes: Outbound | undefined;
  /**
   * Extra system requests (process id 0) this runtime answers, installed by the cluster layer
   * (remote spawn, calls by name): returns true when it took the request.
   */
  systemExtension: ((msg: unknown, from: From) => boolean) | undefined;
  /** Calls this thread made to other threads/nodes, by call id, awaiting a reply. */
  readonly outgoing = new CallTable();
  private nextCall = 1;

  constructor(private readonly rt: Runtime) {}

  isLocal(ref: AnyRef): boolean {
    return ref.thread === this.rt.thread && ref.node === this.rt.node;
  }

  /** The outbound path toward `ref` (another thread of this node, or another node). */
  out(ref: { readonly node: string }): Outbound | undefined {
    return ref.node === this.rt.node ? this.outbound : this.nodes;
  }

  /**
   * Delivers a cast or info message. Never throws for a dead target or a full mailbox: counts
   * the drop instead, except that with `tell` a same-thread target whose overflow policy is
   * `reject` throws MailboxFullError to the sender (GenServer.cast/send; never from timers).
   */
  send(to: AnyRef, kind: typeof CAST | typeof INFO, msg: unknown, transfer?: readonly Transferable[], tell = false): void {
    const rt = this.rt;
    if (to.thread === rt.thread && to.node === rt.node) {
      const p = rt.procs.get(to.id);
      if (p === undefined) {
        this.dropped(to, 'no process');
        return;
      }
      let m = msg;
      if (rt.strictMessages) {
        // As a cross-thread cast would, before the target is touched: the sender gets
        // NotCloneableError naming the field. A send with no sender to tell (a sendAfter
        // timer firing) drops and counts instead.
        const copy = strictCopy(msg, to);
        if (copy instanceof NotCloneableError) {
          if (tell) throw copy;
          this.dropped(to, 'not_cloneable');
          return;
        }
        m = copy.value;
      }
      if (p.bound !== undefined && p.admit() !== Admit.Yes) {
        this.dropped(to, 'mailbox_full');
        if (tell && p.bound?.overflow === 'reject') throw full(p);
        return;
      }
      p.enqueue(kind, m, undefined);
      return;
    }
    const out = this.out(to);
    if (out === undefined || !out.reachable(to)) {
      this.dropped(to, 'unreachable');
      return;
    }
    out.deliver(to, kind, msg, 0, transfer);
  }

  /** Counts a cast/info that could not be delivered and reports it as a 'cast_dropped' event. */
  dropped(to: AnyRef | string, why: string): void {
    const rt = this.rt;
    rt.stats.droppedCasts++;
    if (rt.events.active) rt.events.emit({ type: 'cast_dropped', ref: to, why }, rt.logger);
  }

  /** Starts a call; the promise always settles: reply, typed error, or CallTimeoutError. */
  call(to: AnyRef, msg: unknown, timeoutMs: number, transfer?: readonly Transferable[]): Promise<unknown> {
    // One shared executor (no closure per call): the capability is picked up right after.
    const promise = new Promise(grab);
    const from = new LocalFrom(this.rt, grabbed.resolve, grabbed.reject, to, msg, timeoutMs);
    // Not kept past this call: the capability would hold the promise alive after it settled.
    grabbed.resolve = noop;
    grabbed.reject = noop;
    try {
      this.route(from, to, msg, timeoutMs, transfer);
    } catch (e) {
      if (from.settle()) from.reject(e);
    }
    return promise;
  }

  private route(from: LocalFrom, to: AnyRef, msg: unknown, timeoutMs: number, transfer: readonly Transferable[] | undefined): void {
    const rt = this.rt;
    const reject = from.reject;
    if (to.thread === rt.thread && to.node === rt.node) {
      const p = rt.procs.get(to.id);
      if (p === undefined) {
        reject(new NoProcessError(formatRef(to)));
        return;
      }
      if (p === rt.current) {
        // OTP's calling_self: the reply could only come from this very handler. Only the
        // synchronous part of a handler is known here (rt.current); after an `await` the
        // caller is unknown, and a call to a busy process is an ordinary queued call, so a
        // self-call there times out. Telling them apart would need AsyncLocalStorage, which
        // costs every promise on the thread (measured: local calls ~2.5x slower on Node 20).
        // The one rule is documented in docs/concepts/genserver.md, "Pitfalls".
        reject(new InvalidArgumentError('call target', `${formatRef(to)} called itself; it would wait on its own mailbox`));
        return;
      }
      let m = msg;
      if (rt.strictMessages) {
        // As a cross-thread call would, before the target is touched.
        const copy = strictCopy(msg, to);
        if (copy instanceof NotCloneableError) {
          reject(copy);
          return;
        }
        m = copy.value;
      }
      if (p.bound !== undefined && p.admit() !== Admit.Yes) {
        reject(full(p));
        return;
      }
      p.enqueue(CALL, m, from);
    } else {
      const out = this.out(to);
      if (out === undefined || !out.reachable(to)) {
        reject(this.unreachable?.(to) ?? new NoProcessError(formatRef(to)));
        return;
      }
      from.callId = this.nextCall++;
      this.outgoing.set(from.callId, from);
      try {
        out.deliver(to, CALL, msg, from.callId, transfer);
      } catch (e) {
        this.outgoing.take(from.callId);
        reject(e);
        return;
      }
    }
    if (timeoutMs !== Number.POSITIVE_INFINITY) rt.deadlines.add(from, timeoutMs);
  }

  /** A remote call timed out here: forget it and tell the callee to withdraw it. */
  forgetCall(from: LocalFrom): void {
    this.outgoing.take(from.callId);
    this.out(from.target)?.cancel(from.target, {
      node: this.rt.node,
      thread: this.rt.thread,
      call: from.callId,
    });
  }

  /** True when the caller already gave up (timed out), so the call should not be handled. */
  withdrawn(from: From): boolean {
    return from instanceof LocalFrom ? from.settled : from.done === true;
  }

  reply(from: From, value: unknown): void {
    if (from instanceof LocalFrom) {
      if (!from.settle()) return;
      from.resolve(value);
      return;
    }
    if (from.done) return;
    from.done = true;
    this.remoteReply(from, true, value);
  }

  replyError(from: From, err: unknown): void {
    if (from instanceof LocalFrom) {
      if (!from.settle()) return;
      from.reject(err);
      return;
    }
    if (from.done) return;
    from.done = true;
    this.remoteReply(from, false, serializeError(err, from.node === this.rt.node ? undefined : ACROSS_NODES));
  }

  private remoteReply(from: RemoteFrom, ok: boolean, value: unknown): void {
    const out = this.out(from);
    if (out === undefined) return;
    try {
      out.reply(from, ok, value);
    } catch (e) {
      // The reply itself could not cross (e.g. not cloneable): the caller gets that error.
      if (ok) out.reply(from, false, serializeError(e, from.node === this.rt.node ? undefined : ACROSS_NODES));
      else this.rt.logger.warn(`reply to ${from.node}/${from.thread} lost: ${String(e)}`);
    }
  }

  /**
   * A reply from another thread/node for call `callId`. With `fromThread` (the thread the
   * reply came from) the reply must belong to a call made to that thread: for a call id never
   * issued, or one whose call went to another thread, nothing is settled and the problem is
   * returned (a peer answering for another is a protocol violation). A reply for a call
   * already settled (timed out, say) is dropped quietly.
   */
  settleOutgoing(callId: number, ok: boolean, value: unknown, fromThread?: number, fromNode: string = this.rt.node): string | undefined {
    const from = this.outgoing.take(callId);
    if (from === undefined) {
      return fromThread !== undefined && callId >= this.nextCall ? `a reply to call ${callId}, which was never made` : undefined;
    }
    if (fromThread !== undefined && (from.target.thread !== fromThread || from.target.node !== fromNode)) {
      this.outgoing.set(callId, from); // still the real callee's to answer
      return `a reply to call ${callId}, which was made to ${from.target.node === fromNode ? `thread ${from.target.thread}` : 'another node'}`;
    }
    if (!from.settle()) return undefined;
    if (ok) from.resolve(value);
    else from.reject(value);
    return undefined;
  }

  /**
   * Rejects every outgoing call whose target matches (its thread or node died): with
   * `callError(target)` when given, else ServerExitedError with `reason`.
   */
  failOutgoing(pred: (ref: AnyRef) => boolean, reason: ExitReason, callError?: (target: AnyRef) => Error): void {
    for (const from of this.outgoing.all()) {
      if (!pred(from.target)) continue;
      this.outgoing.take(from.callId);
      if (!from.settle()) continue;
      from.reject(callError !== undefined ? callError(from.target) : ServerExitedError.for(from.target, reason, from.msg));
    }
  }

  /**
   * Every process matching `gone` is lost at once (its thread or node died): calls to them
   * fail, links fire exit signals and monitors fire DOWN with `reason`, monitors they held on
   * local processes are dropped, and so are names held for them.
   */
  peersGone(gone: (ref: AnyRef) => boolean, reason: ExitReason, callError?: (target: AnyRef) => Error): void {
    const rt = this.rt;
    this.failOutgoing(gone, reason, callError);
    for (const p of [...rt.procs.values()]) {
      if (p.links !== undefined) {
        for (const r of [...p.links.values()]) if (gone(r)) p.exitSignal(r, reason, true);
      }
      if (p.monitoring !== undefined) {
        for (const [key, target] of [...p.monitoring]) {
          if (!gone(target)) continue;
          const monitor: MonitorRef = { node: rt.node, thread: rt.thread, monitor: Number(key.slice(key.lastIndexOf('/m') + 2)) };
          this.down({ ref: p.ref, monitor }, target, reason);
        }
      }
      if (p.watchers !== undefined) {
        for (const [key, w] of [...p.watchers]) if (gone(w.ref)) p.watchers.delete(key);
      }
    }
    rt.externalThreadDown(gone, reason);
    rt.names.dropWhere(gone);
  }

  /** Why a link or monitor to an unreachable `ref` fires at once: `noconnection` for another node (as Erlang), else `noproc`. */
  private lostReason(ref: AnyRef): ExitReason {
    return ref.node === this.rt.node ? 'noproc' : 'noconnection';
  }

  /** The error a call to an unreachable ref gets (the cluster layer: NodeDownError); default NoProcessError. */
  unreachable: ((ref: AnyRef) => Error | undefined) | undefined;

  /**
   * An incoming cast or info from peer thread `src` for local process `id`. A message that
   * cannot be queued (no such process, mailbox full) is dropped, counted, and acked to the
   * peer as consumed, so its in-flight count stays true.
   */
  deliverRemote(id: number, kind: typeof CAST | typeof INFO, msg: unknown, src: number): void {
    const rt = this.rt;
    const p = rt.procs.get(id);
    if (p === undefined) {
      if (src >= 0) rt.handledFrom(src, true);
      rt.stats.droppedCasts++;
      return;
    }
    if (p.bound !== undefined && p.admit() !== Admit.Yes) {
      if (src >= 0) rt.handledFrom(src, true);
      this.dropped(p.ref, 'mailbox_full');
      return;
    }
    p.enqueueFrom(src, kind, msg, undefined);
  }

  /** An incoming call from elsewhere (peer thread `src`; -1 when not from a peer thread). */
  deliverRemoteCall(to: AnyRef, msg: unknown, from: RemoteFrom, src = -1): void {
    const rt = this.rt;
    if (to.id === 0) {
      if (src >= 0) rt.handledFrom(src, false);
      this.systemCall(msg, from);
      return;
    }
    const p = rt.procs.get(to.id);
    if (p === undefined) {
      if (src >= 0) rt.handledFrom(src, false);
      this.replyError(from, new NoProcessError(formatRef(to)));
      return;
    }
    if (p.bound !== undefined && p.admit() !== Admit.Yes) {
      if (src >= 0) rt.handledFrom(src, false);
      this.replyError(from, full(p));
      return;
    }
    if (src >= 0) p.enqueueFrom(src, CALL, msg, from);
    else p.enqueue(CALL, msg, from);
  }

  /**
   * A system call to this thread's runtime itself (process id 0; introspection), answered at
   * once. `shown`, when set, is the set of local process ids the caller may see: a list then
   * holds only those (the threads layer checks the requests that name one process).
   */
  systemCall(msg: unknown, from: From, shown?: { has(id: number): boolean }): void {
    const rt = this.rt;
    if (shown === undefined && this.systemExtension?.(msg, from) === true) return;
    if (isInfoRequest(msg)) this.reply(from, processInfo(rt.procs.get(msg.id)));
    else if (isStatsRequest(msg)) this.reply(from, rt.threadStats());
    else if (isListRequest(msg)) this.reply(from, processList(rt.procs.values(), shown));
    else if (isGetStateRequest(msg)) {
      const ref = makeRef(rt.node, rt.thread, msg.id);
      let state: unknown;
      try {
        state = committedState(rt.procs.get(msg.id), ref, true);
      } catch (e) {
        this.replyError(from, e);
        return;
      }
      this.reply(from, state);
    } else this.replyError(from, new InvalidArgumentError('system call', 'unknown request to a runtime'));
  }

  /** Sends an exit signal from `from` to `to`. */
  exitSignal(to: AnyRef, from: AnyRef, reason: ExitReason, viaLink: boolean): void {
    if (this.isLocal(to)) {
      this.rt.procs.get(to.id)?.exitSignal(from, reason, viaLink);
      return;
    }
    const out = this.out(to);
    if (out?.reachable(to)) out.exit(to, from, reason, viaLink);
  }

  /** Links `a` (a local process) and `b`. If `b` is not alive, `a` gets an exit signal 'noproc'. */
  link(a: AnyRef, b: AnyRef): void {
    const pa = this.rt.procs.get(a.id);
    if (pa === undefined || pa.status === Status.Dead) return;
    const key = refKey(b);
    if (pa.links?.has(key)) return;
    (pa.links ??= new Map()).set(key, b);
    this.linkArrived(b, a);
  }

  /** The other half of a link: `to` learns it is linked to `from`. */
  linkArrived(to: AnyRef, from: AnyRef): void {
    if (this.isLocal(to)) {
      const p = this.rt.procs.get(to.id);
      if (p === undefined || p.status === Status.Dead) {
        this.exitSignal(from, to, 'noproc', true);
        return;
      }
      (p.links ??= new Map()).set(refKey(from), from);
      return;
    }
    const out = this.out(to);
    if (out?.reachable(to)) out.link(to, from);
    else this.exitSignal(from, to, this.lostReason(to), true);
  }

  unlink(a: AnyRef, b: AnyRef): void {
    this.rt.procs.get(a.id)?.links?.delete(refKey(b));
    this.unlinkArrived(b, a);
  }

  unlinkArrived(to: AnyRef, from: AnyRef): void {
    if (this.isLocal(to)) {
      this.rt.procs.get(to.id)?.links?.delete(refKey(from));
      return;
    }
    const out = this.out(to);
    if (out?.reachable(to)) out.unlink(to, from);
  }

  /** `watcher` (a local process, or the runtime's selfRef) monitors `target` under `m`. */
  monitor(watcher: AnyRef, m: MonitorRef, target: AnyRef): void {
    if (watcher.id !== 0) {
      const w = this.rt.procs.get(watcher.id);
      if (w !== undefined) (w.monitoring ??= new Map()).set(monitorKey(m), target);
    }
    this.monitorArrived(target, watcher, m);
  }

  monitorArrived(target: AnyRef, watcher: AnyRef, m: MonitorRef): void {
    if (this.isLocal(target)) {
      const p = this.rt.procs.get(target.id);
      if (p === undefined || p.status === Status.Dead) {
        this.down({ ref: watcher, monitor: m }, target, 'noproc');
        return;
      }
      (p.watchers ??= new Map()).set(monitorKey(m), {
        ref: watcher,
        monitor: m,
      });
      return;
    }
    const out = this.out(target);
    if (out?.reachable(target)) out.monitor(target, watcher, m);
    else this.down({ ref: watcher, monitor: m }, target, this.lostReason(target));
  }

  /** Removes monitor `key` from `target`. */
  demonitor(target: AnyRef, key: string): void {
    if (this.isLocal(target)) {
      this.rt.procs.get(target.id)?.watchers?.delete(key);
      return;
    }
    const out = this.out(target);
    if (out?.reachable(target)) out.demonitor(target, key);
  }

  /** Delivers a DOWN for monitor `w.monitor` on `ref`, which exited with `reason`. */
  down(w: { ref: AnyRef; monitor: MonitorRef }, ref: AnyRef, reason: ExitReason): void {
    const to = w.ref;
    if (!this.isLocal(to)) {
      const out = this.out(to);
      if (out?.reachable(to)) out.down(to, w.monitor, ref, reason);
      return;
    }
    if (to.id === 0) {
      this.rt.externalDown(w.monitor, ref, reason);
      return;
    }
    const p = this.rt.procs.get(to.id);
    if (p === undefined) return;
    const key = monitorKey(w.monitor);
    // A demonitored monitor delivers nothing.
    if (p.monitoring === undefined || !p.monitoring.delete(key)) return;
    p.enqueue(INFO, { type: 'DOWN', monitor: w.monitor, ref, reason }, undefined);
  }
}

/**
 * The `strictMessages` copy of a same-thread message: what a cross-thread send would deliver,
 * or the NotCloneableError (naming the field) a cross-thread send would fail with.
 */
function strictCopy(msg: unknown, to: AnyRef): { value: unknown } | NotCloneableError {
  const problem = findUncloneable(msg);
  if (problem !== undefined) return new NotCloneableError(problem.path, problem.valueType, formatRef(to));
  try {
    return { value: structuredClone(msg) };
  } catch (e) {
    // Something the walk does not look into (a throwing getter, say): still a typed error.
    return new NotCloneableError('message', e instanceof Error ? e.message : 'uncloneable value', formatRef(to));
  }
}

/** The error a call (or a `reject`-policy cast) gets from a full mailbox. */
function full(p: Proc): MailboxFullError {
  return new MailboxFullError(formatRef(p.ref), p.bound?.max ?? Number.POSITIVE_INFINITY);
}
