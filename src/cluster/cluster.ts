/**
 * The cluster of a node (main thread): it listens, dials seeds and gossiped members, keeps one
 * authenticated connection per peer node, judges failures, and tells the router (through
 * {@link NodeLinks}) which nodes are up. Worker threads reach other nodes through main, which
 * relays their batches over the same connections (see {@link ClusterNode.fromWorker}).
 *
 * Membership (docs/concepts/cluster.md):
 * - seeds are dialled at start; on every new connection both sides send the members they are
 *   connected to, and each dials those it does not know: a full mesh;
 * - of two nodes, the one with the smaller id dials a gossiped member (a seed is dialled by
 *   whoever lists it), so most pairs open one connection; when both dial at once the handshake
 *   keeps the connection dialled by the smaller name (keepSimultaneous);
 * - a lost peer is redialled with exponential backoff and jitter, by its designated dialer;
 *   a peer that left gracefully is not;
 * - a member that is not a configured seed is forgotten once unreachable for `forgetAfterMs`
 *   (10 min), and a full table makes room by forgetting the disconnected one heard from least
 *   recently: the table stays bounded as nodes come and go on new addresses;
 * - a node never marks another down on hearsay: gossip carries only members, and a node is
 *   down only when this node's own connection to it closes or goes silent.
 *
 * Failure detection: a closed connection is a node down at once; silence is judged by a
 * φ-accrual detector over every received byte (ticks fill idle links), capped at
 * `heartbeatIntervalMs × heartbeatMissThreshold`, with this node's own timer lateness (event
 * loop lag) subtracted.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import { checkDuration, MAX_TIMER_MS } from '../core/duration.js';
import type { From, Runtime } from '../core/runtime.js';
import { currentRuntime, withRuntime } from '../core/runtime.js';
import { checkFunction, checkOptions, describeValue } from '../core/validate.js';
import {
  HandshakeError,
  InvalidArgumentError,
  NoProcessError,
  type NodeDownReason,
  NotRegisteredError,
  RuntimeClosedError,
} from '../errors.js';
import { NodeThreads } from '../threads/node-threads.js';
import { isPlainObject, ownData } from '../transport/validate.js';
import { allowedBehavior, isAllowedThread } from './behavior-registry.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import type { CloseReason } from './connection.js';
import { PhiAccrualDetector } from './detector.js';
import type { HandshakePeer, RejectReason } from './handshake.js';
import { NodeLinks } from './node-links.js';
import { formatNodeId, newCreation, type NodeId, shortNodeId, tryParseNodeId } from './node-id.js';
import { dial, type Listener, listen, type Session, type SessionOptions, type TlsOptions } from './session.js';
import { Kind, MAX_THREAD } from './wire.js';
import type { ClusterBackend } from './backend.js';
import { EmbeddedNames, type NameResolver } from './embedded-names.js';
import { attachGlobalNames, detachGlobalNames } from './global-registry.js';
import { attachDsupHost, DsupHost } from './distributed-supervisor.js';
import { type AnyRef, makeRef } from '../core/ref.js';

/** Options of `Cluster.start`. Only `nodeName` is required. */
export interface ClusterOptions {
  /** This node's name: 1–64 letters, digits, `_`, `-` or `.`. */
  nodeName: string;
  /**
   * Address the listener AND every outgoing socket bind to; default `'127.0.0.1'`. A host name
   * is looked up once at start (IPv4 first); the node id keeps the name (see `advertise`).
   */
  host?: string;
  /** Port to listen on; default 0 (a free port, then part of the node id). */
  port?: number;
  /** Nodes to join, as `name@host:port`. */
  seeds?: readonly string[];
  /**
   * The shared secret (at least 16 characters) every node of the cluster holds; peers prove
   * they know it without sending it. Without one the node binds loopback addresses only.
   */
  clusterSecret?: string;
  /** Idle time after which a link sends a tick, in ms; default 500. */
  heartbeatIntervalMs?: number;
  /** Silence cap in ticks: a peer silent for `heartbeatIntervalMs ×` this is down; default 10. */
  heartbeatMissThreshold?: number;
  /** Host written in the node id instead of `host` (when binding `0.0.0.0`, say). */
  advertise?: string;
  /** Mutual TLS under the handshake (PEM key, certificate and CA). */
  tls?: TlsOptions;
  /** How long a handshake may take, in ms; default 5000. */
  handshakeTimeoutMs?: number;
  /** First reconnect delay, in ms (doubled per failure up to 5000, with jitter); default 200. */
  reconnectBaseMs?: number;
  /**
   * How long a member that is not one of `seeds` may stay unreachable (down, or never reached)
   * before this node forgets it: it leaves `getNodes()` and is no longer redialled. In ms;
   * default 600000 (10 min); `Infinity`: never.
   */
  forgetAfterMs?: number;
  /** Most members kept (default 4096); tests use a small table. @internal */
  maxMembers?: number;
  /**
   * Where cluster-wide names are decided (GlobalRegistry): default the embedded backend (one
   * arbiter per connected group); `etcd({ … })` from `spindle/etcd` for production.
   */
  backend?: ClusterBackend;
  /** How the embedded backend settles a name held twice after a partition heals; default: the smaller ref wins. */
  nameResolver?: NameResolver;
}

/** Where a node stands with this one. */
export interface NodeInfo {
  /** `name@host:port`. */
  readonly id: string;
  readonly status: 'connected' | 'connecting' | 'disconnected';
  /** The incarnation connected (or last connected), as base36 text. */
  readonly incarnation: string | undefined;
  /** performance.now() when anything was last received from it. */
  readonly lastSeenMs: number | undefined;
  /** Why it went down last, if it did. */
  readonly downReason?: NodeDownReason;
}

/** The cluster's own state. */
export type ClusterStatus = 'stopped' | 'starting' | 'running' | 'stopping';

const DEFAULT_SECRET = 'spindle-loopback-only-no-secret';
const MAX_MEMBERS = 4096;
const DEFAULT_FORGET_AFTER_MS = 10 * 60_000;
const MAX_GOSSIP = 1024;
const MAX_RELAY_WORDS = 1 << 22;
const RECONNECT_CAP_MS = 5000;

/** A known node. */
class Member {
  session: Session | undefined;
  /** The connected incarnation's long id. */
  long: string | undefined;
  creation: number | undefined;
  status: NodeInfo['status'] = 'disconnected';
  detector: PhiAccrualDetector | undefined;
  dialing = false;
  attempts = 0;
  retry: NodeJS.Timeout | undefined;
  downReason: NodeDownReason | undefined;
  /** Left gracefully: not redialled. */
  left = false;
  /** One of the configured `seeds`: never forgotten (a backend's members are dialled as seeds but may be). */
  configured = false;
  /** performance.now() since when it is unreachable (learnt and not reached yet, or down); undefined while connected. */
  unreachableSince: number | undefined = performance.now();
  /** Traffic of its past connections (the current one's counters are added when read). */
  readonly traffic = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
  /** performance.now() when its last connection last heard from it (kept after a down). */
  lastHeard: number | undefined;
  /** Its last {@link MAX_HISTORY} up/down events, oldest first (what the observer shows). */
  readonly history: MemberEvent[] = [];
  constructor(
    readonly short: string,
    readonly id: NodeId,
    /** A seed (configured, or told by the backend): dialled whatever the name order. */
    readonly seed: boolean,
  ) {}
}

/** One up/down event of a member, as {@link ClusterNode.observe} reports it. */
export interface MemberEvent {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly event: 'up' | 'down';
  /** For 'down': the node-down reason. */
  readonly reason: NodeDownReason | null;
}

/** One member as the observer reads it (see {@link ClusterNode.observe}); counters are cumulative. */
export interface ObservedMember {
  /** `name@host:port`. */
  readonly id: string;
  /** The connected incarnation's long id (undefined while not connected). */
  readonly long: string | undefined;
  readonly status: NodeInfo['status'];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly framesIn: number;
  readonly framesOut: number;
  /** performance.now() when anything was last received from it (undefined: never). */
  readonly lastHeard: number | undefined;
  /** Up/down events, oldest first (a copy). */
  readonly history: readonly MemberEvent[];
}

/** Up/down events kept per member. */
const MAX_HISTORY = 50;

const nodes = new WeakMap<Runtime, ClusterNode>();

/**
 * What answers `{ op: 'observe' }` from a peer (this node's observer view, plain data), set by
 * the observer's collector when it loads (cluster.ts does not import it: no import cycle).
 * @internal
 */
let observeProvider: ((rt: Runtime) => Promise<unknown>) | undefined;

/** Installs (or, with undefined, removes) the provider of the answer to a peer's `observe` system call. @internal */
export function setObserveProvider(provider: ((rt: Runtime) => Promise<unknown>) | undefined): void {
  observeProvider = provider;
}

/**
 * The cluster of `rt` as the observer reads it: this node's short id, and `members()` to read
 * every member (a copy, made when called); undefined when `rt` runs no cluster (or it is not
 * running). @internal
 */
export function observeCluster(rt: Runtime): { self: string; members(): ObservedMember[] } | undefined {
  const c = nodes.get(rt);
  if (c === undefined || c.status !== 'running') return undefined;
  return { self: c.short, members: () => c.observe() };
}

class ClusterNode {
  status: ClusterStatus = 'starting';
  readonly members = new Map<string, Member>();
  /** Connected peers by long id. */
  private readonly byLong = new Map<string, Member>();
  readonly links: NodeLinks;
  readonly short: string;
  readonly long: string;
  readonly creation: number;
  private listener: Listener | undefined;
  private detectTimer: NodeJS.Timeout | undefined;
  private lastCheck = performance.now();
  readonly upHandlers = new Set<(node: string) => void>();
  readonly downHandlers = new Set<(node: string, reason: NodeDownReason) => void>();
  private readonly session: SessionOptions;
  private readonly maxSilenceMs: number;
  private readonly threads: NodeThreads;
  /** Cluster-wide names: the configured backend, or the embedded one. */
  readonly names: ClusterBackend;
  private readonly embedded: EmbeddedNames | undefined;
  /** The distributed supervisors this node holds. */
  private readonly dsups: DsupHost;

  constructor(
    readonly rt: Runtime,
    readonly o: ResolvedOptions,
    port: number,
  ) {
    const creation = newCreation();
    this.creation = creation;
    this.short = formatNodeId({ name: o.nodeName, host: o.advertise, port }, false);
    this.long = formatNodeId({ name: o.nodeName, host: o.advertise, port, creation });
    rt.rename(this.long);
    this.session = {
      secret: o.secret,
      name: this.short,
      creation,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      connection: { tickMs: o.heartbeatIntervalMs },
    };
    this.maxSilenceMs = o.heartbeatIntervalMs * o.heartbeatMissThreshold;
    this.links = new NodeLinks(rt, {
      open: (peer, remoteThread) => {
        const m = this.byLong.get(peer) as Member;
        const lane = (m.session as Session).lanes.open(remoteThread, 0);
        lane.onBatch((batch) => this.links.ingest(peer, remoteThread, batch));
        const connection = lane.connection;
        // The bound is checked as each batch goes: over it, calls fail fast and casts are dropped.
        return {
          canPause: false,
          post: (batch: unknown[]) => {
            lane.post(batch);
            if (connection.busy) this.setBusy(m, true);
          },
          packedHeadroom: lane.packedHeadroom,
          postPacked: (bytes: Buffer) => {
            lane.postPacked(bytes);
            if (connection.busy) this.setBusy(m, true);
          },
          onBatch: () => {},
          onClose: (h: () => void) => lane.onClose(h),
          close: () => lane.close(),
        };
      },
    });
    this.links.onControl = (peer, payload) => this.gossip(peer, payload);
    this.links.onViolation = (peer) => this.byLong.get(peer)?.session?.connection.close('protocol_error');
    rt.router.systemExtension = (msg, from) => this.system(msg, from);
    this.embedded =
      o.backend === undefined
        ? new EmbeddedNames(
            rt,
            {
              connected: () => this.links.connected(),
              control: (node, payload) => this.links.control(node, payload),
              call: (node, msg, timeoutMs) => rt.router.call(makeRef(node, 0, 0), msg, timeoutMs),
            },
            o.nameResolver,
          )
        : undefined;
    this.names = o.backend ?? (this.embedded as EmbeddedNames);
    this.dsups = new DsupHost(rt, {
      self: this.short,
      connected: () => this.links.connected(),
      control: (node, payload) => this.links.control(node, payload),
      call: (node, msg, timeoutMs) => rt.router.call(makeRef(node, 0, 0), msg, timeoutMs),
      whereis: (name) => this.names.whereis(name),
      register: (name, ref) => this.names.register(name, ref),
    });
    // Worker threads reach other nodes through main.
    this.threads = NodeThreads.of(rt);
    this.threads.cluster = {
      boot: () => ({ peers: this.links.connected() }),
      out: (thread, payload) => this.fromWorker(thread, payload),
    };
  }

  // --- Start and stop -------------------------------------------------------------------

  /** Starts the names backend; the node is running once it has. */
  async attach(listener: Listener): Promise<void> {
    this.listener = listener;
    const rt = this.rt;
    const emit = attachGlobalNames(rt, this.names);
    await this.names.start({
      node: this.long,
      shortId: this.short,
      learn: (id) => this.learn(id, true),
      emit: (e) => {
        emit(e);
        // A child of a distributed supervisor whose name this node lost (the etcd lease lapsed)
        // stops here: another node may start it now (a claim fenced by the lease).
        if (e.type === 'unregistered' && e.name.startsWith('dsup:')) {
          if (e.reason === 'node_down' && e.ref.node === this.long) this.dsups.nameLost(e.name, e.ref);
          else this.dsups.nameReleased(e.name);
        }
      },
      evict: (ref, name) => rt.router.exitSignal(ref, rt.selfRef, { shutdown: { name_conflict: name } }, false),
      watch: (ref, onExit) => rt.watch(ref, () => onExit()),
      log: (level, message) => rt.logger[level](`cluster backend: ${message}`),
    });
    attachDsupHost(rt, this.dsups);
    this.status = 'running';
    this.lastCheck = performance.now();
    const period = Math.max(10, Math.min(this.o.heartbeatIntervalMs, this.maxSilenceMs / 4));
    this.detectTimer = setInterval(() => this.check(), period);
    this.detectTimer.unref();
    for (const s of this.o.seeds) this.learn(s, true, true);
    for (const m of [...this.members.values()]) this.learn(m.short, m.seed);
  }

  private stopping: Promise<void> | undefined;

  /** Leaves the cluster; a second call waits for the first. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (this.status === 'stopped') return;
    this.status = 'stopping';
    // Children of distributed supervisors move to the other nodes before the connections close.
    await this.dsups.handOver();
    this.dsups.close();
    attachDsupHost(this.rt, undefined);
    if (this.detectTimer !== undefined) clearInterval(this.detectTimer);
    this.links.flushAll();
    for (const m of this.members.values()) {
      if (m.retry !== undefined) clearTimeout(m.retry);
      m.retry = undefined;
    }
    // Here every peer is down because this node left; the peers are told it left gracefully.
    for (const m of [...this.byLong.values()]) this.down(m, 'cluster_stopped', 'graceful_shutdown');
    await this.listener?.close();
    await this.names.stop().catch((e: unknown) => this.rt.logger.warn(`cluster backend stop failed: ${String(e)}`));
    detachGlobalNames(this.rt);
    this.threads.cluster = undefined;
    this.rt.router.systemExtension = undefined;
    this.status = 'stopped';
    nodes.delete(this.rt);
  }

  // --- Membership -----------------------------------------------------------------------

  /**
   * A node heard of (a seed, the backend, or gossip): known from now on, and dialled if this
   * side should. `configured`: one of the options' seeds, never forgotten.
   */
  private learn(id: string, seed: boolean, configured = false): void {
    // While starting (the backend may report members then) a member is only recorded; it is dialled at attach.
    if (id === this.short || (this.status !== 'running' && this.status !== 'starting')) return;
    let m = this.members.get(id);
    if (m === undefined) {
      const parsed = tryParseNodeId(id);
      if (parsed === undefined || parsed.creation !== undefined || !this.makeRoom()) return;
      m = new Member(id, parsed, seed);
      this.members.set(id, m);
    }
    if (configured) m.configured = true;
    if (m.status === 'disconnected' && !m.dialing && m.retry === undefined && (m.seed || this.short < m.short) && !this.isExcluded(id))
      this.dial(m);
  }

  private dial(m: Member): void {
    if (this.status !== 'running' || m.session !== undefined || m.dialing) return;
    if (this.isExcluded(m.short)) {
      this.scheduleRedial(m);
      return;
    }
    m.dialing = true;
    m.status = 'connecting';
    let dialled: Promise<Session>;
    try {
      dialled = dial({
        ...this.session,
        host: m.id.host,
        port: m.id.port,
        localAddress: this.o.bind === '0.0.0.0' || this.o.bind === '::' ? undefined : this.o.bind,
        expectPeer: m.short,
        tls: this.o.tls,
        onSession: (s) => this.sessionUp(s, true),
      } as Parameters<typeof dial>[0]);
    } catch (e) {
      // dial() rejects rather than throws; should anything throw all the same (this may run
      // while a peer's gossip is handled), it is a failed dial like any other.
      dialled = Promise.reject(e);
    }
    dialled.then(
      () => {
        m.dialing = false;
      },
      (e: unknown) => {
        m.dialing = false;
        // A refused or failed connection is routine (the peer is down); anything else is a bug
        // or a bad address worth a line, and is retried all the same.
        if (!HandshakeError.is(e))
          this.rt.logger.warn(`cluster: dialling ${m.short} failed: ${e instanceof Error ? e.message : String(e)}`);
        if (m.session === undefined) {
          m.status = 'disconnected';
          // Refused as a duplicate: the peer's own connection to us may be on its way, or the
          // peer still holds a connection this side found dead. Either way, try again later.
          this.scheduleRedial(m);
        }
      },
    );
  }

  private scheduleRedial(m: Member): void {
    if (this.status !== 'running' || m.left || m.retry !== undefined) return;
    if (!m.seed && !(this.short < m.short)) return; // the other side dials
    const delay = redialDelay(this.o.reconnectBaseMs, m.attempts, Math.random());
    m.attempts++;
    m.retry = setTimeout(() => {
      m.retry = undefined;
      this.dial(m);
    }, delay);
    m.retry.unref();
  }

  /** Before WELCOME: refuse a second connection to a peer already connected (or being dialled by the smaller name). */
  private admit(peer: HandshakePeer): RejectReason | undefined {
    if (this.status !== 'running') return 'bad_message';
    if (peer.name === this.short) return 'name_mismatch';
    if (tryParseNodeId(peer.name) === undefined) return 'name_mismatch';
    const m = this.members.get(peer.name);
    // A stranger, when the table is full, only if a disconnected member can make room for it.
    if (m === undefined) return this.members.size < this.o.maxMembers || this.evictable() !== undefined ? undefined : 'bad_message';
    // A second connection to this incarnation. From its designated dialer (the smaller id),
    // which dials only once it has judged the old connection dead, it replaces the old one (see
    // sessionUp): this side may not have noticed yet. Otherwise the one already up stays.
    if (m.session !== undefined && m.creation === peer.creation) return peer.name < this.short ? undefined : 'duplicate_connection';
    // Both dialled at once: the connection dialled by the smaller name is kept.
    if (m.dialing && this.short < peer.name) return 'duplicate_connection';
    return undefined;
  }

  /** A handshake completed (dialled or accepted). */
  private sessionUp(s: Session, dialed: boolean): void {
    // Not while starting (the peer retries) nor once stopping (a dial that completes late).
    if (this.status !== 'running') {
      // A handshake that completes while this node leaves: the peer may already count it as
      // up (it sent WELCOME), so it is told this node left gracefully, as the others were.
      s.connection.close(this.status === 'starting' ? 'starting' : 'graceful_shutdown');
      return;
    }
    const peer = s.peer;
    let m = this.members.get(peer.name);
    if (m === undefined) {
      const parsed = tryParseNodeId(peer.name);
      if (parsed === undefined || this.status !== 'running') {
        s.connection.close('name_mismatch');
        return;
      }
      this.makeRoom(); // admitted: room was there when it was
      m = new Member(peer.name, parsed, false);
      this.members.set(peer.name, m);
    }
    if (this.isExcluded(m.short)) {
      // Kept away to prevent overlapping partitions: it comes back once its group reaches it.
      s.connection.close('partitioned');
      return;
    }
    if (m.session !== undefined) {
      if (m.creation === peer.creation) {
        if (dialed || !(peer.name < this.short)) {
          // A second connection to the same incarnation: keep the one already up.
          s.connection.close('duplicate');
          return;
        }
        // The peer found the old connection dead and dialled again: it is gone for it, so it is
        // gone here too (calls on it fail, monitors fire), and the new one comes up.
        this.down(m, 'connection_closed');
      } else this.down(m, 'restarted'); // the old incarnation is gone
    }
    const long = formatNodeId({ ...m.id, creation: peer.creation });
    m.session = s;
    m.long = long;
    m.creation = peer.creation;
    m.status = 'connected';
    m.attempts = 0;
    m.left = false;
    m.downReason = undefined;
    m.unreachableSince = undefined;
    record(m, { at: Date.now(), event: 'up', reason: null });
    if (m.retry !== undefined) clearTimeout(m.retry);
    m.retry = undefined;
    const now = performance.now();
    m.detector = new PhiAccrualDetector(now, {
      maxSilenceMs: this.maxSilenceMs,
      firstIntervalMs: this.o.heartbeatIntervalMs,
      acceptablePauseMs: Math.min(1500, this.maxSilenceMs),
    });
    this.byLong.set(long, m);
    const member = m;
    s.connection.onClose((reason) => {
      if (reason === 'bad_frame' || reason === 'frame_too_large') {
        this.rt.logger.warn(
          `cluster: ${member.short} broke the wire protocol (${reason}: ${s.connection.closeDetail ?? 'no detail'}); closing its connection`,
        );
      } else if (reason === 'send_overflow') {
        this.rt.logger.warn(`cluster: ${member.short} stopped reading; its connection had more queued to send than the bound; closing it`);
      }
      if (member.session === s) this.down(member, downReasonOf(reason));
    });
    s.connection.onDrain(() => this.setBusy(member, false));
    // Frames for no open lane: thread 0's first batches, or a worker's (relayed to it).
    s.lanes.onStray = (frame) => {
      if (frame.kind !== Kind.BATCH) {
        s.connection.close('protocol_error');
        return;
      }
      if (frame.toThread === 0) this.links.ingest(long, frame.fromThread, frame.batch);
      else this.threads.sendToThread(frame.toThread, { op: 'node_in', node: long, from: frame.fromThread, batch: frame.batch });
    };
    this.links.nodeUp(long);
    this.threads.broadcast({ op: 'node_up', node: long });
    this.embedded?.nodeUp(long);
    this.dsups.nodeUp(long);
    // Gossip: the peer learns every member this node is connected to, and they learn it.
    const all = this.connectedShorts();
    for (let i = 0; i < all.length; i += MAX_GOSSIP) this.links.control(long, { type: 'members', nodes: all.slice(i, i + MAX_GOSSIP) });
    for (const other of this.byLong.keys()) if (other !== long) this.links.control(other, { type: 'members', nodes: [m.short] });
    this.emitUp(m.short);
  }

  /** `m` is down for `reason`; its connection is closed telling the peer `goodbye` (default: the reason). */
  private down(m: Member, reason: NodeDownReason, goodbye: string = reason): void {
    const long = m.long;
    if (m.session === undefined || long === undefined) return;
    const s = m.session;
    m.session = undefined;
    m.detector = undefined;
    m.status = 'disconnected';
    m.downReason = reason;
    // Its connection's traffic stays counted; the history shows the down.
    const conn = s.connection;
    m.traffic.bytesIn += conn.bytesIn;
    m.traffic.bytesOut += conn.bytesOut;
    m.traffic.framesIn += conn.framesIn;
    m.traffic.framesOut += conn.framesOut;
    m.lastHeard = conn.lastHeard;
    m.unreachableSince = performance.now();
    record(m, { at: Date.now(), event: 'down', reason });
    this.byLong.delete(long);
    if (!s.connection.isClosed) s.connection.close(goodbye);
    this.links.nodeDown(long, reason);
    this.threads.broadcast({ op: 'node_down', node: long, reason });
    this.embedded?.nodeDown(long);
    this.dsups.nodeDown(long);
    if (reason === 'connection_closed' || reason === 'heartbeat_timeout' || reason === 'protocol_error') {
      this.rt.logger.warn(`cluster: lost node ${m.short} (${reason})`);
      // The others learn that this node lost it (see lost()); a graceful leave is no partition.
      for (const other of this.byLong.keys()) this.links.control(other, { type: 'lost', node: m.short });
    }
    // Exclusions waiting on this node to reach them are lifted: it is gone.
    for (const [x, e] of this.excluded) if (e.keep === m.short) this.excluded.delete(x);
    if (reason === 'graceful_shutdown') m.left = true;
    else this.scheduleRedial(m);
    this.emitDown(m.short, reason);
  }

  private connectedShorts(): string[] {
    const out = [this.short];
    for (const m of this.byLong.values()) out.push(m.short);
    return out;
  }

  /** A CTL payload from thread 0 of peer `long`: membership gossip. */
  private gossip(long: string, payload: unknown): void {
    const sender = this.byLong.get(long);
    if (sender === undefined || !isPlainObject(payload)) return;
    const type = ownData(payload, 'type');
    if (type === 'lost') {
      const node = ownData(payload, 'node');
      if (typeof node === 'string' && node.length <= 400) this.lost(sender, node);
      return;
    }
    const probe = ownData(payload, 'probe');
    if (type === 'ping' && Number.isSafeInteger(probe)) {
      this.links.control(long, { type: 'pong', probe });
      return;
    }
    if (type === 'pong' && typeof probe === 'number') {
      const p = this.probes.get(probe);
      if (p?.from !== long) return; // only the node asked may answer
      this.probes.delete(probe);
      p.onAnswer();
      return;
    }
    if (this.embedded?.gossip(long, payload) === true) return;
    if (this.dsups.gossip(long, payload)) return;
    if (type !== 'members') return;
    const list = ownData(payload, 'nodes');
    if (!Array.isArray(list) || list.length > MAX_GOSSIP) return;
    for (const id of list) {
      if (typeof id !== 'string' || id.length > 400) continue;
      // The sender is connected to `id`: if `id` was kept away because the sender could not reach it, it can now.
      if (this.excluded.get(id)?.keep === sender.short) this.excluded.delete(id);
      this.learn(id, false);
    }
  }

  // --- Failure detection ----------------------------------------------------------------

  private check(): void {
    const now = performance.now();
    const period = Math.max(10, Math.min(this.o.heartbeatIntervalMs, this.maxSilenceMs / 4));
    // How late this timer fired: this node's own lag, which must not count against peers.
    const lag = Math.max(0, now - this.lastCheck - period);
    this.lastCheck = now;
    for (const m of [...this.byLong.values()]) {
      const d = m.detector;
      const s = m.session;
      if (d === undefined || s === undefined) continue;
      d.heartbeat(s.connection.lastHeard);
      if (d.judge(now, lag) !== undefined) this.down(m, 'heartbeat_timeout');
      else if (s.connection.busy) this.setBusy(m, true);
    }
    const forgetAfter = this.o.forgetAfterMs;
    if (forgetAfter !== Number.POSITIVE_INFINITY) {
      for (const m of [...this.members.values()]) {
        const since = m.unreachableSince;
        if (since !== undefined && now - since >= forgetAfter && this.forgettable(m))
          this.forget(m, `unreachable for ${Math.round(now - since)} ms`);
      }
    }
  }

  // --- Forgetting members -----------------------------------------------------------------

  /** Not connected, not being dialled, and not a configured seed: a member that may be forgotten. */
  private forgettable(m: Member): boolean {
    return !m.configured && m.session === undefined && !m.dialing && m.status === 'disconnected';
  }

  /** The member a full table forgets first: the forgettable one heard from least recently (never heard from: first). */
  private evictable(): Member | undefined {
    let victim: Member | undefined;
    let heard = Number.POSITIVE_INFINITY;
    for (const m of this.members.values()) {
      if (!this.forgettable(m)) continue;
      const h = m.lastHeard ?? Number.NEGATIVE_INFINITY;
      if (victim === undefined || h < heard) {
        victim = m;
        heard = h;
      }
    }
    return victim;
  }

  /** Room for one more member: in a full table one forgettable member is forgotten; false when none is. */
  private makeRoom(): boolean {
    if (this.members.size < this.o.maxMembers) return true;
    const victim = this.evictable();
    if (victim === undefined) return false;
    this.forget(victim, `the member table is full (${this.o.maxMembers})`);
    return true;
  }

  /** Drops `m` from the table: it is no longer listed nor redialled (until heard of again). */
  private forget(m: Member, why: string): void {
    if (m.retry !== undefined) clearTimeout(m.retry);
    m.retry = undefined;
    this.members.delete(m.short);
    this.rt.logger.info(`cluster: forgot ${m.short} (${why})`);
  }

  private busy = new Set<string>();

  /**
   * Nodes this one keeps away to prevent overlapping partitions (see {@link lost}): the
   * excluded node's short id → the node it could not reach, whose connection to it again
   * lifts the exclusion.
   */
  private readonly excluded = new Map<string, { keep: string; until: number }>();

  /** True while `short` is kept away (an exclusion lapses after a while, as a safety net). */
  private isExcluded(short: string): boolean {
    const e = this.excluded.get(short);
    if (e === undefined) return false;
    if (performance.now() < e.until) return true;
    this.excluded.delete(short);
    return false;
  }

  /**
   * Peer `reporter` lost its connection to `node` while both are connected here: the group is
   * no longer fully connected. As Erlang's `prevent_overlapping_partitions`, every node that
   * sees both drops the same one (the larger id: each computes it alike, so the groups become
   * cliques) and keeps it away until the other reconnects to it, which lifts the exclusion.
   */
  private lost(reporter: Member, node: string): void {
    const other = this.members.get(node);
    if (other?.session === undefined || reporter.session === undefined || node === this.short || other.long === undefined) return;
    // Never on hearsay: `node` may simply have died (then this node sees it soon). Ask it.
    const probe = this.nextProbe++;
    const timer = setTimeout(() => this.probes.delete(probe), Math.max(200, Math.min(2 * this.o.heartbeatIntervalMs, this.maxSilenceMs)));
    timer.unref();
    this.probes.set(probe, {
      from: other.long,
      onAnswer: () => {
        clearTimeout(timer);
        this.partitioned(reporter, other);
      },
    });
    this.links.control(other.long, { type: 'ping', probe });
  }

  private nextProbe = 1;
  /** Probes sent to check a reported loss, by id: what to do when the answer comes. */
  private readonly probes = new Map<number, { from: string; onAnswer: () => void }>();

  /** `reporter` and `other` cannot talk, and both are connected here: drop one (see {@link lost}). */
  private partitioned(reporter: Member, other: Member): void {
    if (reporter.session === undefined || other.session === undefined) return;
    const node = other.short;
    const drop = reporter.short > node ? reporter : other;
    const keep = drop === reporter ? other : reporter;
    // Lifted when `keep` reports a connection to `drop` again; else it lapses (a report that
    // crossed the probe's answer must not keep a node out for good), and a lasting cut is
    // found and reported again.
    this.excluded.set(drop.short, { keep: keep.short, until: performance.now() + Math.max(30_000, 6 * this.maxSilenceMs) });
    this.rt.logger.warn(`cluster: ${reporter.short} lost ${node}; leaving ${drop.short} to keep the group fully connected`);
    this.down(drop, 'partitioned');
  }

  private setBusy(m: Member, busy: boolean): void {
    const long = m.long;
    if (long === undefined || this.busy.has(long) === busy) return;
    if (busy) this.busy.add(long);
    else this.busy.delete(long);
    this.links.setBusy(long, busy);
    this.threads.broadcast({ op: 'node_busy', node: long, busy });
  }

  // --- Worker relay ---------------------------------------------------------------------

  /**
   * A batch a worker sends to a thread of a peer node: `{ op: 'node_out', node, to, batch }`.
   * Main stamps the worker's own thread as the sender (a worker cannot speak for another) and
   * forwards it on the peer's connection; the peer checks every frame. Returns a problem for a
   * malformed payload (the worker is then cut off).
   */
  fromWorker(thread: number, payload: Record<string, unknown>): string | undefined {
    const node = ownData(payload, 'node');
    const to = ownData(payload, 'to');
    const batch = ownData(payload, 'batch');
    if (typeof node !== 'string' || typeof to !== 'number' || !Number.isInteger(to) || to < 0 || to > MAX_THREAD)
      return 'node_out: bad node or thread';
    if (!Array.isArray(batch) || batch.length % 4 !== 0 || batch.length > MAX_RELAY_WORDS) return 'node_out: bad batch';
    const m = this.byLong.get(node);
    if (m?.session === undefined) {
      this.rt.stats.droppedCasts += batch.length / 4;
      return undefined;
    }
    try {
      m.session.connection.sendBatch(to, thread, batch);
    } catch (e) {
      this.rt.logger.error(`a batch from thread ${thread} to ${m.short} could not be sent: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (m.session.connection.busy) this.setBusy(m, true);
    return undefined;
  }

  // --- System requests from other nodes ---------------------------------------------------

  /** Remote spawn, calls by name and name lookups, sent to process 0 of this node's main thread. */
  private system(msg: unknown, from: From): boolean {
    if (!isPlainObject(msg)) return false;
    const op = ownData(msg, 'op');
    const rt = this.rt;
    if (op === 'whereis') {
      const name = ownData(msg, 'name');
      if (typeof name !== 'string') return false;
      rt.router.reply(from, rt.names.get(name));
      return true;
    }
    if (op === 'named_call') {
      const name = ownData(msg, 'name');
      const timeout = ownData(msg, 'timeout');
      if (typeof name !== 'string' || typeof timeout !== 'number' || !(timeout >= 0)) return false;
      const target = rt.names.get(name);
      if (target === undefined) rt.router.replyError(from, new NoProcessError(`${name} on ${this.short}`));
      else if (rt.router.isLocal(target)) rt.router.deliverRemoteCall(target, ownData(msg, 'msg'), from as never);
      else {
        rt.router.call(target, ownData(msg, 'msg'), timeout).then(
          (v) => rt.router.reply(from, v),
          (e: unknown) => rt.router.replyError(from, e),
        );
      }
      return true;
    }
    if (op === 'observe') {
      // This node's observer view, for an authenticated peer that is connected now (plain data).
      const provider = observeProvider;
      if (provider === undefined || !('call' in from) || !this.byLong.has(from.node)) return false;
      provider(rt).then(
        (v) => rt.router.reply(from, v),
        (e: unknown) => rt.router.replyError(from, e),
      );
      return true;
    }
    if (op === 'spawn') {
      void this.spawn(msg, from);
      return true;
    }
    const reply = (v: unknown): void => rt.router.reply(from, v);
    const fail = (e: unknown): void => rt.router.replyError(from, e);
    return this.embedded?.system(msg, reply, fail) === true || this.dsups.system(msg, reply, fail);
  }

  private async spawn(msg: Record<string, unknown>, from: From): Promise<void> {
    const rt = this.rt;
    try {
      const behaviorName = ownData(msg, 'behavior');
      if (typeof behaviorName !== 'string') throw new InvalidArgumentError('behavior', 'expected a string');
      const behavior = allowedBehavior(rt, behaviorName);
      if (behavior === undefined) throw new NotRegisteredError(`behaviour ${behaviorName}`);
      const name = ownData(msg, 'name');
      const initTimeout = ownData(msg, 'initTimeout');
      const options: Record<string, unknown> = { args: ownData(msg, 'args') };
      if (name !== undefined) options.name = ownData(msg, 'global') === true ? { global: name } : name;
      if (initTimeout !== undefined) options.initTimeout = initTimeout;
      const global = ownData(msg, 'global') === true;
      let ref: AnyRef;
      if (isAllowedThread(behavior)) {
        ref = await withRuntime(rt, () =>
          Supervisor.start({
            strategy: 'one_for_one',
            children: [
              {
                id: behaviorName,
                // The caller's initTimeout, when it gave one, bounds the thread's boot (checked there).
                thread: {
                  ...behavior.thread,
                  args: options.args,
                  ...(initTimeout === undefined ? {} : { initTimeout: initTimeout as number }),
                },
              },
            ],
            ...(name === undefined || global ? {} : { name: name as string }),
          }),
        );
        if (global) {
          // A subtree's supervisor takes its global name once started (a supervisor has no { global } option).
          const started = ref;
          await this.names.register(name as string, started).catch(async (e: unknown) => {
            await withRuntime(rt, () => Supervisor.stop(started as never)).catch(() => {});
            throw e;
          });
        }
      } else ref = await withRuntime(rt, () => GenServer.start(behavior, options as never));
      rt.router.reply(from, ref);
    } catch (e) {
      rt.router.replyError(from, e);
    }
  }

  // --- Events -----------------------------------------------------------------------------

  private emitUp(node: string): void {
    for (const fn of [...this.upHandlers]) {
      try {
        fn(node);
      } catch (e) {
        this.rt.logger.warn(`onNodeUp handler threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private emitDown(node: string, reason: NodeDownReason): void {
    for (const fn of [...this.downHandlers]) {
      try {
        fn(node, reason);
      } catch (e) {
        this.rt.logger.warn(`onNodeDown handler threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /** Every member with its cumulative traffic (past connections plus the current one) and history. */
  observe(): ObservedMember[] {
    const out: ObservedMember[] = [];
    for (const m of this.members.values()) {
      const conn = m.session?.connection;
      const t = m.traffic;
      out.push({
        id: m.short,
        long: m.session === undefined ? undefined : m.long,
        status: m.status,
        bytesIn: t.bytesIn + (conn?.bytesIn ?? 0),
        bytesOut: t.bytesOut + (conn?.bytesOut ?? 0),
        framesIn: t.framesIn + (conn?.framesIn ?? 0),
        framesOut: t.framesOut + (conn?.framesOut ?? 0),
        lastHeard: conn?.lastHeard ?? m.lastHeard,
        history: m.history.slice(),
      });
    }
    return out;
  }

  info(m: Member): NodeInfo {
    const base = {
      id: m.short,
      status: m.status,
      incarnation: m.creation?.toString(36),
      lastSeenMs: m.session?.connection.lastHeard,
    };
    return m.downReason === undefined ? base : { ...base, downReason: m.downReason };
  }

  /** The long id of a connected node given by short or long id; this node's own for itself. */
  resolve(node: string): string | undefined {
    return this.rt.resolveNode?.(node);
  }

  admitHook = (peer: HandshakePeer): RejectReason | undefined => this.admit(peer);
  acceptHook = (s: Session): void => this.sessionUp(s, false);
}

/** Adds `e` to `m`'s history, dropping the oldest past {@link MAX_HISTORY}. */
function record(m: Member, e: MemberEvent): void {
  if (m.history.length >= MAX_HISTORY) m.history.shift();
  m.history.push(e);
}

/** Why a connection closed, as a node-down reason. */
function downReasonOf(reason: CloseReason): NodeDownReason {
  if (reason === 'goodbye:graceful_shutdown') return 'graceful_shutdown';
  if (reason === 'goodbye:heartbeat_timeout') return 'heartbeat_timeout';
  if (reason === 'frame_too_large' || reason === 'bad_frame' || reason === 'goodbye:protocol_error') return 'protocol_error';
  if (reason === 'goodbye:partitioned') return 'partitioned';
  return 'connection_closed';
}

// --- Options ----------------------------------------------------------------------------------

interface ResolvedOptions {
  nodeName: string;
  host: string;
  /** `host` as an IP address (looked up at start when it is a name): what the sockets bind. */
  bind: string;
  advertise: string;
  port: number;
  seeds: string[];
  secret: string;
  heartbeatIntervalMs: number;
  heartbeatMissThreshold: number;
  tls: TlsOptions | undefined;
  handshakeTimeoutMs: number;
  reconnectBaseMs: number;
  forgetAfterMs: number;
  maxMembers: number;
  backend: ClusterBackend | undefined;
  nameResolver: NameResolver | undefined;
}

const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

function resolveOptions(options: unknown, rt: Runtime): ResolvedOptions {
  const o = checkOptions<ClusterOptions>('options passed to Cluster.start', options);
  if (typeof o.nodeName !== 'string' || !NODE_NAME.test(o.nodeName))
    throw new InvalidArgumentError('nodeName', `expected 1-64 letters, digits, '_', '-' or '.', got ${describeValue(o.nodeName)}`);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || tryParseNodeId(`x@${host.includes(':') ? `[${host}]` : host}:1`) === undefined)
    throw new InvalidArgumentError('host', `expected an IP address or host name, got ${describeValue(host)}`);
  const advertise = o.advertise ?? host;
  if (typeof advertise !== 'string' || tryParseNodeId(`x@${advertise.includes(':') ? `[${advertise}]` : advertise}:1`) === undefined)
    throw new InvalidArgumentError('advertise', `expected an IP address or host name, got ${describeValue(advertise)}`);
  if ((advertise === '0.0.0.0' || advertise === '::') && o.advertise === undefined)
    throw new InvalidArgumentError('advertise', `binding ${host} needs the address peers should dial (advertise)`);
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('port', `expected an integer 0-65535, got ${describeValue(port)}`);
  const seeds = o.seeds ?? [];
  if (!Array.isArray(seeds) || seeds.length > MAX_GOSSIP)
    throw new InvalidArgumentError('seeds', `expected an array of at most ${MAX_GOSSIP} node ids`);
  for (const s of seeds) {
    const id = tryParseNodeId(s);
    if (id === undefined || id.creation !== undefined)
      throw new InvalidArgumentError('seeds', `expected node ids 'name@host:port', got ${describeValue(s)}`);
  }
  let secret = o.clusterSecret;
  if (secret === undefined) {
    if (!isLoopback(host))
      throw new InvalidArgumentError('clusterSecret', `a node without a secret binds loopback addresses only, not ${host}`);
    rt.logger.warn('cluster: no clusterSecret given: listening on loopback only, with a well-known secret (any local process can join)');
    secret = DEFAULT_SECRET;
  } else if (typeof secret !== 'string' || secret.length < 16)
    throw new InvalidArgumentError('clusterSecret', 'expected a string of at least 16 characters');
  const heartbeatIntervalMs = checkDuration('heartbeatIntervalMs', o.heartbeatIntervalMs, 500, { min: 10, infinity: false });
  if (heartbeatIntervalMs > 60_000)
    throw new InvalidArgumentError('heartbeatIntervalMs', `expected at most 60000, got ${heartbeatIntervalMs}`);
  const t = o.heartbeatMissThreshold ?? 10;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 2 || t > 1000)
    throw new InvalidArgumentError('heartbeatMissThreshold', `expected an integer from 2 to 1000, got ${describeValue(t)}`);
  const handshakeTimeoutMs = checkDuration('handshakeTimeoutMs', o.handshakeTimeoutMs, 5000, { min: 1, infinity: false });
  if (handshakeTimeoutMs > 2 ** 31 - 1) throw new InvalidArgumentError('handshakeTimeoutMs', 'expected at most 2^31-1');
  const reconnectBaseMs = checkDuration('reconnectBaseMs', o.reconnectBaseMs, 200, { min: 1, infinity: false });
  if (reconnectBaseMs > RECONNECT_CAP_MS) throw new InvalidArgumentError('reconnectBaseMs', `expected at most ${RECONNECT_CAP_MS}`);
  const forgetAfterMs = checkDuration('forgetAfterMs', o.forgetAfterMs, DEFAULT_FORGET_AFTER_MS, { min: 1 });
  if (forgetAfterMs > MAX_TIMER_MS && forgetAfterMs !== Number.POSITIVE_INFINITY)
    throw new InvalidArgumentError('forgetAfterMs', `expected at most 2^31-1 or Infinity, got ${forgetAfterMs}`);
  const maxMembers = o.maxMembers ?? MAX_MEMBERS;
  if (typeof maxMembers !== 'number' || !Number.isInteger(maxMembers) || maxMembers < 1 || maxMembers > MAX_MEMBERS)
    throw new InvalidArgumentError('maxMembers', `expected an integer from 1 to ${MAX_MEMBERS}, got ${describeValue(maxMembers)}`);
  return {
    nodeName: o.nodeName,
    host,
    bind: host,
    advertise,
    port,
    seeds: [...seeds],
    secret,
    heartbeatIntervalMs,
    heartbeatMissThreshold: t,
    tls: o.tls,
    handshakeTimeoutMs,
    reconnectBaseMs,
    forgetAfterMs,
    maxMembers,
    backend: checkBackend(o.backend),
    nameResolver: checkResolver(o.nameResolver),
  };
}

function checkBackend(b: unknown): ClusterBackend | undefined {
  if (b === undefined) return undefined;
  const o = b as Record<string, unknown>;
  if (
    typeof b !== 'object' ||
    b === null ||
    ['start', 'stop', 'register', 'unregister', 'whereis', 'names'].some((k) => typeof o[k] !== 'function')
  )
    throw new InvalidArgumentError('backend', `expected a cluster backend (embedded by default, or etcd({ … })), got ${describeValue(b)}`);
  return b as ClusterBackend;
}

function checkResolver(r: unknown): NameResolver | undefined {
  if (r === undefined) return undefined;
  checkFunction('nameResolver', r);
  return r as NameResolver;
}

// --- API ----------------------------------------------------------------------------------------

function nodeOf(rt: Runtime = currentRuntime()): ClusterNode | undefined {
  return nodes.get(rt);
}

function running(fn: string): ClusterNode {
  const c = nodeOf();
  if (c === undefined || c.status !== 'running')
    throw new InvalidArgumentError(fn, 'the cluster is not running (call Cluster.start first)');
  return c;
}

/**
 * Runtimes whose `Cluster.start` is under way, to when it settles (it never rejects): the
 * runtime's slot is taken before the start's first await, so a second start meanwhile is
 * refused, `getStatus()` says 'starting', and `Cluster.stop()` waits for it.
 */
const starting = new WeakMap<Runtime, Promise<void>>();

/**
 * Starts distribution for the current runtime: listens, then joins the seeds. Resolves with
 * the node id (`name@host:port`). Must come before any process or thread starts on this
 * runtime: every ref carries its node.
 */
async function start(options: ClusterOptions): Promise<string> {
  const rt = currentRuntime();
  const o = resolveOptions(options, rt);
  if (rt.thread !== 0) throw new InvalidArgumentError('Cluster.start', 'a cluster is started from the main thread');
  if (nodes.has(rt) || starting.has(rt)) throw new InvalidArgumentError('Cluster.start', 'the cluster of this runtime is already started');
  if (rt.procs.size > 0)
    throw new InvalidArgumentError('Cluster.start', 'start the cluster before any process or thread: every ref carries its node');
  let settled = (): void => {};
  starting.set(
    rt,
    new Promise<void>((resolve) => {
      settled = resolve;
    }),
  );
  try {
    return await startNow(rt, o);
  } finally {
    starting.delete(rt);
    settled();
  }
}

/** The start itself, its slot taken: binds, then attaches the node. */
async function startNow(rt: Runtime, o: ResolvedOptions): Promise<string> {
  o.bind = await bindAddress(o.host);
  let node: ClusterNode | undefined;
  const listener = await listen({
    secret: o.secret,
    name: `${o.nodeName}@pending`,
    creation: 0,
    host: o.bind,
    port: o.port,
    tls: o.tls,
    handshakeTimeoutMs: o.handshakeTimeoutMs,
    connection: { tickMs: o.heartbeatIntervalMs },
    identityForPort: (port) => {
      node = new ClusterNode(rt, o, port);
      return { name: node.short, creation: node.creation };
    },
    admit: (peer) => (node === undefined ? 'bad_message' : node.admitHook(peer)),
    onSession: (s) => node?.acceptHook(s),
    onRejected: (e, address) => rt.logger.warn(`cluster: refused a connection from ${address}: ${e.reason}`),
  } as Parameters<typeof listen>[0]);
  const n = node as ClusterNode | undefined;
  if (n === undefined) {
    await listener.close();
    throw new RuntimeClosedError('Cluster.start', 'the listener did not bind');
  }
  nodes.set(rt, n);
  try {
    await n.attach(listener);
  } catch (e) {
    await n.stop();
    throw e;
  }
  return n.short;
}

/**
 * `host` as an IP address: itself when it is one, else looked up once, IPv4 first (as Erlang's
 * default distribution, inet_tcp), then IPv6. A name that does not resolve is a bad `host`.
 */
async function bindAddress(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  let why = 'no address';
  for (const family of [4, 6] as const) {
    try {
      return (await lookup(host, { family })).address;
    } catch (e) {
      why = (e as NodeJS.ErrnoException).code ?? String(e);
    }
  }
  throw new InvalidArgumentError('host', `${host} does not resolve to an IP address (${why})`);
}

/**
 * Leaves the cluster gracefully: peers see `graceful_shutdown`; calls to other nodes fail with
 * NodeDownError. A start still under way is waited for, then left.
 */
async function stop(): Promise<void> {
  const rt = currentRuntime();
  await starting.get(rt);
  await nodes.get(rt)?.stop();
}

function getStatus(): ClusterStatus {
  const rt = currentRuntime();
  return nodes.get(rt)?.status ?? (starting.has(rt) ? 'starting' : 'stopped');
}

function getLocalNodeId(): string {
  return running('Cluster.getLocalNodeId').short;
}

function getNodes(): NodeInfo[] {
  const c = nodeOf();
  return c === undefined ? [] : [...c.members.values()].map((m) => c.info(m));
}

function getConnectedNodes(): NodeInfo[] {
  return getNodes().filter((n) => n.status === 'connected');
}

function getNodeIds(): string[] {
  return getConnectedNodes().map((n) => n.id);
}

function isNodeConnected(nodeId: string): boolean {
  if (typeof nodeId !== 'string') throw new InvalidArgumentError('nodeId', `expected 'name@host:port', got ${describeValue(nodeId)}`);
  const c = nodeOf();
  return c !== undefined && c.resolve(nodeId) !== undefined && shortNodeId(nodeId) !== c.short;
}

function onNodeUp(fn: (nodeId: string) => void): () => void {
  checkFunction('fn passed to Cluster.onNodeUp', fn);
  const c = running('Cluster.onNodeUp');
  c.upHandlers.add(fn);
  return () => {
    c.upHandlers.delete(fn);
  };
}

function onNodeDown(fn: (nodeId: string, reason: NodeDownReason) => void): () => void {
  checkFunction('fn passed to Cluster.onNodeDown', fn);
  const c = running('Cluster.onNodeDown');
  c.downHandlers.add(fn);
  return () => {
    c.downHandlers.delete(fn);
  };
}

/**
 * Cluster options from the environment: `SPINDLE_NODE` (`name@host:port`, required),
 * `SPINDLE_SEEDS` (comma-separated ids), `SPINDLE_CLUSTER_SECRET`, `SPINDLE_HEARTBEAT_MS`.
 */
function optionsFromEnv(env: Record<string, string | undefined> = process.env): ClusterOptions {
  const id = tryParseNodeId(env.SPINDLE_NODE);
  if (id === undefined || id.creation !== undefined)
    throw new InvalidArgumentError('SPINDLE_NODE', `expected 'name@host:port', got ${describeValue(env.SPINDLE_NODE)}`);
  const o: ClusterOptions = { nodeName: id.name, host: id.host, port: id.port };
  const seeds = env.SPINDLE_SEEDS;
  if (seeds !== undefined && seeds.trim() !== '') o.seeds = seeds.split(',').map((s) => s.trim());
  if (env.SPINDLE_CLUSTER_SECRET !== undefined) o.clusterSecret = env.SPINDLE_CLUSTER_SECRET;
  if (env.SPINDLE_HEARTBEAT_MS !== undefined) o.heartbeatIntervalMs = Number(env.SPINDLE_HEARTBEAT_MS);
  return o;
}

/** Distribution: start and stop this node's cluster, and watch its members. */
export const Cluster = {
  start,
  stop,
  getStatus,
  getLocalNodeId,
  getNodes,
  getConnectedNodes,
  getNodeIds,
  isNodeConnected,
  onNodeUp,
  onNodeDown,
  optionsFromEnv,
} as const;

/**
 * The wait before redial number `attempts` (0 first): `baseMs` doubled per failed attempt, at
 * most RECONNECT_CAP_MS, times a jitter factor from 0.5 to 1.5 (`random` in [0, 1)) so that a
 * cluster does not redial in lockstep. @internal
 */
export function redialDelay(baseMs: number, attempts: number, random: number): number {
  return Math.min(RECONNECT_CAP_MS, baseMs * 2 ** Math.min(attempts, 16)) * (0.5 + random);
}
