/** Connection and TcpTransport over real sockets on 127.0.0.1 (port 0). */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CloseReason, ConnectionOptions } from '../../src/cluster/connection.js';
import { Connection } from '../../src/cluster/connection.js';
import { Lanes } from '../../src/cluster/tcp-transport.js';
import type { Frame } from '../../src/cluster/wire.js';
import { Kind } from '../../src/cluster/wire.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Channel } from '../../src/transport/transport.js';

const sockets: net.Socket[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A listening server on 127.0.0.1; `accepted` collects its side of each connection. */
async function listen(): Promise<{ port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    accepted.push(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, accepted };
}

async function dial(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  sockets.push(s);
  await new Promise<void>((r, j) => {
    s.once('connect', () => r());
    s.once('error', j);
  });
  return s;
}

/** Two Connections over one real socket pair. */
async function pair(a: ConnectionOptions = {}, b: ConnectionOptions = a): Promise<[Connection, Connection]> {
  const { port, accepted } = await listen();
  const client = await dial(port);
  await until(() => accepted.length === 1);
  return [new Connection(client, a), new Connection(accepted[0]!, b)];
}

function record(c: Connection): { frames: Frame[]; reasons: CloseReason[] } {
  const frames: Frame[] = [];
  const reasons: CloseReason[] = [];
  c.onFrame((f) => frames.push(f));
  c.onClose((r) => reasons.push(r));
  return { frames, reasons };
}

describe('Connection', () => {
  it('coalesces one turn of sends into two socket writes: the eager first, then the rest', async () => {
    // No early writes here (see the next test): the turn's ~2.5 KB stay coalesced to its end.
    const [a, b] = await pair({ tickMs: 0, firstWriteBytes: 64 * 1024 });
    const got = record(b);
    const write = vi.spyOn(a.socket, 'write');
    for (let i = 0; i < 100; i++) a.sendBatch(1, 2, [1, i, { i }, 0]);
    expect(write).toHaveBeenCalledTimes(1);
    // The rest leaves at the end of the turn: after every microtask, sends made from promise
    // reactions a few hops deep included.
    await Promise.resolve();
    await Promise.resolve();
    for (let i = 100; i < 103; i++) a.sendBatch(1, 2, [1, i, { i }, 0]);
    expect(write).toHaveBeenCalledTimes(1);
    await new Promise((r) => setImmediate(r));
    expect(write).toHaveBeenCalledTimes(2);
    await until(() => got.frames.length === 103);
    expect(got.frames.map((f) => (f.kind === Kind.BATCH ? f.batch[1] : -1))).toEqual(Array.from({ length: 103 }, (_, i) => i));
    // A new turn goes out eagerly again.
    a.send(Kind.HELLO, { x: 1 });
    expect(write).toHaveBeenCalledTimes(3);
  });

  it('writes a large turn early in pieces that double from firstWriteBytes, and starts small again next turn', async () => {
    const [a, b] = await pair({ tickMs: 0 });
    const got = record(b);
    const write = vi.spyOn(a.socket, 'write');
    const blob = 'x'.repeat(500);
    const burst = (from: number): void => {
      for (let i = from; i < from + 300; i++) a.sendBatch(1, 2, [1, i, blob, 0]);
    };
    const sizes = (): number[] => write.mock.calls.map(([buf]) => (buf as Buffer).length);
    burst(0);
    // Within the turn: the eager first frame, then pieces of ≥ 2, 4, 8, 16, 32 and 64 KiB
    // (each at most one frame over its limit), none waiting for the end of the turn.
    const early = sizes();
    const frame = early[0] as number;
    expect(frame).toBeGreaterThan(500);
    expect(frame).toBeLessThan(600);
    const limits = [2048, 4096, 8192, 16384, 32768, 65536];
    expect(early.length).toBe(1 + limits.length);
    for (let k = 0; k < limits.length; k++) {
      const n = early[k + 1] as number;
      expect(n).toBeGreaterThanOrEqual((limits[k] as number) - frame);
      expect(n).toBeLessThanOrEqual(limits[k] as number);
    }
    await new Promise((r) => setImmediate(r));
    const firstTurn = sizes().length;
    expect(firstTurn).toBe(early.length + 1); // the rest, at the end of the turn
    // The next turn starts at the first limit again, not at 64 KiB.
    burst(300);
    const next = sizes().slice(firstTurn);
    expect(next[0]).toBeLessThan(600); // the eager first frame
    expect(next[1]).toBeLessThanOrEqual(2048);
    expect(next[1]).toBeGreaterThanOrEqual(2048 - frame);
    await until(() => got.frames.length === 600);
    expect(got.frames.map((f) => (f.kind === Kind.BATCH ? f.batch[1] : -1))).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });

  it('checks its options: a size is a finite number ≥ 1; firstWriteBytes is capped at maxWriteBytes', async () => {
    const { port, accepted } = await listen();
    const s = await dial(port);
    await until(() => accepted.length === 1);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '2048' as unknown as number]) {
      expect(() => new Connection(s, { firstWriteBytes: bad })).toThrow(InvalidArgumentError);
      expect(() => new Connection(s, { maxWriteBytes: bad })).toThrow(InvalidArgumentError);
    }
    const [a, b] = await pair({ tickMs: 0, maxWriteBytes: 1000, firstWriteBytes: 2 ** 31 });
    const got = record(b);
    const write = vi.spyOn(a.socket, 'write');
    for (let i = 0; i < 20; i++) a.sendBatch(1, 2, [1, i, 'x'.repeat(300), 0]);
    const sizes = write.mock.calls.map(([buf]) => (buf as Buffer).length);
    expect(sizes.length).toBeGreaterThan(4);
    for (const n of sizes) expect(n).toBeLessThanOrEqual(1000);
    await until(() => got.frames.length === 20);
  });

  it('answers what arrived in one write at the end of the turn, not an eager first one', async () => {
    const [a, b] = await pair({ tickMs: 0 });
    const got = record(a);
    const write = vi.spyOn(b.socket, 'write');
    let seen = 0;
    let reads = 0;
    b.socket.on('data', () => reads++);
    b.onFrame((f) => {
      if (f.kind !== Kind.BATCH) return;
      // Answered from a promise reaction two hops later, as a caller's continuation would be.
      void Promise.resolve()
        .then(() => undefined)
        .then(() => b.sendBatch(2, 1, [4, 0, f.batch[2], f.batch[3]]));
      seen++;
    });
    for (let i = 0; i < 50; i++) a.sendBatch(1, 2, [3, 1, i, i + 1]);
    await until(() => got.frames.length === 50);
    expect(seen).toBe(50);
    // However the 50 requests were split into reads, each read's answers left in one write
    // (an eager first answer would make it two for every read of more than one request).
    expect(write.mock.calls.length).toBe(reads);
    expect(got.frames.map((f) => (f.kind === Kind.BATCH ? f.batch[2] : -1))).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('caps one coalesced write at ~64 KiB', async () => {
    const [a, b] = await pair({ tickMs: 0, maxWriteBytes: 64 * 1024 });
    const got = record(b);
    const write = vi.spyOn(a.socket, 'write');
    const blob = 'x'.repeat(10_000);
    for (let i = 0; i < 40; i++) a.sendBatch(0, 0, [1, i, blob, 0]);
    await Promise.resolve();
    await Promise.resolve();
    const sizes = write.mock.calls.map(([buf]) => (buf as Buffer).length);
    expect(sizes.length).toBeGreaterThan(5);
    for (const n of sizes) expect(n).toBeLessThanOrEqual(64 * 1024);
    await until(() => got.frames.length === 40);
  });

  it('ticks only when nothing was written for tickMs, and any bytes move lastHeard', async () => {
    const [a, b] = await pair({ tickMs: 20 }, { tickMs: 0 });
    const got = record(b);
    const before = b.lastHeard;
    await until(() => got.frames.filter((f) => f.kind === Kind.TICK).length >= 3);
    expect(b.lastHeard).toBeGreaterThan(before);
    expect(a.isClosed).toBe(false);

    // Steady traffic (every ~5 ms, well inside tickMs) means no ticks.
    const [c, d] = await pair({ tickMs: 100 }, { tickMs: 0 });
    const gotD = record(d);
    let sent = 0;
    const timer = setInterval(() => c.sendBatch(0, 0, [1, sent++, 'beat', 0]), 5);
    try {
      await until(() => gotD.frames.length >= 40);
    } finally {
      clearInterval(timer);
    }
    expect(gotD.frames.filter((f) => f.kind === Kind.TICK)).toEqual([]);
  });

  it("close(reason) sends GOODBYE: the reason reaches the peer's onClose", async () => {
    const [a, b] = await pair({ tickMs: 0 });
    const ra = record(a);
    const rb = record(b);
    a.sendBatch(0, 0, [1, 0, 'last words', 0]);
    a.close('shutting_down');
    expect(ra.reasons).toEqual(['goodbye:shutting_down']);
    expect(a.sendBatch(0, 0, [1, 0, 'late', 0])).toBe(false);
    await until(() => rb.reasons.length === 1);
    expect(rb.reasons).toEqual(['goodbye:shutting_down']);
    // What was sent before the close arrived first.
    expect(rb.frames).toHaveLength(1);
    await until(() => a.socket.destroyed && b.socket.destroyed);
    expect(ra.reasons).toHaveLength(1);
  });

  it('a dropped socket closes with connection_closed', async () => {
    const [a, b] = await pair({ tickMs: 0 });
    const rb = record(b);
    a.socket.destroy();
    await until(() => rb.reasons.length === 1);
    expect(rb.reasons).toEqual(['connection_closed']);
  });

  it('a peer that sends garbage is closed with bad_frame; another connection is untouched', async () => {
    const { port, accepted } = await listen();
    const rogue = await dial(port);
    const honest = await dial(port);
    await until(() => accepted.length === 2);
    const [s1, s2] = accepted.map((s) => new Connection(s, { tickMs: 0 }));
    const r1 = record(s1!);
    const r2 = record(s2!);
    const client = new Connection(honest, { tickMs: 0 });
    const rc = record(client);

    const fromRogue: Buffer[] = [];
    rogue.on('data', (d: Buffer) => fromRogue.push(d));
    rogue.write(Buffer.from([0, 0, 0, 3, 0x63, 0xde, 0xad, 0xbe, 0xef]));
    await until(() => r1.reasons.length === 1);
    expect(r1.reasons).toEqual(['bad_frame']);
    // The rogue was told why before the socket ended.
    await until(() => Buffer.concat(fromRogue).includes('bad_frame'));

    client.sendBatch(1, 1, [1, 7, 'still here', 0]);
    s2!.sendBatch(1, 1, [1, 8, 'and back', 0]);
    await until(() => r2.frames.length === 1 && rc.frames.length === 1);
    expect(r2.reasons).toEqual([]);
    expect(rc.reasons).toEqual([]);
    expect(s2!.isClosed).toBe(false);
  });

  it('an oversized declared length closes with frame_too_large', async () => {
    const { port, accepted } = await listen();
    const rogue = await dial(port);
    await until(() => accepted.length === 1);
    const s = new Connection(accepted[0]!, { tickMs: 0, maxFrameBytes: 1024 });
    const r = record(s);
    rogue.write(Buffer.from([0x80, 0, 0, 0, Kind.BATCH]));
    await until(() => r.reasons.length === 1);
    expect(r.reasons).toEqual(['frame_too_large']);
  });

  it('counts pendingBytes and turns busy under a paused reader, then drains', async () => {
    const [a, b] = await pair({ tickMs: 0, highWaterBytes: 1024 * 1024 });
    const got = record(b);
    b.socket.pause();
    let drained = 0;
    a.onDrain(() => drained++);
    const blob = new Uint8Array(256 * 1024);
    let sent = 0;
    while (!a.busy) {
      expect(sent).toBeLessThan(2000); // 500 MiB: the kernel buffers cannot hide that much
      a.sendBatch(0, 0, [1, sent++, blob, 0]);
      await new Promise((r) => setImmediate(r));
    }
    expect(a.pendingBytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(a.pendingBytes).toBeGreaterThanOrEqual(a.socket.writableLength);
    b.socket.resume();
    await until(() => !a.busy && drained === 1, 15000);
    await until(() => got.frames.length === sent, 15000);
    expect(a.pendingBytes).toBe(0);
  });
});

describe('a peer that stops reading', () => {
  it('is dropped (send_overflow) once more than maxPendingBytes waits, however it is filled', async () => {
    const [a, b] = await pair({ tickMs: 0, highWaterBytes: 64 * 1024, maxPendingBytes: 256 * 1024 });
    const closed = record(a);
    b.socket.pause();
    // What busy does not hold back (replies, control frames) keeps queueing: 4 KiB at a time.
    const blob = new Uint8Array(4096);
    let sent = 0;
    while (closed.reasons.length === 0) {
      expect(sent).toBeLessThan(100_000); // 400 MiB: the bound must have hit long before
      a.sendBatch(0, 0, [5, 0, blob, sent++]);
      if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(closed.reasons).toEqual(['send_overflow']);
    expect(a.socket.destroyed).toBe(true);
    expect(a.sendBatch(0, 0, [5, 0, 'after', 0])).toBe(false);
  });

  it('refuses a bad maxPendingBytes and never sets it below highWaterBytes', async () => {
    const { port, accepted } = await listen();
    await dial(port);
    await until(() => accepted.length === 1);
    for (const v of [0, -1, Number.NaN, 'x'])
      expect(() => new Connection(accepted[0]!, { maxPendingBytes: v as number })).toThrow(InvalidArgumentError);
  });
});

describe('TcpTransport lanes', () => {
  it('routes batches per (remote, local) thread lane and closes every lane with the connection', async () => {
    const [a, b] = await pair({ tickMs: 0 });
    const la = new Lanes(a);
    const lb = new Lanes(b);
    const a1to2 = la.open(2, 1); // a's thread 1 → b's thread 2
    const a3to2 = la.open(2, 3);
    const b2from1 = lb.open(1, 2);
    const b2from3 = lb.open(3, 2);
    expect(la.open(2, 1)).toBe(a1to2);
    const from1: unknown[][] = [];
    const from3: unknown[][] = [];
    b2from1.onBatch((x) => from1.push(x));
    b2from3.onBatch((x) => from3.push(x));
    const strays: Frame[] = [];
    lb.onStray = (f) => strays.push(f);

    // A Channel above the lane batches as over any transport.
    const ch = new Channel(a1to2);
    for (let i = 0; i < 10; i++) ch.write(1, 5, { i, m: new Map([[i, i]]) }, 0);
    a3to2.post([1, 6, 'three', 0]);
    la.open(9, 1).post([1, 0, 'nobody', 0]);
    await until(() => from1.flat().length === 40 && from3.length === 1 && strays.length === 1);
    expect(from1.flat()[2]).toEqual({ i: 0, m: new Map([[0, 0]]) });
    expect(from3).toEqual([[1, 6, 'three', 0]]);

    let closedB = 0;
    b2from1.onClose(() => closedB++);
    b2from3.onClose(() => closedB++);
    // Closing one lane leaves the connection up.
    a3to2.close();
    expect(a.isClosed).toBe(false);
    expect(a3to2.isClosed).toBe(true);
    a.close('done');
    expect(a1to2.isClosed).toBe(true);
    expect(ch.isClosed).toBe(true);
    await until(() => closedB === 2);
    expect(lb.size).toBe(0);
    // A lane asked for once the connection is gone is closed from the start, and not kept.
    expect(la.open(4, 0).isClosed).toBe(true);
    expect(la.size).toBe(0);
  });
});
