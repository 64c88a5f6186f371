/**
 * The links of one thread to the other nodes of its cluster: the {@link Outbound} the router
 * uses for refs of other nodes, and the decoder that feeds frames from other nodes back into
 * the router. Every thread of a clustered node has one. The frames are those of the thread
 * boundary (frames.ts): a node peer is addressed as (node, thread), one {@link Channel} per
 * remote thread, so batching works as between threads.
 *
 * How the bytes travel is the {@link NodeUplink}'s business: on the main thread a lane of the
 * peer's TCP connection; on a worker, a relay through main (which owns the one connection per
 * node pair and stamps the worker's thread number on what it forwards).
 *
 * Everything from another node is hostile until checked: a frame may only speak for
 * processes of the (node, thread) it came from, monitor refs and keys must be that thread's,
 * a reply must answer a call made to that very thread, and a DOWN must match its monitor. A
 * frame that breaks these rules is dropped and reported through {@link onViolation} (main
 * then drops the connection with `protocol_error`).
 */
import type { ExitReason } from '../core/exit-reason.js';
import { CALL, CAST, INFO } from '../core/process.js';
import type { AnyRef, MonitorRef } from '../core/ref.js';
import { formatRef, makeRef } from '../core/ref.js';
import type { Outbound, Transferable } from '../core/router.js';
import type { RemoteFrom, Runtime } from '../core/runtime.js';
import { ambient } from '../core/runtime.js';
import { stopElsewhere } from '../core/stop-elsewhere.js';
import {
  ACROSS_NODES,
  ChannelBusyError,
  NodeDownError,
  type NodeDownReason,
  NotCloneableError,
  deserializeError,
  isSerializedError,
  serializeError,
} from '../errors.js';
import { findUncloneable } from '../transport/cloneable.js';
import { FRAME, Tag, type WireReason, decodeReason } from '../transport/frames.js';
import type { Transport } from '../transport/transport.js';
import { Late, afterTurn } from '../transport/transport.js';
import { PackingChannel } from '../transport/packing-channel.js';
import { acceptDown } from '../transport/down-frame.js';
import {
  MAX_MONITOR_KEY,
  MAX_NODE_NAME,
  capString,
  isPlainObject,
  isWireId,
  isWireMonitorRef,
  isWireRef,
  ownData,
  preview,
  wireReasonProblem,
} from '../transport/validate.js';
import { shortNodeId } from './node-id.js';

/** How this thread reaches a thread of a peer node. */
export interface NodeUplink {
  /** A transport to thread `remoteThread` of connected node `peer` (its long id). */
  open(peer: string, remoteThread: number): Transport;
}

/** Counters of one peer node, as seen from this thread. */
export interface NodeLinkStats {
  /** The peer's long id (`name@host:port~creation`). */
  readonly node: string;
  /** Casts and infos dropped because the connection was over its outbound bound. */
  readonly busyDrops: number;
  /** Frames from the peer dropped as protocol violations. */
  readonly violations: number;
}

/** One connected peer node. */
class Peer {
  readonly channels = new Map<number, PackingChannel>();
  /** The channel last asked for, and its thread (channels stay until the peer goes, or are evicted past MAX_PEER_CHANNELS). */
  lastThread = -1;
  lastChannel: PackingChannel | undefined;
  /** True while the connection's outbound queue is over its bound. */
  busy = false;
  busyDrops = 0;
  violations = 0;
  constructor(readonly node: string) {}
}

/**
 * Words per batch to a node (256 frames): a TCP write costs more than a post, and a larger
 * batch keeps more of the v8 encoding's fixed cost off each message.
 */
const NODE_BATCH_WORDS = 1024;

/**
 * Channels kept per peer node, one per thread of it this thread talks to. The thread numbers
 * come from the peer (a call's reply goes to the thread it came from), so a hostile peer could
 * make one per possible number (65,536, each with its packer's buffer); past this many the
 * oldest is flushed and closed, and made again if that thread is addressed later.
 */
export const MAX_PEER_CHANNELS = 256;

/** Why a call to a busy node fails: its connection's bound is bytes, not messages in flight. */
const BUSY_CONNECTION =
  'its connection has more bytes queued to send than its bound (32 MiB); calls fail fast and casts are dropped until it drains';

/** Most recent down reasons kept, for the error a later call gets. */
const MAX_REMEMBERED = 1024;

export class NodeLinks implements Outbound {
  private readonly peers = new Map<string, Peer>();
  /** Connected peers' long ids by short id. */
  private readonly shorts = new Map<string, string>();
  /** Why recently lost peers went down (bounded), by long id. */
  private readonly downs = new Map<string, NodeDownReason>();
  /** A frame from `node` broke the protocol (main: drops the connection). */
  onViolation: ((node: string, detail: string) => void) | undefined;
  /** A CTL frame from thread 0 of `node` to this thread (main: cluster membership). */
  onControl: ((node: string, payload: unknown) => void) | undefined;

  constructor(
    readonly rt: Runtime,
    private readonly uplink: NodeUplink,
  ) {
    rt.router.nodes = this;
    rt.router.unreachable = (ref) => (ref.node === rt.node ? undefined : this.downError(ref.node));
    rt.nodeAlive = (ref) => this.peers.has(ref.node);
    rt.resolveNode = (node) => {
      if (node === rt.node || node === shortNodeId(rt.node)) return rt.node;
      return this.peers.has(node) ? node : this.shorts.get(node);
    };
    rt.nodeStop = (ref, reason, timeoutMs) =>
      stopElsewhere(rt, ref, timeoutMs, () => this.channelTo(ref)?.write(Tag.STOP, ref.id, nodeReason(reason), 0));
  }

  /** Peer `node` (long id) is connected. */
  nodeUp(node: string): void {
    if (this.peers.has(node)) return;
    this.peers.set(node, new Peer(node));
    this.lastNode = undefined;
    this.shorts.set(shortNodeId(node), node);
    this.downs.delete(node);
  }

  /**
   * Peer `node` is lost: calls pending to it reject with NodeDownError, links to its processes
   * fire `noconnection`, monitors fire DOWN `noconnection`, its monitors here are dropped.
   */
  nodeDown(node: string, reason: NodeDownReason): void {
    const peer = this.peers.get(node);
    if (peer === undefined) return;
    this.peers.delete(node);
    this.lastNode = undefined;
    if (this.shorts.get(shortNodeId(node)) === node) this.shorts.delete(shortNodeId(node));
    this.downs.set(node, reason);
    if (this.downs.size > MAX_REMEMBERED) this.downs.delete(this.downs.keys().next().value as string);
    for (const ch of peer.channels.values()) ch.close();
    const err = new NodeDownError(shortNodeId(node), reason);
    this.rt.router.peersGone(
      (r) => r.node === node,
      'noconnection',
      () => err,
    );
  }

  /** Every peer node is lost (the cluster stopped). */
  allDown(reason: NodeDownReason): void {
    for (const node of [...this.peers.keys()]) this.nodeDown(node, reason);
  }

  /** Marks the connection to `node` as over (or back under) its outbound bound. */
  setBusy(node: string, busy: boolean): void {
    const p = this.peers.get(node);
    if (p !== undefined) p.busy = busy;
  }

  isConnected(node: string): boolean {
    return this.peers.has(node);
  }

  connected(): string[] {
    return [...this.peers.keys()];
  }

  stats(): NodeLinkStats[] {
    return [...this.peers.values()].map((p) => ({ node: p.node, busyDrops: p.busyDrops, violations: p.violations }));
  }

  /** The error a call to a process of `node` gets while it is not connected. */
  downError(node: string): NodeDownError {
    return new NodeDownError(shortNodeId(node), this.downs.get(node) ?? 'not_connected');
  }

  /** Flushes every channel now (before the thread or the cluster stops). */
  flushAll(): void {
    for (const p of this.peers.values()) for (const ch of p.channels.values()) ch.flush();
  }

  // --- Outbound -------------------------------------------------------------------------

  reachable(ref: AnyRef): boolean {
    return this.peerOf(ref.node) !== undefined;
  }

  /**
   * The last node string asked about and its peer: a stream of sends to one node asks for the
   * same ref's node string each time, which this answers without a map lookup.
   */
  private lastNode: string | undefined;
  private lastPeer: Peer | undefined;

  private peerOf(node: string): Peer | undefined {
    if (node === this.lastNode) return this.lastPeer;
    const peer = this.peers.get(node);
    this.lastNode = node;
    this.lastPeer = peer;
    return peer;
  }

  deliver(to: AnyRef, kind: number, msg: unknown, callId: number, _transfer?: readonly Transferable[]): void {
    const peer = this.peerOf(to.node);
    if (peer === undefined) {
      if (kind === CALL) throw this.downError(to.node);
      this.rt.router.dropped(to, 'unreachable');
      return;
    }
    if (peer.busy) {
      const problem = findUncloneable(msg, 'message');
      if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, formatRef(to));
      // The connection's outbound queue is over its bound: fail fast rather than grow it.
      if (kind === CALL) throw new ChannelBusyError(`node ${shortNodeId(to.node)}`, 0, 0, BUSY_CONNECTION);
      peer.busyDrops++;
      this.rt.router.dropped(to, 'busy');
      return;
    }
    // The message is packed into its batch as it is written, which checks it too (see
    // PackingChannel). Transfer lists mean nothing between machines: the bytes are copied.
    const ch = this.channel(peer, to.thread);
    const problem =
      kind === CALL
        ? ch.sendValue(Tag.CALL, to.id, msg, callId, 'message')
        : ch.sendValue(kind === CAST ? Tag.CAST : Tag.INFO, to.id, msg, 0, 'message');
    if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, formatRef(to));
  }

  reply(to: RemoteFrom, ok: boolean, value: unknown): void {
    const ch = this.channelTo(to);
    if (ch === undefined) return;
    if (!ok) {
      ch.write(Tag.REPLY_ERR, 0, value, to.call);
      return;
    }
    const problem = ch.sendValue(Tag.REPLY_OK, 0, value, to.call, 'reply');
    if (problem !== undefined) throw new NotCloneableError(problem.path, problem.valueType, `${to.node}/${to.thread}`);
  }

  cancel(to: AnyRef, call: { call: number }): void {
    this.channelTo(to)?.write(Tag.CANCEL, to.id, call.call, 0);
  }

  exit(to: AnyRef, from: AnyRef, reason: ExitReason, viaLink: boolean): void {
    this.channelTo(to)?.write(viaLink ? Tag.EXIT_LINK : Tag.EXIT, to.id, from, nodeReason(reason));
  }

  link(to: AnyRef, from: AnyRef): void {
    this.channelTo(to)?.write(Tag.LINK, to.id, from, 0);
  }

  unlink(to: AnyRef, from: AnyRef): void {
    this.channelTo(to)?.write(Tag.UNLINK, to.id, from, 0);
  }

  monitor(to: AnyRef, watcher: AnyRef, m: MonitorRef): void {
    this.channelTo(to)?.write(Tag.MONITOR, to.id, watcher, m);
  }

  demonitor(to: AnyRef, key: string): void {
    this.channelTo(to)?.write(Tag.DEMONITOR, to.id, key, 0);
  }

  down(to: AnyRef, m: MonitorRef, ref: AnyRef, reason: ExitReason): void {
    this.channelTo(to)?.write(Tag.DOWN, to.id, { monitor: m, ref }, nodeReason(reason));
  }

  /** Sends a control payload to thread 0 of `node` (cluster membership; main only). */
  control(node: string, payload: unknown): boolean {
    const peer = this.peers.get(node);
    if (peer === undefined) return false;
    return this.channel(peer, 0).write(Tag.CTL, 0, payload, 0);
  }

  private channelTo(ref: { node: string; thread: number }): PackingChannel | undefined {
    const peer = this.peerOf(ref.node);
    return peer === undefined ? undefined : this.channel(peer, ref.thread);
  }

  private channel(peer: Peer, thread: number): PackingChannel {
    // Whatever this turn writes to other nodes leaves together at its end: one batch per
    // channel, not a lone first frame and then the rest (a TCP write costs more than a post).
    if (!this.holding) {
      this.holding = true;
      for (const p of this.peers.values()) for (const c of p.channels.values()) c.hold();
      afterTurn(this.release, Late.Batches);
    }
    if (thread === peer.lastThread) return peer.lastChannel!;
    let ch = peer.channels.get(thread);
    if (ch === undefined) {
      if (peer.channels.size >= MAX_PEER_CHANNELS) this.evictChannel(peer);
      ch = new PackingChannel(this.uplink.open(peer.node, thread), NODE_BATCH_WORDS);
      if (this.holding) ch.hold();
      ch.onFrameError = (frame, err) => this.frameFailed(peer.node, thread, frame, err);
      peer.channels.set(thread, ch);
    }
    peer.lastThread = thread;
    peer.lastChannel = ch;
    return ch;
  }

  /**
   * Lets go of the oldest channel to `peer` other than thread 0's (used by every control
   * frame): what it holds is posted first, so order to that thread is kept.
   */
  private evictChannel(peer: Peer): void {
    for (const [thread, ch] of peer.channels) {
      if (thread === 0) continue;
      peer.channels.delete(thread);
      if (peer.lastThread === thread) {
        peer.lastThread = -1;
        peer.lastChannel = undefined;
      }
      ch.close();
      return;
    }
  }

  /** Channels open to `node` now. @internal */
  channelCount(node: string): number {
    return this.peers.get(node)?.channels.size ?? 0;
  }

  /** A frame could not be encoded after all: fail the call waiting on it, or count the cast. */
  private frameFailed(node: string, thread: number, frame: unknown[], err: unknown): void {
    const tag = frame[0] as number;
    const to = makeRef(node, thread, frame[1] as number);
    if (tag === Tag.CALL) {
      this.rt.router.settleOutgoing(frame[3] as number, false, new NotCloneableError('message', String(err), formatRef(to)));
      return;
    }
    this.rt.stats.droppedCasts++;
    this.rt.logger.error(`message to ${formatRef(to)} could not be sent: ${err instanceof Error ? err.message : String(err)}`);
  }

  // --- Incoming ---------------------------------------------------------------------------

  /**
   * One batch from thread `thread` of peer `node` (already decoded from the wire). Each frame
   * is checked before use; a bad one is dropped and reported, the rest still run.
   */
  ingest(node: string, thread: number, batch: unknown): void {
    const peer = this.peers.get(node);
    if (peer === undefined) return;
    if (!Array.isArray(batch) || batch.length % FRAME !== 0) {
      this.violation(peer, 'a batch that is not an array of 4-word frames');
      return;
    }
    const rt = this.rt;
    const prev = ambient.active;
    ambient.active = rt;
    // As between threads: what this batch causes (replies, sends, in the drains it queues)
    // leaves in full batches at the end of the turn, not as a lone first frame plus the rest.
    const hold = !this.holding;
    if (hold) {
      this.holding = true;
      for (const p of this.peers.values()) for (const ch of p.channels.values()) ch.hold();
    }
    try {
      for (let i = 0; i < batch.length; i += FRAME) {
        const tag = batch[i];
        const to = batch[i + 1];
        let problem: string | undefined;
        try {
          if ((tag === Tag.CAST || tag === Tag.INFO) && isWireId(to) && to !== 0) {
            rt.router.deliverRemote(to, tag === Tag.CAST ? CAST : INFO, batch[i + 2], -1);
            continue;
          }
          problem = this.frame(node, thread, tag, to, batch[i + 2], batch[i + 3]);
        } catch (e) {
          problem = `a frame that could not be handled (${e instanceof Error ? e.message : preview(e)})`;
        }
        if (problem !== undefined) {
          // The peer broke the protocol: its connection is dropped, and nothing more of this
          // batch is read (a hostile batch may claim billions of words).
          this.violation(peer, problem);
          break;
        }
      }
    } finally {
      ambient.active = prev;
      if (hold) afterTurn(this.release, Late.Batches);
    }
  }

  /** Set while channels are held for the turn of an incoming batch. */
  private holding = false;

  private readonly release = (): void => {
    this.holding = false;
    for (const p of this.peers.values()) for (const ch of p.channels.values()) ch.flush();
  };

  private violation(peer: Peer, detail: string): void {
    peer.violations++;
    const text = capString(detail, 300);
    try {
      this.rt.logger.warn(`dropped a malformed frame from node ${shortNodeId(peer.node)}: ${text}`);
      this.onViolation?.(peer.node, text);
    } catch {
      // A logger or hook that throws must not stop the frame loop.
    }
  }

  private frame(node: string, thread: number, tag: unknown, to: unknown, a: unknown, b: unknown): string | undefined {
    if (!isWireId(to)) return `frame addressed to ${preview(to)}, not a process id`;
    const rt = this.rt;
    switch (tag) {
      case Tag.CAST:
      case Tag.INFO:
        return this.namedSend(tag === Tag.CAST ? CAST : INFO, a);
      case Tag.CALL: {
        if (!isWireId(b) || b === 0) return `CALL with call id ${preview(b)}`;
        const from: RemoteFrom = { node, thread, call: b };
        rt.router.deliverRemoteCall(makeRef(rt.node, rt.thread, to), a, from);
        return undefined;
      }
      case Tag.REPLY_OK:
      case Tag.REPLY_ERR: {
        const ok = tag === Tag.REPLY_OK;
        if (to !== 0 || !isWireId(b) || b === 0) return `reply to call ${preview(b)}`;
        if (!ok && !isSerializedError(a)) return 'REPLY_ERR carrying something other than a serialized error';
        return rt.router.settleOutgoing(b, ok, ok ? a : deserializeError(a), thread, node);
      }
      case Tag.CANCEL:
        if (!isWireId(a)) return `CANCEL of call ${preview(a)}`;
        rt.procs.get(to)?.withdrawCall(node, thread, a);
        return undefined;
      case Tag.EXIT:
      case Tag.EXIT_LINK: {
        const problem = this.senderProblem(node, thread, a) ?? reasonProblem(b);
        if (problem !== undefined) return problem;
        rt.procs.get(to)?.exitSignal(copyRef(a as AnyRef), decodeReason(b), tag === Tag.EXIT_LINK);
        return undefined;
      }
      case Tag.LINK:
      case Tag.UNLINK: {
        const problem = this.senderProblem(node, thread, a);
        if (problem !== undefined) return problem;
        const target = makeRef(rt.node, rt.thread, to);
        if (tag === Tag.LINK) rt.router.linkArrived(target, copyRef(a as AnyRef));
        else rt.router.unlinkArrived(target, copyRef(a as AnyRef));
        return undefined;
      }
      case Tag.MONITOR: {
        const problem = this.senderProblem(node, thread, a);
        if (problem !== undefined) return problem;
        if (!isWireMonitorRef(b) || b.node !== node || b.thread !== thread) return 'MONITOR with a monitor ref not made by its sender';
        const monitor: MonitorRef = { node, thread, monitor: b.monitor };
        rt.router.monitorArrived(makeRef(rt.node, rt.thread, to), copyRef(a as AnyRef), monitor);
        return undefined;
      }
      case Tag.DEMONITOR:
        if (typeof a !== 'string' || a.length > MAX_MONITOR_KEY || !a.startsWith(`${node}/${thread}/m`))
          return 'DEMONITOR of a key not made by its sender';
        rt.router.demonitor(makeRef(rt.node, rt.thread, to), a);
        return undefined;
      case Tag.DOWN:
        return acceptDown(this.rt, to, a, b, (v) => this.senderProblem(node, thread, v));
      case Tag.STOP: {
        const problem = reasonProblem(a);
        if (problem !== undefined) return problem;
        rt.procs.get(to)?.requestStop(decodeReason(a));
        return undefined;
      }
      case Tag.CTL:
        if (to !== 0 || thread !== 0 || rt.thread !== 0) return 'CTL frame outside the main threads';
        this.onControl?.(node, a);
        return undefined;
      case Tag.ACK:
        return undefined; // nodes bound their traffic by bytes, not acks; harmless
      default:
        return `unknown frame tag ${preview(tag)}`;
    }
  }

  /**
   * A cast or info to process 0: a send by name (Erlang's `{Name, Node} ! Msg`), carrying
   * `{ name, msg }`. An unknown name drops the message (counted), as in Erlang... which
   * would raise badarg at the sender; here the sender is on another node and cannot be told.
   */
  private namedSend(kind: typeof CAST | typeof INFO, body: unknown): string | undefined {
    if (!isPlainObject(body)) return 'a send by name without { name, msg }';
    const name = ownData(body, 'name');
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NODE_NAME) return 'a send by name with a bad name';
    const ref = this.rt.names.get(name);
    if (ref === undefined) {
      this.rt.router.dropped(name, 'no process');
      return undefined;
    }
    this.rt.router.send(ref, kind, ownData(body, 'msg'));
    return undefined;
  }

  /** Why `v` may not be named by a frame from (`node`, `thread`) as its own process. */
  private senderProblem(node: string, thread: number, v: unknown): string | undefined {
    if (!isWireRef(v)) return `${preview(v)} is not a ref`;
    if (v.node !== node || v.thread !== thread) return `${formatRef(v)} is not a process of the sending thread`;
    return undefined;
  }
}

/** An exit reason for the wire between nodes: an error's stack and absolute paths stay here. */
function nodeReason(r: ExitReason): WireReason {
  if (typeof r === 'object' && r !== null && 'error' in r) return { error: serializeError(r.error, ACROSS_NODES) };
  return r as WireReason;
}

function reasonProblem(reason: unknown): string | undefined {
  const problem = wireReasonProblem(reason);
  return problem === undefined ? undefined : `exit reason: ${problem}`;
}

function copyRef(r: { node: string; thread: number; id: number }): AnyRef {
  return makeRef(r.node, r.thread, r.id);
}

/** The node-down reasons a worker accepts from main; anything else reads as `connection_closed`. */
const DOWN_REASONS: ReadonlySet<string> = new Set<NodeDownReason>([
  'connection_closed',
  'heartbeat_timeout',
  'graceful_shutdown',
  'protocol_error',
  'cluster_stopped',
  'not_connected',
  'restarted',
  'partitioned',
]);

export function nodeDownReason(v: unknown): NodeDownReason {
  return typeof v === 'string' && DOWN_REASONS.has(v) ? (v as NodeDownReason) : 'connection_closed';
}

/**
 * A worker's transport to a thread of a peer node: each batch goes to main, which forwards it
 * on the node's connection. It cannot pause and never receives (main relays incoming batches
 * as controls).
 */
export class RelayTransport implements Transport {
  readonly canPause = false;
  private closed = false;
  private readonly closeHandlers: (() => void)[] = [];
  constructor(private readonly send: (batch: unknown[]) => void) {}
  post(batch: unknown[]): void {
    if (!this.closed) this.send(batch);
  }
  onBatch(): void {}
  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.closeHandlers) h();
  }
}
