/**
 * Finds the first value in a message that cannot cross a thread or node with its meaning
 * intact: functions and symbols (structured clone throws), and class instances (clone would
 * silently drop their prototype and methods). Returns the path of that field, or undefined.
 *
 * This runs on every message that leaves the thread, so the common case is kept cheap:
 * primitives return at once, no path strings are built unless a problem is found, and the
 * cycle guard is only allocated once the walk goes deeper than one level.
 */
const CLONEABLE_PROTOS = new Set<unknown>([
  Object.prototype,
  null,
  Array.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  SharedArrayBuffer.prototype,
  DataView.prototype,
  Boolean.prototype,
  Number.prototype,
  String.prototype,
  BigInt.prototype,
]);

export interface CloneProblem {
  readonly path: string;
  readonly valueType: string;
}

/** A problem found deep in the graph; the path is assembled while unwinding. */
interface Found {
  segments: string[];
  valueType: string;
}

export function findUncloneable(value: unknown, root = 'message'): CloneProblem | undefined {
  const t = typeof value;
  if (t === 'function') return { path: root, valueType: 'function' };
  if (t === 'symbol') return { path: root, valueType: 'symbol' };
  if (t !== 'object' || value === null) return undefined;
  const found = walk(value as object, undefined);
  if (found === undefined) return undefined;
  return { path: root + found.segments.reverse().join(''), valueType: found.valueType };
}

function leaf(v: unknown): string | undefined {
  const t = typeof v;
  return t === 'function' ? 'function' : t === 'symbol' ? 'symbol' : undefined;
}

function walk(obj: object, seen: Set<object> | undefined): Found | undefined {
  const proto = Object.getPrototypeOf(obj);
  if (proto === Array.prototype) {
    const arr = obj as unknown[];
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (typeof v === 'object' && v !== null) {
        const s = seen ?? new Set<object>([obj]);
        seen = s;
        if (s.has(v)) continue;
        s.add(v);
        const f = walk(v, s);
        if (f !== undefined) {
          f.segments.push(`[${i}]`);
          return f;
        }
      } else if (typeof v === 'function' || typeof v === 'symbol') {
        return { segments: [`[${i}]`], valueType: typeof v };
      }
    }
    return undefined;
  }
  if (proto === Object.prototype || proto === null) {
    // The hot case: plain objects.
    for (const k in obj) {
      const v = (obj as Record<string, unknown>)[k];
      if (typeof v === 'object' && v !== null) {
        const s = seen ?? new Set<object>([obj]);
        seen = s;
        if (s.has(v)) continue;
        s.add(v);
        const f = walk(v, s);
        if (f !== undefined) {
          f.segments.push(`.${k}`);
          return f;
        }
      } else {
        const bad = leaf(v);
        if (bad !== undefined) return { segments: [`.${k}`], valueType: bad };
      }
    }
    return undefined;
  }
  if (ArrayBuffer.isView(obj) || obj instanceof Error) return undefined;
  if (!CLONEABLE_PROTOS.has(proto)) {
    const name = (proto?.constructor as { name?: string } | undefined)?.name ?? 'object';
    return { segments: [], valueType: `class instance (${name}); send plain data instead` };
  }
  if (obj instanceof Map || obj instanceof Set) {
    let i = 0;
    const s = seen ?? new Set<object>([obj]);
    for (const entry of obj instanceof Map ? obj : [...obj].map((v) => [undefined, v] as const)) {
      const [k, v] = entry as readonly [unknown, unknown];
      for (const [x, seg] of [
        [k, `.<key ${i}>`],
        [v, obj instanceof Map ? `.get(${typeof k === 'string' ? JSON.stringify(k) : String(k)})` : `.<item ${i}>`],
      ] as const) {
        if (typeof x === 'object' && x !== null) {
          if (s.has(x)) continue;
          s.add(x);
          const f = walk(x, s);
          if (f !== undefined) {
            f.segments.push(seg);
            return f;
          }
        } else {
          const bad = leaf(x);
          if (bad !== undefined) return { segments: [seg], valueType: bad };
        }
      }
      i++;
    }
  }
  return undefined;
}
