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
  isSerializedError,
} from '../errors.js';
import type { ExitReason } from '../core/exit-reason.js';
import { CALL, CAST, INFO } from '../core/process.js';
import type { AnyRef, MonitorRef } from '../core/ref.js';
import { formatRef, makeRef } from '../core/ref.js';
import { isInfoRequest, namedProcess } from '../core/process-info.js';
import type { Outbound } from '../core/router.js';
import type { RemoteFrom, Runtime } from '../core/runtime.js';
import { ambient } from '../core/runtime.js';
import { stopElsewhere } from '../core/stop-elsewhere.js';
import { findUncloneable, lastBinaryBytes } from '../transport/cloneable.js';
import { FRAME, Tag, decodeReason, encodeReason } from '../transport/frames.js';
import type { Transferable, Transport } from '../transport/transport.js';
import { Channel, HEAVY_BYTES, microtask } from '../transport/transport.js';
import { acceptDown } from '../transport/down-frame.js';
import { MAX_MONITOR_KEY, capString, isWireId, isWireMonitorRef, isWireRef, preview, wireReasonProblem } from '../transport/validate.js';

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

/** A snapshot of one channel's counters (one entry of `Threads.channels()`). */
export interface ChannelStats {
  /** The peer thread's id. */
  readonly thread: number;
  /** Messages (casts, infos, calls) sent and not yet handled by the peer. */
  readonly inFlight: number;
  /** Messages (casts, infos, calls) sent to the peer; cumulative. */
  readonly sentFrames: number;
  /** Casts and infos sent to the peer; cumulative. */
  readonly sentCasts: number;
  /** Of those, how many the peer has acknowledged as handled. */
  readonly ackedCasts: number;
  /** Casts and infos dropped because the channel was over `maxInFlight`. */
  readonly busyDrops: number;
  /** Batches received from the peer that wait for a later turn on this thread. */
  readonly backlog: number;
}

/** The least idle time between two incoming batches that marks a new event-loop turn. */
const TURN_GAP_MS = 1;

export class ThreadLinks implements Outbound {
  private readonly channels = new Map<number, Channel>();
  private readonly counts = new Map<number, PeerCounts>();
  /** When a batch last arrived from each peer (performance.now()): proof of life for the watchdog. */
  private readonly heard: number[] = [];
  /** Threads known to be dead: calls to them fail at once. */
  private readonly dead = new Map<number, ExitReason>();
  /** Control frames (thread management) from peer `thread`. */
  onControl: ((thread: number, payload: unknown) => void) | undefined;
  /** Called with each ref inside a message or reply that leaves this thread (main: exposure). */
  onRefOut: ((ref: AnyRef) => void) | undefined;
  /** A peer's channel closed (its thread ended). */
  onPeerClosed: ((thread: number) => void) | undefined;

  constructor(readonly rt: Runtime) {
    rt.setOutbound(this);
    rt.remoteStop = (ref, reason, timeoutMs) => this.stopRemote(ref, reason, timeoutMs);
    rt.remoteAlive = (ref) => this.reachable(ref);
    rt.channelStats = () => {
      const out: ChannelStats[] = [];
      for (const t of this.threads()) {
        const s = this.channelStats(t);
        if (s !== undefined) out.push(s);
      }
      return out;
    };
    // Acks ride on the next batch to their peer (a reply carries them at no cost). Those still
    // pending once this turn's batches have gone (a cast stream has no replies) are sent once
    // per turn: checked in a microtask queued behind the flush of this turn's writes.
    rt.onHandled = () => {
      if (!this.acksChecked) {
        this.acksChecked = true;
        microtask(this.checkAcks);
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
    const pausable = transport.canPause === true;
    transport.onBatch((batch) => this.receive(thread, batch, pausable ? transport : undefined));
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

  deliver(to: AnyRef, kind: number, msg: unknown, callId: number, transfer?: readonly Transferable[]): void {
    const ch = this.channel(to);
    const problem = findUncloneable(msg, 'message', this.onRefOut);
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
    const heavy = lastBinaryBytes() >= HEAVY_BYTES;
    if (kind === CALL) ch.write(Tag.CALL, to.id, msg, callId, transfer, heavy);
    else {
      c.sentCasts++;
      ch.write(kind === CAST ? Tag.CAST : Tag.INFO, to.id, msg, 0, transfer, heavy);
    }
  }

  reply(to: RemoteFrom, ok: boolean, value: unknown): void {
    const ch = this.channels.get(to.thread);
    if (ch === undefined) return;
    if (ok) {
      const problem = findUncloneable(value, 'reply', this.onRefOut);
      if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, `${to.node}/${to.thread}`);
    }
    ch.write(ok ? Tag.REPLY_OK : Tag.REPLY_ERR, 0, value, to.call, undefined, ok && lastBinaryBytes() >= HEAVY_BYTES);
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
    return stopElsewhere(this.rt, ref, timeoutMs, () => this.channels.get(ref.thread)?.write(Tag.STOP, ref.id, encodeReason(reason), 0));
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
    this.lastActive = performance.now();
  };

  private acksChecked = false;
  private readonly checkAcks = (): void => {
    this.acksChecked = false;
    if (this.rt.handled.dirty.length > 0 && !this.acksQueued) {
      this.acksQueued = true;
      setImmediate(this.flushAcks);
    }
  };

  /**
   * Batches that arrived after this turn used up its time slice, as [thread, batch] pairs
   * flattened, in arrival order (so per-sender order holds). Worked off in later turns.
   */
  private backlog: unknown[] = [];
  private backlogHead = 0;
  /** performance.now() at the first of the batches taken back to back (see {@link receive}). */
  private turnStart = Number.NEGATIVE_INFINITY;
  /** When this thread was last done with an incoming batch, its drains included. */
  private lastActive = Number.NEGATIVE_INFINITY;
  private resumeQueued = false;
  /** Set when this thread yielded on purpose (a pause, a backlog slice): the next batch starts a slice. */
  private freshTurn = false;
  private backlogQueued = false;

  /** Transports paused for the rest of this turn (see {@link receive}). */
  private paused: Transport[] = [];

  /** The event loop has had its turn: paused ports read again, with a fresh slice. */
  private readonly resumeAll = (): void => {
    this.resumeQueued = false;
    this.freshTurn = true;
    const paused = this.paused;
    this.paused = [];
    for (const t of paused) t.resume?.();
  };

  /**
   * An incoming batch. Node delivers every message waiting on a port in one callback, and
   * each batch's messages are handled in the microtasks after it: a stream of batches would
   * hold the thread for as long as the stream lasts, starving its timers (the watchdog
   * heartbeat), I/O and replies. So a turn takes batches only for `sliceMs` (the slice a
   * mailbox drain gets), or one batch while this thread is behind (a process has more queued
   * than it could handle in its slice). Then:
   * - a port is paused until the next turn: its later batches wait in the port, serialized,
   *   outside the JS heap, so a flood costs the receiver no garbage and its in-flight count
   *   (the sender's bound) covers them;
   * - a transport that cannot pause (the Worker object on the main thread) has its later
   *   batches queued in a backlog worked off one slice per turn.
   */
  private receive(thread: number, batch: unknown[], pausable: Transport | undefined): void {
    const now = performance.now();
    this.heard[thread] = now;
    // Batches taken back to back (one port callback delivering many, each followed by its
    // drains) are one turn; a gap means the event loop got its turn in between. Telling turns
    // apart this way costs no timer per turn (an immediate per turn measured ~15 % on a
    // cross-thread call round trip). A gap is at least TURN_GAP_MS, more than any GC pause
    // inside a callback; turns closer than that merely share a slice.
    if (this.freshTurn || now - this.lastActive > TURN_GAP_MS) {
      this.turnStart = now;
      this.freshTurn = false;
    }
    if (pausable !== undefined) {
      this.ingest(thread, batch);
      if (now - this.turnStart >= this.rt.sliceMs || this.rt.behind) {
        pausable.pause?.();
        this.paused.push(pausable);
        if (!this.resumeQueued) {
          this.resumeQueued = true;
          setImmediate(this.resumeAll);
        }
      }
      return;
    }
    if (this.backlogHead === this.backlog.length && now - this.turnStart < this.rt.sliceMs) {
      this.ingest(thread, batch);
      return;
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
      this.freshTurn = true;
    } else {
      if (this.backlogHead > 1024 && this.backlogHead * 2 > q.length) {
        this.backlog = q.slice(this.backlogHead);
        this.backlogHead = 0;
      }
      this.backlogQueued = true;
      setImmediate(this.runBacklog);
    }
  };

  /**
   * Set on the main thread (by NodeThreads): peer `thread` broke the frame protocol, `detail`
   * says how; it ends that thread. Unset in a worker, where a bad frame from main or a peer is
   * logged and dropped.
   */
  onProtocolViolation: ((thread: number, detail: string) => void) | undefined;
  /**
   * The local process ids peers may address; unset: all. On the main thread, the processes
   * whose refs were shown to a worker (see exposure.ts): to a worker, any other is not alive.
   */
  visible: { has(id: number): boolean } | undefined;
  /** Peers cut off for a protocol violation: their later frames are ignored. */
  private cutOff: Set<number> | undefined;

  /**
   * Decodes one incoming batch from peer `thread` and feeds every frame to the router. Every
   * frame is checked before it is used (its words come from another thread: trust nothing),
   * and a frame may only speak for its own thread's processes.
   */
  private ingest(thread: number, batch: unknown[]): void {
    if (this.cutOff?.has(thread)) return;
    if (batch.length % FRAME !== 0) {
      this.protocolViolation(thread, `a batch of ${batch.length} words, not a multiple of ${FRAME}`);
      return;
    }
    const rt = this.rt;
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
      const visible = this.visible;
      for (let i = 0; i < batch.length; i += FRAME) {
        const tag = batch[i];
        const to = batch[i + 1];
        let problem: string | undefined;
        try {
          // The hot path, inline: a cast or info to a process the sender may address.
          if ((tag === Tag.CAST || tag === Tag.INFO) && isWireId(to) && (visible === undefined || visible.has(to))) {
            rt.router.deliverRemote(to, tag === Tag.CAST ? CAST : INFO, batch[i + 2], thread);
            continue;
          }
          problem = this.frame(thread, tag, to, batch[i + 2], batch[i + 3]);
        } catch (e) {
          // Nothing a checked frame causes should throw; if it does, the node must survive it.
          problem = `${tagName(tag)} frame that could not be handled (${e instanceof Error ? e.message : preview(e)})`;
        }
        if (problem !== undefined && this.protocolViolation(thread, problem)) break;
      }
    } finally {
      ambient.active = prev;
      if (hold) microtask(this.release);
    }
  }

  /**
   * Peer `thread` broke the frame protocol. On the main thread ({@link onProtocolViolation}
   * set) the peer is cut off: the rest of its batch and all its later frames are ignored
   * while its thread is ended. In a worker the frame is logged and dropped. Returns true when
   * the peer is cut off.
   */
  protocolViolation(thread: number, detail: string): boolean {
    if (this.cutOff?.has(thread)) return true;
    const text = capString(detail, 300);
    const hook = this.onProtocolViolation;
    if (hook === undefined) {
      quietly(() => this.rt.logger.warn(`thread ${this.rt.thread}: dropped a malformed frame from thread ${thread}: ${text}`));
      return false;
    }
    (this.cutOff ??= new Set()).add(thread);
    quietly(() => hook(thread, text));
    return true;
  }

  /** Handles one frame from peer `thread`; returns what is wrong with it, or undefined. */
  private frame(thread: number, tag: unknown, to: unknown, a: unknown, b: unknown): string | undefined {
    if (!isWireId(to)) return `${tagName(tag)} frame addressed to ${preview(to)}, not a process id`;
    const rt = this.rt;
    switch (tag) {
      case Tag.CAST:
      case Tag.INFO:
        // Here only when the sender may not address `to` (the rest take the inline path in
        // ingest): to it, that process is not alive, so the message is dropped as for a dead one.
        rt.handledFrom(thread, true);
        rt.stats.droppedCasts++;
        return undefined;
      case Tag.CALL:
        return this.callFrame(thread, to, a, b);
      case Tag.ACK:
        if (!isWireId(a) || !isWireId(b)) return `ACK with counts ${preview(a)} and ${preview(b)}`;
        this.acked(thread, a, b);
        return undefined;
      case Tag.REPLY_OK:
      case Tag.REPLY_ERR:
        return this.replyFrame(thread, tag === Tag.REPLY_OK, to, a, b);
      case Tag.CANCEL:
        if (!isWireId(a)) return `CANCEL of call ${preview(a)}`;
        rt.procs.get(to)?.withdrawCall(rt.node, thread, a);
        return undefined;
      case Tag.EXIT:
      case Tag.EXIT_LINK:
        return this.exitFrame(thread, to, a, b, tag === Tag.EXIT_LINK);
      case Tag.LINK:
      case Tag.UNLINK:
        return this.linkFrame(thread, to, a, tag === Tag.LINK);
      case Tag.MONITOR:
        return this.monitorFrame(thread, to, a, b);
      case Tag.DEMONITOR:
        return this.demonitorFrame(thread, to, a);
      case Tag.DOWN:
        return acceptDown(this.rt, to, a, b, (v) => this.senderProblem(thread, v, 'DOWN about'));
      case Tag.STOP: {
        const problem = reasonProblem('STOP', a);
        if (problem !== undefined) return problem;
        if (!this.hidden(thread, to, 'a stop request')) rt.procs.get(to)?.requestStop(decodeReason(a));
        return undefined;
      }
      case Tag.CTL:
        if (to !== 0) return `CTL frame addressed to process ${to}`;
        // Thread management is between a worker and main only: a peer worker has no say.
        if (rt.thread !== 0 && thread !== 0) return 'CTL frame from a peer worker';
        this.onControl?.(thread, a);
        // The control itself may have been refused (NodeThreads cut the peer off): stop here.
        return this.cutOff?.has(thread) === true ? 'a refused control' : undefined;
      default:
        return `unknown frame tag ${preview(tag)}`;
    }
  }

  /**
   * A call from peer `thread`. To a process it may not address, it rejects with
   * NoProcessError; a system call asking about such a process answers "not alive".
   */
  private callFrame(thread: number, to: number, msg: unknown, call: unknown): string | undefined {
    if (!isWireId(call) || call === 0) return `CALL with call id ${preview(call)}`;
    const rt = this.rt;
    const from: RemoteFrom = { node: rt.node, thread, call };
    const target = makeRef(rt.node, rt.thread, to);
    const visible = this.visible;
    if (visible === undefined) {
      rt.router.deliverRemoteCall(target, msg, from, thread);
      return undefined;
    }
    // A system call may name a process (info, get_state): the same rule as for a call to it.
    const named = to === 0 ? namedProcess(msg) : to;
    if (named !== undefined && !visible.has(named)) {
      rt.handledFrom(thread, false);
      if (isInfoRequest(msg)) rt.router.reply(from, undefined);
      else rt.router.replyError(from, new NoProcessError(formatRef(makeRef(rt.node, rt.thread, named))));
      return undefined;
    }
    if (to !== 0) {
      rt.router.deliverRemoteCall(target, msg, from, thread);
      return undefined;
    }
    // A list answers only with the processes this peer may see.
    rt.handledFrom(thread, false);
    rt.router.systemCall(msg, from, visible);
    return undefined;
  }

  /** A reply from peer `thread`: it may only answer a call this thread made to it. */
  private replyFrame(thread: number, ok: boolean, to: number, value: unknown, call: unknown): string | undefined {
    const what = ok ? 'REPLY_OK' : 'REPLY_ERR';
    if (to !== 0) return `${what} frame addressed to process ${to}`;
    if (!isWireId(call) || call === 0) return `${what} to call ${preview(call)}`;
    if (!ok && !isSerializedError(value)) return `REPLY_ERR carrying ${preview(value)}, not a serialized error`;
    return this.rt.router.settleOutgoing(call, ok, ok ? value : deserializeError(value), thread);
  }

  /** An exit signal: its sender must be a process of the sending thread. */
  private exitFrame(thread: number, to: number, sender: unknown, reason: unknown, viaLink: boolean): string | undefined {
    const what = viaLink ? 'EXIT_LINK' : 'EXIT';
    const problem = this.senderProblem(thread, sender, `${what} sender`) ?? reasonProblem(what, reason);
    if (problem !== undefined) return problem;
    if (!this.hidden(thread, to, 'an exit signal'))
      this.rt.procs.get(to)?.exitSignal(copyRef(sender as AnyRef), decodeReason(reason), viaLink);
    return undefined;
  }

  /** A link or unlink: its sender must be a process of the sending thread. */
  private linkFrame(thread: number, to: number, sender: unknown, link: boolean): string | undefined {
    const problem = this.senderProblem(thread, sender, link ? 'LINK sender' : 'UNLINK sender');
    if (problem !== undefined) return problem;
    const router = this.rt.router;
    const from = copyRef(sender as AnyRef);
    const target = makeRef(this.rt.node, this.rt.thread, to);
    if (!link) router.unlinkArrived(target, from);
    // As for a process that is not alive: the sender gets an exit signal 'noproc'. Written
    // here, not through the router, whose outbound would count the answer as showing `target`.
    else if (this.hidden(thread, to, 'a link')) this.exit(from, target, 'noproc', true);
    else router.linkArrived(target, from);
    return undefined;
  }

  /** A monitor: the watcher and the monitor ref must both belong to the sending thread. */
  private monitorFrame(thread: number, to: number, watcher: unknown, m: unknown): string | undefined {
    const problem = this.senderProblem(thread, watcher, 'MONITOR watcher');
    if (problem !== undefined) return problem;
    const rt = this.rt;
    if (!isWireMonitorRef(m) || m.node !== rt.node || m.thread !== thread) return `MONITOR with a monitor ref not made on thread ${thread}`;
    const w = copyRef(watcher as AnyRef);
    const monitor: MonitorRef = { node: rt.node, thread, monitor: m.monitor };
    const target = makeRef(rt.node, rt.thread, to);
    // As for a process that is not alive: an immediate DOWN 'noproc' (written here, as for a link).
    if (this.hidden(thread, to, 'a monitor')) this.down(w, monitor, target, 'noproc');
    else rt.router.monitorArrived(target, w, monitor);
    return undefined;
  }

  /** A demonitor: the key must name a monitor made on the sending thread. */
  private demonitorFrame(thread: number, to: number, key: unknown): string | undefined {
    const rt = this.rt;
    if (typeof key !== 'string' || key.length > MAX_MONITOR_KEY) return `DEMONITOR of key ${preview(key)}`;
    if (!key.startsWith(`${rt.node}/${thread}/m`))
      return `DEMONITOR of ${JSON.stringify(capString(key, 80))}, not a monitor of thread ${thread}`;
    rt.router.demonitor(makeRef(rt.node, rt.thread, to), key);
    return undefined;
  }

  /** Why `v` may not be named by a frame from `thread` as its own process (undefined: it may). */
  private senderProblem(thread: number, v: unknown, what: string): string | undefined {
    if (!isWireRef(v)) return `${what} ${preview(v)} is not a ref`;
    if (v.node !== this.rt.node || v.thread !== thread) return `${what} ${formatRef(v)} is not a process of thread ${thread}`;
    return undefined;
  }

  /**
   * True (and logged) when `to` is a live local process that peer `thread` may not address:
   * the frame then acts as on a process that is not alive.
   */
  private hidden(thread: number, to: number, what: string): boolean {
    const rt = this.rt;
    if (this.visible === undefined || this.visible.has(to) || !rt.procs.has(to)) return false;
    const ref = formatRef(makeRef(rt.node, rt.thread, to));
    quietly(() => rt.logger.warn(`thread ${thread} sent ${what} to ${ref}, a process never shown to it; treated as not alive`));
    return true;
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
    rt.router.peersGone((r: AnyRef) => r.node === rt.node && r.thread === thread, reason);
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

/** A frame tag's name for a message ("EXIT"), or a description of what stood in its place. */
function tagName(tag: unknown): string {
  for (const [name, value] of Object.entries(Tag)) if (value === tag) return name;
  return `tag ${preview(tag)}`;
}

/** Why `reason` is not a wire exit reason, prefixed with the frame it came in. */
function reasonProblem(what: string, reason: unknown): string | undefined {
  const problem = wireReasonProblem(reason);
  return problem === undefined ? undefined : `${what} reason: ${problem}`;
}

/** A fresh ref holding only the three fields of a checked wire ref. */
function copyRef(r: { node: string; thread: number; id: number }): AnyRef {
  return makeRef(r.node, r.thread, r.id);
}

/** Runs a report (a log line, a hook) whose own failure must not stop the frame loop. */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // A logger that throws has nowhere else to report to.
  }
}
