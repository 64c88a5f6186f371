import { describe, expect, it } from 'vitest';
import { findUncloneable } from '../../src/transport/cloneable.js';

class Point {
  constructor(readonly x: number) {}
  norm(): number {
    return Math.abs(this.x);
  }
}

describe('findUncloneable', () => {
  it.each([
    ['a primitive', 42],
    ['a string', 'hello'],
    ['a BigInt', 10n],
    ['a plain object', { type: 'add', n: 1 }],
    ['nested arrays and objects', { a: [1, { b: [2, 3] }], c: null, d: undefined }],
    ['Map, Set, Date, RegExp', { m: new Map([[1, new Set(['x'])]]), d: new Date(0), r: /x/g }],
    ['typed arrays and buffers', { u: new Uint8Array(4), b: new ArrayBuffer(8), v: new DataView(new ArrayBuffer(2)) }],
    ['an Error', { e: new TypeError('bad') }],
    ['a null-prototype object', Object.assign(Object.create(null), { k: 1 })],
  ])('accepts %s', (_what, value) => {
    expect(findUncloneable(value)).toBeUndefined();
  });

  it('accepts cycles', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    a.list = [a, { back: a }];
    expect(findUncloneable(a)).toBeUndefined();
  });

  it.each([
    ['a function at the top', () => 1, 'message', 'function'],
    ['a function in an object', { a: { b: () => 1 } }, 'message.a.b', 'function'],
    ['a symbol in an array', [1, [2, Symbol('s')]], 'message[1][1]', 'symbol'],
    ['a function as a Map value', new Map([['k', { f: () => 1 }]]), 'message.get("k").f', 'function'],
    ['a function in a Set', new Set([1, () => 2]), 'message.<item 1>', 'function'],
  ])('rejects %s and names the path', (_what, value, path, valueType) => {
    expect(findUncloneable(value)).toEqual({ path, valueType });
  });

  it('rejects a class instance, whose methods a clone would drop silently', () => {
    const found = findUncloneable({ p: new Point(1) });
    expect(found?.path).toBe('message.p');
    expect(found?.valueType).toContain('class instance (Point)');
  });

  it('uses the given root in the path', () => {
    expect(findUncloneable({ f: () => 1 }, 'reply')?.path).toBe('reply.f');
  });
  it('a getter that checks another message during the walk (a send inside a getter) spoils neither result', () => {
    const inner: { node: string; thread: number; id: number }[] = [];
    const shared = { deep: { x: 1 } };
    let innerResult: unknown = 'not run';
    const outer = {
      first: shared,
      get second() {
        innerResult = findUncloneable({ a: shared, b: { node: 'n', thread: 0, id: 9 } }, 'message', (r) => inner.push(r));
        return { again: shared, f: () => 1 };
      },
    };
    const outerRefs: unknown[] = [];
    expect(findUncloneable(outer, 'message', (r) => outerRefs.push(r))).toEqual({ path: 'message.second.f', valueType: 'function' });
    expect(innerResult).toBeUndefined();
    expect(inner).toEqual([{ node: 'n', thread: 0, id: 9 }]);
    expect(outerRefs).toEqual([]);
    // And the next flat message starts clean.
    const after: unknown[] = [];
    expect(findUncloneable({ node: 'm', thread: 1, id: 2 }, 'message', (r) => after.push(r))).toBeUndefined();
    expect(after).toEqual([{ node: 'm', thread: 1, id: 2 }]);
  });
});
