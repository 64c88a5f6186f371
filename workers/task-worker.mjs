// Entry file of the piscina threads behind Spindle's `Task` API (src/threads/task.ts).
// Each job is `{ module, export, args }`: `module` is a file URL. The worker registers tsx
// once, and only when a TypeScript module must load (Node 20 does not pass the main thread's
// loader hooks to workers), imports each module once, calls the export with `args` and
// returns its result. A thrown value goes back as plain data in Spindle's SerializedError
// shape, so the main thread can rebuild its name, message, stack, code and cause chain
// (structured clone alone keeps only the message and a built-in name).

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
        tsx ??= import('tsx/esm/api').then(({ register }) => {
          register();
        });
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
 * @param {unknown} e
 * @param {number} depth
 * @returns {Record<string, unknown>}
 */
function serialize(e, depth = 0) {
  if (e instanceof Error) {
    /** @type {Record<string, unknown>} */
    const out = { __spindleError: 1, name: e.name, message: e.message };
    if (typeof e.stack === 'string') out.stack = e.stack;
    const code = /** @type {{ code?: unknown }} */ (e).code;
    if (typeof code === 'string') out.code = code;
    const context = /** @type {{ context?: unknown }} */ (e).context;
    if (typeof context === 'object' && context !== null) {
      try {
        out.context = structuredClone(context);
      } catch {
        // Not cloneable: leave it out rather than lose the error.
      }
    }
    if (e.cause !== undefined && depth < 8) out.cause = serialize(e.cause, depth + 1);
    return out;
  }
  let text;
  try {
    text = typeof e === 'string' ? e : (JSON.stringify(e) ?? String(e));
  } catch {
    text = String(e);
  }
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
