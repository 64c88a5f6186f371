/** The TCP wire contract: encode/decode round trips and a decoder total over hostile bytes. */
import { serialize } from 'node:v8';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Frame } from '../../src/cluster/wire.js';
import {
  encodeBatch,
  encodeFrame,
  FrameDecoder,
  Kind,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKE_BODY,
  PACKED_HEADROOM,
  packedBatchFrame,
} from '../../src/cluster/wire.js';
import { BatchPacker, Format } from '../../src/transport/codec.js';
import { InvalidArgumentError } from '../../src/index.js';

function decodeAll(bytes: Buffer, d = new FrameDecoder()): Frame[] {
  const r = d.push(bytes);
  expect(r.error).toBeUndefined();
  return r.frames;
}

function header(length: number, kind: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 0);
  b[4] = kind;
  return b;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('wire encode/decode', () => {
  it('round-trips a batch with Map, Set, BigInt, Date and typed arrays inside messages', () => {
    const msg = {
      m: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set([1n, 'x'])],
      ]),
      big: 2n ** 70n,
      when: new Date(1_700_000_000_000),
      bytes: new Uint8Array([1, 2, 3]),
      nested: [undefined, null, -0, Number.NaN],
    };
    const batch = [1, 42, msg, 0, 3, 7, 'hi', 99];
    const [f] = decodeAll(encodeBatch(3, 65535, batch));
    expect(f).toBeDefined();
    if (f?.kind !== Kind.BATCH) throw new Error('expected a BATCH');
    expect(f.toThread).toBe(3);
    expect(f.fromThread).toBe(65535);
    expect(f.batch).toEqual(batch);
    const m = (f.batch[2] as typeof msg).m;
    expect(m).toBeInstanceOf(Map);
    expect(m.get(2)).toBeInstanceOf(Set);
    expect((f.batch[2] as typeof msg).when).toBeInstanceOf(Date);
    expect(typeof (f.batch[2] as typeof msg).big).toBe('bigint');
  });

  it('round-trips every JSON kind, TICK and GOODBYE', () => {
    const kinds = [Kind.HELLO, Kind.CHALLENGE, Kind.PROOF, Kind.WELCOME, Kind.REJECT, Kind.GOODBYE] as const;
    const bytes = Buffer.concat([...kinds.map((k) => encodeFrame(k, { k, s: 'é' })), encodeFrame(Kind.TICK)]);
    const frames = decodeAll(bytes);
    expect(frames.map((f) => f.kind)).toEqual([...kinds, Kind.TICK]);
    for (const f of frames) if ('body' in f) expect(f.body).toEqual({ k: f.kind, s: 'é' });
  });

  it('decodes frames split byte by byte, and many frames in one chunk', () => {
    const parts = Array.from({ length: 50 }, (_, i) => encodeBatch(i, i + 1, [1, i, { i, s: 'x'.repeat(i) }, 0]));
    const all = Buffer.concat([...parts, encodeFrame(Kind.TICK), encodeFrame(Kind.HELLO, { node: 'a' })]);
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < all.length; i++) {
      const r = d.push(all.subarray(i, i + 1));
      expect(r.error).toBeUndefined();
      got.push(...r.frames);
    }
    expect(d.bufferedBytes).toBe(0);
    const once = decodeAll(all);
    expect(got).toEqual(once);
    expect(once).toHaveLength(52);
    expect(once[10]).toEqual({ kind: Kind.BATCH, toThread: 10, fromThread: 11, batch: [1, 10, { i: 10, s: 'x'.repeat(10) }, 0] });
  });

  it('refuses bad arguments when encoding', () => {
    expect(() => encodeBatch(70000, 0, [])).toThrow(InvalidArgumentError);
    expect(() => encodeBatch(0, -1, [])).toThrow(InvalidArgumentError);
    expect(() => encodeBatch(0, 0, [1, 2, 3])).toThrow(InvalidArgumentError);
    expect(() => encodeBatch(0, 0, [1, 0, () => 1, 0])).toThrow();
    expect(() => encodeBatch(0, 0, [1, 0, 'x'.repeat(2000), 0], 1000)).toThrow(InvalidArgumentError);
    expect(() => encodeFrame(Kind.HELLO, { s: 'x'.repeat(MAX_HANDSHAKE_BODY) })).toThrow(InvalidArgumentError);
    expect(() => encodeFrame(9 as Kind)).toThrow(InvalidArgumentError);
    expect(() => encodeFrame(Kind.TICK, Buffer.from([1]))).toThrow(InvalidArgumentError);
  });
});

describe('packed batch frames', () => {
  it('are byte for byte the frame encodeBatch makes of the same batch, and decode to it', () => {
    const batch = [1, 7, { n: 1, s: 'x' }, 0, 3, 300, [1, 2, new Map([['k', 1]])], 70_000];
    const p = new BatchPacker(PACKED_HEADROOM);
    p.frame(1, 7, batch[2], 0);
    p.frame(3, 300, batch[6], 70_000);
    const frame = packedBatchFrame(5, 6, p.take(8) as Buffer);
    const [f] = decodeAll(frame);
    expect(f).toEqual({ kind: Kind.BATCH, toThread: 5, fromThread: 6, batch });
    // The same bytes but for the array header, which the packer writes in its 32-bit form.
    const whole = encodeBatch(5, 6, batch);
    expect(frame.length).toBe(whole.length + 4);
  });

  it('refuses bad thread numbers, an empty batch and a frame past the bound', () => {
    const packed = (): Buffer => {
      const p = new BatchPacker(PACKED_HEADROOM);
      p.frame(1, 0, 'x'.repeat(2000), 0);
      return p.take(4) as Buffer;
    };
    expect(() => packedBatchFrame(70000, 0, packed())).toThrow(InvalidArgumentError);
    expect(() => packedBatchFrame(0, -1, packed())).toThrow(InvalidArgumentError);
    expect(() => packedBatchFrame(0, 0, Buffer.alloc(PACKED_HEADROOM))).toThrow(InvalidArgumentError);
    expect(() => packedBatchFrame(0, 0, packed(), 1000)).toThrow(InvalidArgumentError);
    expect(decodeAll(packedBatchFrame(0, 0, packed(), 3000))).toHaveLength(1);
  });
});

describe('wire decoder on hostile input', () => {
  it('refuses a declared length of 2^31 from the header alone, without allocating', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const allocSafe = vi.spyOn(Buffer, 'alloc');
    const d = new FrameDecoder();
    const r = d.push(header(2 ** 31, Kind.BATCH));
    expect(r.error?.error).toBe('frame_too_large');
    expect(r.frames).toEqual([]);
    for (const [n] of [...alloc.mock.calls, ...allocSafe.mock.calls]) expect(n).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(alloc.mock.calls.every(([n]) => n <= 5)).toBe(true);
    // Spent: later bytes get the same error.
    expect(d.push(encodeFrame(Kind.TICK)).error?.error).toBe('frame_too_large');
  });

  it('refuses a declared length just above a configured limit, split over chunks', () => {
    const d = new FrameDecoder(100);
    const h = header(101, Kind.BATCH);
    expect(d.push(h.subarray(0, 3)).error).toBeUndefined();
    expect(d.push(h.subarray(3)).error?.error).toBe('frame_too_large');
  });

  it('limit(n) refuses larger frames from the next header on; limit(undefined) lifts it; bad limits throw', () => {
    const big = encodeBatch(1, 2, [1, 0, 'x'.repeat(500), 0]);
    const hello = encodeFrame(Kind.HELLO, { type: 'HELLO' });
    const d = new FrameDecoder();
    d.limit(1 + MAX_HANDSHAKE_BODY);
    // Frame by frame: the limit is lifted between two frames of one chunk (a handshake's end).
    d.append(Buffer.concat([hello, big, big]));
    expect(d.next()).toMatchObject({ kind: Kind.HELLO });
    d.limit(undefined);
    expect(d.next()).toMatchObject({ kind: Kind.BATCH });
    d.limit(100);
    const refused = d.next();
    expect(refused).toMatchObject({ error: 'frame_too_large' });
    expect(d.next()).toBe(refused); // decoding stays stopped
    // Never above maxFrameBytes, whatever the limit asks.
    const small = new FrameDecoder(64);
    small.limit(1_000_000);
    expect(small.push(header(65, Kind.BATCH)).error?.error).toBe('frame_too_large');
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '9' as unknown as number]) {
      expect(() => new FrameDecoder().limit(bad)).toThrow(InvalidArgumentError);
    }
  });

  it('under a handshake-size limit a BATCH header declaring 60 MiB is refused from the header', () => {
    const d = new FrameDecoder();
    d.limit(1 + MAX_HANDSHAKE_BODY);
    const r = d.push(header(60 * 1024 * 1024, Kind.BATCH));
    expect(r.error?.error).toBe('frame_too_large');
    expect(d.bufferedBytes).toBe(0);
  });

  it('refuses a JSON body above 4 KiB before reading it', () => {
    expect(new FrameDecoder().push(header(MAX_HANDSHAKE_BODY + 2, Kind.HELLO)).error?.error).toBe('frame_too_large');
  });

  it.each([
    ['unknown kind', header(1, 9)],
    ['kind 0', header(1, 0)],
    ['zero length', header(0, Kind.TICK)],
    ['TICK with a body', Buffer.concat([header(2, Kind.TICK), Buffer.from([0])])],
    ['BATCH too short', Buffer.concat([header(3, Kind.BATCH), Buffer.from([0, 0])])],
    ['unknown batch format', withBatchPayload(serialize([1, 2, 3, 4]))],
    ['truncated v8 payload', withBatchPayload(v8Payload([1, 2, { a: 'xxxxxxxx' }, 4]).subarray(0, 13))],
    ['non-array batch', withBatchPayload(v8Payload({ a: 1 }))],
    ['array not a multiple of 4', withBatchPayload(v8Payload([1, 2, 3]))],
    ['garbage v8 bytes', withBatchPayload(Buffer.from([Format.V8, 0xde, 0xad, 0xbe, 0xef, 0x00]))],
    ['a sparse v8 array claiming 2^32 - 4 words', withBatchPayload(v8Payload(hugeSparse()))],
    ['JSON array', jsonFrame(Kind.HELLO, '[1,2]')],
    ['JSON null', jsonFrame(Kind.WELCOME, 'null')],
    ['JSON number', jsonFrame(Kind.GOODBYE, '3')],
    ['not JSON', jsonFrame(Kind.PROOF, '{nope')],
    ['invalid UTF-8', Buffer.concat([header(3, Kind.HELLO), Buffer.from([0xc3, 0x28])])],
  ])('%s is bad_frame, after the good frames before it', (_name, bad) => {
    const good = encodeBatch(1, 2, [1, 0, 'ok', 0]);
    const r = new FrameDecoder().push(Buffer.concat([good, bad, good]));
    expect(r.frames).toHaveLength(1);
    expect(r.error?.error).toBe('bad_frame');
    expect(typeof r.error?.detail).toBe('string');
  });

  it('random byte strings never throw and never allocate more than maxFrameBytes', () => {
    const max = 1024;
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.boolean(), (chunks, prefixValid) => {
        alloc.mockClear();
        const d = new FrameDecoder(max);
        if (prefixValid) d.push(encodeBatch(1, 2, [1, 0, 'x', 0]));
        for (const c of chunks) {
          const r = d.push(c);
          if (r.error !== undefined) {
            expect(['frame_too_large', 'bad_frame']).toContain(r.error.error);
            expect(typeof r.error.detail).toBe('string');
          }
          for (const f of r.frames) expect([1, 2, 3, 4, 5, 6, 7, 8]).toContain(f.kind);
        }
        for (const [n] of alloc.mock.calls) expect(n).toBeLessThanOrEqual(max);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes framed as a BATCH never throw an untyped error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.boolean(), (payload, versioned) => {
        // Half the time, start like a real v8 payload (version header) so the deserializer goes deeper.
        const body = versioned ? Buffer.concat([serialize(null).subarray(0, 2), payload]) : Buffer.from(payload);
        const r = new FrameDecoder().push(withBatchPayload(body));
        if (r.error !== undefined) expect(r.error.error).toBe('bad_frame');
        else for (const f of r.frames) if (f.kind === Kind.BATCH) expect(f.batch.length % 4).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});

/** A batch payload in the node:v8 form (format byte, then the serialization). */
function v8Payload(value: unknown): Buffer {
  return Buffer.concat([Buffer.from([Format.V8]), serialize(value)]);
}

/** An empty array whose length is 2^32 - 4 (a multiple of 4): a few bytes serialized. */
function hugeSparse(): unknown[] {
  const a: unknown[] = [];
  a.length = 2 ** 32 - 4;
  return a;
}

function withBatchPayload(payload: Buffer): Buffer {
  const h = header(1 + 4 + payload.length, Kind.BATCH);
  return Buffer.concat([h, Buffer.from([0, 1, 0, 2]), payload]);
}

function jsonFrame(kind: number, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([header(1 + body.length, kind), body]);
}
