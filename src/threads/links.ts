/**
 * The links of one thread to the other threads of its node: one {@link Channel} per peer
 * thread, the {@link Outbound} the router uses for refs elsewhere, and the decoder that feeds
 * incoming frames back into the router. Main and workers use the same class; only the
 * control frames (CTL) differ, and those go to `onControl`.
 */
import {
  ChannelBusyError,
  NoProcessError,
  NotCloneableError,
  RuntimeClosedError,
  ThreadExitError,
  deserializeError,
} from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import { CALL, CAST, INFO } from '../core/process.js';
import type { AnyRef, MonitorRef } from '../core/ref.js';
import { formatRef, makeRef } from '../core/ref.js';
import type { Outbound } from '../core/router.js';
import type { RemoteFrom, Runtime } from '../core/runtime.js';
import { ambient } from '../core/runtime.js';
import { findUncloneable } from '../transport/cloneable.js';
import type { WireReason } from '../transport/frames.js';
import { FRAME, Tag, decodeReason, encodeReason } from '../transport/frames.js';
import type { Transferable, Transport } from '../transport/transport.js';
import { Channel, microtask } from '../transport/transport.js';

/** Options a sender may attach to a message crossing threads. */
export interface SendOptions {
  /** ArrayBuffers to transfer instead of copy (the sender loses access to them). */
  transfer?: readonly Transferable[];
}

/**
 * What this thread sent to one peer and what the peer acknowledged as handled (cumulative
 * counts; see Tag.ACK). `frames` covers casts, infos and calls: the difference is the
 * channel's in-flight count, bounded by `maxInFlight`. `casts` covers casts and infos: what
 * is unacknowledged when the peer dies was lost in flight, and is counted.
 */
class PeerCounts {
  sentFrames = 0;
  sentCasts = 0;
  ackedFrames = 0;
  ackedCasts = 0;
  /** Casts dropped because the channel was over its in-flight bound. */
  busyDrops = 0;
}

/** A snapshot of one channel's counters (see {@link ThreadLinks.channelStats}). */
export interface ChannelStats {
  readonly thread: number;
  /** Messages (casts, infos, calls) sent and not yet handled by the peer. */
  readonly inFlight: number;
  readonly sentFrames: number;
  readonly sentCasts: number;
  readonly ackedCasts: number;
  /** Casts and infos dropped because the channel was over `maxInFlight`. */
  readonly busyDrops: number;
  /** Batches received from the peer that wait for a later turn on this thread. */
  readonly backlog: number;
}

export class ThreadLinks implements Outbound {
  private readonly channels = new Map<number, Channel>();
  private readonly counts = new Map<number, PeerCounts>();
  /** When a batch last arrived from each peer (performance.now()): proof of life for the watchdog. */
  private readonly heard: number[] = [];
  /** Threads known to be dead: calls to them fail at once. */
  private readonly dead = new Map<number, ExitReason>();
  /** Control frames (thread management) from peer `thread`. */
  onControl: ((thread: number, payload: unknown) => void) | undefined;
  /** A peer's channel closed (its thread ended). */
  onPeerClosed: ((thread: number) => void) | undefined;

  constructor(readonly rt: Runtime) {
    rt.setOutbound(this);
    rt.remoteStop = (ref, reason, timeoutMs) => this.stopRemote(ref, reason, timeoutMs);
    rt.remoteAlive = (ref) => this.reachable(ref);
    rt.onHandled = () => {
      if (!this.acksQueued) {
        this.acksQueued = true;
        setImmediate(this.flushAcks);
      }
    };
  }

  /** Attaches the transport to peer `thread`. */
  connect(thread: number, transport: Transport): void {
    const ch = new Channel(transport);
    ch.onFrameError = (frame, err) => this.frameFailed(thread, frame, err);
    ch.onPost = (batch) => this.appendAck(thread, batch);
    this.channels.set(thread, ch);
    this.counts.set(thread, new PeerCounts());
    this.dead.delete(thread);
    transport.onBatch((batch) => this.receive(thread, batch));
    transport.onClose(() => {
      if (this.channels.get(thread) === ch) this.channels.delete(thread);
      this.onPeerClosed?.(thread);
    });
  }

  /** Closes every channel (thread shutdown). */
  closeAll(): void {
    for (const ch of this.channels.values()) ch.close();
    this.channels.clear();
  }

  /** Flushes every channel now, acks included (before a worker exits). */
  flushAll(): void {
    if (this.rt.handled.dirty.length > 0) this.sendAcks();
    for (const ch of this.channels.values()) ch.flush();
  }

  /** Counters of the channel to `thread` (undefined when there is none). */
  channelStats(thread: number): ChannelStats | undefined {
    const c = this.counts.get(thread);
    if (c === undefined) return undefined;
    let backlog = 0;
    for (let i = 0; i < this.backlog.length; i += 2) if (this.backlog[i] === thread) backlog++;
    return {
      thread,
      inFlight: c.sentFrames - c.ackedFrames,
      sentFrames: c.sentFrames,
      sentCasts: c.sentCasts,
      ackedCasts: c.ackedCasts,
      busyDrops: c.busyDrops,
      backlog,
    };
  }

  /** When a batch last arrived from `thread` (performance.now() ms; -Infinity if never). */
  heardAt(thread: number): number {
    return this.heard[thread] ?? Number.NEGATIVE_INFINITY;
  }

  private acksQueued = false;

  /**
   * Acks that no outgoing batch carried this turn (a pure cast stream has no replies to ride
   * on) go out on their own, once per event-loop turn.
   */
  private readonly flushAcks = (): void => {
    this.acksQueued = false;
    this.sendAcks();
  };

  /** Tells each peer with news how much of what it sent has been handled here. */
  private sendAcks(): void {
    const h = this.rt.handled;
    if (h.dirty.length === 0) return;
    const dirty = h.dirty.splice(0);
    for (const t of dirty) this.channels.get(t)?.write(Tag.ACK, 0, h.casts[t] ?? 0, h.frames[t] ?? 0);
  }

  /** Adds the pending ack for `thread` to a batch about to be posted to it. */
  private appendAck(thread: number, batch: unknown[]): void {
    const h = this.rt.handled;
    if (h.dirty.length === 0) return;
    const i = h.dirty.indexOf(thread);
    if (i < 0) return;
    h.dirty.splice(i, 1);
    batch.push(Tag.ACK, 0, h.casts[thread] ?? 0, h.frames[thread] ?? 0);
  }

  /** An ack from `thread`: cumulative counts, never trusted past what was sent. */
  private acked(thread: number, casts: number, frames: number): void {
    const c = this.counts.get(thread);
    if (c === undefined || typeof casts !== 'number' || typeof frames !== 'number') return;
    if (casts > c.ackedCasts) c.ackedCasts = Math.min(casts, c.sentCasts);
    if (frames > c.ackedFrames) c.ackedFrames = Math.min(frames, c.sentFrames);
  }

  threads(): number[] {
    return [...this.channels.keys()];
  }

  /** Sends a control payload to `thread`. */
  control(thread: number, payload: unknown, transfer?: readonly Transferable[]): boolean {
    return this.channels.get(thread)?.write(Tag.CTL, 0, payload, 0, transfer) ?? false;
  }

  // --- Outbound -------------------------------------------------------------------------

  reachable(ref: AnyRef): boolean {
    return ref.node === this.rt.node && this.channels.has(ref.thread);
  }

  deliver(to: AnyRef, kind: number, msg: unknown, from: RemoteFrom | undefined, transfer?: readonly Transferable[]): void {
    const ch = this.channel(to);
    const problem = findUncloneable(msg);
    if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, formatRef(to));
    const c = this.counts.get(to.thread) as PeerCounts;
    const inFlight = c.sentFrames - c.ackedFrames;
    if (inFlight >= this.rt.maxInFlight) {
      // The receiver is not keeping up: fail fast rather than grow both heaps without limit.
      if (kind === CALL) throw new ChannelBusyError(`thread ${to.thread}`, inFlight, this.rt.maxInFlight);
      c.busyDrops++;
      this.rt.router.dropped(to, 'busy');
      return;
    }
    c.sentFrames++;
    if (kind === CALL) ch.write(Tag.CALL, to.id, msg, (from as RemoteFrom).call, transfer);
    else {
      c.sentCasts++;
      ch.write(kind === CAST ? Tag.CAST : Tag.INFO, to.id, msg, 0, transfer);
    }
  }

  reply(to: RemoteFrom, ok: boolean, value: unknown): void {
    const ch = this.channels.get(to.thread);
    if (ch === undefined) return;
    if (ok) {
      const problem = findUncloneable(value, 'reply');
      if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, `${to.node}/${to.thread}`);
    }
    ch.write(ok ? Tag.REPLY_OK : Tag.REPLY_ERR, 0, value, to.call);
  }

  cancel(to: AnyRef, call: { call: number }): void {
    this.channels.get(to.thread)?.write(Tag.CANCEL, to.id, call.call, 0);
  }

  exit(to: AnyRef, from: AnyRef, reason: ExitReason, viaLink: boolean): void {
    this.channels.get(to.thread)?.write(viaLink ? Tag.EXIT_LINK : Tag.EXIT, to.id, from, encodeReason(reason));
  }

  link(to: AnyRef, from: AnyRef): void {
    this.channels.get(to.thread)?.write(Tag.LINK, to.id, from, 0);
  }

  unlink(to: AnyRef, from: AnyRef): void {
    this.channels.get(to.thread)?.write(Tag.UNLINK, to.id, from, 0);
  }

  monitor(to: AnyRef, watcher: AnyRef, m: MonitorRef): void {
    this.channels.get(to.thread)?.write(Tag.MONITOR, to.id, watcher, m);
  }

  demonitor(to: AnyRef, key: string): void {
    this.channels.get(to.thread)?.write(Tag.DEMONITOR, to.id, key, 0);
  }

  down(to: AnyRef, m: MonitorRef, ref: AnyRef, reason: ExitReason): void {
    this.channels.get(to.thread)?.write(Tag.DOWN, to.id, { monitor: m, ref }, encodeReason(reason));
  }

  private channel(to: AnyRef): Channel {
    const ch = this.channels.get(to.thread);
    if (ch === undefined) throw new RuntimeClosedError(`send to ${formatRef(to)}`);
    return ch;
  }

  /** Graceful stop of a process on another thread: STOP frame, then a kill after the timeout. */
  private stopRemote(ref: AnyRef, reason: ExitReason, timeoutMs: number): Promise<void> {
    const rt = this.rt;
    return new Promise<void>((resolve, reject) => {
      let timer: unknown;
      let settled = false;
      rt.watch(ref, (_ref, why) => {
        settled = true;
        if (timer !== undefined) rt.clock.clearTimeout(timer);
        // As for a local process: stopping one that is not alive rejects with NoProcessError.
        if (why === 'noproc') reject(new NoProcessError(formatRef(ref)));
        else resolve();
      });
      if (settled) return; // its thread is already gone (the watch fired at once)
      this.channels.get(ref.thread)?.write(Tag.STOP, ref.id, encodeReason(reason), 0);
      if (timeoutMs !== Number.POSITIVE_INFINITY) {
        timer = rt.clock.setTimeout(() => rt.router.exitSignal(ref, rt.selfRef, 'killed', false), timeoutMs);
      }
    });
  }

  /** A frame could not be posted (e.g. not cloneable after all): fail what waits on it. */
  private frameFailed(thread: number, frame: unknown[], err: unknown): void {
    const tag = frame[0] as number;
    const to = makeRef(this.rt.node, thread, frame[1] as number);
    const c = this.counts.get(thread);
    if (c !== undefined && (tag === Tag.CALL || tag === Tag.CAST || tag === Tag.INFO)) {
      // Never left: not in flight, and not lost by the peer.
      c.sentFrames--;
      if (tag !== Tag.CALL) c.sentCasts--;
    }
    if (tag === Tag.CALL) {
      this.rt.router.settleOutgoing(frame[3] as number, false, new NotCloneableError('message', String(err), formatRef(to)));
      return;
    }
    this.rt.stats.droppedCasts++;
    this.rt.logger.error(`message to ${formatRef(to)} could not be sent: ${err instanceof Error ? err.message : String(err)}`);
  }

  // --- Incoming ---------------------------------------------------------------------------

  /** Set while channels are held for the turn of an incoming batch (see {@link Channel.hold}). */
  private holding = false;

  /** Ends the hold: everything the turn wrote goes out. */
  private readonly release = (): void => {
    this.holding = false;
    for (const ch of this.channels.values()) ch.flush();
  };

  /**
   * Batches that arrived after this turn used up its time slice, as [thread, batch] pairs
   * flattened, in arrival order (so per-sender order holds). Worked off in later turns.
   */
  private backlog: unknown[] = [];
  private backlogHead = 0;
  /** performance.now() at the first batch of this event-loop turn; -1 between turns. */
  private turnStart = -1;
  private backlogQueued = false;

  private readonly endTurn = (): void => {
    this.turnStart = -1;
  };

  /**
   * An incoming batch. Node delivers every message waiting on a port in one callback, and
   * each batch's messages are handled in the microtasks after it: a stream of batches would
   * hold the thread for as long as the stream lasts, starving its timers (the watchdog
   * heartbeat), I/O and replies. So a turn handles batches inline only for `sliceMs` (the
   * same slice a mailbox drain gets); later batches wait in the backlog, which is worked off
   * one slice per turn with the event loop running in between.
   */
  private receive(thread: number, batch: unknown[]): void {
    const now = performance.now();
    this.heard[thread] = now;
    if (this.backlogHead === this.backlog.length) {
      if (this.turnStart < 0) {
        this.turnStart = now;
        setImmediate(this.endTurn);
      }
      if (now - this.turnStart < this.rt.sliceMs) {
        this.ingest(thread, batch);
        return;
      }
    }
    this.backlog.push(thread, batch);
    if (!this.backlogQueued) {
      this.backlogQueued = true;
      setImmediate(this.runBacklog);
    }
  }

  /** Works off the backlog for one time slice, handling each batch's messages as it goes. */
  private readonly runBacklog = (): void => {
    this.backlogQueued = false;
    const rt = this.rt;
    const start = performance.now();
    const q = this.backlog;
    do {
      const thread = q[this.backlogHead] as number;
      const batch = q[this.backlogHead + 1] as unknown[];
      q[this.backlogHead] = undefined;
      q[this.backlogHead + 1] = undefined;
      this.backlogHead += 2;
      this.ingest(thread, batch);
      // What the batch queued is handled now, as it would be in the microtasks after an
      // inline batch; a process past its own slice waits for the next turn.
      rt.drainNow();
    } while (this.backlogHead < q.length && performance.now() - start < rt.sliceMs);
    if (this.backlogHead === q.length) {
      this.backlog = [];
      this.backlogHead = 0;
    } else {
      if (this.backlogHead > 1024 && this.backlogHead * 2 > q.length) {
        this.backlog = q.slice(this.backlogHead);
        this.backlogHead = 0;
      }
      this.backlogQueued = true;
      setImmediate(this.runBacklog);
    }
  };

  /** Decodes one incoming batch from peer `thread` and feeds every frame to the router. */
  private ingest(thread: number, batch: unknown[]): void {
    const rt = this.rt;
    const router = rt.router;
    const procs = rt.procs;
    const node = rt.node;
    const prev = ambient.active;
    ambient.active = rt;
    // This thread is awake and busy with a batch: hold every channel until the end of the
    // turn, so the replies and sends it causes (in this handler, the mailbox drains and the
    // promise reactions queued meanwhile) leave in full batches rather than as a lone first
    // frame plus the rest, which at every hop would split a pipelined stream further, down to
    // one frame per post. Queued after them, the release runs once they have run.
    const hold = !this.holding;
    if (hold) {
      this.holding = true;
      for (const ch of this.channels.values()) ch.hold();
    }
    try {
      for (let i = 0; i + 3 < batch.length; i += FRAME) {
        const tag = batch[i] as number;
        const to = batch[i + 1] as number;
        const a = batch[i + 2];
        const b = batch[i + 3];
        switch (tag) {
          case Tag.CAST:
          case Tag.INFO:
            router.deliverRemote(to, tag === Tag.CAST ? CAST : INFO, a, thread);
            break;
          case Tag.CALL:
            router.deliverRemoteCall(makeRef(node, rt.thread, to), a, { node, thread, call: b as number }, thread);
            break;
          case Tag.ACK:
            this.acked(thread, a as number, b as number);
            break;
          case Tag.REPLY_OK:
            router.settleOutgoing(b as number, true, a);
            break;
          case Tag.REPLY_ERR:
            router.settleOutgoing(b as number, false, deserializeError(a as never));
            break;
          case Tag.CANCEL:
            procs.get(to)?.withdrawCall(node, thread, a as number);
            break;
          case Tag.EXIT:
          case Tag.EXIT_LINK:
            procs.get(to)?.exitSignal(a as AnyRef, decodeReason(b as WireReason), tag === Tag.EXIT_LINK);
            break;
          case Tag.LINK:
            router.linkArrived(makeRef(node, rt.thread, to), a as AnyRef);
            break;
          case Tag.UNLINK:
            router.unlinkArrived(makeRef(node, rt.thread, to), a as AnyRef);
            break;
          case Tag.MONITOR:
            router.monitorArrived(makeRef(node, rt.thread, to), a as AnyRef, b as MonitorRef);
            break;
          case Tag.DEMONITOR:
            router.demonitor(makeRef(node, rt.thread, to), a as string);
            break;
          case Tag.DOWN: {
            const d = a as { monitor: MonitorRef; ref: AnyRef };
            router.down({ ref: makeRef(node, rt.thread, to), monitor: d.monitor }, d.ref, decodeReason(b as WireReason));
            break;
          }
          case Tag.STOP:
            procs.get(to)?.requestStop(decodeReason(a as WireReason));
            break;
          case Tag.CTL:
            this.onControl?.(thread, a);
            break;
          default:
            rt.logger.warn(`thread ${rt.thread}: unknown frame tag ${String(tag)} from thread ${thread}; dropped`);
        }
      }
    } finally {
      ambient.active = prev;
      if (hold) microtask(this.release);
    }
  }

  // --- Thread death -------------------------------------------------------------------------

  /**
   * Thread `thread` of this node died with `reason`: fail calls to it at once, fire links
   * and monitors of local processes on its processes, drop its names from the local table.
   */
  threadDown(thread: number, reason: ExitReason): void {
    const rt = this.rt;
    this.countLost(thread);
    this.dead.set(thread, reason);
    const ch = this.channels.get(thread);
    this.channels.delete(thread);
    ch?.close();
    const onThread = (r: AnyRef) => r.node === rt.node && r.thread === thread;
    rt.router.failOutgoing(onThread, reason);
    for (const p of [...rt.procs.values()]) {
      if (p.links !== undefined) {
        for (const r of [...p.links.values()]) if (onThread(r)) p.exitSignal(r, reason, true);
      }
      if (p.monitoring !== undefined) {
        for (const [key, target] of [...p.monitoring]) {
          if (!onThread(target)) continue;
          const parts = key.split('/m');
          const monitor: MonitorRef = { node: rt.node, thread: rt.thread, monitor: Number(parts[parts.length - 1]) };
          rt.router.down({ ref: p.ref, monitor }, target, reason);
        }
      }
      if (p.watchers !== undefined) {
        for (const [key, w] of [...p.watchers]) if (onThread(w.ref)) p.watchers.delete(key);
      }
    }
    rt.externalThreadDown(onThread, reason);
    rt.names.dropWhere(onThread);
  }

  /**
   * Casts and infos this thread sent to `thread` that it never handled (not acknowledged):
   * lost when that thread died. Counted once, into `stats.lostInFlight`.
   */
  countLost(thread: number): number {
    const c = this.counts.get(thread);
    if (c === undefined) return 0;
    this.counts.delete(thread);
    const lost = c.sentCasts - c.ackedCasts;
    this.rt.stats.lostInFlight += lost;
    return lost;
  }
}

/** The exit reason of every process on a thread that died. */
export function threadReason(
  thread: number,
  kind: ConstructorParameters<typeof ThreadExitError>[1],
  detail: string,
  cause?: unknown,
): ExitReason {
  return { error: new ThreadExitError(thread, kind, detail, cause) };
}
