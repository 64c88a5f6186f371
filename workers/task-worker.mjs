// Entry file of the piscina threads behind Spindle's `Task` API (src/threads/task.ts).
// Each job is `{ module, export, args }`: `module` is a file URL. The worker registers tsx
// once, and only when a TypeScript module must load (Node 20 does not pass the main thread's
// loader hooks to workers), imports each module once, calls the export with `args` and
// returns its result. A thrown value goes back as plain data in Spindle's SerializedError
// shape, so the main thread can rebuild its name, message, stack, code, own fields and cause
// chain (structured clone alone keeps only the message and a built-in name).

/** @type {Map<string, Record<string, unknown>>} module URL → namespace, once loaded */
const loaded = new Map();
/** @type {Map<string, Promise<Record<string, unknown>>>} module URL → namespace, while loading */
const loading = new Map();
/** @type {Promise<void> | undefined} */
let tsx;

const TS_MODULE = /\.[mc]?ts$/;

/** @param {string} url */
function load(url) {
  let p = loading.get(url);
  if (p === undefined) {
    p = (async () => {
      if (TS_MODULE.test(new URL(url).pathname)) {
        tsx ??= import('tsx/esm/api').then(
          ({ register }) => {
            register();
          },
          (e) => {
            tsx = undefined;
            throw tsxMissing(url, e);
          },
        );
        await tsx;
      }
      const ns = await import(url);
      loaded.set(url, ns);
      return ns;
    })();
    loading.set(url, p);
    // A failed load is not cached by us: the next job tries again.
    p.catch(() => loading.delete(url));
  }
  return p;
}

/**
 * tsx is an optional peer dependency: without it, a TypeScript job module cannot load. The
 * job fails with Spindle's InvalidArgumentError (serialized; the main thread rebuilds it as the
 * cause of the TaskFailedError) naming the module and the fix.
 * @param {string} url
 * @param {unknown} e
 */
function tsxMissing(url, e) {
  const problem =
    `${url} is TypeScript, and loading it in a worker thread needs the tsx package, which could not be loaded ` +
    `(${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install it (npm i -D tsx) or run compiled .js`;
  return {
    __spindleError: 1,
    code: 'ERR_INVALID_ARGUMENT',
    name: 'InvalidArgumentError',
    message: `invalid module: ${problem}`,
    context: { argument: 'module', problem },
  };
}

// The same rule as serializeError in src/errors.ts (this plain .mjs cannot import it):
// name, message, stack, a string `code`, a plain-object `context`; an error that is not a
// Spindle error (a code and a context) also keeps its own enumerable fields; causes to 8
// deep, cycles cut. Strings and data are bounded as there (src/transport/validate.ts); the
// main thread checks and bounds everything again when it rebuilds the error.
const MAX_NAME = 200;
const MAX_MESSAGE = 8 * 1024;
const MAX_STACK = 16 * 1024;
const MAX_CODE = 100;
const MAX_CAUSE_DEPTH = 8;
const MAX_DATA_DEPTH = 4;
const MAX_DATA_STRING = 4096;
const OWN_KEYS = new Set(['name', 'message', 'stack', 'cause', 'code', 'context']);
const OMIT = Symbol('omit');

/** @param {string} s @param {number} max */
function cap(s, max) {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** @param {unknown} v */
function isPlainObject(v) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** @param {object} obj @param {string} key */
function ownData(obj, key) {
  const d = Object.getOwnPropertyDescriptor(obj, key);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

/**
 * A bounded plain-data copy of `v` (mirrors boundedData in src/transport/validate.ts).
 * @param {unknown} v
 * @param {{ values: number, chars: number }} budget
 * @param {number} depth
 * @returns {unknown}
 */
function bounded(v, budget, depth) {
  if (budget.values <= 0) return OMIT;
  const t = typeof v;
  if (t === 'string') {
    if (budget.chars <= 0) return OMIT;
    const s = cap(/** @type {string} */ (v), Math.min(MAX_DATA_STRING, budget.chars));
    budget.values--;
    budget.chars -= s.length;
    return s;
  }
  if (t === 'number' || t === 'boolean' || t === 'bigint' || t === 'undefined' || v === null) {
    budget.values--;
    return v;
  }
  if (t !== 'object' || depth >= MAX_DATA_DEPTH) return OMIT;
  budget.values--;
  const obj = /** @type {object} */ (v);
  if (Array.isArray(obj) && Object.getPrototypeOf(obj) === Array.prototype) {
    const out = [];
    for (let i = 0; i < obj.length && budget.values > 0; i++) {
      const item = bounded(ownData(obj, String(i)), budget, depth + 1);
      out.push(item === OMIT ? undefined : item);
    }
    return out;
  }
  if (isPlainObject(obj)) {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const k of Object.keys(obj)) {
      if (budget.values <= 0) break;
      if (k === '__proto__') continue;
      budget.chars -= k.length;
      const item = bounded(ownData(obj, k), budget, depth + 1);
      if (item !== OMIT) out[k] = item;
    }
    return out;
  }
  if (obj instanceof Date) return new Date(obj.getTime());
  if (obj instanceof Map) {
    const out = new Map();
    for (const [k, e] of Map.prototype.entries.call(obj)) {
      if (budget.values <= 0) break;
      const key = bounded(k, budget, depth + 1);
      const item = bounded(e, budget, depth + 1);
      if (key !== OMIT && item !== OMIT) out.set(key, item);
    }
    return out;
  }
  if (obj instanceof Set) {
    const out = new Set();
    for (const e of Set.prototype.values.call(obj)) {
      if (budget.values <= 0) break;
      const item = bounded(e, budget, depth + 1);
      if (item !== OMIT) out.add(item);
    }
    return out;
  }
  return OMIT;
}

/**
 * @param {unknown} e
 * @returns {Record<string, unknown>}
 */
function serialize(e) {
  try {
    return serializeAt(e, 0, { values: 512, chars: 64 * 1024 }, new Set());
  } catch {
    return { __spindleError: 1, name: 'Error', message: 'an error whose fields could not be read' };
  }
}

/**
 * @param {unknown} e
 * @param {number} depth
 * @param {{ values: number, chars: number }} budget
 * @param {Set<unknown>} seen
 * @returns {Record<string, unknown>}
 */
function serializeAt(e, depth, budget, seen) {
  if (e instanceof Error) {
    seen.add(e);
    const any = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (e));
    /** @type {Record<string, unknown>} */
    const out = {
      __spindleError: 1,
      name: typeof e.name === 'string' ? cap(e.name, MAX_NAME) : 'Error',
      message: typeof e.message === 'string' ? cap(e.message, MAX_MESSAGE) : '',
    };
    if (typeof e.stack === 'string') out.stack = cap(e.stack, MAX_STACK);
    const code = any.code;
    const context = any.context;
    if (typeof code === 'string') out.code = cap(code, MAX_CODE);
    if (isPlainObject(context)) {
      const c = bounded(context, budget, 0);
      if (c !== OMIT) out.context = c;
    }
    if (typeof code !== 'string' || !isPlainObject(context)) {
      /** @type {Record<string, unknown> | undefined} */
      let fields;
      for (const k of Object.keys(e)) {
        if (OWN_KEYS.has(k) || k === '__proto__') continue;
        const v = bounded(ownData(e, k), budget, 1);
        if (v !== OMIT) (fields ??= {})[k] = v;
      }
      if (fields !== undefined) out.fields = fields;
    }
    const cause = e.cause;
    if (cause !== undefined && depth < MAX_CAUSE_DEPTH && !seen.has(cause)) out.cause = serializeAt(cause, depth + 1, budget, seen);
    return out;
  }
  let text;
  try {
    text = typeof e === 'string' ? e : (JSON.stringify(e) ?? String(e));
  } catch {
    try {
      text = String(e);
    } catch {
      text = `[${typeof e}]`;
    }
  }
  text = cap(text, MAX_MESSAGE);
  return { __spindleError: 1, name: 'NonErrorThrown', message: text, context: { value: text } };
}

/**
 * The pool's handler. Not `async`: a synchronous job's result goes back without an extra
 * turn; piscina awaits a returned promise.
 * @param {{ module: string, export: string, args: unknown[] }} job
 */
export default function runJob(job) {
  const ns = loaded.get(job.module);
  if (ns === undefined) return load(job.module).then(() => runJob(job), fail);
  try {
    const fn = ns[job.export];
    if (typeof fn !== 'function') {
      const found = job.export in ns ? `a ${typeof fn}` : 'missing';
      throw new TypeError(`export ${JSON.stringify(job.export)} of ${job.module} is not a function (${found})`);
    }
    const result = fn(...job.args);
    if (typeof result === 'object' && result !== null && typeof result.then === 'function')
      return Promise.resolve(result).then(checked).catch(fail);
    return checked(result);
  } catch (e) {
    throw isSerialized(e) ? e : serialize(e);
  }
}

/** @param {unknown} e */
function fail(e) {
  throw isSerialized(e) ? e : serialize(e);
}

/** @param {unknown} e */
function isSerialized(e) {
  return typeof e === 'object' && e !== null && /** @type {{ __spindleError?: unknown }} */ (e).__spindleError === 1;
}

/**
 * The result, or (thrown) Spindle's NotCloneableError in serialized form, naming the part of
 * the result that cannot be cloned back; the main thread rebuilds it as that class.
 * @param {unknown} result
 */
function checked(result) {
  const bad = uncloneable(result);
  if (bad === undefined) return result;
  const destination = 'the caller of the task';
  throw {
    __spindleError: 1,
    code: 'ERR_NOT_CLONEABLE',
    name: 'NotCloneableError',
    message: `message to ${destination} cannot be cloned: ${bad.path} is a ${bad.valueType}`,
    context: { path: bad.path, valueType: bad.valueType, destination },
  };
}

// A result that structured clone cannot carry would kill the thread while piscina posts it,
// and one that is a class instance would arrive without its prototype. Find either first and
// name its path. Mirrors src/transport/cloneable.ts (which this plain .mjs cannot import);
// primitives and typed arrays, the usual results, return at once.
const CLONEABLE_PROTOS = new Set([
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

/**
 * @param {unknown} value
 * @returns {{ path: string, valueType: string } | undefined} the first problem, or undefined when it can be cloned
 */
function uncloneable(value) {
  const t = typeof value;
  if (t === 'function' || t === 'symbol') return { path: 'result', valueType: t };
  if (t !== 'object' || value === null || ArrayBuffer.isView(value)) return undefined;
  /** @type {string[] & { what?: string }} */
  const path = [];
  const what = walk(/** @type {object} */ (value), new Set([value]), path);
  return what === undefined ? undefined : { path: `result${path.reverse().join('')}`, valueType: what };
}

/**
 * @param {object} obj
 * @param {Set<unknown>} seen
 * @param {string[] & { what?: string }} path filled (innermost first) when a problem is found
 * @returns {string | undefined}
 */
function walk(obj, seen, path) {
  const proto = Object.getPrototypeOf(obj);
  if (proto === Array.prototype) {
    const a = /** @type {unknown[]} */ (obj);
    for (let i = 0; i < a.length; i++) if (bad(a[i], seen, path)) return found(path, `[${i}]`);
    return undefined;
  }
  if (proto === Object.prototype || proto === null) {
    const o = /** @type {Record<string, unknown>} */ (obj);
    for (const k in o) if (bad(o[k], seen, path)) return found(path, `.${k}`);
    return undefined;
  }
  if (ArrayBuffer.isView(obj) || obj instanceof Error) return undefined;
  if (!CLONEABLE_PROTOS.has(proto)) return `class instance (${proto?.constructor?.name ?? 'object'}); return plain data instead`;
  let i = 0;
  if (obj instanceof Map) {
    for (const [k, v] of obj) {
      if (bad(k, seen, path)) return found(path, `.<key ${i}>`);
      if (bad(v, seen, path)) return found(path, `.get(${typeof k === 'string' ? JSON.stringify(k) : String(k)})`);
      i++;
    }
  } else if (obj instanceof Set) {
    for (const v of obj) {
      if (bad(v, seen, path)) return found(path, `.<item ${i}>`);
      i++;
    }
  }
  return undefined;
}

/**
 * True, with `path.what` set, when `v` or something inside it cannot be cloned.
 * @param {unknown} v
 * @param {Set<unknown>} seen
 * @param {string[] & { what?: string }} path
 */
function bad(v, seen, path) {
  const t = typeof v;
  if (t === 'function' || t === 'symbol') path.what = t;
  else if (t === 'object' && v !== null && !seen.has(v)) {
    seen.add(v);
    path.what = walk(/** @type {object} */ (v), seen, path);
  }
  return path.what !== undefined;
}

/**
 * @param {string[] & { what?: string }} path
 * @param {string} segment
 */
function found(path, segment) {
  path.push(segment);
  return path.what;
}
