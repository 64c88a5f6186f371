/**
 * The fault-injecting TCP proxy of the cluster test kit, against a plain echo server: it
 * forwards both ways, delays, blackholes (silence, sockets open), cuts, heals, binds its
 * outgoing side to the address asked, and taps what it forwards.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './kit/proxy.js';

interface Echo {
  readonly server: Server;
  readonly port: number;
  readonly remotes: string[];
  readonly sockets: Set<Socket>;
}

async function echoServer(): Promise<Echo> {
  const remotes: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    remotes.push(s.remoteAddress ?? '');
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port, remotes, sockets };
}

/** A client socket that accumulates what it receives. */
interface Client {
  readonly socket: Socket;
  received(): string;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

async function client(port: number, localAddress?: string): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
  let data = '';
  let closed = false;
  socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
  socket.on('error', () => {});
  const closedP = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed: closedP, isClosed: () => closed };
}

async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(localAddress?: string): Promise<{ echo: Echo; proxy: FaultProxy; c: Client }> {
  const echo = await echoServer();
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of echo.sockets) s.destroy();
        echo.server.close(() => resolve());
      }),
  );
  const proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port: echo.port },
    ...(localAddress !== undefined ? { localAddress } : {}),
  });
  cleanups.push(() => proxy.close());
  const c = await client(proxy.port);
  cleanups.push(() => {
    c.socket.destroy();
  });
  return { echo, proxy, c };
}

describe('FaultProxy', () => {
  it('forwards both ways and binds the outgoing socket to localAddress', async () => {
    const { echo, proxy, c } = await setup('127.0.0.77');
    c.socket.write('hello');
    await until(() => c.received() === 'hello', 5000, 'echo');
    expect(echo.remotes).toEqual(['127.0.0.77']);
    expect(proxy.connections).toBe(1);
  });

  it('taps every forwarded chunk with its direction', async () => {
    const echo = await echoServer();
    cleanups.push(() => new Promise<void>((resolve) => echo.server.close(() => resolve())));
    const seen: { up: string; down: string } = { up: '', down: '' };
    const proxy = await FaultProxy.start({
      target: { host: '127.0.0.1', port: echo.port },
      tap: (dir, chunk) => (seen[dir] += chunk.toString('utf8')),
    });
    cleanups.push(() => proxy.close());
    const c = await client(proxy.port);
    cleanups.push(() => {
      c.socket.destroy();
    });
    c.socket.write('abc');
    await until(() => c.received() === 'abc');
    expect(seen).toEqual({ up: 'abc', down: 'abc' });
  });

  it('delays each chunk and keeps the order', async () => {
    const { proxy, c } = await setup();
    proxy.delay(150);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) c.socket.write(`${i},`);
    await until(() => c.received() === '0,1,2,3,4,5,6,7,8,9,', 5000, 'delayed echo');
    // Both directions are delayed: at least two delays (timers may fire ~1 ms early).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    proxy.heal();
    const t1 = performance.now();
    c.socket.write('x');
    await until(() => c.received().endsWith('x'));
    expect(performance.now() - t1).toBeLessThan(1000);
  });

  it('throttles each direction to the rate asked, bytes intact and in order', async () => {
    const { proxy, c } = await setup();
    proxy.throttle(400_000);
    const payload = Buffer.alloc(200_000);
    for (let i = 0; i < payload.length; i++) payload[i] = 97 + (i % 26);
    const t0 = performance.now();
    c.socket.write(payload);
    await until(() => c.received().length === payload.length, 10000, 'the throttled echo');
    // 200 kB at 400 kB/s: at least ~0.5 s (the two directions overlap).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
    expect(c.received()).toBe(payload.toString('utf8'));
  });

  it('blackhole: silence both ways with the sockets open; heal delivers what was held', async () => {
    const { proxy, c } = await setup();
    c.socket.write('a');
    await until(() => c.received() === 'a');
    proxy.blackhole();
    c.socket.write('b');
    // Nothing may come back, and nothing may close, while blackholed (bounded observation).
    const deadline = Date.now() + 300;
    await until(() => Date.now() > deadline || c.received() !== 'a' || c.isClosed(), 2000);
    expect(c.received()).toBe('a');
    expect(c.isClosed()).toBe(false);
    expect(proxy.connections).toBe(1);
    proxy.heal();
    await until(() => c.received() === 'ab', 5000, 'held bytes after heal');
  });

  it('blackhole holds a new connection until heal', async () => {
    const { echo, proxy, c } = await setup();
    c.socket.write('1');
    await until(() => c.received() === '1');
    proxy.blackhole();
    const c2 = await client(proxy.port);
    cleanups.push(() => {
      c2.socket.destroy();
    });
    c2.socket.write('z');
    const deadline = Date.now() + 200;
    await until(() => Date.now() > deadline || c2.received() !== '', 2000);
    expect(c2.received()).toBe('');
    expect(echo.remotes).toHaveLength(1);
    proxy.heal();
    await until(() => c2.received() === 'z', 5000, 'second connection after heal');
    expect(echo.remotes).toHaveLength(2);
  });

  it('blackhole: a connection that gives up before heal never reaches the target', async () => {
    const { echo, proxy, c } = await setup();
    c.socket.write('1');
    await until(() => c.received() === '1');
    proxy.blackhole();
    const c2 = await client(proxy.port);
    c2.socket.write('lost');
    c2.socket.end();
    await until(() => proxy.connections === 1, 5000, 'the abandoned connection to be dropped');
    proxy.heal();
    c.socket.write('2');
    await until(() => c.received() === '12');
    expect(echo.remotes).toHaveLength(1);
  });

  it('blackhole hides a close from the other side until heal', async () => {
    const { echo, proxy, c } = await setup();
    c.socket.write('1');
    await until(() => c.received() === '1' && echo.sockets.size === 1);
    proxy.blackhole();
    c.socket.destroy();
    await c.closed;
    const deadline = Date.now() + 200;
    await until(() => Date.now() > deadline || echo.sockets.size === 0, 2000);
    expect(echo.sockets.size).toBe(1);
    proxy.heal();
    await until(() => echo.sockets.size === 0, 5000, 'the close to reach the server after heal');
  });

  it('blackholeFrom silences only the clients from that address; localAddress client keeps their address', async () => {
    const { echo, proxy, c } = await setup('client');
    c.socket.write('1');
    await until(() => c.received() === '1');
    const far = await client(proxy.port, '127.0.0.42');
    cleanups.push(() => {
      far.socket.destroy();
    });
    far.socket.write('a');
    await until(() => far.received() === 'a');
    expect(echo.remotes).toEqual(['127.0.0.1', '127.0.0.42']);
    proxy.blackholeFrom('127.0.0.42');
    far.socket.write('b');
    c.socket.write('2');
    await until(() => c.received() === '12', 5000, 'the other client still served');
    // A new connection from the blocked address is held; one from elsewhere flows.
    const far2 = await client(proxy.port, '127.0.0.42');
    const near2 = await client(proxy.port, '127.0.0.43');
    cleanups.push(() => {
      far2.socket.destroy();
      near2.socket.destroy();
    });
    far2.socket.write('x');
    near2.socket.write('y');
    await until(() => near2.received() === 'y', 5000, 'a client from another address');
    const deadline = Date.now() + 200;
    await until(() => Date.now() > deadline || far.received() !== 'a' || far2.received() !== '', 2000);
    expect(far.received()).toBe('a');
    expect(far2.received()).toBe('');
    expect(far.isClosed()).toBe(false);
    expect(echo.remotes).toEqual(['127.0.0.1', '127.0.0.42', '127.0.0.43']);
    proxy.heal();
    await until(() => far.received() === 'ab' && far2.received() === 'x', 5000, 'held bytes after heal');
    expect(echo.remotes).toEqual(['127.0.0.1', '127.0.0.42', '127.0.0.43', '127.0.0.42']);
  });

  it('cut destroys every connection; new ones still work', async () => {
    const { proxy, c } = await setup();
    c.socket.write('q');
    await until(() => c.received() === 'q');
    proxy.cut();
    await c.closed;
    await until(() => proxy.connections === 0);
    const c2 = await client(proxy.port);
    cleanups.push(() => {
      c2.socket.destroy();
    });
    c2.socket.write('r');
    await until(() => c2.received() === 'r');
  });

  it('an end from the server side closes the client', async () => {
    const { echo, c } = await setup();
    c.socket.write('e');
    await until(() => c.received() === 'e');
    for (const s of echo.sockets) s.end();
    await c.closed;
  });

  it('close stops listening and closes the connections', async () => {
    const { proxy, c } = await setup();
    await proxy.close();
    await c.closed;
    await expect(client(proxy.port)).rejects.toThrow();
  });

  it('refuses non-loopback addresses', async () => {
    await expect(FaultProxy.start({ target: { host: '10.0.0.1', port: 1 } })).rejects.toThrow(/loopback/);
  });
});
