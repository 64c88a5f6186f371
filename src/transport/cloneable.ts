/**
 * Finds the first value in a message that cannot cross a thread or node with its meaning
 * intact: functions and symbols (structured clone throws), and class instances (clone would
 * silently drop their prototype and methods). Returns the path of that field, or undefined.
 * Cost is one walk of the object graph; primitives return at once.
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

export function findUncloneable(value: unknown, root = 'message'): CloneProblem | undefined {
  const t = typeof value;
  if (t === 'function') return { path: root, valueType: 'function' };
  if (t === 'symbol') return { path: root, valueType: 'symbol' };
  if (t !== 'object' || value === null) return undefined;
  return walk(value as object, root, new Set());
}

function walk(obj: object, path: string, seen: Set<object>): CloneProblem | undefined {
  if (seen.has(obj)) return undefined;
  seen.add(obj);
  if (ArrayBuffer.isView(obj) || obj instanceof Error) return undefined;
  const proto = Object.getPrototypeOf(obj);
  if (!CLONEABLE_PROTOS.has(proto)) {
    const name = (proto?.constructor as { name?: string } | undefined)?.name ?? 'object';
    return { path, valueType: `class instance (${name}); send plain data instead` };
  }
  if (obj instanceof Map) {
    let i = 0;
    for (const [k, v] of obj) {
      const p = check(k, `${path}.<map key ${i}>`, seen) ?? check(v, `${path}.get(${describeKey(k)})`, seen);
      if (p) return p;
      i++;
    }
    return undefined;
  }
  if (obj instanceof Set) {
    let i = 0;
    for (const v of obj) {
      const p = check(v, `${path}.<set item ${i++}>`, seen);
      if (p) return p;
    }
    return undefined;
  }
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const p = check(obj[i], `${path}[${i}]`, seen);
      if (p) return p;
    }
    return undefined;
  }
  for (const k in obj) {
    const p = check((obj as Record<string, unknown>)[k], `${path}.${k}`, seen);
    if (p) return p;
  }
  return undefined;
}

function check(v: unknown, path: string, seen: Set<object>): CloneProblem | undefined {
  const t = typeof v;
  if (t === 'function') return { path, valueType: 'function' };
  if (t === 'symbol') return { path, valueType: 'symbol' };
  if (t !== 'object' || v === null) return undefined;
  return walk(v as object, path, seen);
}

function describeKey(k: unknown): string {
  return typeof k === 'string' ? JSON.stringify(k) : String(k);
}
