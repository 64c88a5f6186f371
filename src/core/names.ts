/**
 * The unique-name table of one thread (the Registry's storage). Names are released when
 * their process exits. Across threads the threads layer keeps tables in step through the
 * main thread (see src/threads/).
 */
import { AlreadyRegisteredError } from '../errors.js';
import type { AnyRef } from './ref.js';
import { formatRef, sameRef } from './ref.js';

export class NameTable {
  private readonly byName = new Map<string, AnyRef>();
  /** Called after a local change, so a replicating layer can publish it. */
  onChange: ((name: string, ref: AnyRef | undefined, previous: AnyRef | undefined) => void) | undefined;

  get(name: string): AnyRef | undefined {
    return this.byName.get(name);
  }

  /** Registers `name` for `ref`. Throws {@link AlreadyRegisteredError} if another process holds it. */
  claim(name: string, ref: AnyRef): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && !sameRef(holder, ref)) throw new AlreadyRegisteredError(name, formatRef(holder));
    this.byName.set(name, ref);
    if (holder === undefined) this.onChange?.(name, ref, undefined);
  }

  /** Sets without checks (applying a change decided elsewhere). */
  put(name: string, ref: AnyRef | undefined): void {
    if (ref === undefined) this.byName.delete(name);
    else this.byName.set(name, ref);
  }

  /** Releases `name` if `ref` holds it. Returns whether it did. */
  releaseFor(name: string, ref: AnyRef): boolean {
    const holder = this.byName.get(name);
    if (holder === undefined || !sameRef(holder, ref)) return false;
    this.byName.delete(name);
    this.onChange?.(name, undefined, ref);
    return true;
  }

  /** Names held by `ref`. */
  namesOf(ref: AnyRef): string[] {
    const out: string[] = [];
    for (const [n, r] of this.byName) if (sameRef(r, ref)) out.push(n);
    return out;
  }

  /** Drops every name whose holder matches `pred` (a dead thread's processes). */
  dropWhere(pred: (ref: AnyRef) => boolean): string[] {
    const dropped: string[] = [];
    for (const [n, r] of this.byName) {
      if (pred(r)) {
        this.byName.delete(n);
        dropped.push(n);
      }
    }
    return dropped;
  }

  entries(): IterableIterator<[string, AnyRef]> {
    return this.byName.entries();
  }
}
