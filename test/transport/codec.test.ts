import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Format,
  MAX_DEPTH,
  MalformedBatchError,
  decodeBatch,
  decodeBatchBytes,
  encodeBatch,
  encodeBatchBytes,
  MAX_OBJECTS,
  packable,
  packedProblem,
} from '../../src/transport/codec.js';
import { serialize } from 'node:v8';
import { formatReason } from '../../src/index.js';
import { preview } from '../../src/transport/validate.js';
import type { PortLike } from '../../src/transport/message-port.js';
import { MIN_PACKED_WORDS, MessagePortTransport, setBatchPacking } from '../../src/transport/message-port.js';
import type { Transferable } from '../../src/transport/transport.js';

/**
 * Structural equality that tells apart what `toEqual` does not: -0 from 0, holes from
 * undefined, missing from undefined-valued keys, prototypes, key order, and identity (the
 * graph of shared references and cycles must be the same shape on both sides, buffers of
 * views included). Returns the first difference, or undefined.
 */
function diff(a: unknown, b: unknown, looseViews = false): string | undefined {
  const ab = new Map<unknown, unknown>();
  const ba = new Map<unknown, unknown>();
  const go = (x: unknown, y: unknown, path: string): string | undefined => {
    if (typeof x !== typeof y) return `${path}: ${typeof x} vs ${typeof y}`;
    if (typeof x !== 'object' || x === null || y === null) return Object.is(x, y) ? undefined : `${path}: ${String(x)} vs ${String(y)}`;
    const yo = y as object;
    if (ab.has(x) || ba.has(yo)) return ab.get(x) === yo && ba.get(yo) === x ? undefined : `${path}: identity differs`;
    ab.set(x, yo);
    ba.set(yo, x);
    if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(yo)) return `${path}: prototype differs`;
    if (x instanceof Date) return Object.is(x.getTime(), (yo as Date).getTime()) ? undefined : `${path}: date`;
    if (x instanceof RegExp) {
      const r = yo as RegExp;
      return x.source === r.source && x.flags === r.flags && x.lastIndex === r.lastIndex ? undefined : `${path}: regexp`;
    }
    if (x instanceof ArrayBuffer) {
      const yb = yo as ArrayBuffer;
      if (x.byteLength !== yb.byteLength) return `${path}: byteLength`;
      return Buffer.from(x).equals(Buffer.from(yb)) ? undefined : `${path}: bytes`;
    }
    if (ArrayBuffer.isView(x)) {
      const yv = yo as ArrayBufferView;
      if (looseViews) {
        // node:v8 deserializes a view into the input bytes (zero-copy): compare what it views.
        const xb = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
        return xb.equals(Buffer.from(yv.buffer, yv.byteOffset, yv.byteLength)) ? undefined : `${path}: view bytes`;
      }
      if (x.byteOffset !== yv.byteOffset || x.byteLength !== yv.byteLength) return `${path}: view bounds`;
      return go(x.buffer, yv.buffer, `${path}.buffer`);
    }
    if (x instanceof Error) {
      const ye = yo as Error;
      for (const k of ['name', 'message', 'stack'] as const) if (x[k] !== ye[k]) return `${path}.${k}`;
      if ('cause' in x !== 'cause' in ye) return `${path}.cause presence`;
      if ('cause' in x) return go(x.cause, ye.cause, `${path}.cause`);
    }
    if (x instanceof Map) {
      const ye = [...(yo as Map<unknown, unknown>)];
      const xe = [...x];
      if (xe.length !== ye.length) return `${path}: size`;
      for (let i = 0; i < xe.length; i++) {
        const d = go(xe[i]?.[0], ye[i]?.[0], `${path}.<key ${i}>`) ?? go(xe[i]?.[1], ye[i]?.[1], `${path}.<value ${i}>`);
        if (d !== undefined) return d;
      }
    }
    if (x instanceof Set) {
      const ye = [...(yo as Set<unknown>)];
      const xe = [...x];
      if (xe.length !== ye.length) return `${path}: size`;
      for (let i = 0; i < xe.length; i++) {
        const d = go(xe[i], ye[i], `${path}.<item ${i}>`);
        if (d !== undefined) return d;
      }
    }
    for (const W of [Number, String, Boolean, BigInt] as const) {
      if (x instanceof W) return Object.is(x.valueOf(), (yo as { valueOf(): unknown }).valueOf()) ? undefined : `${path}: boxed`;
    }
    if (Array.isArray(x)) {
      const ya = yo as unknown[];
      if (x.length !== ya.length) return `${path}: length ${x.length} vs ${ya.length}`;
      for (let i = 0; i < x.length; i++) if (i in x !== i in ya) return `${path}[${i}]: hole`;
    }
    const xk = Object.keys(x);
    const yk = Object.keys(yo);
    if (xk.join('\u0000') !== yk.join('\u0000')) return `${path}: keys ${JSON.stringify(xk)} vs ${JSON.stringify(yk)}`;
    for (const k of xk) {
      const d = go((x as Record<string, unknown>)[k], (yo as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  };
  return go(a, b, 'value');
}

/** The batch `[v]` through the packed path; undefined when it is not packed. */
function packed(v: unknown): unknown[] | undefined {
  const bytes = encodeBatch([v]);
  return bytes === undefined ? undefined : decodeBatch(bytes);
}

function sparse(): unknown[] {
  const a = [1, 2, 3];
  delete a[1];
  return a;
}

const shared = { s: 1 };
const cyclic: Record<string, unknown> = { n: 1 };
cyclic.self = cyclic;
const buf8 = new ArrayBuffer(8);
const withNamed = Object.assign([1, 2], { extra: 'x' });
const regexAdvanced = /a/g;
regexAdvanced.lastIndex = 3;
const dateWithProp = Object.assign(new Date(5), { note: 'dropped' });
const errWithCause = new Error('outer', { cause: new TypeError('inner') });
const getter = Object.defineProperty({}, 'g', { get: () => 7, enumerable: true });
const nonEnum = Object.defineProperty({ v: 1 }, 'hidden', { value: 2, enumerable: false });
const symKeyed = { v: 1, [Symbol('s')]: 2 };
const protoKey = JSON.parse('{"__proto__": 1, "a": 2}');
// biome-ignore lint/complexity/useRegexLiterals: a literal with the v flag needs target ES2024
const regexV = new RegExp('[\\p{L}--[a-z]]', 'v');
class Point {
  constructor(readonly x: number) {}
}

/** [what, value, 'packed' | 'fallback']. */
const KINDS: [string, unknown, 'packed' | 'fallback'][] = [
  ['undefined', undefined, 'packed'],
  ['null', null, 'packed'],
  ['true', true, 'packed'],
  ['false', false, 'packed'],
  ['0', 0, 'packed'],
  ['-0', -0, 'fallback'],
  ['NaN', Number.NaN, 'packed'],
  ['Infinity', Number.POSITIVE_INFINITY, 'packed'],
  ['-Infinity', Number.NEGATIVE_INFINITY, 'packed'],
  ['small ints', [1, 63, 64, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129, -32768, -32769], 'packed'],
  ['32-bit and wider ints', [2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53)], 'packed'],
  ['floats', [0.1, -1.5, Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON], 'packed'],
  ['BigInt small', [0n, 1n, -1n, 127n], 'packed'],
  ['BigInt 64-bit edges', [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n], 'packed'],
  ['BigInt wider than 64 bits', [2n ** 64n, -(2n ** 64n), 2n ** 300n + 7n, -(3n ** 400n)], 'fallback'],
  ['empty string', '', 'packed'],
  ['ascii string', 'hello', 'packed'],
  ['long string', 'x'.repeat(70_000), 'packed'],
  ['unicode string', 'héllo wörld € 😀 中文', 'packed'],
  ['lone high surrogate', 'a\ud800b', 'fallback'],
  ['lone low surrogate', '\udc00', 'fallback'],
  ['lone surrogate key', { 'k\ud800': 1 }, 'fallback'],
  ['plain object', { type: 'add', n: 1, s: 'x', b: false, z: null }, 'packed'],
  ['empty object', {}, 'packed'],
  ['undefined-valued key', { a: undefined, b: 1 }, 'packed'],
  ['integer-like keys', { b: 1, 2: 'two', 1: 'one', a: 0 }, 'packed'],
  ['nested objects', { a: { b: { c: [1, { d: 'e' }] } } }, 'packed'],
  ['nested objects of one shape', { k: { k: { k: 1 } } }, 'packed'],
  [
    'error-like records nesting their own shape',
    [
      { n: 'a', c: { n: 'b', c: { n: 'c', c: null } } },
      { n: 'd', c: null },
    ],
    'packed',
  ],
  ['64 shapes, nested', Array.from({ length: 57 }, (_, i) => ({ [`k${i}`]: { [`j${i % 7}`]: i } })), 'packed'],
  ['65 shapes, nested', Array.from({ length: 58 }, (_, i) => ({ [`k${i}`]: { [`j${i % 7}`]: i } })), 'fallback'],
  ['more than 64 shapes', Array.from({ length: 100 }, (_, i) => ({ [`k${i}`]: i, [`j${i % 7}`]: i })), 'fallback'],
  ['null prototype object', Object.assign(Object.create(null), { k: 1 }), 'packed'],
  ['__proto__ own key', protoKey, 'fallback'],
  ['getter (value read)', getter, 'packed'],
  ['non-enumerable prop (dropped)', nonEnum, 'packed'],
  ['symbol-keyed prop (dropped)', symKeyed, 'packed'],
  ['array', [1, 'a', null, undefined, true], 'packed'],
  ['empty array', [], 'packed'],
  ['array with a hole', sparse(), 'fallback'],
  ['array with a named prop', withNamed, 'fallback'],
  [
    'Map',
    new Map<unknown, unknown>([
      ['a', 1],
      [2, 'b'],
      [{ k: 1 }, [1]],
      [undefined, null],
    ]),
    'packed',
  ],
  [
    'Map with object keys',
    new Map([
      [{ a: 1 }, 'x'],
      [[1, 2], 'y'],
    ]),
    'packed',
  ],
  ['empty Map', new Map(), 'packed'],
  ['Set', new Set([1, 'a', { o: 1 }, undefined]), 'packed'],
  ['Date', new Date(1_700_000_000_123), 'packed'],
  ['Date whole second', new Date(1_700_000_000_000), 'packed'],
  ['Date before 1970', new Date(-1), 'packed'],
  ['Date far past', new Date(-8.64e15), 'packed'],
  ['Date far future', new Date(8.64e15), 'packed'],
  ['invalid Date', new Date(Number.NaN), 'packed'],
  ['Date with an own prop (dropped)', dateWithProp, 'packed'],
  ['RegExp', /a+b/gimsuy, 'packed'],
  ['RegExp d and v flags', [/x/d, regexV], 'packed'],
  ['RegExp lastIndex (reset)', regexAdvanced, 'packed'],
  ['Uint8Array', new Uint8Array([1, 2, 3]), 'packed'],
  [
    'all typed arrays',
    [
      new Int8Array([-1]),
      new Uint8ClampedArray([255]),
      new Int16Array([-2]),
      new Uint16Array([2]),
      new Int32Array([-3]),
      new Uint32Array([3]),
      new Float32Array([1.5]),
      new Float64Array([-0, Number.NaN]),
      new BigInt64Array([-5n]),
      new BigUint64Array([5n]),
    ],
    'packed',
  ],
  ['ArrayBuffer', new Uint8Array([9, 8, 7]).buffer, 'packed'],
  ['DataView', new DataView(new Uint8Array([1, 2]).buffer), 'packed'],
  ['typed array at an offset', new Uint8Array(buf8, 2, 4), 'fallback'],
  ['two views sharing a buffer', [new Uint8Array(buf8), new Int32Array(buf8)], 'fallback'],
  ['empty typed array', new Uint8Array(0), 'fallback'],
  ['Buffer (becomes Uint8Array)', Buffer.from('abc'), 'fallback'],
  ['SharedArrayBuffer', new SharedArrayBuffer(4), 'fallback'],
  ['resizable ArrayBuffer', new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(4, { maxByteLength: 8 }), 'fallback'],
  ['Error', new RangeError('bad'), 'fallback'],
  ['Error with cause', errWithCause, 'fallback'],
  ['boxed Number', Object(1), 'fallback'],
  ['boxed String', Object('s'), 'fallback'],
  ['boxed Boolean', Object(false), 'fallback'],
  ['class instance', new Point(1), 'fallback'],
  ['shared reference', { a: shared, b: shared }, 'fallback'],
  ['shared reference in a Map', new Map([[shared, shared]]), 'fallback'],
  ['cycle', cyclic, 'fallback'],
  ['-0 in an object', { z: -0 }, 'fallback'],
  ['-0 in a Map', new Map([['z', -0]]), 'fallback'],
  ['too deep', JSON.parse(`${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}`), 'fallback'],
];

describe('codec conformance: packed = structured clone, or fallback', () => {
  it(`covers at least 40 kinds (${KINDS.length})`, () => {
    expect(KINDS.length).toBeGreaterThanOrEqual(40);
  });

  it.each(KINDS)('%s', (_what, v, expected) => {
    const want = structuredClone([v]);
    const got = packed(v);
    expect(got === undefined ? 'fallback' : 'packed').toBe(expected);
    if (got !== undefined) expect(diff(got, want)).toBeUndefined();
    // The byte-stream form (TCP) is exact the same way, or v8 when not packable.
    if (expected === 'fallback' && !(v instanceof SharedArrayBuffer)) {
      const bytes = encodeBatchBytes([v]);
      expect(bytes[0]).toBe(Format.V8);
      const got = decodeBatchBytes(bytes);
      // node:v8 writes only the bytes a view shows: its offset in a larger buffer, and a buffer
      // shared by two views, do not survive (the bytes do). Everything else is structured clone's.
      // (A Buffer is such a view: a window on Node's 8 KiB pool, which structured clone copies whole.)
      const viewLayout = ['typed array at an offset', 'two views sharing a buffer', 'Buffer (becomes Uint8Array)'].includes(_what);
      expect(diff(got, want, viewLayout)).toBeUndefined();
      // Every view owns its buffer: never a window on the received frame (other messages' bytes).
      const views = (Array.isArray(got[0]) ? got[0] : [got[0]]).filter((x) => ArrayBuffer.isView(x)) as ArrayBufferView[];
      for (const view of views) expect(view.buffer.byteLength).toBe(view.byteLength);
    } else if (expected === 'packed') {
      const bytes = encodeBatchBytes([v]);
      expect(bytes[0]).toBe(Format.MSGPACK);
      expect(diff(decodeBatchBytes(bytes), want)).toBeUndefined();
    }
  });

  it('refuses functions, symbols and Proxies (the fallback throws as structured clone does)', () => {
    for (const v of [() => 1, Symbol('s'), new Proxy({}, {}), { p: new Proxy([], {}) }]) {
      expect(encodeBatch([1, 0, v, 0])).toBeUndefined();
    }
  });

  it('a throwing getter throws out of the encoder (as from structured clone), which stays usable', () => {
    const bad = Object.defineProperty({}, 'g', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    });
    const filler = { nested: { x: 1 } };
    expect(() => encodeBatch([1, 5, filler, 0, 1, 5, { a: { b: bad } }, 0])).toThrow('getter');
    expect(() => structuredClone(bad)).toThrow('getter');
    expect(decodeBatch(encodeBatch([1, 5, filler, 0]) as Uint8Array)).toEqual([1, 5, filler, 0]);
  });

  it('a getter that encodes (posts) meanwhile gets the fallback, and the outer batch is intact', () => {
    let inner: Uint8Array | undefined | 'unset' = 'unset';
    const reentrant = Object.defineProperty({ before: 'x' }, 'g', {
      enumerable: true,
      get() {
        inner = encodeBatch([1, 5, { other: 1 }, 0]);
        return 7;
      },
    });
    const bytes = encodeBatch([1, 5, reentrant, 0]) as Uint8Array;
    expect(inner).toBeUndefined();
    expect(decodeBatch(bytes)).toEqual([1, 5, { before: 'x', g: 7 }, 0]);
  });

  it('never packs a batch with transfers', () => {
    const ab = new ArrayBuffer(4);
    expect(encodeBatch([15, 0, 'x', 0], [ab])).toBeUndefined();
    expect(encodeBatch([15, 0, 'x', 0], [])).toBeInstanceOf(Uint8Array);
  });

  it('keeps identity within a message, not across the messages of a batch', () => {
    const m = { type: 'add', n: 1 };
    const [, , a, , , , b] = decodeBatch(encodeBatch([1, 5, m, 0, 1, 5, m, 0]) as Uint8Array);
    expect(a).toEqual(m);
    expect(b).toEqual(m);
    expect(a).not.toBe(b);
    // Within one message, a shared reference is kept: by the fallback.
    expect(encodeBatch([1, 5, { x: m, y: m }, 0])).toBeUndefined();
  });

  it('returns bytes that own their whole ArrayBuffer (safe to transfer)', () => {
    const a = encodeBatch([1, 5, { a: 1 }, 0]) as Uint8Array;
    const b = encodeBatch([1, 5, { b: 2 }, 0]) as Uint8Array;
    expect(a.byteOffset).toBe(0);
    expect(a.byteLength).toBe(a.buffer.byteLength);
    expect(a.buffer).not.toBe(b.buffer);
    expect(decodeBatch(a)).toEqual([1, 5, { a: 1 }, 0]);
  });

  it('does not pack when Object.prototype has enumerable properties', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      expect(packable([1, 5, { a: 1 }, 0])).toBe(false);
    } finally {
      delete proto.polluted;
    }
    expect(packable([1, 5, { a: 1 }, 0])).toBe(true);
  });

  it('reads nothing from another node the encoder could not have written: no amplification, no foreign extensions', () => {
    // A peer's 1 MB of empty maps would decode to ~190 MB of heap: refused before decoding.
    const n = 1_000_000;
    const maps = new Uint8Array(6 + n); // the format byte, then an array32 of n empty maps
    maps[0] = Format.MSGPACK;
    maps[1] = 0xdd;
    new DataView(maps.buffer).setUint32(2, n);
    maps.fill(0x80, 6);
    const t0 = performance.now();
    expect(() => decodeBatchBytes(maps)).toThrow(/more than \d+ containers/);
    expect(performance.now() - t0).toBeLessThan(500);
    // Empty arrays and records past the bound too; the bound holds what the encoder may write.
    const words = Array.from({ length: 4 }, (_, i) => (i === 2 ? Array.from({ length: MAX_OBJECTS - 1 }, () => ({})) : 0));
    const ok = encodeBatch(words);
    expect(ok).toBeDefined();
    expect(packedProblem(ok as Uint8Array)).toBeUndefined();
    expect(decodeBatch(ok as Uint8Array)[2]).toHaveLength(MAX_OBJECTS - 1);
    // msgpackr's own extensions that the encoder never writes: a BigInt of any width (0x42),
    // an Error (0x65), bundled strings (0x62), a reference (0x70); and trailing bytes.
    for (const bytes of [
      Uint8Array.of(0x94, 0xc7, 200, 0x42, ...new Uint8Array(200), 0, 0, 0),
      Uint8Array.of(0x94, 0xd4, 0x65, 0, 0, 0, 0),
      Uint8Array.of(0x94, 0xd6, 0x62, 0, 0, 0, 0, 0, 0, 0),
      Uint8Array.of(0x94, 0xd4, 0x70, 0, 0, 0, 0),
      Uint8Array.of(0x94, 0, 0, 0, 0, 0),
      Uint8Array.of(0x94, 0x41, 0, 0, 0), // a record never defined
      Uint8Array.of(0x05),
    ]) {
      expect(packedProblem(bytes)).toEqual(expect.any(String));
      expect(() => decodeBatchBytes(Uint8Array.of(Format.MSGPACK, ...bytes))).toThrow(MalformedBatchError);
    }
  });

  it('a node:v8 batch may not hide a sparse array or a huge BigInt at any depth', () => {
    const v8Batch = (batch: unknown[]) => Uint8Array.of(Format.V8, ...serialize(batch));
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    const named = Object.assign([1, 2], { hidden: sparse });
    for (const [bad, why] of [
      [[1, 0, { n: sparse }, 0], /array of length 4294967295/],
      [[1, 0, new Map([['k', [sparse]]]), 0], /array of length/],
      [[1, 0, named, 0], /array of length/],
      [[1, 0, { shutdown: 2n ** 70_000n }, 0], /BigInt wider than 65536 bits/],
      [[1, 0, new Set([-(2n ** 70_000n)]), 0], /BigInt wider/],
    ] as const) {
      const t0 = performance.now();
      expect(() => decodeBatchBytes(v8Batch(bad as unknown as unknown[]))).toThrow(why);
      expect(performance.now() - t0).toBeLessThan(500);
    }
    // Within the bounds everything still arrives.
    const list: unknown[] = [1];
    list[2] = 3; // a hole at 1
    const fine = [1, 0, { big: 2n ** 1000n, list, cyc: {} as Record<string, unknown> }, 0];
    (fine[2] as { cyc: Record<string, unknown> }).cyc.self = fine[2];
    const got = decodeBatchBytes(v8Batch(fine));
    expect((got[2] as { big: bigint }).big).toBe(2n ** 1000n);
  });

  it('describes a huge BigInt by its size and keeps exit reasons short', () => {
    const t0 = performance.now();
    expect(preview(2n ** 4_000_000n)).toMatch(/^bigint a BigInt of about \d+ bits/);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(preview(12345678901234567890n)).toBe('bigint 12345678901234567890n');
    expect(formatReason({ shutdown: 'x'.repeat(10_000) }).length).toBeLessThan(2100);
    expect(formatReason({ shutdown: { n: 5n } })).toBe('{ shutdown: (object) }');
  });

  it('accepts every batch the encoder writes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.anything({ withMap: true, withSet: true, withDate: true, withTypedArray: true }), { maxLength: 12 }),
        (values) => {
          const batch = values.flatMap((v, i) => [1, i, v, 0]);
          const bytes = encodeBatch(batch);
          if (bytes !== undefined) expect(packedProblem(bytes)).toBeUndefined();
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('decodes hostile bytes to an array or a MalformedBatchError, never anything else', () => {
    for (const bytes of [
      new Uint8Array(0),
      Uint8Array.of(0xc1),
      Uint8Array.of(0x81, 0xa1, 0x61),
      Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff),
    ]) {
      expect(() => decodeBatch(bytes)).toThrow(MalformedBatchError);
    }
    expect(() => decodeBatchBytes(Uint8Array.of(7, 1))).toThrow(MalformedBatchError);
    expect(() => decodeBatchBytes(Uint8Array.of(Format.V8, 0xff))).toThrow(MalformedBatchError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          expect(Array.isArray(decodeBatch(bytes))).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedBatchError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('codec properties', () => {
  const anything = fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withNullPrototype: true,
    withObjectString: true,
    withSet: true,
    withSparseArray: true,
    withTypedArray: true,
    stringUnit: 'binary',
    maxDepth: 4,
  });

  it('a packed batch decodes to what structured clone makes of it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 16 }), fc.nat(), anything, anything), { maxLength: 8 }), (frames) => {
        const batch = frames.flat();
        const bytes = encodeBatch(batch);
        if (bytes !== undefined) expect(diff(decodeBatch(bytes), structuredClone(batch))).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('every single value is packed exactly or not packed', () => {
    fc.assert(
      fc.property(anything, (v) => {
        const got = packed(v);
        if (got !== undefined) expect(diff(got, structuredClone([v]))).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });

  it('records of recurring shapes, nested in each other, decode exactly', () => {
    const shaped = fc.object({ key: fc.constantFrom('a', 'b', 'c'), maxDepth: 4, values: [fc.integer(), fc.constant(null)] });
    fc.assert(
      fc.property(fc.array(shaped, { maxLength: 12 }), fc.array(shaped, { maxLength: 12 }), (xs, ys) => {
        // Two batches in a row: shapes defined in the first are defined again in the second.
        for (const batch of [xs, ys]) {
          const bytes = encodeBatch(batch);
          expect(bytes).toBeDefined();
          expect(diff(decodeBatch(bytes as Uint8Array), structuredClone(batch))).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('packs most plain data (the fallback is the exception)', () => {
    const plain = fc.anything({ maxDepth: 3, withNullPrototype: true, withMap: true, withSet: true, withDate: true });
    let packedCount = 0;
    fc.assert(
      fc.property(plain, (v) => {
        if (packed(v) !== undefined) packedCount++;
      }),
      { numRuns: 500 },
    );
    expect(packedCount).toBeGreaterThan(250);
  });
});

describe('MessagePortTransport with packed batches', () => {
  it('delivers exactly what structured clone delivers, packed or not', async () => {
    const { port1, port2 } = new MessageChannel();
    const posted: string[] = [];
    const spy = Object.assign(Object.create(port1) as PortLike, {
      postMessage(value: unknown, transfer?: readonly Transferable[]) {
        posted.push(typeof value === 'string' ? 'packed' : 'array');
        port1.postMessage(value, transfer as Transferable[]);
      },
      on: port1.on.bind(port1),
    });
    const a = new MessagePortTransport(spy);
    const b = new MessagePortTransport(port2);
    const got: unknown[][] = [];
    b.onBatch((batch) => got.push(batch));
    // Filler frames with primitive messages: no record shapes of their own.
    const filler = Array.from({ length: MIN_PACKED_WORDS / 4 }, (_, i) => [1, 5, i, 0]).flat();
    const kinds = KINDS.filter(([, v]) => !(v instanceof SharedArrayBuffer));
    const sent = kinds.map(([, v]) => [1, 5, v, 0, ...filler]);
    for (const batch of sent) a.post(batch);
    a.post([1, 5, { small: 'batches go as arrays' }, 0]);
    await new Promise((r) => setTimeout(r, 50));
    port1.close();
    expect(got.length).toBe(sent.length + 1);
    for (let i = 0; i < sent.length; i++) expect(diff(got[i], structuredClone(sent[i]))).toBeUndefined();
    expect(posted).toEqual([...kinds.map(([, , how]) => (how === 'packed' ? 'packed' : 'array')), 'array']);
  });

  it('posts plain arrays when packing is off', () => {
    const posted: unknown[] = [];
    const port = { postMessage: (v: unknown) => posted.push(v), on: () => port } as unknown as PortLike;
    const t = new MessagePortTransport(port);
    const batch = Array.from({ length: MIN_PACKED_WORDS / 4 }, (_, i) => [1, 5, { n: i }, 0]).flat();
    setBatchPacking(false);
    try {
      t.post(batch);
    } finally {
      setBatchPacking(true);
    }
    t.post(batch);
    expect(posted[0]).toBe(batch);
    expect(typeof posted[1]).toBe('string');
  });

  it('turns a malformed packed message into a batch the frame check rejects', () => {
    let listener: ((v: unknown) => void) | undefined;
    const port: PortLike = {
      postMessage() {},
      on(event: string, l: (v: unknown) => void) {
        if (event === 'message') listener = l;
        return port;
      },
    } as PortLike;
    const t = new MessagePortTransport(port);
    const got: unknown[][] = [];
    t.onBatch((batch) => got.push(batch));
    listener?.(Uint8Array.of(0xc1, 0x00));
    listener?.('\u00c1garbage');
    listener?.(Uint8Array.of(0x94, 1, 2, 3, 4));
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got[0]?.length).toBe(1);
    expect(got[got.length - 1]).toEqual([1, 2, 3, 4]);
  });
});
