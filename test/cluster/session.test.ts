/** dial / accept / listen over real sockets on 127.0.0.1 (port 0). */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Listener, ListenOptions, Session } from '../../src/cluster/session.js';
import { dial, listen } from '../../src/cluster/session.js';
import type { Frame } from '../../src/cluster/wire.js';
import { encodeBatch, FrameDecoder, Kind } from '../../src/cluster/wire.js';
import { HandshakeError, InvalidArgumentError } from '../../src/errors.js';

const SECRET = 'a shared cluster secret, 16+ bytes';
const HOST = '127.0.0.1';

const listeners: Listener[] = [];
const sessions: Session[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
let baseline = 0;

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPWrap' || r === 'TCPServerWrap').length;
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

beforeAll(() => {
  baseline = tcpHandles();
});

afterEach(async () => {
  for (const s of sessions.splice(0)) {
    s.connection.close();
    s.connection.socket.destroy();
  }
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  // No leaked handles: every socket and server of the test is gone.
  await until(() => tcpHandles() <= baseline);
});

interface Rejection {
  error: HandshakeError;
  address: string;
}

async function server(extra: Partial<ListenOptions> = {}): Promise<{ listener: Listener; up: Session[]; rejected: Rejection[] }> {
  const up: Session[] = [];
  const rejected: Rejection[] = [];
  const listener = await listen({
    host: HOST,
    port: 0,
    secret: SECRET,
    name: 'b@host',
    creation: 2,
    onSession: (s) => {
      sessions.push(s);
      up.push(s);
    },
    onRejected: (error, address) => rejected.push({ error, address }),
    ...extra,
  });
  listeners.push(listener);
  return { listener, up, rejected };
}

async function dialTo(port: number, extra: Record<string, unknown> = {}): Promise<Session> {
  const s = await dial({ host: HOST, port, secret: SECRET, name: 'a@host', creation: 1, ...extra });
  sessions.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<HandshakeError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HandshakeError);
  return e as HandshakeError;
}

/** A raw client socket that records the frames it receives and whether it closed. */
async function raw(port: number): Promise<{ socket: net.Socket; frames: Frame[]; closed: () => boolean }> {
  const socket = net.connect({ host: HOST, port });
  sockets.push(socket);
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  let closed = false;
  socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk).frames));
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, frames, closed: () => closed };
}

function bodyOf(f: Frame | undefined): Record<string, unknown> | undefined {
  return f !== undefined && 'body' in f ? f.body : undefined;
}

describe('dial / accept', () => {
  it('brings a session up: both sides see each other and exchange a BATCH over a lane', async () => {
    const { listener, up } = await server({
      onSession: (s) => {
        sessions.push(s);
        up.push(s);
        // Opened synchronously: nothing the dialer sends right away is missed.
        const lane = s.lanes.open(1, 2);
        lane.onBatch((batch) => lane.post(['echo', ...batch.slice(1)]));
      },
    });
    const a = await dialTo(listener.port, { features: ['x'] });
    expect(a.peer).toEqual({ name: 'b@host', creation: 2, proto: 1, features: [] });
    await until(() => up.length === 1);
    expect(up[0]!.peer).toEqual({ name: 'a@host', creation: 1, proto: 1, features: ['x'] });

    const got: unknown[][] = [];
    const lane = a.lanes.open(2, 1);
    lane.onBatch((b) => got.push(b));
    lane.post(['tag', 1, 'two', { three: 3 }]);
    await until(() => got.length === 1);
    expect(got[0]).toEqual(['echo', 1, 'two', { three: 3 }]);
  });

  it('onSession runs before later frames are routed: a batch sent right after WELCOME is not lost', async () => {
    const { listener } = await server({
      onSession: (s) => {
        sessions.push(s);
        s.lanes.open(1, 2).post(['first', 0, 0, 0]);
      },
    });
    const got: unknown[][] = [];
    await dialTo(listener.port, {
      onSession: (s: Session) => s.lanes.open(2, 1).onBatch((b) => got.push(b)),
    });
    await until(() => got.length === 1);
    expect(got[0]).toEqual(['first', 0, 0, 0]);
  });

  it('a 100 KB batch written with WELCOME arrives: the handshake-size frame limit lifts between two frames of one chunk', async () => {
    const big = 'x'.repeat(100_000);
    const { listener } = await server({
      onSession: (s) => {
        sessions.push(s);
        s.lanes.open(1, 2).post([big, 0, 0, 0]);
      },
    });
    const got: unknown[][] = [];
    const s = await dialTo(listener.port, {
      onSession: (x: Session) => x.lanes.open(2, 1).onBatch((b) => got.push(b)),
    });
    await until(() => got.length === 1 || s.connection.isClosed);
    expect(got[0]).toEqual([big, 0, 0, 0]);
  });

  it('before the handshake only handshake-sized frames are read: a BATCH declaring 60 MiB closes the socket at once', async () => {
    const { listener, up, rejected } = await server({ handshakeTimeoutMs: 20_000 });
    const c = await raw(listener.port);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(60 * 1024 * 1024);
    head[4] = Kind.BATCH;
    c.socket.write(head);
    c.socket.write(Buffer.alloc(64 * 1024)); // the start of a body nobody will buffer
    // Closed from the header, not after the 20 s handshake timeout.
    await until(() => c.closed(), 5000);
    expect(bodyOf(c.frames[0])?.reason).toBe('frame_too_large');
    await until(() => rejected.length === 1);
    expect(rejected[0]!.error.reason).toBe('bad_message');
    await dialTo(listener.port);
    await until(() => up.length === 1);
  });

  it('a wrong secret fails both sides with auth_failed', async () => {
    const { listener, up, rejected } = await server();
    const e = await failure(dial({ host: HOST, port: listener.port, secret: 'another secret of 16+ bytes', name: 'a@host', creation: 1 }));
    expect(e.reason).toBe('auth_failed');
    expect(HandshakeError.is(e)).toBe(true);
    await until(() => rejected.length === 1);
    expect(rejected[0]!.error.reason).toBe('auth_failed');
    expect(rejected[0]!.address).toBe('127.0.0.1');
    expect(up).toHaveLength(0);
  });

  it('garbage bytes are bad_frame on the wire, bad_message for the handshake; the server keeps accepting', async () => {
    const { listener, up, rejected } = await server();
    const c = await raw(listener.port);
    c.socket.write(Buffer.from([0, 0, 0, 0, 1])); // declared length 0
    await until(() => c.closed());
    expect(c.frames.map((f) => f.kind)).toEqual([Kind.GOODBYE]);
    expect(bodyOf(c.frames[0])?.reason).toBe('bad_frame');
    await until(() => rejected.length === 1);
    expect(rejected[0]!.error.reason).toBe('bad_message');

    await dialTo(listener.port);
    await until(() => up.length === 1);
  });

  it('a BATCH (or a mislabelled handshake frame) before the handshake is REJECT bad_message', async () => {
    const { listener, up, rejected } = await server();
    const c = await raw(listener.port);
    c.socket.write(encodeBatch(0, 0, ['too', 'early', 0, 0]));
    await until(() => c.closed());
    expect(c.frames[0]?.kind).toBe(Kind.REJECT);
    expect(bodyOf(c.frames[0])).toEqual({ type: 'REJECT', reason: 'bad_message' });

    const d = await raw(listener.port);
    // A HELLO frame whose body says PROOF.
    const body = Buffer.from(JSON.stringify({ type: 'PROOF', proof: 'AAAA' }));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length + 1);
    head[4] = Kind.HELLO;
    d.socket.write(Buffer.concat([head, body]));
    await until(() => d.closed());
    expect(bodyOf(d.frames[0])).toEqual({ type: 'REJECT', reason: 'bad_message' });
    await until(() => rejected.length === 2);
    expect(rejected.map((r) => r.error.reason)).toEqual(['bad_message', 'bad_message']);

    await dialTo(listener.port);
    await until(() => up.length === 1);
  });

  it('a silent client times out (REJECT timeout), and so does a dialer facing a silent server', async () => {
    const { listener, rejected } = await server({ handshakeTimeoutMs: 200 });
    const c = await raw(listener.port);
    await until(() => c.closed());
    expect(bodyOf(c.frames[0])).toEqual({ type: 'REJECT', reason: 'timeout' });
    expect(rejected.map((r) => r.error.reason)).toEqual(['timeout']);

    const silent = net.createServer((s) => sockets.push(s));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, HOST, () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const e = await failure(dial({ host: HOST, port, secret: SECRET, name: 'a@host', creation: 1, handshakeTimeoutMs: 200 }));
    expect(e.reason).toBe('timeout');
  });

  it('expectPeer mismatch is name_mismatch on both sides', async () => {
    const { listener, rejected } = await server();
    const e = await failure(dial({ host: HOST, port: listener.port, secret: SECRET, name: 'a@host', creation: 1, expectPeer: 'c@host' }));
    expect(e.reason).toBe('name_mismatch');
    await until(() => rejected.length === 1);
    expect(rejected[0]!.error.reason).toBe('name_mismatch');
  });

  it('a refused connection is connection_closed', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, HOST, () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await failure(dial({ host: HOST, port, secret: SECRET, name: 'a@host', creation: 1 }));
    expect(e.reason).toBe('connection_closed');
  });

  it('bad options are InvalidArgumentError, before any socket', async () => {
    await expect(dial({ host: HOST, port: 1, secret: 'short', name: 'a@host', creation: 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dial({ host: HOST, port: 0, secret: SECRET, name: 'a@host', creation: 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dial({ host: HOST, port: 1, secret: SECRET, name: 'a@host', creation: 1, handshakeTimeoutMs: -1 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      listen({ host: HOST, port: 0, secret: SECRET, name: 'b@host', creation: 1 } as unknown as ListenOptions),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('listen rate limiting', () => {
  it('after 5 failures from an address, its new sockets are closed at once', async () => {
    const { listener, up, rejected } = await server();
    for (let i = 0; i < 5; i++) {
      const e = await failure(
        dial({ host: HOST, port: listener.port, secret: 'another secret of 16+ bytes', name: 'a@host', creation: 1 }),
      );
      expect(e.reason).toBe('auth_failed');
    }
    await until(() => rejected.length === 5);

    // Blocked: a raw socket is closed without a word, and even a good dial fails.
    const c = await raw(listener.port);
    await until(() => c.closed());
    expect(c.frames).toEqual([]);
    const e = await failure(dial({ host: HOST, port: listener.port, secret: SECRET, name: 'a@host', creation: 1 }));
    expect(e.reason).toBe('connection_closed');
    expect(rejected).toHaveLength(5);
    expect(up).toHaveLength(0);
  });

  it('bounds sockets in their handshake, per address and in all; a finished handshake frees its place', async () => {
    const { listener, up } = await server({ maxPendingPerAddress: 3, maxPendingHandshakes: 5, handshakeTimeoutMs: 20_000 });
    const silent = async (localAddress: string): Promise<{ socket: net.Socket; closed: () => boolean }> => {
      const socket = net.connect({ host: HOST, port: listener.port, localAddress });
      sockets.push(socket);
      let closed = false;
      socket.on('error', () => {});
      socket.on('close', () => {
        closed = true;
      });
      await new Promise<void>((r) => socket.once('connect', () => r()));
      return { socket, closed: () => closed };
    };
    // Three silent sockets from 127.0.0.1 are held (their handshakes wait); a fourth is closed at once.
    const held = [await silent('127.0.0.1'), await silent('127.0.0.1'), await silent('127.0.0.1')];
    const fourth = await silent('127.0.0.1');
    await until(() => fourth.closed(), 5000);
    // Two more from another address fill the total of 5; a sixth, from a third address, is closed.
    const other = [await silent('127.0.0.2'), await silent('127.0.0.2')];
    const sixth = await silent('127.0.0.3');
    await until(() => sixth.closed(), 5000);
    expect([...held, ...other].some((c) => c.closed())).toBe(false);
    // Give the places back: a good dial from 127.0.0.1 gets through.
    for (const c of [...held, ...other]) c.socket.destroy();
    await until(() => [...held, ...other].every((c) => c.closed()));
    // The server sees the closes a moment after the clients do: retry until the places are free.
    for (let tries = 0; ; tries++) {
      try {
        await dialTo(listener.port);
        break;
      } catch (e) {
        if (tries > 50) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await until(() => up.length === 1);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(
        listen({ host: HOST, port: 0, secret: SECRET, name: 'b@host', creation: 1, onSession: () => {}, maxPendingHandshakes: bad }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(
        listen({ host: HOST, port: 0, secret: SECRET, name: 'b@host', creation: 1, onSession: () => {}, maxPendingPerAddress: bad }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('the block lifts after blockMs', async () => {
    const { listener, up, rejected } = await server({ maxFailures: 2, blockMs: 100 });
    for (let i = 0; i < 2; i++) {
      await failure(dial({ host: HOST, port: listener.port, secret: 'another secret of 16+ bytes', name: 'a@host', creation: 1 }));
    }
    await until(() => rejected.length === 2);
    const c = await raw(listener.port);
    await until(() => c.closed());
    expect(c.frames).toEqual([]);
    const start = Date.now();
    await until(() => Date.now() - start > 150);
    await dialTo(listener.port);
    await until(() => up.length === 1);
  });
});
