/**
 * Transport conformance (one suite runs against every transport). Each case
 * drives a connected pair through the {@link Channel} (eager batching, cap, close, clone
 * failures, large payloads) and checks what the other end receives.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackPair } from '../../src/transport/loopback.js';
import { MessagePortTransport } from '../../src/transport/message-port.js';
import type { Transferable, Transport } from '../../src/transport/transport.js';
import { Channel } from '../../src/transport/transport.js';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { Connection } from '../../src/cluster/connection.js';
import { Lanes } from '../../src/cluster/tcp-transport.js';
import { waitFor } from '../../src/testing.js';

type Factory = () => [Transport, Transport] | Promise<[Transport, Transport]>;

/**
 * What a transport can do beyond the common contract: move buffers (a transfer list) and
 * tell the far end when one end closes. A TCP lane can do neither: bytes are always copied,
 * and one lane's close is local (the connection, shared by every lane, closes for node loss).
 */
interface Caps {
  readonly transfer: boolean;
  readonly farClose: boolean;
}

/** Two TCP Connections on loopback, one lane each way: the cluster's transport. */
async function tcpLanes(): Promise<[Transport, Transport]> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect({ host: '127.0.0.1', port });
  const [a, b] = [client, await accepted];
  server.close();
  const lanesA = new Lanes(new Connection(a));
  const lanesB = new Lanes(new Connection(b));
  const la = lanesA.open(0, 0);
  const lb = lanesB.open(0, 0);
  // Closing either end's lane tears the connection down in these tests (nothing else shares it).
  la.onClose(() => la.connection.close('test'));
  lb.onClose(() => lb.connection.close('test'));
  return [la, lb];
}

const transports: [string, Factory, Caps][] = [
  ['loopback', () => loopbackPair(), { transfer: true, farClose: true }],
  [
    'MessagePort',
    () => {
      const { port1, port2 } = new MessageChannel();
      return [new MessagePortTransport(port1), new MessagePortTransport(port2)];
    },
    { transfer: true, farClose: true },
  ],
  ['TCP lane', tcpLanes, { transfer: false, farClose: true }],
];

/** One end's view: every batch and every frame that arrived, in order. */
interface Inbox {
  batches: unknown[][];
  frames: unknown[][];
}

function receive(t: Transport): Inbox {
  const inbox: Inbox = { batches: [], frames: [] };
  t.onBatch((batch) => {
    inbox.batches.push(batch);
    for (let i = 0; i < batch.length; i += 4) inbox.frames.push(batch.slice(i, i + 4));
  });
  return inbox;
}

/** Wraps `t.post` to record the size (in words) of every posted batch. */
function countPosts(t: Transport): number[] {
  const sizes: number[] = [];
  const post = t.post.bind(t);
  t.post = (batch: unknown[], transfer?: readonly Transferable[]) => {
    post(batch, transfer);
    sizes.push(batch.length);
  };
  return sizes;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe.each(transports)('Transport conformance: %s', (_name, factory, caps) => {
  let open: Transport[] = [];
  const pair = async (): Promise<[Transport, Transport]> => {
    const p = await factory();
    open.push(...p);
    return p;
  };
  afterEach(() => {
    for (const t of open) t.close();
    open = [];
  });

  it('delivers many frames in order, across turns and batches', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const ch = new Channel(a, 64);
    let n = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) ch.write(1, 7, n++, round);
      await turn();
    }
    await waitFor(() => inbox.frames.length === 5000, 5000, 'all 5000 frames');
    expect(inbox.frames.map((f) => f[2])).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(inbox.frames[4999]).toEqual([1, 7, 4999, 4]);
  });

  it('posts the first frame of a turn alone at once and coalesces the rest of the turn into one batch', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const posts = countPosts(a);
    const ch = new Channel(a);
    ch.write(1, 1, 'first', 0);
    expect(posts).toEqual([4]); // sent synchronously, nothing waits for the end of the turn
    for (let i = 0; i < 9; i++) ch.write(1, 1, i, 0);
    expect(posts).toEqual([4]); // coalescing, not posted yet
    await turn();
    expect(posts).toEqual([4, 36]); // one batch for the nine frames of the same turn
    // A new turn starts eager again.
    ch.write(1, 1, 'next', 0);
    expect(posts).toEqual([4, 36, 4]);
    await waitFor(() => inbox.frames.length === 11, 5000, 'eleven frames');
    expect(inbox.frames.map((f) => f[2])).toEqual(['first', 0, 1, 2, 3, 4, 5, 6, 7, 8, 'next']);
    expect(inbox.batches.map((x) => x.length)).toEqual([4, 36, 4]);
  });

  it('caps the batch size: a full batch is posted at once, within the turn; a backlog grows the batches up to 4×, for that turn only', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const posts = countPosts(a);
    const ch = new Channel(a, 16);
    ch.write(1, 1, -1, 0);
    for (let i = 0; i < 22; i++) ch.write(1, 1, i, 0);
    // 22 frames (88 words) after the eager one: a full batch of 16 words is posted at once;
    // each full batch of the turn doubles the next one's size (16, 32, then up to 64).
    expect(posts).toEqual([4, 16, 32]);
    await turn();
    expect(posts).toEqual([4, 16, 32, 40]);
    for (let i = 0; i < 60; i++) ch.write(1, 1, 100 + i, 0);
    expect(Math.max(...posts)).toBeLessThanOrEqual(64); // never past 4× maxWords
    await turn();
    // A new turn starts again from the base size.
    const before = posts.length;
    ch.write(1, 1, 'x', 0);
    for (let i = 0; i < 5; i++) ch.write(1, 1, 'y', 0);
    expect(posts.slice(before)).toEqual([4, 16]);
    await turn();
    await waitFor(() => inbox.frames.length === 23 + 60 + 6, 5000, 'every frame');
    expect(inbox.frames.slice(0, 23).map((f) => f[2])).toEqual(Array.from({ length: 23 }, (_, i) => i - 1));
  });

  it('posts dense batches of exactly the frames written (the batch array is made full size, then cut)', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const dense: boolean[] = [];
    const post = a.post.bind(a);
    a.post = (batch: unknown[], transfer?: readonly Transferable[]) => {
      dense.push(Object.keys(batch).length === batch.length && batch.length % 4 === 0);
      post(batch, transfer);
    };
    const ch = new Channel(a, 16);
    ch.hold();
    for (let i = 0; i < 7; i++) ch.write(1, 1, i === 3 ? undefined : i, 0); // 28 words: 16, then 12 at the flush
    ch.flush();
    for (let i = 0; i < 3; i++) ch.write(1, 1, 10 + i, 0);
    await turn();
    await waitFor(() => inbox.frames.length === 10, 5000, 'ten frames');
    expect(dense.length).toBeGreaterThanOrEqual(3);
    expect(dense.every(Boolean)).toBe(true);
    expect(inbox.frames.map((f) => f[2])).toEqual([0, 1, 2, undefined, 4, 5, 6, 10, 11, 12]);
  });

  it('hold(): the first frame waits too; flush() posts the held frames as one batch; the next turn is eager again', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const posts = countPosts(a);
    const ch = new Channel(a);
    ch.hold();
    ch.write(1, 1, 'a', 0);
    ch.write(1, 1, 'b', 0);
    expect(posts).toEqual([]); // held: nothing leaves before the flush
    ch.flush();
    expect(posts).toEqual([8]);
    ch.write(1, 1, 'c', 0);
    expect(posts).toEqual([8, 4]); // eager again
    await turn();
    await waitFor(() => inbox.frames.length === 3, 5000, 'three frames');
    expect(inbox.frames.map((f) => f[2])).toEqual(['a', 'b', 'c']);
  });

  it.skipIf(!caps.transfer)('a frame that transfers is posted at once, together with the frames pending before it', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const posts = countPosts(a);
    const ch = new Channel(a);
    ch.write(1, 1, 'first', 0);
    ch.write(1, 1, 'pending', 0);
    const buf = new ArrayBuffer(16);
    new Uint8Array(buf)[15] = 5;
    ch.write(1, 1, buf, 'moved', [buf]);
    expect(posts).toEqual([4, 8]);
    expect(buf.byteLength).toBe(0); // ownership moved at the send, not at the end of the turn
    ch.write(1, 1, 'after', 0);
    await turn();
    expect(posts).toEqual([4, 8, 4]);
    await waitFor(() => inbox.frames.length === 4, 5000, 'four frames');
    expect(inbox.frames.map((f) => f[3])).toEqual([0, 0, 'moved', 0]);
    expect(new Uint8Array(inbox.frames[2]![2] as ArrayBuffer)[15]).toBe(5);
  });

  it('close: both ends see onClose once, frames written before close still arrive, writes after close return false', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    let closedA = 0;
    let closedB = 0;
    a.onClose(() => closedA++);
    b.onClose(() => closedB++);
    const chA = new Channel(a);
    const chB = new Channel(b);
    expect(chA.write(1, 1, 'x', 0)).toBe(true);
    expect(chA.write(1, 1, 'y', 0)).toBe(true); // coalesced, flushed by close()
    chA.close();
    expect(chA.isClosed).toBe(true);
    expect(closedA).toBe(1);
    expect(chA.write(1, 1, 'after', 0)).toBe(false);
    await waitFor(() => closedB === 1, 5000, 'the far end to see the close');
    expect(chB.isClosed).toBe(true);
    expect(chB.write(1, 1, 'back', 0)).toBe(false);
    await waitFor(() => inbox.frames.length === 2, 5000, 'the frames written before close');
    // Closing again, from either end, fires nothing more.
    chA.close();
    chB.close();
    await turn();
    await turn();
    expect([closedA, closedB]).toEqual([1, 1]);
    expect(inbox.frames.map((f) => f[2])).toEqual(['x', 'y']);
  });

  it('a frame that cannot be cloned is reported alone; the other frames of its batch still arrive', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const ch = new Channel(a);
    const failed: { frame: unknown[]; error: unknown }[] = [];
    ch.onFrameError = (frame, error) => failed.push({ frame, error });
    // The eager path: a bad first frame, alone in its post.
    ch.write(1, 1, () => 'nope', 'eager');
    expect(failed.map((f) => f.frame[3])).toEqual(['eager']);
    await turn();
    // The batched path: the bad frame sits between good ones.
    ch.write(1, 1, 'ok-0', 0);
    ch.write(1, 1, 'ok-1', 0);
    ch.write(1, 1, { deep: [1, () => 2] }, 'batched');
    ch.write(1, 1, 'ok-2', 0);
    await turn();
    expect(failed.map((f) => f.frame[3])).toEqual(['eager', 'batched']);
    for (const f of failed) expect((f.error as Error).name).toBe('DataCloneError');
    await waitFor(() => inbox.frames.length === 3, 5000, 'the three good frames');
    expect(inbox.frames.map((f) => f[2])).toEqual(['ok-0', 'ok-1', 'ok-2']);
    // The channel is still usable.
    expect(ch.write(1, 1, 'later', 0)).toBe(true);
    await waitFor(() => inbox.frames.length === 4, 5000, 'a frame after the failures');
  });

  it.skipIf(!caps.transfer)(
    'a bad frame does not change how the others of its batch travel: a transferred buffer is still moved',
    async () => {
      const [a, b] = await pair();
      const inbox = receive(b);
      const ch = new Channel(a);
      const failed: unknown[][] = [];
      ch.onFrameError = (frame) => failed.push(frame);
      ch.write(1, 1, 'first', 0);
      const buf = new ArrayBuffer(1024);
      new Uint8Array(buf)[1023] = 42;
      ch.write(1, 1, { view: new Uint8Array(buf) }, 'moved', [buf]);
      ch.write(1, 1, () => 'bad', 'bad');
      await turn();
      expect(failed.map((f) => f[3])).toEqual(['bad']);
      expect(buf.byteLength).toBe(0);
      await waitFor(() => inbox.frames.length === 2, 5000, 'the good frames');
      const view = (inbox.frames[1]![2] as { view: Uint8Array }).view;
      expect([view.length, view[1023]]).toEqual([1024, 42]);
    },
  );

  it.skipIf(!caps.transfer)('carries an 8 MB ArrayBuffer by copy (sender keeps it) and by transfer (sender detached)', async () => {
    const [a, b] = await pair();
    const inbox = receive(b);
    const ch = new Channel(a);
    const size = 8 * 1024 * 1024;
    const make = (seed: number) => {
      const buf = new ArrayBuffer(size);
      const v = new Uint8Array(buf);
      v[0] = seed;
      v[size / 2] = seed + 1;
      v[size - 1] = seed + 2;
      return buf;
    };
    const check = (x: unknown, seed: number) => {
      expect(x).toBeInstanceOf(ArrayBuffer);
      const v = new Uint8Array(x as ArrayBuffer);
      expect([v.length, v[0], v[size / 2], v[size - 1]]).toEqual([size, seed, seed + 1, seed + 2]);
    };

    const copied = make(10);
    ch.write(1, 1, copied, 'copy');
    expect(copied.byteLength).toBe(size);
    await turn();

    const eager = make(20);
    ch.write(1, 1, eager, 'transfer-eager', [eager]);
    expect(eager.byteLength).toBe(0); // moved at once: it was the first frame of the turn

    const coalesced = make(30);
    ch.write(1, 1, { payload: coalesced }, 'transfer-batched', [coalesced]);
    await turn();
    expect(coalesced.byteLength).toBe(0);

    await waitFor(() => inbox.frames.length === 3, 10_000, 'three large frames');
    expect(inbox.frames.map((f) => f[3])).toEqual(['copy', 'transfer-eager', 'transfer-batched']);
    check(inbox.frames[0]?.[2], 10);
    check(inbox.frames[1]?.[2], 20);
    check((inbox.frames[2]![2] as { payload: unknown }).payload, 30);
    expect(new Uint8Array(copied)[0]).toBe(10);
  });
});
