/**
 * Shared pieces of the cross-node scenarios (bench/node-*.ts): this process is one node, a
 * child process (bench/fixtures/node-peer.ts) the other, both on loopback; and a raw TCP client
 * for the baselines, speaking the peer's raw protocol with the cluster's batch encoding
 * (the cluster's batch codec on an array per frame, frames coalesced into one write per turn).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { deserialize, serialize } from 'node:v8';
import { decodeBatchBytes, encodeBatchBytes } from '../src/transport/codec.js';
import type { AnyRef } from '../src/index.js';
import { Cluster, currentRuntime, silentLogger } from '../src/index.js';
import { freshRuntime } from './lib.js';

const PEER = new URL('./fixtures/node-peer.ts', import.meta.url);

export interface NodePair {
  /** The peer's node id. */
  readonly peer: string;
  /** The peer's counter (cast `{ n }`, call 'get'). */
  readonly counter: AnyRef;
  /** The peer's echo server (call answers the message). */
  readonly echo: AnyRef;
  /** The raw baseline client. */
  readonly raw: RawClient;
  /** The peer's OS process (the failure scenarios kill and stop it). */
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts this node on 127.0.0.41 and the peer on 127.0.0.42, connected; and the raw client. */
export async function startPair(heartbeat: { heartbeatIntervalMs?: number; heartbeatMissThreshold?: number } = {}): Promise<NodePair> {
  freshRuntime();
  currentRuntime().logger = silentLogger;
  const secret = randomBytes(16).toString('hex');
  const self = await Cluster.start({ nodeName: 'bench', host: '127.0.0.41', clusterSecret: secret, ...heartbeat });
  const up = new Promise<void>((resolve) => {
    const off = Cluster.onNodeUp(() => {
      off();
      resolve();
    });
  });
  const child: ChildProcess = fork(PEER, ['127.0.0.42', secret, self, JSON.stringify(heartbeat)], {
    execArgv: ['--import', 'tsx', ...(process.env.PEER_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/peerprof'] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { id, counter, echo, rawPort } = await new Promise<{ id: string; counter: AnyRef; echo: AnyRef; rawPort: number }>(
    (resolve, reject) => {
      child.once('message', (m) => resolve(m as { id: string; counter: AnyRef; echo: AnyRef; rawPort: number }));
      child.once('exit', (code) => reject(new Error(`peer exited (${code})`)));
    },
  );
  await up;
  const raw = await RawClient.connect('127.0.0.42', rawPort);
  return {
    peer: id,
    counter,
    echo,
    raw,
    child,
    stop: async () => {
      raw.close();
      await Cluster.stop();
      // Reaped before this process exits, so its CPU counts as the scenario's own (bench/run.ts).
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill();
        await exited;
      }
    },
  };
}
/** The raw baseline's client: frames u32 length | u8 op | codec payload, coalesced per turn. */
export class RawClient {
  private pending: Buffer[] = [];
  private queued = false;
  private chunks: Buffer[] = [];
  private size = 0;
  private waiters: ((op: number, value: unknown) => void)[] = [];
  /** performance.now() when the socket closed (set once it has). */
  closedAt: number | undefined;
  onFrame: ((op: number, value: unknown) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('close', () => {
      this.closedAt ??= performance.now();
    });
    socket.on('error', () => {});
  }

  static connect(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, localAddress: '127.0.0.41' }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Queues one frame; the turn's frames leave in one write. */
  send(op: number, value: unknown, v8 = false): void {
    const bytes = v8 ? serialize(value) : encodeBatchBytes(value as unknown[]);
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32BE(1 + body.length, 0);
    head[4] = v8 ? op | 0x80 : op;
    this.pending.push(head, body);
    if (!this.queued) {
      this.queued = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.queued = false;
    const p = this.pending;
    this.pending = [];
    this.socket.write(p.length === 1 ? (p[0] as Buffer) : Buffer.concat(p));
  };

  /** The next frame with `op`, for request/answer exchanges. */
  next(): Promise<unknown> {
    return new Promise((resolve) => this.waiters.push((_op, v) => resolve(v)));
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    let buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    let at = 0;
    while (buf.length - at >= 5) {
      const len = buf.readUInt32BE(at);
      if (buf.length - at < 4 + len) break;
      const full = buf[at + 4] as number;
      const op = full & 0x7f;
      const body = buf.subarray(at + 5, at + 4 + len);
      const value = (full & 0x80) !== 0 ? deserialize(body) : decodeBatchBytes(body);
      at += 4 + len;
      const w = this.waiters.shift();
      if (w !== undefined) w(op, value);
      else this.onFrame?.(op, value);
    }
    buf = buf.subarray(at);
    this.chunks = buf.length > 0 ? [buf] : [];
    this.size = buf.length;
  }
}
