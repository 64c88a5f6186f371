/**
 * Raw TCP helpers for attacking a node's listener in the fault tests: a socket that decodes
 * what the node answers, garbage bytes, a huge length header, and a captured handshake to
 * replay. Loopback only.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { dial } from '../../../src/cluster/session.js';
import { type Frame, FrameDecoder, Kind } from '../../../src/cluster/wire.js';

export interface RawOptions {
  readonly host: string;
  readonly port: number;
  /** Local address to connect from (a loopback address); default the kernel's choice. */
  readonly localAddress?: string;
}

/** A raw connection to a node: what it sent back, decoded, and when it closed. */
export interface RawConn {
  readonly socket: Socket;
  /** Frames decoded from what the node sent (until a decode error). */
  readonly frames: Frame[];
  /** Bytes received. */
  received(): number;
  isClosed(): boolean;
  /** Resolves when the socket has closed (either side); rejects after `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<void>;
  /** Resolves with the first frame (seen or later) of `kind`; rejects after `timeoutMs` or on close. */
  waitFrame(kind: number, timeoutMs?: number): Promise<Frame>;
  write(bytes: Uint8Array): void;
  destroy(): void;
}

function checkLoopback(host: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && host !== '::1') throw new Error(`raw: loopback addresses only, got ${host}`);
}

/** Opens a raw TCP connection to `host:port`. */
export async function rawConnect(o: RawOptions): Promise<RawConn> {
  checkLoopback(o.host);
  if (o.localAddress !== undefined) checkLoopback(o.localAddress);
  const socket = connect({
    host: o.host,
    port: o.port,
    noDelay: true,
    ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
  });
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let bytes = 0;
  let closed = false;
  const listeners = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    frames.push(...decoder.push(chunk).frames);
    for (const l of [...listeners]) l();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    for (const l of [...listeners]) l();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });

  function wait<T>(check: () => T | undefined, timeoutMs: number, what: string, failOnClose: boolean): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const l = (): void => {
        const v = check();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (failOnClose && closed) {
          done();
          reject(new Error(`raw: connection closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`raw: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(l);
      };
      listeners.add(l);
    });
  }

  return {
    socket,
    frames,
    received: () => bytes,
    isClosed: () => closed,
    waitClosed: (timeoutMs = 15000) => wait(() => (closed ? true : undefined), timeoutMs, 'close', false).then(() => undefined),
    waitFrame: (kind, timeoutMs = 15000) => wait(() => frames.find((f) => f.kind === kind), timeoutMs, `a kind ${kind} frame`, true),
    write: (b) => {
      if (!socket.destroyed) socket.write(b);
    },
    destroy: () => socket.destroy(),
  };
}

/** Bytes no node may accept: a header declaring an unknown kind, then noise. */
export function garbageBytes(n = 512): Buffer {
  const b = randomBytes(Math.max(n, 16));
  b.writeUInt32BE(Math.min(b.length - 4, 4096), 0);
  b[4] = 0xee; // no such kind
  return b;
}

/** A header declaring a ~4 GiB frame (u32 0xFFFFFFF0) of kind HELLO; nothing follows. */
export function hugeHeader(kind: number = Kind.HELLO): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(0xfffffff0, 0);
  b[4] = kind;
  return b;
}

/** What a legitimate dialer sent during a handshake, frame by frame. */
export interface CapturedHandshake {
  /** The dialer's frames (HELLO, PROOF, ...) as raw bytes, each a whole frame. */
  readonly dialerFrames: Buffer[];
  /** The acceptor's frames as raw bytes. */
  readonly acceptorFrames: Buffer[];
  /** The kinds of the acceptor's frames, e.g. [CHALLENGE, WELCOME]. */
  readonly acceptorKinds: number[];
}

/** Splits a byte stream into whole frames (raw bytes each); ignores an incomplete tail. */
export function splitFrames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 5 <= stream.length) {
    const len = stream.readUInt32BE(at);
    if (at + 4 + len > stream.length) break;
    out.push(stream.subarray(at, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

const HANDSHAKE_KINDS: ReadonlySet<number> = new Set([Kind.HELLO, Kind.CHALLENGE, Kind.PROOF, Kind.WELCOME, Kind.REJECT]);

/**
 * Records the first bytes of each connection through a {@link FaultProxy} (pass `recorder.tap`
 * as its `tap`), so the handshake of a legitimate connection between two real nodes can be
 * replayed later. At most `limit` bytes per connection and direction are kept.
 */
export class HandshakeRecorder {
  private readonly streams = new Map<number, { up: Buffer[]; down: Buffer[]; upBytes: number; downBytes: number }>();

  constructor(private readonly limit = 16 * 1024) {}

  readonly tap = (direction: 'up' | 'down', chunk: Buffer, connection: number): void => {
    let s = this.streams.get(connection);
    if (s === undefined) {
      s = { up: [], down: [], upBytes: 0, downBytes: 0 };
      this.streams.set(connection, s);
    }
    if (direction === 'up' && s.upBytes < this.limit) {
      s.up.push(Buffer.from(chunk));
      s.upBytes += chunk.length;
    } else if (direction === 'down' && s.downBytes < this.limit) {
      s.down.push(Buffer.from(chunk));
      s.downBytes += chunk.length;
    }
  };

  /** The handshake of the first recorded connection that completed one (a WELCOME), if any. */
  handshake(): CapturedHandshake | undefined {
    for (const s of this.streams.values()) {
      const acceptorAll = splitFrames(Buffer.concat(s.down));
      const acceptorFrames = acceptorAll.filter((f) => HANDSHAKE_KINDS.has(f[4]!));
      if (!acceptorFrames.some((f) => f[4] === Kind.WELCOME)) continue;
      const dialerFrames = splitFrames(Buffer.concat(s.up)).filter((f) => HANDSHAKE_KINDS.has(f[4]!));
      return { dialerFrames, acceptorFrames, acceptorKinds: acceptorFrames.map((f) => f[4]!) };
    }
    return undefined;
  }
}

/**
 * Replays a captured dialer's frames on a fresh connection: the HELLO, then (once the node
 * answered with a CHALLENGE) the rest. Resolves with the connection, to inspect what the node
 * answered (expected: a REJECT and a close, never a WELCOME).
 */
export async function replayHandshake(o: RawOptions, captured: CapturedHandshake): Promise<RawConn> {
  const conn = await rawConnect(o);
  const [hello, ...rest] = captured.dialerFrames;
  if (hello === undefined) throw new Error('replay: nothing captured');
  conn.write(hello);
  await conn.waitFrame(Kind.CHALLENGE, 10000);
  for (const f of rest) conn.write(f);
  return conn;
}

/**
 * Joins as a node would (the dialer of src/cluster/session.ts, with the cluster secret) and
 * returns the raw socket once the handshake is up, to misbehave on an authenticated
 * connection. `name` must be a node id (`name@host:port`) the target accepts.
 */
export async function authenticatedSocket(o: {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  readonly name: string;
  readonly localAddress?: string;
}): Promise<Socket> {
  checkLoopback(o.host);
  if (o.localAddress !== undefined) checkLoopback(o.localAddress);
  const session = await dial({
    host: o.host,
    port: o.port,
    secret: o.secret,
    name: o.name,
    creation: randomInt(1, 0xffffffff),
    ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
  });
  return session.connection.socket;
}
