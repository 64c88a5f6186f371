/**
 * Process naming. The unique registry (`Registry.register/lookup/whereis/unregister`) is
 * node-wide: names are released automatically when their process exits. Keyed registries
 * made with `Registry.create` hold many entries per key (`keys: 'duplicate'`) for pub/sub,
 * or one (`keys: 'unique'`), each with an optional value (its metadata); they live in the
 * runtime of the thread that made them. A unique keyed registry also names processes:
 * `{ via: reg, key }` (Elixir's `{:via, Registry, {reg, key}}`), resolved by
 * {@link resolveVia} for GenServer's addressing.
 */
import { AlreadyRegisteredError, InvalidArgumentError, NoProcessError, NotRegisteredError, RuntimeClosedError } from '../errors.js';
import type { Name, Protocol } from '../core/protocol.js';
import type { AnyRef, Ref } from '../core/ref.js';
import { formatRef, isRef, refKey, sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime } from '../core/runtime.js';
import { checkName as checkNameOption, describeValue, nameProblem } from '../core/validate.js';

function checkName(name: unknown, fn: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(`name passed to ${fn}`, 'expected a non-empty string');
  }
}

/**
 * Registers `ref` under `name`. Rejects with AlreadyRegisteredError if another live process
 * holds it, NoProcessError if `ref` is not alive. Async because, in a worker thread, the
 * main thread arbitrates races between threads; it also checks that a ref of another thread
 * names a live process, and releases the name when that process exits (docs/security.md).
 */
async function register(name: string, ref: AnyRef): Promise<void> {
  checkName(name, 'Registry.register');
  if (!isRef(ref)) throw new InvalidArgumentError('ref passed to Registry.register', 'expected a ref');
  const rt = currentRuntime();
  if (rt.router.isLocal(ref)) {
    const p = rt.procs.get(ref.id);
    if (p === undefined || !p.alive) throw new NoProcessError(formatRef(ref));
    if (rt.nameAuthority !== undefined) {
      await rt.nameAuthority.claim(name, ref);
      if (!p.alive) {
        // It exited while main decided: its exit could not release a name it did not hold yet.
        rt.names.releaseFor(name, ref);
        throw new NoProcessError(formatRef(ref));
      }
    } else rt.names.claim(name, ref);
    (p.registered ??= new Set()).add(name);
    return;
  }
  if (rt.nameAuthority === undefined) throw new NoProcessError(formatRef(ref));
  await rt.nameAuthority.claim(name, ref);
}

/**
 * The ref registered under `name`. Throws NotRegisteredError if none. A typed name
 * (`GenServer.name<P>`) gives a `Ref<P>`; so does `lookup<P>('name')`.
 */
function lookup<P extends Protocol = Protocol>(name: Name<P>): Ref<P> {
  checkName(name, 'Registry.lookup');
  const r = currentRuntime().names.get(name);
  if (r === undefined) throw new NotRegisteredError(name);
  return r as Ref<P>;
}

/** The ref registered under `name`, or undefined. A typed name (`GenServer.name<P>`) gives a `Ref<P>`. */
function whereis<P extends Protocol = Protocol>(name: Name<P>): Ref<P> | undefined {
  checkName(name, 'Registry.whereis');
  return currentRuntime().names.get(name) as Ref<P> | undefined;
}

/**
 * Removes `name`. Returns false if it was not registered. In a worker thread only a name held
 * by a process of that thread can be removed (InvalidArgumentError otherwise): a thread does
 * not release another thread's names; the main thread may release any.
 */
function unregister(name: string): boolean {
  checkName(name, 'Registry.unregister');
  const rt = currentRuntime();
  const holder = rt.names.get(name);
  if (holder === undefined) return false;
  if (rt.thread !== 0 && !rt.router.isLocal(holder)) {
    throw new InvalidArgumentError(
      'name passed to Registry.unregister',
      `${JSON.stringify(name)} is held by ${formatRef(holder)} on thread ${holder.thread}; only that thread or the main thread can release it`,
    );
  }
  if (rt.router.isLocal(holder)) rt.procs.get(holder.id)?.registered?.delete(name);
  // In a worker the table's change hook tells the main thread, which tells every thread.
  rt.names.releaseFor(name, holder);
  return true;
}

/** Names currently registered on this node (same as {@link getNames}). Elixir: `Process.registered/0`. */
function registered(): string[] {
  return [...currentRuntime().names.entries()].map(([n]) => n);
}

/** Names currently registered on this node; an alias of {@link registered} (noex's name). */
function getNames(): string[] {
  return registered();
}

/**
 * True when `name` is registered on this node. Throws InvalidArgumentError for an empty or
 * non-string name. Elixir: `Process.whereis(name) != nil`.
 */
function isRegistered(name: string): boolean {
  checkName(name, 'Registry.isRegistered');
  return currentRuntime().names.get(name) !== undefined;
}

/** How many names are registered on this node. */
function count(): number {
  let n = 0;
  for (const _ of currentRuntime().names.entries()) n++;
  return n;
}

/**
 * One entry of a keyed registry: the process and its value (the entry's metadata, Elixir's
 * registry "value").
 */
export interface RegistryEntry<V = unknown> {
  /** The registered process (the one that called `register`, or the ref it gave). */
  readonly ref: AnyRef;
  /** The entry's value (metadata) given to `register`; default undefined. */
  readonly value: V;
}

/** An entry with the key it is registered under (what `select` and `match` return). */
export interface KeyedEntry<V = unknown> extends RegistryEntry<V> {
  /** The key the entry is registered under. */
  readonly key: string;
}

/** Options for {@link Registry.create}. */
export interface KeyedRegistryOptions {
  /** `'unique'`: one entry per key; `'duplicate'`: many (pub/sub). */
  keys: 'unique' | 'duplicate';
}

/**
 * A process address through a unique keyed registry: Elixir's `{:via, Registry, {reg, key}}`.
 * `GenServer.start(b, { name: { via: reg, key } })` registers the process under `key`;
 * `GenServer.call/cast/send/stop/isRunning` accept it as the target.
 */
export interface ViaName {
  /** The unique keyed registry the process is registered in. */
  // biome-ignore lint/suspicious/noExplicitAny: a registry of any value type.
  readonly via: KeyedRegistry<any>;
  /** The key it is registered under. */
  readonly key: string;
}

/** Longest glob pattern {@link KeyedRegistry.match} accepts. */
export const MAX_PATTERN_LENGTH = 1024;

/** Checks a registry key: a non-empty string of at most MAX_NAME_LENGTH characters. */
function checkKey(key: unknown, fn: string): asserts key is string {
  const problem = nameProblem(key);
  if (problem !== undefined) throw new InvalidArgumentError(`key passed to KeyedRegistry.${fn}`, problem);
}

function checkRefArg(ref: unknown, fn: string): asserts ref is AnyRef {
  if (!isRef(ref)) throw new InvalidArgumentError(`ref passed to KeyedRegistry.${fn}`, `expected a ref, got ${describeValue(ref)}`);
}

function checkFn(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(what, `expected a function, got ${describeValue(fn)}`);
}

/** A glob token: a literal character, `?`, `*` (within one `/` segment) or `**` (across). */
type GlobToken = { lit: string } | '?' | '*' | '**';

/** Splits a glob into tokens; `\` escapes the next character. */
function globTokens(pattern: string): GlobToken[] {
  const out: GlobToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) out.push({ lit: pattern[++i] as string });
    else if (c === '*' && pattern[i + 1] === '*') {
      while (pattern[i + 1] === '*') i++;
      out.push('**');
    } else if (c === '*') out.push('*');
    else if (c === '?') out.push('?');
    else out.push({ lit: c });
  }
  return out;
}

/**
 * Whether `key` matches the glob tokens. Dynamic programming over (token, position), so the
 * cost is bounded by pattern length × key length whatever the pattern: no regular expression,
 * so no catastrophic backtracking and nothing to escape.
 */
function globMatches(tokens: readonly GlobToken[], key: string): boolean {
  // ok[j]: tokens[0..i) match key[0..j).
  let ok: boolean[] = new Array(key.length + 1).fill(false);
  ok[0] = true;
  for (const t of tokens) {
    const next: boolean[] = new Array(key.length + 1).fill(false);
    for (let j = 0; j <= key.length; j++) {
      if (t === '*' || t === '**') {
        // Zero characters, or one more character the star may take.
        const prev = j > 0 && next[j - 1] === true && (t === '**' || key[j - 1] !== '/');
        next[j] = ok[j] === true || prev;
      } else if (j > 0 && ok[j - 1] === true) {
        const c = key[j - 1] as string;
        next[j] = t === '?' ? c !== '/' : t.lit === c;
      }
    }
    ok = next;
  }
  return ok[key.length] === true;
}

/**
 * A keyed registry (Elixir's `Registry` with `keys: :unique | :duplicate`). Entries vanish
 * when their process exits. It lives in the runtime of the thread that created it: share it
 * within that thread; other threads do not see it.
 */
export class KeyedRegistry<V = unknown> {
  private readonly byKey = new Map<string, RegistryEntry<V>[]>();
  private readonly byRef = new Map<string, { keys: Set<string>; cancel: () => void }>();
  private closed = false;

  /** `'unique'` or `'duplicate'`, as given to {@link Registry.create} (its `keys` option). */
  readonly kind: 'unique' | 'duplicate';
  private readonly rt: Runtime;

  /**
   * Use {@link Registry.create}.
   * @internal
   */
  constructor(kind: 'unique' | 'duplicate', rt: Runtime) {
    this.kind = kind;
    this.rt = rt;
  }

  /** Throws RuntimeClosedError once {@link KeyedRegistry.close} has run. */
  private checkOpen(fn: string): void {
    if (this.closed) throw new RuntimeClosedError(`KeyedRegistry.${fn}`, 'the registry is closed');
  }

  /**
   * Adds an entry for `ref` under `key` with `value` (its metadata; default undefined).
   * Throws AlreadyRegisteredError when a unique key is taken or `ref` already has an entry
   * under the key, NoProcessError for a dead ref of this thread, InvalidArgumentError for a
   * bad key or ref, RuntimeClosedError after {@link KeyedRegistry.close}. Elixir: `Registry.register/3`
   * (which registers `self()`; here the ref is explicit).
   */
  register(key: string, ref: AnyRef, value?: V): void {
    this.checkOpen('register');
    checkKey(key, 'register');
    checkRefArg(ref, 'register');
    const list = this.byKey.get(key) ?? [];
    if (this.kind === 'unique' && list.length > 0) throw new AlreadyRegisteredError(key, formatRef((list[0] as RegistryEntry<V>).ref));
    if (list.some((e) => sameRef(e.ref, ref))) throw new AlreadyRegisteredError(key, formatRef(ref));
    if (this.rt.router.isLocal(ref) && this.rt.procs.get(ref.id)?.alive !== true) throw new NoProcessError(formatRef(ref));
    const k = refKey(ref);
    let track = this.byRef.get(k);
    if (track === undefined) {
      track = { keys: new Set(), cancel: () => {} };
      this.byRef.set(k, track);
      track.cancel = this.rt.watch(ref, (r) => this.dropRef(r));
    }
    track.keys.add(key);
    list.push({ ref, value: value as V });
    this.byKey.set(key, list);
  }

  /**
   * Removes `ref`'s entry under `key`; nothing if there is none. Throws InvalidArgumentError
   * for a bad key or ref, RuntimeClosedError after {@link KeyedRegistry.close}. Elixir: `Registry.unregister/2`.
   */
  unregister(key: string, ref: AnyRef): void {
    this.checkOpen('unregister');
    checkKey(key, 'unregister');
    checkRefArg(ref, 'unregister');
    this.removeEntry(key, ref);
  }

  /**
   * Removes `ref`'s entries under `key` whose value satisfies `match` (default: any value) and
   * returns how many it removed. Meant for duplicate registries. Throws InvalidArgumentError
   * for a bad key, ref or `match`, RuntimeClosedError after {@link KeyedRegistry.close}. Elixir:
   * `Registry.unregister_match/4` (a predicate instead of a match spec).
   */
  unregisterMatch(key: string, ref: AnyRef, match?: (value: V) => boolean): number {
    this.checkOpen('unregisterMatch');
    checkKey(key, 'unregisterMatch');
    checkRefArg(ref, 'unregisterMatch');
    if (match !== undefined) checkFn(match, 'match passed to KeyedRegistry.unregisterMatch');
    const hits = (this.byKey.get(key) ?? []).filter((e) => sameRef(e.ref, ref) && (match === undefined || match(e.value)));
    if (hits.length > 0) this.removeEntry(key, ref);
    return hits.length;
  }

  /**
   * The entries under `key` (empty when none). Throws InvalidArgumentError for a bad key,
   * RuntimeClosedError after {@link KeyedRegistry.close}. Elixir: `Registry.lookup/2`.
   */
  lookup(key: string): RegistryEntry<V>[] {
    this.checkOpen('lookup');
    checkKey(key, 'lookup');
    return [...(this.byKey.get(key) ?? [])];
  }

  /**
   * Every entry under `key`: the same as {@link KeyedRegistry.lookup} (which already returns all of them);
   * the name noex uses for duplicate registries. For the entries of every key, use
   * `select(() => true)`.
   */
  lookupAll(key: string): RegistryEntry<V>[] {
    this.checkOpen('lookupAll');
    checkKey(key, 'lookupAll');
    return this.lookup(key);
  }

  /**
   * The entries, with their keys, for which `predicate(key, entry)` is true, in key order of
   * first registration. Throws InvalidArgumentError unless `predicate` is a function,
   * RuntimeClosedError after {@link KeyedRegistry.close}; an exception from `predicate` propagates.
   * Elixir: `Registry.select/2` (a predicate instead of a match spec).
   */
  select(predicate: (key: string, entry: RegistryEntry<V>) => boolean): KeyedEntry<V>[] {
    this.checkOpen('select');
    checkFn(predicate, 'predicate passed to KeyedRegistry.select');
    const out: KeyedEntry<V>[] = [];
    for (const [key, list] of this.byKey) {
      for (const e of list) if (predicate(key, e)) out.push({ key, ref: e.ref, value: e.value });
    }
    return out;
  }

  /**
   * The entries, with their keys, whose key matches the glob `pattern`: `*` is any run of
   * characters without `/`, `**` any run including `/`, `?` one character other than `/`,
   * `\` escapes the next character; everything else (`.`, `+`, `(`, …) is literal. Throws
   * InvalidArgumentError for a pattern that is not a non-empty string of at most
   * 1024 characters, RuntimeClosedError after {@link KeyedRegistry.close}. Elixir's
   * `Registry.match/3` matches values; this matches keys.
   */
  match(pattern: string): KeyedEntry<V>[] {
    this.checkOpen('match');
    if (typeof pattern !== 'string' || pattern === '' || pattern.length > MAX_PATTERN_LENGTH) {
      throw new InvalidArgumentError(
        'pattern passed to KeyedRegistry.match',
        `expected a non-empty string of at most ${MAX_PATTERN_LENGTH} characters, got ${typeof pattern === 'string' ? `${pattern.length} characters` : describeValue(pattern)}`,
      );
    }
    const tokens = globTokens(pattern);
    return this.select((key) => globMatches(tokens, key));
  }

  /**
   * The value (metadata) of `ref`'s entry under `key`. Throws NotRegisteredError when `ref`
   * has no entry there, InvalidArgumentError for a bad key or ref, RuntimeClosedError after
   * {@link KeyedRegistry.close}. Elixir: the value in `Registry.lookup/2`'s `{pid, value}`.
   */
  getMetadata(key: string, ref: AnyRef): V {
    this.checkOpen('getMetadata');
    checkKey(key, 'getMetadata');
    checkRefArg(ref, 'getMetadata');
    return this.entryOf(key, ref).value;
  }

  /**
   * Replaces the value (metadata) of `ref`'s entry under `key`: with `update(old)` when
   * `update` is a function, otherwise with `update` itself (so a function-typed value must be
   * wrapped: `() => fn`). Returns the new value. Throws NotRegisteredError when `ref` has no
   * entry there, InvalidArgumentError for a bad key or ref, RuntimeClosedError after
   * {@link KeyedRegistry.close}; an exception from `update` propagates and changes nothing. Elixir:
   * `Registry.update_value/3` (which only updates the caller's own unique entry).
   */
  updateMetadata(key: string, ref: AnyRef, update: V | ((old: V) => V)): V {
    this.checkOpen('updateMetadata');
    checkKey(key, 'updateMetadata');
    checkRefArg(ref, 'updateMetadata');
    const old = this.entryOf(key, ref);
    const value = typeof update === 'function' ? (update as (old: V) => V)(old.value) : update;
    // `update` may have touched the registry: replace the entry only if it is still there.
    const list = this.byKey.get(key);
    const i = list?.indexOf(old) ?? -1;
    if (list !== undefined && i >= 0) list[i] = { ref: old.ref, value };
    return value;
  }

  /**
   * Calls `fn` with the entries under `key` if there are any (pub/sub fan-out). Returns how
   * many. Throws InvalidArgumentError for a bad key or `fn`, RuntimeClosedError after
   * {@link KeyedRegistry.close}. Elixir: `Registry.dispatch/3`.
   */
  dispatch(key: string, fn: (entries: RegistryEntry<V>[]) => void): number {
    this.checkOpen('dispatch');
    checkKey(key, 'dispatch');
    checkFn(fn, 'fn passed to KeyedRegistry.dispatch');
    const list = this.byKey.get(key);
    if (list === undefined || list.length === 0) return 0;
    fn([...list]);
    return list.length;
  }

  /** Keys under which `ref` has entries. Elixir: `Registry.keys/2`. */
  keysOf(ref: AnyRef): string[] {
    this.checkOpen('keysOf');
    checkRefArg(ref, 'keysOf');
    return [...(this.byRef.get(refKey(ref))?.keys ?? [])];
  }

  /** Every key that has at least one entry, in order of first registration. */
  keys(): string[] {
    this.checkOpen('keys');
    return [...this.byKey.keys()];
  }

  /** Number of entries, all keys together. Elixir: `Registry.count/1`. */
  count(): number {
    this.checkOpen('count');
    let n = 0;
    for (const l of this.byKey.values()) n += l.length;
    return n;
  }

  /** Number of entries under `key` (0 when none). Throws InvalidArgumentError for a bad key. */
  countForKey(key: string): number {
    this.checkOpen('countForKey');
    checkKey(key, 'countForKey');
    return this.byKey.get(key)?.length ?? 0;
  }

  /** True after {@link KeyedRegistry.close}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Drops every entry and stops watching their processes. Every later call (but `close` and
   * `isClosed`) throws RuntimeClosedError; a `{ via }` name through it resolves to no
   * process. Idempotent. Elixir: stopping the registry process.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const track of this.byRef.values()) track.cancel();
    this.byRef.clear();
    this.byKey.clear();
  }

  /** The ref under a unique `key`, or undefined (also when closed). @internal for `{ via }` names. */
  whereis(key: string): AnyRef | undefined {
    if (this.closed) return undefined;
    return this.byKey.get(key)?.[0]?.ref;
  }

  private entryOf(key: string, ref: AnyRef): RegistryEntry<V> {
    const e = this.byKey.get(key)?.find((x) => sameRef(x.ref, ref));
    if (e === undefined) throw new NotRegisteredError(key);
    return e;
  }

  /** Removes `ref`'s entry under `key` and, when it was its last, the watch on `ref`. */
  private removeEntry(key: string, ref: AnyRef): void {
    const list = this.byKey.get(key);
    if (list === undefined) return;
    const rest = list.filter((e) => !sameRef(e.ref, ref));
    if (rest.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, rest);
    const track = this.byRef.get(refKey(ref));
    if (track !== undefined) {
      track.keys.delete(key);
      if (track.keys.size === 0) {
        track.cancel();
        this.byRef.delete(refKey(ref));
      }
    }
  }

  private dropRef(ref: AnyRef): void {
    const k = refKey(ref);
    const track = this.byRef.get(k);
    if (track === undefined) return;
    this.byRef.delete(k);
    for (const key of track.keys) {
      const rest = (this.byKey.get(key) ?? []).filter((e) => !sameRef(e.ref, ref));
      if (rest.length === 0) this.byKey.delete(key);
      else this.byKey.set(key, rest);
    }
  }
}

/**
 * Creates a keyed registry in the current thread's runtime (entries are not visible from
 * other threads). Throws InvalidArgumentError unless `options.keys` is `'unique'` or
 * `'duplicate'`. Elixir: `Registry.start_link(keys: …)`.
 */
function create<V = unknown>(options: KeyedRegistryOptions): KeyedRegistry<V> {
  if (options?.keys !== 'unique' && options?.keys !== 'duplicate') {
    throw new InvalidArgumentError('keys', `expected 'unique' or 'duplicate', got ${describeValue(options?.keys)}`);
  }
  return new KeyedRegistry<V>(options.keys, currentRuntime());
}

/** True for an object with a `via` field (a `{ via, key }` name, well-formed or not). */
function looksLikeVia(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !isRef(v) && 'via' in v;
}

/** Why `v` is not a usable `{ via, key }` name, or undefined. */
function viaProblem(v: unknown): string | undefined {
  const { via, key } = v as { via?: unknown; key?: unknown };
  if (!(via instanceof KeyedRegistry)) return `expected { via: a registry from Registry.create, key }, got via: ${describeValue(via)}`;
  if (via.kind !== 'unique') return 'a { via } name needs a registry with unique keys';
  const problem = nameProblem(key);
  return problem === undefined ? undefined : `key: ${problem}`;
}

/** True when `v` is a well-formed `{ via, key }` name over a unique keyed registry. */
export function isViaName(v: unknown): v is ViaName {
  return looksLikeVia(v) && viaProblem(v) === undefined;
}

/**
 * Checks a process name option (`GenServer.start`'s `name`, a child spec's): undefined, a
 * name string, or a `{ via, key }` over a unique keyed registry. Throws InvalidArgumentError
 * naming `option` otherwise.
 */
export function checkNameOrVia(option: string, v: unknown): void {
  if (!looksLikeVia(v)) {
    checkNameOption(option, v);
    return;
  }
  const problem = viaProblem(v);
  if (problem !== undefined) throw new InvalidArgumentError(option, problem);
}

/**
 * The ref registered under a `{ via, key }` name, or undefined (no entry, or the registry is
 * closed). For any other target, undefined. Used by GenServer's name resolution.
 */
export function resolveVia(target: unknown): AnyRef | undefined {
  return isViaName(target) ? target.via.whereis(target.key) : undefined;
}

/**
 * Registers a process being started under its `{ via, key }` name (before init). The entry
 * goes when the process exits. Throws AlreadyRegisteredError if the key is taken,
 * RuntimeClosedError if the registry is closed.
 */
export function claimVia(name: ViaName, ref: AnyRef): void {
  name.via.register(name.key, ref);
}

/** How a target appears in messages: the name, `via(key)`, or the ref. */
export function formatTarget(target: unknown): string {
  if (typeof target === 'string') return target;
  if (typeof target === 'object' && target !== null && Object.hasOwn(target, 'global'))
    return `global(${String((target as { global: unknown }).global)})`;
  if (isViaName(target)) return `via(${target.key})`;
  return isRef(target) ? formatRef(target) : describeValue(target);
}

/** The node-wide name registry, and keyed registries for pub/sub. */
export const Registry = {
  register,
  lookup,
  whereis,
  unregister,
  isRegistered,
  registered,
  getNames,
  count,
  create,
} as const;
