/**
 * One TCP connection to a peer node: framing (wire.ts), write coalescing, idle ticks,
 * liveness and backpressure accounting. No handshake, no routing: the handshake and the lanes
 * (tcp-transport.ts) sit above and install their handlers with {@link Connection.onFrame}.
 *
 * - Writes: the first frame of a turn goes to `socket.write` at once; frames sent later in the
 *   same turn are concatenated and written at the end of the turn (`afterTurn`, after every
 *   microtask). A turn that received data writes nothing at once: its answers leave together
 *   at its end. Nagle is off, so a lone frame is not held.
 * - A turn that sends much does not hold all of it to its end: once ~2 KiB have coalesced they
 *   are written at once, and each such early write doubles the next one's size, up to ~64 KiB
 *   (a larger frame goes alone). The peer starts on the first part while this side is still
 *   making the rest, so a deep pipeline of calls keeps both nodes working instead of taking
 *   turns (1024 calls in flight: up to twice the calls per second); a flood still pays only a
 *   handful of extra writes per turn. The next turn starts at ~2 KiB again.
 * - Ticks: a TICK goes out only after `tickMs` with nothing written, so an idle link is still
 *   heard; traffic makes ticks unnecessary.
 * - Liveness: `lastHeard` (performance.now()) moves on every received chunk, whatever it holds.
 * - Counters: `bytesIn/bytesOut/framesIn/framesOut`, cumulative plain numbers (the observer's).
 * - Close reasons, reported once to {@link Connection.onClose}: `connection_closed` (the socket
 *   ended or failed), `frame_too_large` / `bad_frame` (the peer broke the wire contract; it is
 *   told so with a GOODBYE), `goodbye:<reason>` (a GOODBYE arrived, or this side called
 *   `close(reason)`), `send_overflow` (the peer stopped reading and `pendingBytes` passed
 *   `maxPendingBytes`: the socket is destroyed).
 * - Backpressure: `pendingBytes` counts what is coalescing plus `socket.writableLength`;
 *   `busy` is true at or above `highWaterBytes`. Sends are still accepted while busy (the layer
 *   above decides what to hold back); {@link Connection.onDrain} fires when busy clears.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../errors.js';
import { Late, afterTurn } from '../transport/transport.js';
import type { Frame } from './wire.js';
import { encodeBatch, encodeFrame, FrameDecoder, Kind, MAX_FRAME_BYTES, packedBatchFrame } from './wire.js';

/** Options of a {@link Connection}; every field is optional. */
export interface ConnectionOptions {
  /** Silence on the sending side after which a TICK is written, in ms; default 500; 0 disables ticks. */
  readonly tickMs?: number;
  /** Largest frame accepted or sent (declared length); default 64 MiB. */
  readonly maxFrameBytes?: number;
  /** `pendingBytes` at which the connection is `busy`; default 32 MiB. */
  readonly highWaterBytes?: number;
  /**
   * `pendingBytes` past which the connection is dropped (`send_overflow`): a peer that stops
   * reading. Busy holds back only the calls and casts this node starts; replies, exit signals
   * and control frames still queue, so without this bound a peer could make the queue grow
   * for ever. Default the larger of 4 × `highWaterBytes` and `highWaterBytes + maxFrameBytes`
   * (128 MiB), at least `highWaterBytes`.
   */
  readonly maxPendingBytes?: number;
  /** Most bytes coalesced into one `socket.write` before it goes out early; default 64 KiB. */
  readonly maxWriteBytes?: number;
  /**
   * Bytes coalesced before a turn's first early write; each early write doubles the next
   * limit up to `maxWriteBytes`. Default 2 KiB (at most `maxWriteBytes`).
   */
  readonly firstWriteBytes?: number;
  /** After a close, how long the peer has to end its side before the socket is destroyed, in ms; default 5000. */
  readonly closeTimeoutMs?: number;
}

/** Why a connection closed: see the module comment. */
export type CloseReason = 'connection_closed' | 'frame_too_large' | 'bad_frame' | 'send_overflow' | `goodbye:${string}`;

/** Longest GOODBYE reason kept from a peer. */
const MAX_REASON_LENGTH = 200;

export class Connection {
  /** performance.now() of the last received chunk (or of the construction). */
  lastHeard = performance.now();
  /** Bytes received so far (cumulative, every chunk). */
  bytesIn = 0;
  /** Bytes handed to the socket so far (cumulative). */
  bytesOut = 0;
  /** Frames received so far (cumulative, GOODBYE included). */
  framesIn = 0;
  /** Frames sent so far (cumulative: batches, controls, ticks, GOODBYE). */
  framesOut = 0;
  /** performance.now() of the last write. */
  private lastWritten = performance.now();
  private readonly decoder: FrameDecoder;
  private readonly tickMs: number;
  private readonly maxFrameBytes: number;
  private readonly highWaterBytes: number;
  private readonly maxPendingBytes: number;
  private readonly maxWriteBytes: number;
  private readonly firstWriteBytes: number;
  /** Bytes at which what coalesces is written early, this turn: see the module comment. */
  private writeLimit: number;
  private readonly closeTimeoutMs: number;
  /** Frames coalescing this turn; undefined when no turn is open (the next send goes eagerly). */
  private pending: Buffer[] | undefined;
  private pendingSize = 0;
  private frameHandler: ((frame: Frame) => void) | undefined;
  private closeHandlers: ((reason: CloseReason) => void)[] = [];
  private drainHandler: (() => void) | undefined;
  private closedWith: CloseReason | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private wasBusy = false;

  constructor(
    readonly socket: Socket,
    options: ConnectionOptions = {},
  ) {
    this.tickMs = checkNumber('tickMs', options.tickMs ?? 500);
    this.maxFrameBytes = checkNumber('maxFrameBytes', options.maxFrameBytes ?? MAX_FRAME_BYTES, 1);
    this.highWaterBytes = checkNumber('highWaterBytes', options.highWaterBytes ?? 32 * 1024 * 1024, 1);
    this.maxPendingBytes = Math.max(
      this.highWaterBytes,
      checkNumber(
        'maxPendingBytes',
        options.maxPendingBytes ?? Math.max(4 * this.highWaterBytes, this.highWaterBytes + this.maxFrameBytes),
        1,
      ),
    );
    this.maxWriteBytes = checkNumber('maxWriteBytes', options.maxWriteBytes ?? 64 * 1024, 1);
    this.firstWriteBytes = Math.min(this.maxWriteBytes, checkNumber('firstWriteBytes', options.firstWriteBytes ?? 2048, 1));
    this.writeLimit = this.firstWriteBytes;
    this.closeTimeoutMs = checkNumber('closeTimeoutMs', options.closeTimeoutMs ?? 5000);
    this.decoder = new FrameDecoder(this.maxFrameBytes);
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', this.onSocketDrain);
    socket.on('error', () => this.finish('connection_closed'));
    socket.on('close', () => this.finish('connection_closed'));
    // The peer half-closed: nothing more will arrive, so end our side too.
    socket.on('end', () => this.finish('connection_closed'));
    if (socket.destroyed) this.finish('connection_closed');
    else this.scheduleTick(this.tickMs);
  }

  /** Installs the receiver of every frame but GOODBYE (which closes); replaces the previous one. */
  onFrame(handler: ((frame: Frame) => void) | undefined): void {
    this.frameHandler = handler;
  }

  /** Adds a close handler: called once with the reason (at once if already closed). */
  onClose(handler: (reason: CloseReason) => void): void {
    if (this.closedWith !== undefined) handler(this.closedWith);
    else this.closeHandlers.push(handler);
  }

  /** Installs the handler called when `busy` turns false. */
  onDrain(handler: (() => void) | undefined): void {
    this.drainHandler = handler;
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  get closeReason(): CloseReason | undefined {
    return this.closedWith;
  }

  /** Bytes accepted but not yet handed to the kernel: coalescing plus the socket's own queue. */
  get pendingBytes(): number {
    return this.pendingSize + this.socket.writableLength;
  }

  /** True while {@link pendingBytes} is at or above `highWaterBytes`. */
  get busy(): boolean {
    return this.pendingBytes >= this.highWaterBytes;
  }

  /** Sends one frame (see encodeFrame). Returns false when closed (nothing sent); throws for a bad frame. */
  send(kind: Kind, body?: Uint8Array | Record<string, unknown>): boolean {
    if (this.closedWith !== undefined) return false;
    this.enqueue(encodeFrame(kind, body, this.maxFrameBytes));
    return true;
  }

  /**
   * Sends one BATCH. Returns false when closed (nothing sent); throws (before anything is
   * queued) when the batch cannot be encoded, as a transport's post does.
   */
  sendBatch(toThread: number, fromThread: number, batch: unknown[]): boolean {
    if (this.closedWith !== undefined) return false;
    this.enqueue(encodeBatch(toThread, fromThread, batch, this.maxFrameBytes));
    return true;
  }

  /** As {@link sendBatch}, for a batch packed frame by frame (see wire.ts, packedBatchFrame). */
  sendPacked(toThread: number, fromThread: number, packed: Buffer): boolean {
    if (this.closedWith !== undefined) return false;
    this.enqueue(packedBatchFrame(toThread, fromThread, packed, this.maxFrameBytes));
    return true;
  }

  /** Sends GOODBYE `{ reason }` after what is queued, ends the socket, and reports `goodbye:<reason>`. */
  close(reason = 'normal'): void {
    if (this.closedWith !== undefined) return;
    this.sayGoodbye(reason);
    this.finish(`goodbye:${capReason(reason)}`);
  }

  private enqueue(frame: Buffer): void {
    this.framesOut++;
    const pending = this.pending;
    if (pending === undefined) {
      this.pending = [];
      afterTurn(this.flush, Late.Writes);
      this.write(frame);
      return;
    }
    if (this.pendingSize > 0 && this.pendingSize + frame.length > this.writeLimit) this.writeEarly();
    pending.push(frame);
    this.pendingSize += frame.length;
    if (this.pendingSize >= this.writeLimit) this.writeEarly();
    else this.noteBusy();
  }

  /** End of the turn: writes what coalesced; the next send goes eagerly again. */
  private readonly flush = (): void => {
    this.writePending();
    this.pending = undefined;
    this.writeLimit = this.firstWriteBytes;
  };

  /** Writes what coalesced before the end of the turn; the next early write may be twice as large. */
  private writeEarly(): void {
    this.writePending();
    if (this.writeLimit < this.maxWriteBytes) this.writeLimit = Math.min(this.maxWriteBytes, this.writeLimit * 2);
  }

  private writePending(): void {
    const pending = this.pending;
    if (pending === undefined || pending.length === 0) return;
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, this.pendingSize);
    pending.length = 0;
    this.pendingSize = 0;
    this.write(out);
  }

  private write(bytes: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.lastWritten = performance.now();
    this.bytesOut += bytes.length;
    this.socket.write(bytes);
    this.noteBusy();
  }

  private noteBusy(): void {
    if (!this.busy) return;
    this.wasBusy = true;
    if (this.pendingBytes > this.maxPendingBytes && this.closedWith === undefined) {
      // The peer is not reading: drop it now (a goodbye could not get through either).
      this.socket.destroy();
      this.finish('send_overflow');
    }
  }

  private readonly onSocketDrain = (): void => {
    if (this.wasBusy && !this.busy) {
      this.wasBusy = false;
      this.drainHandler?.();
    }
  };

  private readonly onData = (chunk: Buffer): void => {
    this.lastHeard = performance.now();
    this.bytesIn += chunk.length;
    if (this.closedWith !== undefined) return;
    // This side is awake and handling what arrived: what it sends in answer this turn is
    // coalesced into one write at the end of the turn (after the channels let go of their
    // batches), rather than a first write at once and the rest later.
    if (this.pending === undefined) {
      this.pending = [];
      afterTurn(this.flush, Late.Writes);
    }
    // Frame by frame: a handler may change the frame limit before the next header is judged
    // (the handshake lifts it once the peer is authenticated).
    const decoder = this.decoder;
    decoder.append(chunk);
    for (;;) {
      if (this.closedWith !== undefined) return;
      const f = decoder.next();
      if (f === undefined) return;
      if ('error' in f) {
        // Tell the peer why, then stop reading it.
        this.closeDetail = capReason(f.detail);
        this.sayGoodbye(f.error);
        this.finish(f.error);
        return;
      }
      this.framesIn++;
      if (f.kind === Kind.GOODBYE) {
        const r = f.body.reason;
        this.finish(`goodbye:${capReason(typeof r === 'string' ? r : 'unknown')}`);
        return;
      }
      this.frameHandler?.(f);
    }
  };

  /**
   * Accepts frames of at most `bytes` from the next one on (never more than `maxFrameBytes`);
   * `undefined` lifts the limit. The handshake keeps it at handshake size until the peer is
   * authenticated.
   */
  limitFrames(bytes: number | undefined): void {
    this.decoder.limit(bytes);
  }

  /** What the decoder found wrong, when the connection closed as `bad_frame` or `frame_too_large`. */
  closeDetail: string | undefined;

  private sayGoodbye(reason: string): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.writePending();
    try {
      this.write(encodeFrame(Kind.GOODBYE, { reason: capReason(reason) }));
      this.framesOut++;
    } catch {
      // Unreachable for a capped reason; a GOODBYE is a courtesy, closing goes on regardless.
    }
  }

  /** Closes once: stops ticks, ends the socket (destroyed if the peer lingers), reports the reason. */
  private finish(reason: CloseReason): void {
    if (this.closedWith !== undefined) {
      if (this.socket.destroyed) this.clearKill();
      return;
    }
    this.closedWith = reason;
    this.pending = undefined;
    this.pendingSize = 0;
    if (this.tickTimer !== undefined) clearTimeout(this.tickTimer);
    this.tickTimer = undefined;
    const socket = this.socket;
    if (!socket.destroyed) {
      if (!socket.writableEnded) socket.end();
      this.killTimer = setTimeout(() => socket.destroy(), this.closeTimeoutMs);
      this.killTimer.unref();
      socket.once('close', () => this.clearKill());
    }
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) h(reason);
  }

  private clearKill(): void {
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    this.killTimer = undefined;
  }

  private scheduleTick(delay: number): void {
    if (this.tickMs === 0) return;
    this.tickTimer = setTimeout(this.onTickTimer, delay);
    this.tickTimer.unref();
  }

  private readonly onTickTimer = (): void => {
    this.tickTimer = undefined;
    if (this.closedWith !== undefined) return;
    const idle = performance.now() - this.lastWritten;
    if (idle >= this.tickMs && this.pending === undefined) {
      this.write(encodeFrame(Kind.TICK));
      this.framesOut++;
      this.scheduleTick(this.tickMs);
    } else {
      this.scheduleTick(Math.max(1, this.tickMs - idle));
    }
  };
}

function capReason(r: string): string {
  return r.length > MAX_REASON_LENGTH ? r.slice(0, MAX_REASON_LENGTH) : r;
}

function checkNumber(name: string, v: number, min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new InvalidArgumentError(`Connection option ${name}`, `expected a finite number ≥ ${min}, got ${String(v)}`);
  }
  return v;
}
