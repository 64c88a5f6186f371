/**
 * A model of the membership rules of src/cluster/cluster.ts (ClusterNode), one state machine
 * per node over {@link SimNetwork}. Every rule names the cluster.ts function it mirrors; the
 * transport below it is reduced to what membership observes:
 *
 * - The handshake (session.ts/handshake.ts) is one round trip: `hello` (HELLO+PROOF; the
 *   acceptor runs `admit` on it) answered by `welcome` or `reject`. As in session.ts, the
 *   acceptor's WELCOME goes out before its `sessionUp`, so whatever that sends follows it.
 *   A dial to a node that stopped is refused after a round trip; to a crashed or cut-off node
 *   it times out (`handshakeTimeoutMs`).
 * - A connection is a stream: FIFO per direction (the network keeps it). Closing it sends the
 *   goodbye reason after the data; the peer's `onClose` runs `down(downReasonOf(reason))`.
 * - A cut breaks every connection across it for good (what it carried is lost): each side
 *   declares `heartbeat_timeout` after `silenceMs` ± 20 % (the φ-accrual detector, capped at
 *   `heartbeatIntervalMs × heartbeatMissThreshold`, judges a silent link within that cap).
 *   A cut healed before that still ends the connection (TCP would have kept it): stricter.
 * - A crash closes the node's sockets: peers see `connection_closed` one latency later
 *   (`crash(i, 'silent')`: a machine that vanished, seen by silence).
 *
 * A names backend (names.ts) plugs in as in the constructor of ClusterNode: `nodeUp` /
 * `nodeDown` / `gossip` / `system`, and `call`/`control` here play NodeLinks and the router.
 */
import { CallTimeoutError, NodeDownError, NoProcessError } from '../../../src/errors.js';
import { type SimMessage, SimNetwork, type SimTimer } from './network.js';

/** cluster.ts constants. */
const RECONNECT_CAP_MS = 5000;

export type DownReason =
  | 'connection_closed'
  | 'heartbeat_timeout'
  | 'protocol_error'
  | 'partitioned'
  | 'graceful_shutdown'
  | 'cluster_stopped'
  | 'restarted';

export interface MembershipOptions {
  nodes: number;
  /** Indexes of the seed nodes (every node is given them all). */
  seeds: readonly number[];
  seed: number;
  latencyMs?: number;
  jitterMs?: number;
  heartbeatIntervalMs?: number;
  heartbeatMissThreshold?: number;
  /** How long a side takes to judge a silent (cut) connection; default 60 % of the cap. */
  silenceMs?: number;
  handshakeTimeoutMs?: number;
  reconnectBaseMs?: number;
  /** cluster.ts MAX_GOSSIP (1024): a `members` list longer than this is ignored. */
  maxGossip?: number;
  /** cluster.ts MAX_MEMBERS (4096). */
  maxMembers?: number;
  /** Nodes start at random times within this many ms (default 0: all at once). */
  startSpreadMs?: number;
  /**
   * A proposed change, off by default (the model follows cluster.ts): a dial refused as
   * `duplicate_connection` is redialled with backoff like any other failure.
   */
  redialOnDuplicate?: boolean;
}

/** What a names backend sees of a node (the hooks ClusterNode gives EmbeddedNames). */
export interface SimBackend {
  nodeUp(long: string): void;
  nodeDown(long: string): void;
  gossip(from: string, payload: Record<string, unknown>): boolean;
  system(msg: Record<string, unknown>, reply: (v: unknown) => void, fail: (e: unknown) => void): boolean;
}

/** A connection attempt and, once accepted, the connection. */
export class Conn {
  broken = false;
  /** The dialer's handshake ended (welcome, reject, refusal or timeout). */
  settled = false;
  hsTimer: SimTimer | undefined;
  /** Which sides hold it as their session. */
  upDialer = false;
  upAcceptor = false;
  constructor(
    readonly dialer: number,
    readonly acceptor: number,
  ) {}
}

/** cluster.ts `Member`. */
export class Member {
  session: Conn | undefined;
  long: string | undefined;
  creation: number | undefined;
  status: 'connected' | 'connecting' | 'disconnected' = 'disconnected';
  dialing = false;
  attempts = 0;
  retry: SimTimer | undefined;
  downReason: DownReason | undefined;
  left = false;
  constructor(
    readonly short: string,
    readonly idx: number,
    readonly seed: boolean,
  ) {}
}

interface PendingCall {
  long: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: SimTimer;
}

/** `downReasonOf` of cluster.ts. */
function downReasonOf(reason: string): DownReason {
  if (reason === 'goodbye:graceful_shutdown') return 'graceful_shutdown';
  if (reason === 'goodbye:heartbeat_timeout') return 'heartbeat_timeout';
  if (reason === 'goodbye:protocol_error') return 'protocol_error';
  if (reason === 'goodbye:partitioned') return 'partitioned';
  return 'connection_closed';
}

export class SimNode {
  status: 'stopped' | 'running' | 'stopping' | 'crashed' = 'stopped';
  readonly members = new Map<string, Member>();
  readonly byLong = new Map<string, Member>();
  /** cluster.ts `excluded`: excluded short id → the node whose reconnection lifts it. */
  readonly excluded = new Map<string, string>();
  private readonly probes = new Map<number, { from: string; onAnswer: () => void }>();
  private nextProbe = 1;
  private readonly calls = new Map<number, PendingCall>();
  private nextCall = 1;
  private connectedCache: string[] | undefined;
  backend: SimBackend | undefined;
  /** Log of `partitioned` decisions (who dropped whom), for reports. */
  readonly drops: string[] = [];
  /** `name@host:port~creation`. */
  readonly long: string;

  constructor(
    readonly sim: MembershipSim,
    readonly idx: number,
    readonly short: string,
    readonly creation: number,
  ) {
    this.long = `${short}~${creation.toString(36)}`;
  }

  private get net(): SimNetwork {
    return this.sim.net;
  }

  /** NodeLinks.connected(): the long ids of the connected peers (cached; do not mutate). */
  connected(): string[] {
    if (this.connectedCache === undefined) this.connectedCache = [...this.byLong.keys()];
    return this.connectedCache;
  }

  /** `attach`: running, then the seeds are learnt. */
  start(): void {
    this.status = 'running';
    for (const s of this.sim.seedIds) this.learn(s, true);
  }

  /** `stop`: a graceful leave; peers see `graceful_shutdown` and do not redial. */
  stop(): void {
    if (this.status !== 'running') return;
    this.status = 'stopping';
    for (const m of this.members.values()) {
      this.net.clearTimeout(m.retry);
      m.retry = undefined;
    }
    for (const m of [...this.byLong.values()]) this.down(m, 'cluster_stopped', 'graceful_shutdown');
    this.status = 'stopped';
  }

  // --- Membership (cluster.ts) --------------------------------------------------------------

  /** `learn`: known from now on, and dialled if this side should (a seed, or this id is smaller). */
  learn(id: string, seed: boolean): void {
    if (id === this.short || this.status !== 'running') return;
    let m = this.members.get(id);
    if (m === undefined) {
      if (this.members.size >= this.sim.maxMembers) return;
      const idx = this.sim.indexOf(id);
      if (idx === undefined) return; // tryParseNodeId failed
      m = new Member(id, idx, seed);
      this.members.set(id, m);
    }
    if (m.status === 'disconnected' && !m.dialing && m.retry === undefined && (m.seed || this.short < m.short) && !this.excluded.has(id))
      this.dial(m);
  }

  /** `dial`: an excluded node is only rescheduled; otherwise a handshake starts. */
  private dial(m: Member): void {
    if (this.status !== 'running' || m.session !== undefined || m.dialing) return;
    if (this.excluded.has(m.short)) {
      this.scheduleRedial(m);
      return;
    }
    m.dialing = true;
    m.status = 'connecting';
    const conn = new Conn(this.idx, m.idx);
    conn.hsTimer = this.net.setTimeout(() => this.dialFailed(m, conn, 'timeout'), this.sim.handshakeTimeoutMs);
    this.net.send(this.idx, m.idx, 'hello', undefined, conn);
  }

  /** The rejection branch of `dial`'s promise: a refused duplicate is not redialled. */
  private dialFailed(m: Member, conn: Conn, reason: string): void {
    if (conn.settled) return;
    conn.settled = true;
    this.net.clearTimeout(conn.hsTimer);
    m.dialing = false;
    if (conn.upAcceptor) this.net.send(this.idx, m.idx, 'close', 'connection_closed', conn); // the socket is dropped
    if (m.session === undefined) {
      m.status = 'disconnected';
      if (reason !== 'duplicate_connection' || this.sim.redialOnDuplicate) this.scheduleRedial(m);
    }
  }

  /** `scheduleRedial`: exponential backoff with jitter, by the designated dialer only. */
  scheduleRedial(m: Member): void {
    if (this.status !== 'running' || m.left || m.retry !== undefined) return;
    if (!m.seed && !(this.short < m.short)) return; // the other side dials
    const base = this.sim.reconnectBaseMs * 2 ** Math.min(m.attempts, 16);
    const delay = Math.min(RECONNECT_CAP_MS, base) * (0.5 + this.net.rng.next());
    m.attempts++;
    m.retry = this.net.setTimeout(() => {
      m.retry = undefined;
      this.dial(m);
    }, delay);
  }

  /** `admit`: refuse a second connection to a peer already connected (or being dialled by the smaller name). */
  private admit(peerShort: string, peerCreation: number): string | undefined {
    if (this.status !== 'running') return 'bad_message';
    if (peerShort === this.short) return 'name_mismatch';
    const m = this.members.get(peerShort);
    if (m === undefined) return this.members.size >= this.sim.maxMembers ? 'bad_message' : undefined;
    // A dial from the designated dialer (the smaller id) replaces a connection it found dead.
    if (m.session !== undefined && m.creation === peerCreation) return peerShort < this.short ? undefined : 'duplicate_connection';
    if (m.dialing && this.short < peerShort) return 'duplicate_connection';
    return undefined;
  }

  /** The acceptor's side of the handshake (session.ts `accept` with `admit`, then `acceptHook`). */
  onHello(conn: Conn): void {
    const peer = this.sim.nodes[conn.dialer] as SimNode;
    if (this.status === 'stopped') {
      this.net.send(this.idx, conn.dialer, 'refused', undefined, conn); // listener closed: ECONNREFUSED
      return;
    }
    const verdict = this.admit(peer.short, peer.creation);
    if (verdict !== undefined) {
      this.net.send(this.idx, conn.dialer, 'reject', verdict, conn);
      return;
    }
    this.net.send(this.idx, conn.dialer, 'welcome', undefined, conn);
    this.sessionUp(conn, false);
  }

  /** The dialer's side: WELCOME (onSession, then the promise's `dialing = false`), REJECT or a refusal. */
  onAnswer(conn: Conn, type: string, reason: unknown): void {
    const peer = this.sim.nodes[conn.acceptor] as SimNode;
    const m = this.members.get(peer.short);
    if (m === undefined) return;
    if (type !== 'welcome') {
      this.dialFailed(m, conn, String(reason ?? type));
      return;
    }
    if (conn.settled) {
      this.net.send(this.idx, conn.acceptor, 'close', 'connection_closed', conn); // timed out: the socket was dropped
      return;
    }
    conn.settled = true;
    this.net.clearTimeout(conn.hsTimer);
    this.sessionUp(conn, true);
    m.dialing = false;
    if (m.session === undefined) m.status = 'disconnected';
  }

  /** Closes a connection this side never held as its session (goodbye `reason`). */
  private refuse(conn: Conn, peer: number, reason: string): void {
    this.net.send(this.idx, peer, 'close', `goodbye:${reason}`, conn);
  }

  /** `sessionUp`: a handshake completed (dialled or accepted). */
  private sessionUp(conn: Conn, dialed: boolean): void {
    const peerIdx = dialed ? conn.acceptor : conn.dialer;
    const peer = this.sim.nodes[peerIdx] as SimNode;
    let m = this.members.get(peer.short);
    if (m === undefined) {
      if (this.status !== 'running') {
        this.refuse(conn, peerIdx, 'name_mismatch');
        return;
      }
      m = new Member(peer.short, peerIdx, false);
      this.members.set(peer.short, m);
    }
    if (this.excluded.has(m.short)) {
      // Kept away to prevent overlapping partitions: it comes back once its group reaches it.
      this.refuse(conn, peerIdx, 'partitioned');
      return;
    }
    if (m.session !== undefined) {
      if (m.creation === peer.creation) {
        if (dialed || !(peer.short < this.short)) {
          this.refuse(conn, peerIdx, 'duplicate');
          return;
        }
        this.down(m, 'connection_closed'); // the peer found the old connection dead
      } else this.down(m, 'restarted');
    }
    const long = peer.long;
    m.session = conn;
    m.long = long;
    m.creation = peer.creation;
    m.status = 'connected';
    m.attempts = 0;
    m.left = false;
    m.downReason = undefined;
    this.net.clearTimeout(m.retry);
    m.retry = undefined;
    if (dialed) conn.upDialer = true;
    else conn.upAcceptor = true;
    this.sim.live.add(conn);
    this.byLong.set(long, m);
    this.connectedCache = undefined;
    this.sim.sides++;
    this.backend?.nodeUp(long);
    // Gossip: the peer learns every member this node is connected to, and they learn it.
    const all = this.connectedShorts(); // cluster.ts sends it in chunks of MAX_GOSSIP
    for (let i = 0; i < all.length; i += this.sim.maxGossip)
      this.control(long, { type: 'members', nodes: all.slice(i, i + this.sim.maxGossip) });
    const one = { type: 'members', nodes: [m.short] };
    // (this.control(other, one) for every other peer, without its lookup: the hot loop of a join)
    for (const o of this.byLong.values()) if (o !== m) this.net.send(this.idx, o.idx, 'members', one, o.session);
  }

  /** `down`: `m` is down for `reason`; the peer is told `goodbye` (default: the reason). */
  down(m: Member, reason: DownReason, goodbye: string = reason): void {
    const long = m.long;
    if (m.session === undefined || long === undefined) return;
    const s = m.session;
    m.session = undefined;
    m.status = 'disconnected';
    m.downReason = reason;
    this.byLong.delete(long);
    this.connectedCache = undefined;
    this.sim.sides--;
    if (s.dialer === this.idx) s.upDialer = false;
    else s.upAcceptor = false;
    if (!s.upDialer && !s.upAcceptor) this.sim.live.delete(s);
    this.net.send(this.idx, m.idx, 'close', `goodbye:${goodbye}`, s);
    // The router: calls to the node fail.
    for (const [id, c] of this.calls)
      if (c.long === long) {
        this.calls.delete(id);
        this.net.clearTimeout(c.timer);
        c.reject(new NodeDownError(m.short, reason === 'cluster_stopped' ? 'cluster_stopped' : 'connection_closed'));
      }
    this.backend?.nodeDown(long);
    if (reason === 'connection_closed' || reason === 'heartbeat_timeout' || reason === 'protocol_error') {
      // The others learn that this node lost it (see lost()); a graceful leave is no partition.
      const payload = { type: 'lost', node: m.short };
      for (const other of this.byLong.keys()) this.control(other, payload);
    }
    // Exclusions waiting on this node to reach them are lifted: it is gone.
    for (const [x, keep] of this.excluded) if (keep === m.short) this.excluded.delete(x);
    if (reason === 'graceful_shutdown') m.left = true;
    else this.scheduleRedial(m);
  }

  /** `connectedShorts`. */
  connectedShorts(): string[] {
    const out = [this.short];
    for (const m of this.byLong.values()) out.push(m.short);
    return out;
  }

  /** `s.connection.onClose`: `if (member.session === s) down(member, downReasonOf(reason))`. */
  onClose(conn: Conn, from: number, reason: string): void {
    const m = this.members.get((this.sim.nodes[from] as SimNode).short);
    if (m !== undefined && m.session === conn) this.down(m, downReasonOf(reason));
  }

  /** The φ-accrual detector judged a silent connection: `check` → `down(heartbeat_timeout)`. */
  onSilence(conn: Conn, from: number): void {
    const m = this.members.get((this.sim.nodes[from] as SimNode).short);
    if (m !== undefined && m.session === conn && this.status === 'running') this.down(m, 'heartbeat_timeout');
  }

  /** NodeLinks.control: a CTL payload to thread 0 of a connected peer (dropped when not connected). */
  control(long: string, payload: { type: string } & Record<string, unknown>): void {
    const m = this.byLong.get(long);
    if (m?.session === undefined) return;
    this.net.send(this.idx, m.idx, payload.type, payload, m.session);
  }

  /** `gossip`: a CTL payload from thread 0 of peer `long`. */
  gossip(long: string, payload: Record<string, unknown>, sender: Member | undefined = this.byLong.get(long)): void {
    if (sender === undefined) return;
    const type = payload.type;
    if (type === 'lost') {
      const node = payload.node;
      if (typeof node === 'string' && node.length <= 400) this.lost(sender, node);
      return;
    }
    const probe = payload.probe;
    if (type === 'ping' && Number.isSafeInteger(probe)) {
      this.control(long, { type: 'pong', probe });
      return;
    }
    if (type === 'pong' && typeof probe === 'number') {
      const p = this.probes.get(probe);
      if (p?.from !== long) return; // only the node asked may answer
      this.probes.delete(probe);
      p.onAnswer();
      return;
    }
    if (this.backend?.gossip(long, payload) === true) return;
    if (type !== 'members') return;
    const list = payload.nodes;
    if (!Array.isArray(list) || list.length > this.sim.maxGossip) {
      this.sim.ignoredLists++;
      return;
    }
    for (const id of list) {
      if (typeof id !== 'string' || id.length > 400) continue;
      // The sender is connected to `id`: if `id` was kept away because the sender could not reach it, it can now.
      if (this.excluded.get(id) === sender.short) this.excluded.delete(id);
      this.learn(id, false);
    }
  }

  /** `lost`: `reporter` lost `node`; never on hearsay: `node` is asked first (a probe). */
  private lost(reporter: Member, node: string): void {
    const other = this.members.get(node);
    if (other?.session === undefined || reporter.session === undefined || node === this.short || other.long === undefined) return;
    const probe = this.nextProbe++;
    const hb = this.sim.heartbeatIntervalMs;
    const timer = this.net.setTimeout(() => this.probes.delete(probe), Math.max(200, Math.min(2 * hb, this.sim.maxSilenceMs)));
    this.probes.set(probe, {
      from: other.long,
      onAnswer: () => {
        this.net.clearTimeout(timer);
        this.partitioned(reporter, other);
      },
    });
    this.control(other.long, { type: 'ping', probe });
  }

  /** `partitioned`: both connected here but not to each other: the larger id is dropped and kept away. */
  private partitioned(reporter: Member, other: Member): void {
    if (reporter.session === undefined || other.session === undefined) return;
    const drop = reporter.short > other.short ? reporter : other;
    const keep = drop === reporter ? other : reporter;
    this.excluded.set(drop.short, keep.short);
    this.drops.push(`${this.short} dropped ${drop.short} (kept ${keep.short})`);
    this.down(drop, 'partitioned');
  }

  // --- System calls (the router's call/reply to process 0) -----------------------------------

  /** `rt.router.call(makeRef(node, 0, 0), msg, timeoutMs)`. */
  call(long: string, msg: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const m = this.byLong.get(long);
    if (m?.session === undefined) return Promise.reject(new NodeDownError(long, 'connection_closed'));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      const timer = this.net.setTimeout(() => {
        if (this.calls.delete(id)) reject(new CallTimeoutError('process 0', timeoutMs, '"g_register"'));
      }, timeoutMs);
      this.calls.set(id, { long, resolve, reject, timer });
      this.net.send(this.idx, m.idx, 'call', { id, msg }, m.session);
    });
  }

  onCall(from: string, conn: Conn, id: number, msg: Record<string, unknown>): void {
    const reply = (ok: boolean, value: unknown) => {
      const m = this.byLong.get(from);
      if (m?.session === conn) this.net.send(this.idx, m.idx, 'reply', { id, ok, value }, conn);
    };
    const handled = this.backend?.system(
      msg,
      (v) => reply(true, v),
      (e) => reply(false, e),
    );
    if (handled !== true) reply(false, new NoProcessError('process 0'));
  }

  onReply(id: number, ok: boolean, value: unknown): void {
    const c = this.calls.get(id);
    if (c === undefined) return;
    this.calls.delete(id);
    this.net.clearTimeout(c.timer);
    if (ok) c.resolve(value);
    else c.reject(value);
  }
}

/** A cluster of simulated nodes. */
export class MembershipSim {
  readonly net: SimNetwork;
  readonly nodes: SimNode[] = [];
  readonly seedIds: string[];
  /** Live connections (held as a session by at least one side). */
  readonly live = new Set<Conn>();
  /** Sum over nodes of connected peers. */
  sides = 0;
  /** Nodes whose start is still to come. */
  unstarted = 0;
  /** `members` lists ignored for being longer than maxGossip. */
  ignoredLists = 0;
  readonly heartbeatIntervalMs: number;
  readonly maxSilenceMs: number;
  readonly silenceMs: number;
  readonly handshakeTimeoutMs: number;
  readonly reconnectBaseMs: number;
  readonly maxGossip: number;
  readonly maxMembers: number;
  readonly redialOnDuplicate: boolean;
  private readonly index = new Map<string, number>();

  constructor(o: MembershipOptions) {
    this.net = new SimNetwork({ nodes: o.nodes, seed: o.seed, latencyMs: o.latencyMs, jitterMs: o.jitterMs });
    this.heartbeatIntervalMs = o.heartbeatIntervalMs ?? 500;
    this.maxSilenceMs = this.heartbeatIntervalMs * (o.heartbeatMissThreshold ?? 10);
    this.silenceMs = o.silenceMs ?? 0.6 * this.maxSilenceMs;
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 5000;
    this.reconnectBaseMs = o.reconnectBaseMs ?? 200;
    this.maxGossip = o.maxGossip ?? 1024;
    this.maxMembers = o.maxMembers ?? 4096;
    this.redialOnDuplicate = o.redialOnDuplicate ?? true;
    // Names in a shuffled order, so that id order (which decides dialers and arbiters) is not join order.
    const order = this.net.rng.shuffle([...Array(o.nodes).keys()]);
    for (let i = 0; i < o.nodes; i++) {
      const short = `n${String(order[i]).padStart(5, '0')}@sim:${10000 + i}`;
      const creation = 1 + this.net.rng.int(0xfffffffe);
      this.nodes.push(new SimNode(this, i, short, creation));
      this.index.set(short, i);
    }
    this.seedIds = o.seeds.map((i) => (this.nodes[i] as SimNode).short);
    this.net.deliver = (msg) => this.deliver(msg);
    const spread = o.startSpreadMs ?? 0;
    for (const node of this.nodes) {
      if (spread <= 0) node.start();
      else {
        this.unstarted++;
        this.net.setTimeout(() => {
          this.unstarted--;
          node.start();
        }, this.net.rng.next() * spread);
      }
    }
  }

  indexOf(short: string): number | undefined {
    return this.index.get(short);
  }

  node(i: number): SimNode {
    return this.nodes[i] as SimNode;
  }

  private deliver(msg: SimMessage): void {
    const to = this.nodes[msg.to] as SimNode;
    const conn = msg.conn as Conn;
    if (conn?.broken) {
      this.net.dropped++;
      return;
    }
    switch (msg.type) {
      case 'hello':
        to.onHello(conn);
        return;
      case 'welcome':
      case 'reject':
      case 'refused':
        if (to.status === 'running' || to.status === 'stopping') to.onAnswer(conn, msg.type, msg.payload);
        return;
      case 'close':
        to.onClose(conn, msg.from, msg.payload as string);
        return;
    }
    // Data: only on the receiver's live session with the sender.
    const from = this.nodes[msg.from] as SimNode;
    const m = to.members.get(from.short);
    if (m === undefined || m.session !== conn || to.status !== 'running') return;
    if (msg.type === 'call') {
      const p = msg.payload as { id: number; msg: Record<string, unknown> };
      to.onCall(from.long, conn, p.id, p.msg);
    } else if (msg.type === 'reply') {
      const p = msg.payload as { id: number; ok: boolean; value: unknown };
      to.onReply(p.id, p.ok, p.value);
    } else to.gossip(from.long, msg.payload as Record<string, unknown>, m);
  }

  /** After a change of cuts: every connection across one is broken and judged silent by each side. */
  private breakBlocked(): void {
    for (const c of this.live) {
      if (c.broken || !this.net.blocked(c.dialer, c.acceptor)) continue;
      c.broken = true;
      for (const [self, peer] of [
        [c.dialer, c.acceptor],
        [c.acceptor, c.dialer],
      ] as const) {
        const node = this.nodes[self] as SimNode;
        if (this.net.crashed[self] === 1) continue;
        this.net.setTimeout(() => node.onSilence(c, peer), this.silenceMs * (0.8 + 0.4 * this.net.rng.next()));
      }
    }
  }

  cut(a: number, b: number): void {
    this.net.cut(a, b);
    this.breakBlocked();
  }

  partition(sides: readonly (readonly number[])[]): void {
    this.net.partition(sides);
    this.breakBlocked();
  }

  heal(a: number, b: number): void {
    this.net.heal(a, b);
  }

  healAll(): void {
    this.net.healAll();
  }

  /** The node crashes: peers see its sockets close (`'closed'`) or go silent (`'silent'`). */
  crash(i: number, how: 'closed' | 'silent' = 'closed'): void {
    const node = this.nodes[i] as SimNode;
    if (node.status === 'crashed') return;
    for (const c of this.live) {
      if (c.dialer !== i && c.acceptor !== i) continue;
      const peer = c.dialer === i ? c.acceptor : c.dialer;
      const p = this.nodes[peer] as SimNode;
      if (how === 'silent' || this.net.blocked(i, peer)) {
        c.broken = true;
        this.net.setTimeout(() => p.onSilence(c, i), this.silenceMs * (0.8 + 0.4 * this.net.rng.next()));
      } else this.net.setTimeout(() => p.onClose(c, i, 'connection_closed'), this.net.latency() / 10);
    }
    this.net.crash(i);
    node.status = 'crashed';
  }

  /** Nodes neither crashed nor stopped. */
  alive(): SimNode[] {
    return this.nodes.filter((n) => n.status === 'running');
  }

  /** Every running node is connected to every other running node, and to nothing else. */
  fullMesh(): boolean {
    if (this.unstarted > 0) return false;
    const alive = this.alive();
    const a = alive.length;
    if (this.sides < a * (a - 1)) return false;
    for (const n of alive) {
      if (n.byLong.size !== a - 1) return false;
      for (const o of alive) if (o !== n && !n.byLong.has(o.long)) return false;
    }
    return true;
  }

  /** The mesh is full and no connection is in a handshake or a redial wait. */
  settled(): boolean {
    if (!this.fullMesh()) return false;
    for (const n of this.alive()) for (const m of n.members.values()) if (m.dialing) return false;
    return true;
  }
}
