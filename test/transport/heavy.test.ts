/**
 * Messages that carry much binary data are posted at once, not coalesced into the turn's
 * batch: `findUncloneable` counts the binary bytes it meets (`lastBinaryBytes`), and a channel
 * posts a `heavy` frame with what is pending before it, in order.
 */
import { describe, expect, it } from 'vitest';
import type { Ref } from '../../src/index.js';
import { GenServer, Registry, Supervisor } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';
import { findUncloneable, lastBinaryBytes } from '../../src/transport/cloneable.js';
import type { Transport } from '../../src/transport/transport.js';
import { Channel, HEAVY_BYTES, microtask } from '../../src/transport/transport.js';

describe('lastBinaryBytes', () => {
  it('counts typed arrays, DataViews and ArrayBuffers anywhere in the value, and resets per call', () => {
    findUncloneable(new Uint8Array(100));
    expect(lastBinaryBytes()).toBe(100);
    findUncloneable({
      a: new Float64Array(4),
      b: [new ArrayBuffer(10), new DataView(new ArrayBuffer(6))],
      m: new Map([[1, new Uint16Array(3)]]),
    });
    expect(lastBinaryBytes()).toBe(32 + 10 + 6 + 6);
    findUncloneable({ text: 'x'.repeat(1000), n: 5 });
    expect(lastBinaryBytes()).toBe(0);
    findUncloneable(new Uint8Array(5));
    findUncloneable(42);
    expect(lastBinaryBytes()).toBe(0);
    // A view over part of a buffer counts its own length, not the buffer's.
    findUncloneable(new Uint8Array(new ArrayBuffer(1000), 10, 20));
    expect(lastBinaryBytes()).toBe(20);
  });
});

/** A transport that records what is posted. */
function recording(): { transport: Transport; posts: unknown[][] } {
  const posts: unknown[][] = [];
  const transport: Transport = {
    post: (batch) => {
      posts.push(batch.slice());
    },
    onBatch: () => {},
    onClose: () => {},
    close: () => {},
  };
  return { transport, posts };
}

describe('Channel heavy frames', () => {
  it('posts a heavy frame at once with the frames pending before it; later frames coalesce again', async () => {
    const { transport, posts } = recording();
    const ch = new Channel(transport, 256);
    ch.write(1, 7, 'a', 0); // eager: posted alone
    ch.write(1, 7, 'b', 0);
    ch.write(1, 7, 'c', 0);
    expect(posts).toHaveLength(1);
    ch.write(1, 7, 'big', 0, undefined, true);
    expect(posts).toHaveLength(2);
    expect(posts[1]).toEqual([1, 7, 'b', 0, 1, 7, 'c', 0, 1, 7, 'big', 0]);
    ch.write(1, 7, 'd', 0);
    ch.write(1, 7, 'e', 0);
    expect(posts).toHaveLength(2);
    await new Promise<void>((r) => microtask(r));
    expect(posts).toHaveLength(3);
    expect(posts[2]).toEqual([1, 7, 'd', 0, 1, 7, 'e', 0]);
  });

  it('HEAVY_BYTES is 64 KB', () => {
    expect(HEAVY_BYTES).toBe(64 * 1024);
  });
});

describe('large payloads across a thread', () => {
  it('arrive whole and in order when many are cast in one turn', async () => {
    const env = freshRuntime();
    try {
      type SinkProtocol = { cast: Uint8Array; call: ['firsts', number[]] };
      const tree = new URL('../fixtures/byte-sink.ts', import.meta.url).href;
      const sup = await Supervisor.start({ children: [{ id: 'sink', thread: { module: tree } }] });
      const ref = Registry.whereis('byte-sink') as Ref<SinkProtocol>;
      for (let i = 0; i < 40; i++) GenServer.cast(ref, new Uint8Array(256 * 1024).fill(i));
      const firsts = await GenServer.call(ref, 'firsts', { timeout: 30_000 });
      expect(firsts).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await Supervisor.stop(sup);
    } finally {
      env.dispose();
    }
  }, 60_000);
});
