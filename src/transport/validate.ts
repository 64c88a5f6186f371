/**
 * Checks for data that arrives from another thread (and, later, another node). Such data is
 * untrusted: it was structured-cloned, so it holds no functions, getters or prototypes of
 * ours, but any field may have any type, any size, and any key (`__proto__`, `toString`).
 * Everything here is total: it never throws, whatever it is given (a Proxy included), and
 * it never reads a property through an accessor or a prototype.
 *
 * This module imports nothing, so errors.ts can use it without an import cycle.
 */

/** Longest error name kept (longer ones are cut). */
export const MAX_ERROR_NAME = 200;
/** Longest error message kept, in characters. */
export const MAX_ERROR_MESSAGE = 8 * 1024;
/** Longest stack kept, in characters. */
export const MAX_ERROR_STACK = 16 * 1024;
/** Longest error code kept. */
export const MAX_ERROR_CODE = 100;
/** Causes followed below an error (deeper ones are dropped). */
export const MAX_CAUSE_DEPTH = 8;
/** Longest node name in a ref. */
export const MAX_NODE_NAME = 1024;
/** Longest monitor key in a DEMONITOR frame. */
export const MAX_MONITOR_KEY = MAX_NODE_NAME + 64;

/**
 * How much data {@link boundedData} may still copy: values (each primitive, object, array or
 * entry counts one) and string characters. One budget is shared by a whole error and its
 * causes, so their context and fields together stay small.
 */
export interface DataBudget {
  values: number;
  chars: number;
  /** Applied to every string kept (e.g. to cut absolute paths); none by default. */
  mapString?: (s: string) => string;
}

/** The budget for the data of one error (context and fields of it and all its causes). */
export function errorDataBudget(): DataBudget {
  return { values: 512, chars: 64 * 1024 };
}

/** Marks a value {@link boundedData} leaves out (not data, or over the budget). */
export const OMIT: unique symbol = Symbol('omit');

/** Deepest nesting {@link boundedData} copies. */
const MAX_DATA_DEPTH = 4;
/** Longest single string {@link boundedData} keeps. */
const MAX_DATA_STRING = 4096;

/** `s` cut to `max` characters (an ellipsis marks the cut). */
export function capString(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** `v` when it is a string (cut to `max`), else undefined. */
export function boundedString(v: unknown, max: number): string | undefined {
  return typeof v === 'string' ? capString(v, max) : undefined;
}

/** True for an object made by `{}` or `Object.create(null)` (what structured clone makes of one). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  try {
    if (Array.isArray(v)) return false;
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null;
  } catch {
    return false; // a revoked Proxy
  }
}

/**
 * The own data property `key` of `obj`: never a getter, never inherited, so `__proto__`,
 * `constructor` or `toString` read as absent unless they are real own fields.
 */
export function ownData(obj: object, key: string): unknown {
  try {
    const d = Object.getOwnPropertyDescriptor(obj, key);
    return d !== undefined && 'value' in d ? d.value : undefined;
  } catch {
    return undefined; // a Proxy whose trap throws
  }
}

/** A process id, thread number or call id: a safe integer ≥ 0. */
export function isWireId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A ref as it must arrive: `{ node, thread, id }` with a bounded node name and integer numbers. */
export function isWireRef(v: unknown): v is { node: string; thread: number; id: number } {
  if (!isPlainObject(v)) return false;
  const node = ownData(v, 'node');
  return (
    typeof node === 'string' &&
    node.length > 0 &&
    node.length <= MAX_NODE_NAME &&
    isWireId(ownData(v, 'thread')) &&
    isWireId(ownData(v, 'id'))
  );
}

/** A monitor ref as it must arrive: `{ node, thread, monitor }`. */
export function isWireMonitorRef(v: unknown): v is { node: string; thread: number; monitor: number } {
  if (!isPlainObject(v)) return false;
  const node = ownData(v, 'node');
  return typeof node === 'string' && node.length <= MAX_NODE_NAME && isWireId(ownData(v, 'thread')) && isWireId(ownData(v, 'monitor'));
}

/** True for the shape of a serialized error (`{ __spindleError: 1, … }`), fields not checked. */
export function looksSerializedError(v: unknown): boolean {
  return typeof v === 'object' && v !== null && ownData(v, '__spindleError') === 1;
}

/**
 * Why `v` is not an exit reason in wire form: one of the four atoms, `{ shutdown }`, or
 * `{ error }` holding a serialized error. Undefined when it is one.
 */
export function wireReasonProblem(v: unknown): string | undefined {
  if (v === 'normal' || v === 'shutdown' || v === 'killed' || v === 'noproc' || v === 'noconnection') return undefined;
  if (isPlainObject(v)) {
    if (Object.hasOwn(v, 'error')) return looksSerializedError(ownData(v, 'error')) ? undefined : 'its error is not a serialized error';
    if (Object.hasOwn(v, 'shutdown')) return undefined;
  }
  return `expected 'normal', 'shutdown', 'killed', 'noproc', 'noconnection', { shutdown } or { error }, got ${preview(v)}`;
}

const SHORT_BIGINT = 2n ** 256n;

/**
 * A BigInt as text: its digits when it is below 2^256, else its size (decimal text of a huge
 * one is slow: a 2^27-bit one took half a minute; hex, which gives the size, is linear).
 */
export function bigintText(v: bigint): string {
  if (v < SHORT_BIGINT && v > -SHORT_BIGINT) return String(v);
  return `a BigInt of about ${(v < 0n ? -v : v).toString(16).length * 4} bits`;
}

/** A short, bounded description of any value for a log line or an error message. */
export function preview(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(capString(v, 40));
    case 'number':
    case 'boolean':
      return `${typeof v} ${String(v)}`;
    case 'bigint':
      return `bigint ${capString(bigintText(v), 40)}n`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return Array.isArray(v) ? `an array of ${v.length}` : 'an object';
    default:
      return `a ${typeof v}`;
  }
}

/**
 * A copy of `v` that is plain data and small: primitives (strings cut to 4096 characters),
 * plain objects and arrays (own data fields only, never `__proto__`), Date, Map and Set, at
 * most 4 levels deep, charged to `budget`. Anything else (functions, symbols, class
 * instances, errors, binary data) and anything past the budget is {@link OMIT}.
 *
 * Used for the context and fields of errors, which travel as data and get printed: the bound
 * keeps a hostile or careless sender from growing the receiver's memory or logs.
 */
export function boundedData(v: unknown, budget: DataBudget, depth = 0): unknown {
  if (budget.values <= 0) return OMIT;
  switch (typeof v) {
    case 'string': {
      if (budget.chars <= 0) return OMIT;
      const s = capString(budget.mapString === undefined ? v : budget.mapString(v), Math.min(MAX_DATA_STRING, budget.chars));
      budget.values--;
      budget.chars -= s.length;
      return s;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      budget.values--;
      return v;
    case 'object':
      if (v === null) {
        budget.values--;
        return null;
      }
      if (depth >= MAX_DATA_DEPTH) return OMIT;
      try {
        return boundedObject(v, budget, depth);
      } catch {
        return OMIT; // a Proxy whose trap throws: not data
      }
    default:
      return OMIT;
  }
}

function boundedObject(v: object, budget: DataBudget, depth: number): unknown {
  budget.values--;
  if (Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length && budget.values > 0; i++) {
      const item = boundedData(ownData(v, String(i)), budget, depth + 1);
      out.push(item === OMIT ? undefined : item);
    }
    return out;
  }
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      if (budget.values <= 0) break;
      if (k === '__proto__') continue;
      budget.chars -= k.length;
      const item = boundedData(ownData(v, k), budget, depth + 1);
      if (item !== OMIT) out[k] = item;
    }
    return out;
  }
  if (v instanceof Date) return new Date(v.getTime());
  if (v instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, e] of Map.prototype.entries.call(v)) {
      if (budget.values <= 0) break;
      const key = boundedData(k, budget, depth + 1);
      const item = boundedData(e, budget, depth + 1);
      if (key !== OMIT && item !== OMIT) out.set(key, item);
    }
    return out;
  }
  if (v instanceof Set) {
    const out = new Set<unknown>();
    for (const e of Set.prototype.values.call(v)) {
      if (budget.values <= 0) break;
      const item = boundedData(e, budget, depth + 1);
      if (item !== OMIT) out.add(item);
    }
    return out;
  }
  return OMIT;
}

/**
 * `text` with every absolute file path and file URL cut to its last segment (`…/worker.ts`):
 * what a stack or message may show once it leaves the machine (see docs/security.md).
 */
export function redactPaths(text: string): string {
  return text
    .replace(/file:\/\/\/?[^\s)'"`]*\/([^/\s)'"`]+)/g, '…/$1')
    .replace(/(^|[\s('"`=:])(?:\/[^/\s)'"`:]+)+\/([^/\s)'"`]+)/g, '$1…/$2')
    .replace(/(^|[\s('"`=])[A-Za-z]:\\(?:[^\\\s)'"`]+\\)*([^\\\s)'"`]+)/g, '$1…\\$2');
}
