/**
 * Packing frame by frame (BatchPacker) and the channel that does it (PackingChannel): the
 * bytes decode to what structured clone makes of the frames, the verdict is the whole-batch
 * encoder's, packers interleave, a frame that does not pack sends the batch in the exact
 * fallback, and a value that cannot cross is refused before anything is written.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchPacker, decodeBatch, encodeBatch, packable } from '../../src/transport/codec.js';
import { type PackedTransport, PackingChannel } from '../../src/transport/packing-channel.js';
import { HEAVY_BYTES, type Transport } from '../../src/transport/transport.js';

const HEADROOM = 10;

/** The batch in a packer's bytes (after its headroom). */
function unpack(bytes: Buffer): unknown[] {
  return decodeBatch(bytes.subarray(HEADROOM));
}

/** Packs `frames` into `p` one by one; the batch, or undefined when it did not pack. */
function packAll(p: BatchPacker, frames: unknown[][]): unknown[] | undefined {
  for (const [tag, to, a, b] of frames) p.frame(tag as number, to as number, a, b);
  const bytes = p.take(frames.length * 4);
  return bytes === undefined ? undefined : unpack(bytes);
}

describe('BatchPacker', () => {
  it('packs frames into one batch that decodes to the frames, and starts afresh after take', () => {
    const p = new BatchPacker(HEADROOM);
    const frames = [
      [1, 7, { n: 1 }, 0],
      [1, 7, { n: 2, s: 'two' }, 0],
      [3, 300, [1, 'x', null, undefined, true], 70_000],
      [9, 0, new Map([['k', new Set([1, 2])]]), -5],
    ];
    expect(packAll(p, frames)).toEqual(frames.flat());
    // A second batch redefines its shapes: it decodes alone.
    expect(packAll(p, [[1, 7, { n: 3, s: 'three' }, 0]])).toEqual([1, 7, { n: 3, s: 'three' }, 0]);
  });

  it('leaves the headroom free and writes a 32-bit array length', () => {
    const p = new BatchPacker(HEADROOM);
    p.frame(1, 2, 'x', 0);
    const bytes = p.take(4) as Buffer;
    expect(bytes[HEADROOM]).toBe(0xdd);
    expect(bytes.readUInt32BE(HEADROOM + 1)).toBe(4);
  });

  it('a frame that does not pack spoils the batch; take then answers undefined, and the next batch packs', () => {
    const p = new BatchPacker(HEADROOM);
    expect(p.frame(1, 7, { n: 1 }, 0)).toBe(true);
    expect(p.frame(1, 7, new Error('not packed'), 0)).toBe(false);
    expect(p.frame(1, 7, { n: 2 }, 0)).toBe(false); // spoiled until take
    expect(p.take(12)).toBeUndefined();
    expect(packAll(p, [[1, 7, { n: 3 }, 0]])).toEqual([1, 7, { n: 3 }, 0]);
  });

  it('answers undefined when the channel posts other words than it packed', () => {
    const p = new BatchPacker(HEADROOM);
    p.frame(1, 7, 'a', 0);
    expect(p.take(8)).toBeUndefined();
    expect(p.take(0)).toBeUndefined();
  });

  it('counts the binary bytes of the frame it packed last', () => {
    const p = new BatchPacker(HEADROOM);
    p.frame(1, 7, { a: new Uint8Array(100), b: new ArrayBuffer(28) }, 0);
    expect(p.binary).toBe(128);
    p.frame(1, 7, 'text', 0);
    expect(p.binary).toBe(0);
  });

  it('packers interleave, and whole-batch encodes in between leave them intact', () => {
    const a = new BatchPacker(HEADROOM);
    const b = new BatchPacker(HEADROOM);
    const shape = (n: number) => ({ x: n, y: { z: n } });
    a.frame(1, 1, shape(1), 0);
    b.frame(1, 2, shape(2), 0);
    expect(decodeBatch(encodeBatch([1, 3, shape(3), 0]) as Uint8Array)).toEqual([1, 3, shape(3), 0]);
    a.frame(1, 1, shape(4), 0);
    b.frame(1, 2, shape(5), 0);
    expect(unpack(a.take(8) as Buffer)).toEqual([1, 1, shape(1), 0, 1, 1, shape(4), 0]);
    expect(unpack(b.take(8) as Buffer)).toEqual([1, 2, shape(2), 0, 1, 2, shape(5), 0]);
  });

  it('a getter that packs meanwhile spoils its own batch only; one that throws spoils the outer batch and leaves the encoder usable', () => {
    const outer = new BatchPacker(HEADROOM);
    const inner = new BatchPacker(HEADROOM);
    let innerPacked: boolean | undefined;
    const reentrant = Object.defineProperty({ before: 'x' }, 'g', {
      enumerable: true,
      get() {
        innerPacked = inner.frame(1, 5, { other: 1 }, 0);
        return 7;
      },
    });
    expect(outer.frame(1, 5, reentrant, 0)).toBe(true);
    expect(innerPacked).toBe(false);
    expect(inner.take(4)).toBeUndefined();
    expect(unpack(outer.take(4) as Buffer)).toEqual([1, 5, { before: 'x', g: 7 }, 0]);

    const throwing = Object.defineProperty({}, 'g', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    });
    outer.frame(1, 5, 'first', 0);
    expect(() => outer.frame(1, 5, { a: throwing }, 0)).toThrow('getter');
    expect(outer.take(8)).toBeUndefined();
    expect(packAll(outer, [[1, 5, { ok: true }, 0]])).toEqual([1, 5, { ok: true }, 0]);
    expect(packAll(inner, [[1, 5, { ok: 2 }, 0]])).toEqual([1, 5, { ok: 2 }, 0]);
    expect(encodeBatch([1, 5, { ok: 3 }, 0])).toBeDefined();
  });

  it('decides as the whole-batch encoder does, and decodes to structured clone, with packers interleaved', () => {
    const anything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
      withSet: true,
      withSparseArray: true,
      withTypedArray: true,
      stringUnit: 'binary',
      maxDepth: 3,
    });
    const frame = fc.tuple(fc.integer({ min: 1, max: 16 }), fc.nat(), anything, fc.oneof(fc.nat(), anything));
    const packers = [new BatchPacker(HEADROOM), new BatchPacker(HEADROOM), new BatchPacker(HEADROOM)];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), frame), { maxLength: 24 }), (steps) => {
        const words: unknown[][] = [[], [], []];
        for (const [k, f] of steps) {
          packers[k]!.frame(f[0], f[1], f[2], f[3]);
          words[k]!.push(...f);
        }
        for (let k = 0; k < 3; k++) {
          const batch = words[k]!;
          const bytes = packers[k]!.take(batch.length);
          expect(bytes !== undefined).toBe(batch.length > 0 && packable(batch));
          if (bytes !== undefined) expect(unpack(bytes)).toEqual(structuredClone(batch));
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** A packed transport that records what it was given. */
function recorder(): PackedTransport & { packed: unknown[][]; plain: unknown[][] } {
  const packed: unknown[][] = [];
  const plain: unknown[][] = [];
  return {
    packed,
    plain,
    packedHeadroom: HEADROOM,
    postPacked: (bytes: Buffer) => packed.push(unpack(bytes)),
    post: (batch: unknown[]) => {
      plain.push(structuredClone(batch));
    },
    onBatch: () => {},
    onClose: () => {},
    close: () => {},
  };
}

describe('PackingChannel', () => {
  it('posts a held turn as one packed batch', () => {
    const t = recorder();
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    ch.write(1, 7, { n: 1 }, 0);
    expect(ch.sendValue(1, 7, { n: 2 }, 0, 'message')).toBeUndefined();
    ch.flush();
    expect(t.packed).toEqual([[1, 7, { n: 1 }, 0, 1, 7, { n: 2 }, 0]]);
    expect(t.plain).toEqual([]);
  });

  it('copies a packed message as it is sent: a later change in the same turn does not travel', () => {
    const t = recorder();
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    const msg = { n: 1 };
    ch.sendValue(1, 7, msg, 0, 'message');
    msg.n = 2;
    ch.flush();
    expect(t.packed).toEqual([[1, 7, { n: 1 }, 0]]);
  });

  it('sends a batch with a frame that does not pack in the exact fallback, every frame in order', () => {
    const t = recorder();
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    ch.write(1, 7, { n: 1 }, 0);
    const err = new TypeError('kept as an Error');
    expect(ch.sendValue(1, 7, err, 0, 'message')).toBeUndefined();
    ch.write(1, 7, { n: 3 }, 0);
    ch.flush();
    expect(t.packed).toEqual([]);
    expect(t.plain).toEqual([[1, 7, { n: 1 }, 0, 1, 7, err, 0, 1, 7, { n: 3 }, 0]]);
    expect((t.plain[0]![6] as Error).name).toBe('TypeError');
    // The next turn packs again.
    ch.hold();
    ch.write(1, 7, 'x', 0);
    ch.flush();
    expect(t.packed).toEqual([[1, 7, 'x', 0]]);
  });

  it('refuses a value that cannot cross before writing anything, naming its path', () => {
    const t = recorder();
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    ch.write(1, 7, 'before', 0);
    expect(ch.sendValue(1, 7, { ok: 1, f: () => 1 }, 0, 'message')).toEqual({ path: 'message.f', valueType: 'function' });
    class Point {
      x = 1;
    }
    expect(ch.sendValue(3, 0, { p: new Point() }, 9, 'reply')).toMatchObject({ path: 'reply.p' });
    expect(ch.sendValue(1, 7, new Proxy({}, {}), 0, 'message')).toMatchObject({ path: 'message' });
    ch.write(1, 7, 'after', 0);
    ch.flush();
    // The refused frames spoiled the packing of this batch; what was written goes, in order.
    expect([...t.packed, ...t.plain]).toEqual([[1, 7, 'before', 0, 1, 7, 'after', 0]]);
  });

  it('posts a frame heavy with binary data at once, with what is pending before it', () => {
    const t = recorder();
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    ch.write(1, 7, 'small', 0);
    ch.sendValue(1, 7, { big: new Uint8Array(HEAVY_BYTES) }, 0, 'message');
    expect(t.packed.length + t.plain.length).toBe(1);
    const [batch] = [...t.packed, ...t.plain];
    expect(batch!.length).toBe(8);
    expect((batch![6] as { big: Uint8Array }).big.byteLength).toBe(HEAVY_BYTES);
    ch.flush();
  });

  it('once closed, sends nothing but still refuses a value that cannot cross', () => {
    const t = recorder();
    let onClose: (() => void) | undefined;
    t.onClose = (h) => {
      onClose = h;
    };
    const ch = new PackingChannel(t, 1024);
    onClose?.();
    expect(ch.isClosed).toBe(true);
    expect(ch.sendValue(1, 7, { f: () => 1 }, 0, 'message')).toEqual({ path: 'message.f', valueType: 'function' });
    expect(ch.sendValue(1, 7, { n: 1 }, 0, 'message')).toBeUndefined();
    ch.flush();
    expect([...t.packed, ...t.plain]).toEqual([]);
  });

  it('over a transport without postPacked, checks and posts plain batches', () => {
    const plain: unknown[][] = [];
    const t: Transport = {
      post: (batch) => {
        plain.push(structuredClone(batch));
      },
      onBatch: () => {},
      onClose: () => {},
      close: () => {},
    };
    const ch = new PackingChannel(t, 1024);
    ch.hold();
    expect(ch.sendValue(1, 7, Symbol('s'), 0, 'message')).toEqual({ path: 'message', valueType: 'symbol' });
    ch.sendValue(1, 7, { n: 1 }, 0, 'message');
    ch.flush();
    expect(plain).toEqual([[1, 7, { n: 1 }, 0]]);
  });
});
