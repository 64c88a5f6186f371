/**
 * Process naming. The unique registry (`Registry.register/lookup/whereis/unregister`) is
 * node-wide: names are released automatically when their process exits. Keyed registries
 * made with `Registry.create` hold many entries per key (`keys: 'duplicate'`) for pub/sub,
 * or one (`keys: 'unique'`), each with an optional value.
 */
import { AlreadyRegisteredError, InvalidArgumentError, NoProcessError, NotRegisteredError } from '../errors.js';
import type { Protocol } from '../core/protocol.js';
import type { AnyRef, Ref } from '../core/ref.js';
import { formatRef, isRef, refKey, sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime } from '../core/runtime.js';

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

/** The ref registered under `name`. Throws NotRegisteredError if none. */
function lookup<P extends Protocol = Protocol>(name: string): Ref<P> {
  checkName(name, 'Registry.lookup');
  const r = currentRuntime().names.get(name);
  if (r === undefined) throw new NotRegisteredError(name);
  return r as Ref<P>;
}

/** The ref registered under `name`, or undefined. */
function whereis<P extends Protocol = Protocol>(name: string): Ref<P> | undefined {
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

/** Names currently registered (this node). */
function registered(): string[] {
  return [...currentRuntime().names.entries()].map(([n]) => n);
}

/** One entry of a keyed registry. */
export interface RegistryEntry<V = unknown> {
  readonly ref: AnyRef;
  readonly value: V;
}

/** Options for {@link Registry.create}. */
export interface KeyedRegistryOptions {
  /** `'unique'`: one entry per key; `'duplicate'`: many (pub/sub). */
  keys: 'unique' | 'duplicate';
}

/**
 * A keyed registry (Elixir's `Registry` with `keys: :unique | :duplicate`). Entries vanish
 * when their process exits.
 */
export class KeyedRegistry<V = unknown> {
  private readonly byKey = new Map<string, RegistryEntry<V>[]>();
  private readonly byRef = new Map<string, { keys: Set<string>; cancel: () => void }>();

  constructor(
    readonly keys: 'unique' | 'duplicate',
    private readonly rt: Runtime,
  ) {}

  /** Adds an entry for `ref` under `key`. Unique registries throw AlreadyRegisteredError on a taken key. */
  register(key: string, ref: AnyRef, value?: V): void {
    checkName(key, 'KeyedRegistry.register');
    if (!isRef(ref)) throw new InvalidArgumentError('ref passed to KeyedRegistry.register', 'expected a ref');
    const list = this.byKey.get(key) ?? [];
    if (this.keys === 'unique' && list.length > 0) throw new AlreadyRegisteredError(key, formatRef((list[0] as RegistryEntry<V>).ref));
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

  /** Removes `ref`'s entry under `key`. */
  unregister(key: string, ref: AnyRef): void {
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

  /** The entries under `key` (empty when none). */
  lookup(key: string): RegistryEntry<V>[] {
    return [...(this.byKey.get(key) ?? [])];
  }

  /** Calls `fn` with the entries under `key` if there are any (pub/sub fan-out). Returns how many. */
  dispatch(key: string, fn: (entries: RegistryEntry<V>[]) => void): number {
    const list = this.byKey.get(key);
    if (list === undefined || list.length === 0) return 0;
    fn([...list]);
    return list.length;
  }

  /** Keys under which `ref` has entries. */
  keysOf(ref: AnyRef): string[] {
    return [...(this.byRef.get(refKey(ref))?.keys ?? [])];
  }

  /** Number of entries. */
  count(): number {
    let n = 0;
    for (const l of this.byKey.values()) n += l.length;
    return n;
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

/** Creates a keyed registry in the current runtime. */
function create<V = unknown>(options: KeyedRegistryOptions): KeyedRegistry<V> {
  if (options?.keys !== 'unique' && options?.keys !== 'duplicate') {
    throw new InvalidArgumentError('keys', `expected 'unique' or 'duplicate', got ${JSON.stringify(options?.keys)}`);
  }
  return new KeyedRegistry<V>(options.keys, currentRuntime());
}

/** The node-wide name registry, and keyed registries for pub/sub. */
export const Registry = {
  register,
  lookup,
  whereis,
  unregister,
  registered,
  create,
} as const;
