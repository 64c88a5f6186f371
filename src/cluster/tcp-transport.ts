/**
 * Transports over one TCP {@link Connection}: a connection carries many lanes, one per
 * (remote thread, local thread) pair, and each lane is a {@link Transport}, so the Channel's
 * batching and the transport conformance ideas carry over unchanged.
 *
 * {@link Lanes} owns the connection's frame handler once the handshake is done: a BATCH whose
 * `fromThread` is the remote thread and `toThread` the local one goes to that lane's batch
 * handler; a BATCH for no open lane goes to `onStray` (dropped by default). When the connection
 * closes, every lane closes.
 *
 * Closing one lane only closes it on this side (its handlers stop, it leaves the routing);
 * the connection stays up for the other lanes. Telling the peer is the cluster layer's job.
 * Lanes cannot pause: the socket is shared by every lane (`canPause` is false).
 */
import type { Connection } from './connection.js';
import type { Frame } from './wire.js';
import { Kind, MAX_THREAD, PACKED_HEADROOM } from './wire.js';
import type { Transport } from '../transport/transport.js';
import { InvalidArgumentError } from '../errors.js';

/** One (remote thread, local thread) lane of a connection. */
export class TcpTransport implements Transport {
  readonly canPause = false;
  private handler: ((batch: unknown[]) => void) | undefined;
  private closeHandlers: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly connection: Connection,
    /** The peer's thread this lane talks to (BATCH `toThread` on the way out). */
    readonly remoteThread: number,
    /** This node's thread (BATCH `fromThread` on the way out). */
    readonly localThread: number,
    private readonly detach: (lane: TcpTransport) => void = () => {},
  ) {
    checkThread('TcpTransport remoteThread', remoteThread);
    checkThread('TcpTransport localThread', localThread);
    // The connection's close reaches every lane through its Lanes (one handler per
    // connection, not one per lane: lanes come and go, the connection's list would only grow).
    if (connection.isClosed) this.closed = true;
  }

  /** Sends one batch; dropped once the lane or connection is closed. Throws when it cannot be encoded. */
  post(batch: unknown[]): void {
    if (this.closed) return;
    this.connection.sendBatch(this.remoteThread, this.localThread, batch);
  }

  /** Bytes free before a packed batch (see {@link postPacked}). */
  readonly packedHeadroom = PACKED_HEADROOM;

  /** Sends one batch packed frame by frame (PackingChannel); dropped once closed. */
  postPacked(bytes: Buffer): void {
    if (this.closed) return;
    this.connection.sendPacked(this.remoteThread, this.localThread, bytes);
  }

  onBatch(handler: (batch: unknown[]) => void): void {
    this.handler = handler;
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  close(): void {
    this.fireClose();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Delivers one incoming batch (called by {@link Lanes}). */
  deliver(batch: unknown[]): void {
    if (!this.closed) this.handler?.(batch);
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) h();
  }
}

/** The lanes of one connection, and the routing of its incoming frames to them. */
export class Lanes {
  private readonly lanes = new Map<number, TcpTransport>();
  /** Receives a BATCH for no open lane, and any non-BATCH frame after the handshake (TICKs excepted). */
  onStray: ((frame: Frame) => void) | undefined;

  constructor(readonly connection: Connection) {
    connection.onFrame(this.route);
    connection.onClose(() => {
      for (const lane of [...this.lanes.values()]) lane.close();
    });
  }

  /** The lane to `remoteThread` from `localThread`; one per pair (an open one is returned again). */
  open(remoteThread: number, localThread: number): TcpTransport {
    const key = laneKey(remoteThread, localThread);
    const existing = this.lanes.get(key);
    if (existing !== undefined) return existing;
    const lane = new TcpTransport(this.connection, remoteThread, localThread, (l) => {
      if (this.lanes.get(key) === l) this.lanes.delete(key);
    });
    if (!lane.isClosed) this.lanes.set(key, lane);
    return lane;
  }

  get size(): number {
    return this.lanes.size;
  }

  private readonly route = (frame: Frame): void => {
    if (frame.kind === Kind.TICK) return;
    if (frame.kind === Kind.BATCH) {
      const lane = this.lanes.get(laneKey(frame.fromThread, frame.toThread));
      if (lane !== undefined) {
        lane.deliver(frame.batch);
        return;
      }
    }
    this.onStray?.(frame);
  };
}

function laneKey(remoteThread: number, localThread: number): number {
  return remoteThread * 0x10000 + localThread;
}

function checkThread(argument: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_THREAD)
    throw new InvalidArgumentError(argument, `expected an integer in 0..${MAX_THREAD}, got ${String(n)}`);
}
