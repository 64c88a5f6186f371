/**
 * A fault-injecting TCP proxy on loopback, for the multi-node fault tests.
 *
 * It listens on `listenHost:listenPort` (default an ephemeral port on 127.0.0.1) and forwards
 * every accepted connection to `target`, binding its outgoing socket to `localAddress` (so the
 * target sees the connection come from the address the real dialer would use). Faults:
 *
 * - `delay(ms)`: each chunk is held `ms` before it is forwarded (both directions, order kept).
 * - `throttle(bytesPerSecond)`: each direction of each connection is limited to that rate
 *   (what arrives faster is queued in the proxy, order kept).
 * - `blackhole()`: nothing is read or forwarded any more, in either direction, and nothing is
 *   closed: the sockets stay open and silent, as in a network partition. The proxy stops
 *   reading, so unread bytes stay in the kernel buffers (TCP flow control pushes back on the
 *   senders) and an end or reset from one side is not seen until `heal()`. A connection
 *   accepted while blackholed is not connected upstream until `heal()` (what it sends is
 *   kept for then); if its client closes first, it never reaches the target at all.
 * - `blackholeFrom(address)`: the same, only for the connections whose client dials from
 *   `address` (a partition between two nodes when each has a proxy in front of it).
 * - `cut()`: destroys every current connection (both sides see a reset/close).
 * - `heal()`: clears the delay, the throttle and every blackhole; held bytes flow again.
 * - `close()`: stops listening and destroys every connection.
 *
 * `tap` sees every chunk forwarded (`'up'`: client to target, `'down'`: target to client), in
 * order, e.g. to capture a handshake.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type Direction = 'up' | 'down';

export interface ProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Address to listen on; default '127.0.0.1'. Must be a loopback address. */
  readonly listenHost?: string;
  /** Port to listen on; default 0 (ephemeral). */
  readonly listenPort?: number;
  /**
   * Local address of the outgoing (upstream) sockets; `'client'`: the address the client
   * dialled from (the target sees the real dialer's address).
   */
  readonly localAddress?: string;
  /** Sees every forwarded chunk, in order. */
  readonly tap?: (direction: Direction, chunk: Buffer, connection: number) => void;
}

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

/** One direction of one connection: `from` → `to`, with the delay queue and pause reasons. */
class Pipe {
  private readonly queue: { due: number; chunk: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private backpressured = false;
  private ended = false;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly held: () => boolean,
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly direction: Direction,
    private readonly id: number,
  ) {
    from.on('data', (chunk: Buffer) => this.onData(chunk));
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
    to.on('drain', () => {
      this.backpressured = false;
      this.update();
    });
  }

  /** Pauses or resumes reading `from` according to the blackhole and backpressure. */
  update(): void {
    if (this.held()) {
      if (!this.from.destroyed) this.from.pause();
      return;
    }
    if (this.queue.length > 0) this.schedule();
    else this.flush();
    if (this.from.destroyed) return;
    if (this.backpressured) this.from.pause();
    else this.from.resume();
  }

  /** When the last queued byte may go (throttling), ms since the epoch. */
  private lastDue = 0;

  private onData(chunk: Buffer): void {
    const delay = this.proxy.delayMs;
    const rate = this.proxy.bytesPerSecond;
    if (delay === 0 && rate === Number.POSITIVE_INFINITY && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const now = Date.now();
    if (rate === Number.POSITIVE_INFINITY) {
      this.queue.push({ due: now + delay, chunk });
    } else {
      // Slices of at most 16 KiB, each due when the bandwidth allows it.
      for (let at = 0; at < chunk.length; at += 16384) {
        const piece = chunk.subarray(at, Math.min(chunk.length, at + 16384));
        this.lastDue = Math.max(now + delay, this.lastDue) + (piece.length * 1000) / rate;
        this.queue.push({ due: this.lastDue, chunk: piece });
      }
    }
    this.schedule();
  }

  private write(chunk: Buffer): void {
    if (this.to.destroyed) return;
    this.proxy.tapChunk(this.direction, chunk, this.id);
    if (!this.to.write(chunk)) {
      this.backpressured = true;
      this.update();
    }
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const head = this.queue[0];
    if (head === undefined) {
      this.flush();
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.held()) return; // resumed by update() at heal
        const now = Date.now();
        while (this.queue.length > 0 && this.queue[0]!.due <= now) this.write(this.queue.shift()!.chunk);
        if (this.queue.length > 0) this.schedule();
        else this.flush();
      },
      Math.max(0, head.due - Date.now()),
    );
  }

  /** Once `from` ended and the queue is empty, ends `to`. */
  private flush(): void {
    if (this.ended && this.queue.length === 0 && !this.to.destroyed && !this.held()) this.to.end();
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Link {
  readonly id: number;
  readonly client: Socket;
  /** The address the client dialled from. */
  readonly from: string;
  upstream: Socket | undefined;
  readonly pipes: Pipe[];
  /** Bytes a connection accepted while blackholed sent before it was forwarded. */
  held: Buffer[] | undefined;
  holder: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
}

export class FaultProxy {
  delayMs = 0;
  bytesPerSecond = Number.POSITIVE_INFINITY;
  private blackholed = false;
  /** Client addresses whose connections are blackholed. */
  private readonly blocked = new Set<string>();
  private readonly links = new Set<Link>();
  private nextId = 1;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: ProxyOptions,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Starts a proxy; resolves once it listens. */
  static async start(options: ProxyOptions): Promise<FaultProxy> {
    const listenHost = options.listenHost ?? '127.0.0.1';
    if (!isLoopback(listenHost) || !isLoopback(options.target.host)) throw new Error('FaultProxy: loopback addresses only');
    if (options.localAddress !== undefined && options.localAddress !== 'client' && !isLoopback(options.localAddress))
      throw new Error('FaultProxy: loopback addresses only');
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    let proxy: FaultProxy | undefined;
    server.on('connection', (socket) => {
      if (proxy === undefined) socket.destroy();
      else proxy.onConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('FaultProxy: no address');
    proxy = new FaultProxy(server, options, listenHost, address.port);
    return proxy;
  }

  get isBlackholed(): boolean {
    return this.blackholed;
  }

  /** Live connections (accepted and not closed). */
  get connections(): number {
    return this.links.size;
  }

  /** @internal */
  tapChunk(direction: Direction, chunk: Buffer, id: number): void {
    this.options.tap?.(direction, chunk, id);
  }

  private onConnection(client: Socket): void {
    this.accepted += 1;
    const from = client.remoteAddress ?? '';
    const link: Link = {
      id: this.nextId++,
      client,
      from,
      upstream: undefined,
      pipes: [],
      held: undefined,
      holder: undefined,
      onEnd: undefined,
    };
    this.links.add(link);
    client.on('error', () => {});
    client.on('close', () => this.drop(link));
    if (!this.isHeld(link)) {
      this.open(link);
      return;
    }
    // Not forwarded until heal: read and keep what it sends, so that a client giving up
    // (closing) is seen, and its connection never reaches the target.
    const held: Buffer[] = [];
    link.held = held;
    link.holder = (chunk: Buffer) => held.push(chunk);
    link.onEnd = () => this.destroy(link);
    client.on('data', link.holder);
    client.on('end', link.onEnd);
    client.resume();
  }

  /** Connects `link` upstream and starts forwarding. */
  private open(link: Link): void {
    if (link.upstream !== undefined || link.client.destroyed) return;
    const { host, port } = this.options.target;
    if (link.holder !== undefined) {
      link.client.off('data', link.holder);
      if (link.onEnd !== undefined) link.client.off('end', link.onEnd);
      link.onEnd = undefined;
      link.client.pause();
      link.holder = undefined;
    }
    const local = this.options.localAddress === 'client' ? link.from : this.options.localAddress;
    const upstream = connect({ host, port, noDelay: true, ...(local !== undefined ? { localAddress: local } : {}) });
    link.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('close', () => this.drop(link));
    upstream.pause();
    for (const chunk of link.held ?? []) {
      this.tapChunk('up', chunk, link.id);
      upstream.write(chunk);
    }
    link.held = undefined;
    const held = () => this.isHeld(link);
    link.pipes.push(
      new Pipe(this, held, link.client, upstream, 'up', link.id),
      new Pipe(this, held, upstream, link.client, 'down', link.id),
    );
    for (const p of link.pipes) p.update();
  }

  /**
   * One side closed: the other goes too, unless blackholed and the link was forwarded (then
   * the other side is told at heal, as a partition hides a close).
   */
  private drop(link: Link): void {
    if (this.isHeld(link) && link.upstream !== undefined) return;
    this.destroy(link);
  }

  private destroy(link: Link): void {
    for (const p of link.pipes) p.dispose();
    link.client.destroy();
    link.upstream?.destroy();
    this.links.delete(link);
  }

  /** Holds every chunk `ms` before forwarding it (0: none). */
  delay(ms: number): void {
    this.delayMs = Math.max(0, ms);
  }

  /** Limits each direction of each connection to `bytesPerSecond` (Infinity: no limit). */
  throttle(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) throw new Error('FaultProxy.throttle: expected a rate > 0');
    this.bytesPerSecond = bytesPerSecond;
  }

  /** Stops reading and forwarding in both directions; every socket stays open. */
  blackhole(): void {
    this.blackholed = true;
    for (const link of this.links) {
      link.client.pause();
      link.upstream?.pause();
    }
  }

  /**
   * Blackholes only the connections from clients dialling from `address`, current and new
   * (the others keep flowing); `heal()` lifts it.
   */
  blackholeFrom(address: string): void {
    this.blocked.add(address);
    for (const link of this.links) {
      if (link.from !== address) continue;
      link.client.pause();
      link.upstream?.pause();
    }
  }

  private isHeld(link: Link): boolean {
    return this.blackholed || this.blocked.has(link.from);
  }

  /** Destroys every current connection. */
  cut(): void {
    for (const link of [...this.links]) this.destroy(link);
  }

  /** Clears the delay, the throttle and the blackhole. */
  heal(): void {
    this.delayMs = 0;
    this.bytesPerSecond = Number.POSITIVE_INFINITY;
    this.blackholed = false;
    this.blocked.clear();
    for (const link of [...this.links]) {
      if (link.client.destroyed || link.upstream?.destroyed === true) {
        this.destroy(link);
        continue;
      }
      if (link.upstream === undefined) this.open(link);
      else for (const p of link.pipes) p.update();
    }
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
