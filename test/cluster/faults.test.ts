/**
 * Hostile and faulty peers against real node processes on loopback: a wrong secret, garbage
 * bytes and a huge length header before the handshake, a replayed handshake (captured from a
 * real connection), garbage on an authenticated connection, an abandoned handshake; then
 * 16 MiB messages beside fast heartbeats (direct, and through a throttled link), casts at
 * 100k msg/s each way beside fast heartbeats, a partition
 * through fault-injecting proxies (detected, healed) and a connection reset. In every attack
 * the node keeps serving its legitimate peer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kind } from '../../src/cluster/wire.js';
import {
  type NodeHandle,
  type SeenEvent,
  startCluster,
  startNode,
  startProxiedPair,
  stopAll,
  TEST_SECRET,
  until,
  waitMesh,
} from './kit/cluster-kit.js';
import { FaultProxy } from './kit/proxy.js';
import { authenticatedSocket, garbageBytes, HandshakeRecorder, hugeHeader, type RawConn, rawConnect, replayHandshake } from './kit/raw.js';

let f1: NodeHandle;
let f2: NodeHandle;
/** f1's real listening address (its node id names the tap proxy in front of it). */
const F1_HOST = '127.0.0.31';
let f1Port: number;
let tap: FaultProxy;
const recorder = new HandshakeRecorder();
const raws: RawConn[] = [];

beforeAll(async () => {
  // f1 advertises the tap proxy's address: f2 (seeded with f1's id) dials through the proxy,
  // which records their handshake for the replay test.
  f1 = await startNode({ nodeName: 'f1', host: F1_HOST, advertise: '127.0.0.51' });
  f1Port = f1.port;
  tap = await FaultProxy.start({
    target: { host: F1_HOST, port: f1Port },
    listenHost: '127.0.0.51',
    listenPort: f1Port,
    localAddress: '127.0.0.32',
    tap: recorder.tap,
  });
  f2 = await startNode({ nodeName: 'f2', host: '127.0.0.32', seeds: [f1.nodeId] });
  await waitMesh([f1, f2]);
}, 40000);

afterAll(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await stopAll();
  await tap?.close();
});

const isDown = (e: SeenEvent): e is Extract<SeenEvent, { event: 'nodeDown' }> => e.event === 'nodeDown';

/** f1 and f2 still serve each other, and neither has seen the other go down. */
async function stillServing(): Promise<void> {
  expect(await f2.request({ cmd: 'call', target: { name: 'echo', node: f1.nodeId }, msg: 'ping-1' }, 10000)).toBe('ping-1');
  expect(await f1.request({ cmd: 'call', target: { name: 'echo', node: f2.nodeId }, msg: 'ping-2' }, 10000)).toBe('ping-2');
  expect(await f1.request({ cmd: 'nodeIds' })).toContain(f2.nodeId);
  expect(f1.events.filter((e) => isDown(e) && e.node === f2.nodeId)).toEqual([]);
  expect(f2.events.filter((e) => isDown(e) && e.node === f1.nodeId)).toEqual([]);
}

async function raw(localAddress: string): Promise<RawConn> {
  const r = await rawConnect({ host: F1_HOST, port: f1Port, localAddress });
  raws.push(r);
  return r;
}

describe.sequential('a node under attack keeps serving its cluster', () => {
  it('a node with the wrong secret is refused', async () => {
    const intruder = await startNode({
      nodeName: 'intruder',
      host: '127.0.0.39',
      // f2, not f1: f1's id names the tap proxy, whose connections all come from one address.
      seeds: [f2.nodeId],
      clusterSecret: 'not-the-cluster-secret-0123456789',
      reconnectBaseMs: 50,
    });
    try {
      // The intruder knows f2 (its seed), and f2 refused its handshake (f2 logs why).
      await until(
        async () => (await intruder.request<{ id: string }[]>({ cmd: 'nodes' })).some((i) => i.id === f2.nodeId),
        10000,
        'the intruder to know its seed',
      );
      const refused = await until(() => /auth_failed/.test(f2.output()), 10000, 'f2 to log a refused handshake').catch(() => false);
      expect.soft(refused, `f2 should log an auth_failed handshake; its output:\n${f2.output()}`).toBe(true);
      // Bounded observation: during 1.5 s of its retries it never gets in.
      const deadline = performance.now() + 1500;
      while (performance.now() < deadline) {
        expect(await intruder.request({ cmd: 'nodeIds' })).toEqual([]);
        expect(await f2.request({ cmd: 'nodeIds' })).toEqual([f1.nodeId]);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(f2.events.some((e) => e.event === 'nodeUp' && e.node === intruder.nodeId)).toBe(false);
      expect(intruder.events.some((e) => e.event === 'nodeUp')).toBe(false);
      const err = await intruder.requestError({ cmd: 'call', target: { name: 'echo', node: f2.nodeId }, msg: 'x', timeout: 5000 });
      expect(err.code).toBe('ERR_NODE_DOWN');
      await stillServing();
    } finally {
      intruder.kill('SIGKILL');
    }
  });

  it('garbage bytes: the connection is closed at once', async () => {
    const r = await raw('127.0.0.201');
    const t0 = performance.now();
    r.write(garbageBytes(1024));
    await r.waitClosed(10000);
    expect(performance.now() - t0).toBeLessThan(2500); // well before the 5 s handshake timeout
    expect(r.frames.some((f) => f.kind === Kind.WELCOME || f.kind === Kind.CHALLENGE)).toBe(false);
    await stillServing();
  });

  it('a huge length header: the connection is closed at once, nothing is buffered', async () => {
    const before = await f1.request<{ rss: number }>({ cmd: 'memory' });
    const r = await raw('127.0.0.202');
    const t0 = performance.now();
    r.write(hugeHeader());
    await r.waitClosed(10000);
    expect(performance.now() - t0).toBeLessThan(2500);
    expect(r.frames.some((f) => f.kind === Kind.WELCOME)).toBe(false);
    // Refused from the 5-byte header: nothing near 4 GiB (nor 64 MiB) was allocated.
    const after = await f1.request<{ rss: number }>({ cmd: 'memory' });
    expect(after.rss - before.rss).toBeLessThan(48 * 1024 * 1024);
    await stillServing();
  });

  it('a replayed handshake (captured from a real connection between the nodes) is refused', async () => {
    const captured = recorder.handshake();
    expect(captured, 'the proxy recorded the f2 -> f1 handshake').toBeDefined();
    if (captured === undefined) return;
    expect(captured.dialerFrames[0]?.[4]).toBe(Kind.HELLO);
    expect(captured.acceptorKinds).toEqual([Kind.CHALLENGE, Kind.WELCOME]);
    expect(captured.dialerFrames.map((f) => f[4])).toEqual([Kind.HELLO, Kind.PROOF]);

    const r = await replayHandshake({ host: F1_HOST, port: f1Port, localAddress: '127.0.0.204' }, captured);
    raws.push(r);
    await r.waitClosed(10000);
    expect(r.frames.some((f) => f.kind === Kind.WELCOME)).toBe(false);
    const reject = r.frames.find((f) => f.kind === Kind.REJECT);
    expect.soft(reject !== undefined && 'body' in reject ? reject.body.reason : undefined).toBe('auth_failed');
    await stillServing();
  });

  it('garbage on an authenticated connection: that connection is closed (protocol_error), the others keep serving', async () => {
    const rogue = 'rogue@127.0.0.206:9';
    const socket = await authenticatedSocket({
      host: F1_HOST,
      port: f1Port,
      secret: TEST_SECRET,
      name: rogue,
      localAddress: '127.0.0.206',
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await f1.waitFor((e) => e.event === 'nodeUp' && e.node === rogue, 10000, 'f1 to accept the rogue node');
    const t0 = performance.now();
    socket.write(garbageBytes(256));
    const down = await f1.waitFor((e) => e.event === 'nodeDown' && e.node === rogue, 10000, 'f1 to drop the rogue node');
    expect(down.event === 'nodeDown' && down.reason).toBe('protocol_error');
    expect(down.at - t0).toBeLessThan(2500);
    // The log says what the decoder found, not only "protocol_error".
    await until(
      () => /rogue@127\.0\.0\.206:9 broke the wire protocol \(bad_frame: unknown kind 238\)/.test(f1.output()),
      5000,
      'the log line',
    );
    await closed;
    await stillServing();
  });

  it('an abandoned handshake (connect, say nothing) is closed after the handshake timeout; the node serves meanwhile', async () => {
    const r = await raw('127.0.0.205');
    const t0 = performance.now();
    await stillServing();
    expect(r.isClosed()).toBe(false);
    await r.waitClosed(5000 + 5000);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThan(3000);
    expect(r.frames.some((f) => f.kind === Kind.WELCOME)).toBe(false);
    await stillServing();
  });
});

describe.sequential('big messages and partitions', () => {
  it('a 16 MiB message beside 100 ms heartbeats (threshold 5) causes no false down, and the call returns', async () => {
    const [b1, b2] = (await startCluster(2, { prefix: 'b', hostBase: 40, heartbeatIntervalMs: 100, heartbeatMissThreshold: 5 })) as [
      NodeHandle,
      NodeHandle,
    ];
    try {
      const bytes = 16 * 1024 * 1024;
      const [there, back, small] = await Promise.all([
        b1.request<{ bytes: number }>({ cmd: 'callBig', target: { name: 'echo', node: b2.nodeId }, bytes, timeout: 30000 }, 40000),
        b2.request<{ bytes: number }>({ cmd: 'callBig', target: { name: 'echo', node: b1.nodeId }, bytes, timeout: 30000 }, 40000),
        b1.request({ cmd: 'call', target: { name: 'echo', node: b2.nodeId }, msg: 'small', timeout: 30000 }, 40000),
      ]);
      expect(there.bytes).toBe(bytes);
      expect(back.bytes).toBe(bytes);
      expect(small).toBe('small');
      expect(b1.events.filter(isDown)).toEqual([]);
      expect(b2.events.filter(isDown)).toEqual([]);
      expect(await b1.request({ cmd: 'nodeIds' })).toEqual([b2.nodeId]);
    } finally {
      b1.kill('SIGKILL');
      b2.kill('SIGKILL');
    }
  });

  it('casts at 100k msg/s each way for 3 s beside 100 ms heartbeats (threshold 5) cause no false down, and every cast arrives', async () => {
    const [l1, l2] = (await startCluster(2, { prefix: 'l', hostBase: 44, heartbeatIntervalMs: 100, heartbeatMissThreshold: 5 })) as [
      NodeHandle,
      NodeHandle,
    ];
    try {
      const rate = 100_000;
      const ms = 3000;
      type Flood = { sent: number; ms: number };
      const count = (n: NodeHandle) => n.request<number>({ cmd: 'call', target: 'counter', msg: 'get' });
      const [before1, before2] = [await count(l1), await count(l2)];
      const [to2, to1] = await Promise.all([
        l1.request<Flood>({ cmd: 'flood', target: { name: 'counter', node: l2.nodeId }, rate, ms }, 60000),
        l2.request<Flood>({ cmd: 'flood', target: { name: 'counter', node: l1.nodeId }, rate, ms }, 60000),
      ]);
      // The pacing sends what is due by the clock, so each side offered the full rate.
      expect(to2.sent).toBeGreaterThanOrEqual(rate * (ms / 1000) * 0.99);
      expect(to1.sent).toBeGreaterThanOrEqual(rate * (ms / 1000) * 0.99);
      // Nothing lost: each counter saw every cast (a call after the casts arrives after them).
      const remote = (from: NodeHandle, on: NodeHandle) =>
        from.request<number>({ cmd: 'call', target: { name: 'counter', node: on.nodeId }, msg: 'get', timeout: 30000 }, 40000);
      expect((await remote(l1, l2)) - before2).toBe(to2.sent);
      expect((await remote(l2, l1)) - before1).toBe(to1.sent);
      expect(l1.events.filter(isDown)).toEqual([]);
      expect(l2.events.filter(isDown)).toEqual([]);
      expect(await l1.request({ cmd: 'nodeIds' })).toEqual([l2.nodeId]);
    } finally {
      l1.kill('SIGKILL');
      l2.kill('SIGKILL');
    }
  }, 60_000);

  it('a 16 MiB message through a link throttled to 8 MB/s (2 s per frame, 4x the 500 ms silence cap) causes no false down', async () => {
    const pair = await startProxiedPair(['q1', 'q2'], 61, { heartbeatIntervalMs: 100, heartbeatMissThreshold: 5 });
    const { a, b } = pair;
    try {
      pair.throttle(8_000_000);
      const bytes = 16 * 1024 * 1024;
      const t0 = performance.now();
      const [there, back] = await Promise.all([
        a.request<{ bytes: number }>({ cmd: 'callBig', target: { name: 'echo', node: b.nodeId }, bytes, timeout: 30000 }, 40000),
        b.request<{ bytes: number }>({ cmd: 'callBig', target: { name: 'echo', node: a.nodeId }, bytes, timeout: 30000 }, 40000),
      ]);
      expect(there.bytes).toBe(bytes);
      expect(back.bytes).toBe(bytes);
      // The throttle did hold the frames well beyond the silence cap.
      expect(performance.now() - t0).toBeGreaterThan(1500);
      expect(a.events.filter(isDown)).toEqual([]);
      expect(b.events.filter(isDown)).toEqual([]);
    } finally {
      await pair.close();
    }
  });

  it('a partition (blackholed proxies, sockets open) is detected as heartbeat_timeout on both sides and heals; a reset reconnects', async () => {
    const pair = await startProxiedPair(['pa', 'pb'], 65, {
      heartbeatIntervalMs: 100,
      heartbeatMissThreshold: 5,
      handshakeTimeoutMs: 1000,
      reconnectBaseMs: 50,
    });
    const { a, b } = pair;
    try {
      expect(await a.request({ cmd: 'call', target: { name: 'echo', node: b.nodeId }, msg: 'before' })).toBe('before');
      expect(pair.proxies[0].accepted + pair.proxies[1].accepted).toBeGreaterThanOrEqual(1);

      // A call in flight when the partition starts: it must fail with the detection, not hang.
      const pending = a.requestError(
        { cmd: 'call', target: { name: 'slow', node: b.nodeId }, msg: { sleep: 4000 }, timeout: 30000 },
        30000,
      );
      await b.waitFor((e) => e.event === 'slowStarted', 10000, 'the slow call to start');
      const t0 = performance.now();
      pair.blackhole();
      const [da, db] = await Promise.all([
        a.waitFor((e) => e.event === 'nodeDown' && e.node === b.nodeId, 10000, 'pa to see pb down'),
        b.waitFor((e) => e.event === 'nodeDown' && e.node === a.nodeId, 10000, 'pb to see pa down'),
      ]);
      expect(da.event === 'nodeDown' && da.reason).toBe('heartbeat_timeout');
      expect(db.event === 'nodeDown' && db.reason).toBe('heartbeat_timeout');
      // Silence cap 100 ms x 5 = 500 ms, plus detection and slack for a loaded machine.
      expect(da.at - t0).toBeLessThan(2500);
      expect(db.at - t0).toBeLessThan(2500);
      const cut = await pending;
      expect(cut.code).toBe('ERR_NODE_DOWN');
      expect(performance.now() - t0).toBeLessThan(3500); // before the 4 s handler could have replied
      const err = await a.requestError({ cmd: 'call', target: { name: 'echo', node: b.nodeId }, msg: 'during', timeout: 5000 });
      expect(err.code).toBe('ERR_NODE_DOWN');
      // Still partitioned: redials reach a proxy but never the other node.
      expect(await a.request({ cmd: 'nodeIds' })).toEqual([]);
      expect(await b.request({ cmd: 'nodeIds' })).toEqual([]);

      const t1 = performance.now();
      pair.heal();
      await Promise.all([
        a.waitFor((e) => e.event === 'nodeUp' && e.node === b.nodeId && e.at > t1, 15000, 'pa to see pb again'),
        b.waitFor((e) => e.event === 'nodeUp' && e.node === a.nodeId && e.at > t1, 15000, 'pb to see pa again'),
      ]);
      await waitMesh([a, b]);
      expect(await a.request({ cmd: 'call', target: { name: 'echo', node: b.nodeId }, msg: 'after' })).toBe('after');
      expect(await b.request({ cmd: 'call', target: { name: 'echo', node: a.nodeId }, msg: 'after' })).toBe('after');

      // A reset connection (both sides see it closed) is redialled.
      const t2 = performance.now();
      pair.cut();
      const [ca, cb] = await Promise.all([
        a.waitFor((e) => e.event === 'nodeDown' && e.node === b.nodeId && e.at > t2, 10000, 'pa to see the reset'),
        b.waitFor((e) => e.event === 'nodeDown' && e.node === a.nodeId && e.at > t2, 10000, 'pb to see the reset'),
      ]);
      expect(ca.event === 'nodeDown' && ca.reason).toBe('connection_closed');
      expect(cb.event === 'nodeDown' && cb.reason).toBe('connection_closed');
      await Promise.all([
        a.waitFor((e) => e.event === 'nodeUp' && e.node === b.nodeId && e.at > ca.at, 15000, 'pa to reconnect after the reset'),
        b.waitFor((e) => e.event === 'nodeUp' && e.node === a.nodeId && e.at > cb.at, 15000, 'pb to see pa reconnect'),
      ]);
      expect(await a.request({ cmd: 'call', target: { name: 'echo', node: b.nodeId }, msg: 'again' })).toBe('again');
    } finally {
      await pair.close();
    }
  });
});
