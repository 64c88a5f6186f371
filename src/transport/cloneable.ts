/**
 * Finds the first value in a message that cannot cross a thread or node with its meaning
 * intact: functions and symbols (structured clone throws), Proxies (structured clone throws a
 * DataCloneError, whatever the target), and class instances (clone would silently drop their
 * prototype and methods). Returns the path of that field, or undefined.
 *
 * This runs on every message that leaves the thread, so the common case is kept cheap:
 * primitives return at once, no path strings are built unless a problem is found, and the
 * cycle guard is only allocated once the walk goes deeper than one level.
 */
import { types } from 'node:util';

/** A C++ check (~10 ns); a Proxy looks like its target to every JavaScript test. */
const { isProxy } = types;

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

/**
 * `onRef`, when given, is called with every ref-shaped plain object (`{ node, thread, id }`)
 * inside `value`, once the whole value is known to be cloneable: the same walk tells the main
 * thread which of its refs leave for a worker (exposure.ts), instead of a second walk.
 */
export function findUncloneable(
  value: unknown,
  root = 'message',
  onRef?: (ref: { node: string; thread: number; id: number }) => void,
): CloneProblem | undefined {
  binaryBytes = 0;
  const t = typeof value;
  if (t === 'function') return { path: root, valueType: 'function' };
  if (t === 'symbol') return { path: root, valueType: 'symbol' };
  if (t !== 'object' || value === null) return undefined;
  // One guard per nesting level of this function (a getter read by the walk may send a message
  // itself), reused from message to message: nothing is allocated for a flat message.
  const guard = (guards[depth] ??= { seen: undefined, refs: undefined, wantRefs: false });
  guard.wantRefs = onRef !== undefined;
  depth++;
  let found: Found | undefined;
  let refs: RefLike[] | undefined;
  try {
    found = walk(value as object, guard);
  } finally {
    depth--;
    refs = guard.refs;
    guard.seen = undefined;
    guard.refs = undefined;
  }
  if (found === undefined) {
    if (onRef !== undefined && refs !== undefined) for (const r of refs) onRef(r);
    return undefined;
  }
  return { path: root + found.segments.reverse().join(''), valueType: found.valueType };
}

/** The guards of the walks in progress, by nesting depth (see {@link findUncloneable}). */
const guards: Guard[] = [];
let depth = 0;

type RefLike = { node: string; thread: number; id: number };

/** Bytes of binary data (ArrayBuffers and their views) the last {@link findUncloneable} met. */
let binaryBytes = 0;

/**
 * Bytes of binary data (ArrayBuffers, typed arrays, DataViews) in the value the last
 * {@link findUncloneable} call walked (a view counts its own length; a buffer reached twice
 * counts twice). A channel posts a message that carries much of it at once instead of
 * coalescing it: see `Channel.write`'s `heavy`.
 */
export function lastBinaryBytes(): number {
  return binaryBytes;
}

/**
 * The cycle guard, its set created on the first nested object (most messages never need
 * it); the refs seen, when asked for (`wantRefs`), their list created on the first one.
 */
interface Guard {
  seen: Set<object> | undefined;
  refs: RefLike[] | undefined;
  wantRefs: boolean;
}

/** Checks one member of `parent` reached through `segment` (`.key`, `[i]`, …). */
function visit(v: unknown, segment: () => string, parent: object, guard: Guard): Found | undefined {
  const t = typeof v;
  if (t === 'function' || t === 'symbol') return { segments: [segment()], valueType: t };
  if (t !== 'object' || v === null) return undefined;
  const seen = (guard.seen ??= new Set<object>([parent]));
  if (seen.has(v as object)) return undefined;
  seen.add(v as object);
  const f = walk(v as object, guard);
  if (f !== undefined) f.segments.push(segment());
  return f;
}

function walk(obj: object, guard: Guard): Found | undefined {
  if (isProxy(obj)) return { segments: [], valueType: 'Proxy; send the plain data it wraps instead' };
  const proto = Object.getPrototypeOf(obj);
  if (proto === Array.prototype) {
    const arr = obj as unknown[];
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      // Primitives are the common case: skip the call.
      if ((typeof v !== 'object' || v === null) && typeof v !== 'function' && typeof v !== 'symbol') continue;
      const f = visit(v, () => `[${i}]`, obj, guard);
      if (f !== undefined) return f;
    }
    return undefined;
  }
  if (proto === Object.prototype || proto === null) {
    // The hot case: plain objects.
    if (guard.wantRefs) {
      const r = obj as { node?: unknown; thread?: unknown; id?: unknown };
      if (typeof r.id === 'number' && typeof r.thread === 'number' && typeof r.node === 'string') (guard.refs ??= []).push(r as RefLike);
    }
    for (const k in obj) {
      const v = (obj as Record<string, unknown>)[k];
      if ((typeof v !== 'object' || v === null) && typeof v !== 'function' && typeof v !== 'symbol') continue;
      const f = visit(v, () => `.${k}`, obj, guard);
      if (f !== undefined) return f;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(obj)) {
    binaryBytes += obj.byteLength;
    return undefined;
  }
  if (obj instanceof Error) return undefined;
  if (proto === ArrayBuffer.prototype || proto === SharedArrayBuffer.prototype) {
    binaryBytes += (obj as ArrayBuffer).byteLength;
    return undefined;
  }
  if (!CLONEABLE_PROTOS.has(proto)) {
    const name = (proto?.constructor as { name?: string } | undefined)?.name ?? 'object';
    return { segments: [], valueType: `class instance (${name}); send plain data instead` };
  }
  if (obj instanceof Map) {
    let i = 0;
    for (const [k, v] of obj) {
      const n = i++;
      const f =
        visit(k, () => `.<key ${n}>`, obj, guard) ??
        visit(v, () => `.get(${typeof k === 'string' ? JSON.stringify(k) : String(k)})`, obj, guard);
      if (f !== undefined) return f;
    }
  } else if (obj instanceof Set) {
    let i = 0;
    for (const v of obj) {
      const n = i++;
      const f = visit(v, () => `.<item ${n}>`, obj, guard);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}
