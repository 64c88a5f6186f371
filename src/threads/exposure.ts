/**
 * Which main-thread processes the worker threads of a node may address.
 *
 * A ref is plain data with a sequential id, so a worker could name any main-thread process
 * by guessing (`{ node, thread: 0, id: 1 }` is usually the root supervisor). The rule (see
 * docs/security.md): a worker may address a main-thread process only once that process's ref
 * has left the main thread — in a name the workers mirror, in a frame main sent (a link, a
 * monitor, an exit signal, a DOWN), or anywhere inside a message, reply or thread argument
 * sent to a worker. Any worker then counts as knowing it, since workers pass refs to each
 * other directly. To a worker, every other main-thread process does not exist: signals to it
 * are dropped, links and monitors answer `noproc`, calls reject with NoProcessError.
 *
 * The main thread records refs on the way out ({@link ExposingOutbound}) and forgets a
 * process when it exits, so the set holds live processes only.
 */
import type { ExitReason } from '../core/exit-reason.js';
import type { AnyRef, MonitorRef } from '../core/ref.js';
import type { Outbound, Transferable } from '../core/router.js';
import type { RemoteFrom, Runtime } from '../core/runtime.js';
import type { ThreadLinks } from './links.js';

export class Exposure {
  private readonly ids = new Set<number>();

  constructor(private readonly rt: Runtime) {
    rt.exitHooks.push((p) => {
      this.ids.delete(p.ref.id);
    });
  }

  /** True when workers may address main-thread process `id`. */
  has(id: number): boolean {
    return this.ids.has(id);
  }

  /** `ref` is leaving the main thread: if it names a live main-thread process, workers may now address it. */
  mark(ref: AnyRef): void {
    const rt = this.rt;
    if (ref.thread === rt.thread && ref.node === rt.node && rt.procs.has(ref.id)) this.ids.add(ref.id);
  }

  /**
   * Marks every main-thread ref inside `value`, a message, reply or argument on its way to a
   * worker. The walk is the shape of the clone check's (plain objects, arrays, Map, Set);
   * a primitive, the common message, costs one `typeof`.
   */
  scan(value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    this.walk(value, undefined);
  }

  private walk(obj: object, seen: Set<object> | undefined): void {
    const proto = Object.getPrototypeOf(obj);
    if (proto === Object.prototype || proto === null) {
      // The hot case: a plain object, a ref itself or holding fields.
      const r = obj as { node?: unknown; thread?: unknown; id?: unknown };
      if (typeof r.id === 'number' && typeof r.thread === 'number' && typeof r.node === 'string') {
        this.mark(r as AnyRef);
        return;
      }
      for (const k in obj) {
        const v = (obj as Record<string, unknown>)[k];
        if (typeof v === 'object' && v !== null) seen = this.visit(v, obj, seen);
      }
    } else if (proto === Array.prototype) {
      const arr = obj as unknown[];
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i];
        if (typeof v === 'object' && v !== null) seen = this.visit(v, obj, seen);
      }
    } else if (obj instanceof Map) {
      for (const [k, v] of obj) {
        if (typeof k === 'object' && k !== null) seen = this.visit(k, obj, seen);
        if (typeof v === 'object' && v !== null) seen = this.visit(v, obj, seen);
      }
    } else if (obj instanceof Set) {
      for (const v of obj) if (typeof v === 'object' && v !== null) seen = this.visit(v, obj, seen);
    }
    // Anything else (Date, RegExp, binary data, errors) carries no ref across a clone.
  }

  /** Walks `v` once (cycles and shared parts are visited once); the guard is made on first need. */
  private visit(v: object, parent: object, seen: Set<object> | undefined): Set<object> {
    const s = seen ?? new Set<object>([parent]);
    if (!s.has(v)) {
      s.add(v);
      this.walk(v, s);
    }
    return s;
  }
}

/**
 * The main thread's {@link Outbound}: the thread links, with every main-thread ref that
 * leaves in a frame recorded in the {@link Exposure} first. Only forwards and records.
 */
export class ExposingOutbound implements Outbound {
  constructor(
    private readonly inner: Outbound,
    private readonly exposure: Exposure,
  ) {}

  deliver(to: AnyRef, kind: number, msg: unknown, callId: number, transfer?: readonly Transferable[]): void {
    // The refs inside `msg` are recorded by the clone check's own walk (ThreadLinks.onRefOut).
    this.inner.deliver(to, kind, msg, callId, transfer);
  }

  reply(to: RemoteFrom, ok: boolean, value: unknown): void {
    this.inner.reply(to, ok, value);
    // A value reply's refs are recorded by the clone check's walk; an error reply is not
    // clone-checked (it is plain data already), so it is walked here.
    if (!ok) this.exposure.scan(value);
  }

  cancel(to: AnyRef, call: { node: string; thread: number; call: number }): void {
    this.inner.cancel(to, call);
  }

  exit(to: AnyRef, from: AnyRef, reason: ExitReason, viaLink: boolean): void {
    this.exposure.mark(from);
    this.inner.exit(to, from, reason, viaLink);
  }

  link(to: AnyRef, from: AnyRef): void {
    this.exposure.mark(from);
    this.inner.link(to, from);
  }

  unlink(to: AnyRef, from: AnyRef): void {
    this.inner.unlink(to, from);
  }

  monitor(to: AnyRef, watcher: AnyRef, m: MonitorRef): void {
    this.exposure.mark(watcher);
    this.inner.monitor(to, watcher, m);
  }

  demonitor(to: AnyRef, key: string): void {
    this.inner.demonitor(to, key);
  }

  down(to: AnyRef, m: MonitorRef, ref: AnyRef, reason: ExitReason): void {
    this.exposure.mark(ref);
    this.inner.down(to, m, ref, reason);
  }

  reachable(ref: AnyRef): boolean {
    return this.inner.reachable(ref);
  }
}

/**
 * Wires exposure tracking into the main thread's links: frames leave through an
 * {@link ExposingOutbound}, refs inside messages and replies are recorded by the clone check's
 * walk, and incoming frames are checked against the set. Returns the set.
 */
export function trackExposure(rt: Runtime, links: ThreadLinks): Exposure {
  const exposure = new Exposure(rt);
  rt.setOutbound(new ExposingOutbound(links, exposure));
  links.visible = exposure;
  links.onRefOut = (ref) => exposure.mark(ref);
  return exposure;
}
