/**
 * The embedded backend for cluster-wide names (no extra server): one arbiter per connected
 * group decides, every node keeps a replica (docs/concepts/global-registry.md).
 *
 * - The arbiter is the node with the smallest id among this node and the peers it is
 *   connected to. Groups are cliques (overlapping partitions are prevented), so every member
 *   of a group names the same arbiter. A registration is a request to it: it serializes them,
 *   so within a group exactly one of two racing registrations of a name wins, whatever the
 *   timing (no clocks involved). It adds the name to its replica, tells every peer (`g_add`),
 *   then answers; the answer travels on the same connection as the `g_add`, after it, so the
 *   caller's replica shows the name when `register` resolves.
 * - A name is released by the node its process runs on, when the process exits or on
 *   `unregister` (`g_remove`, applied only if the name still maps to that process), and by
 *   every node when the holder's node goes down.
 * - Replicas meet whenever two nodes connect (`g_sync`, both ways): after a partition heals,
 *   each conflict (one name, two holders) is settled by a resolver every node computes alike
 *   (by default the holder with the smaller ref key wins); the node of the loser ends it with
 *   `{ shutdown: { name_conflict: name } }`. When the arbiter changes (it went down), every
 *   node sends its replica to the new one, which adds what it missed and tells the others, so
 *   an arbiter that died halfway through telling its peers leaves no split.
 *
 * Everything from a peer is checked: names are strings of at most 1024 characters, refs are
 * refs of connected nodes, tables are bounded.
 */
import type { AnyRef } from '../core/ref.js';
import { formatRef, isRef, makeRef, refKey, sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { INFO } from '../core/process.js';
import { AlreadyRegisteredError, InvalidArgumentError, NodeDownError } from '../errors.js';
import { ownData } from '../transport/validate.js';
import type { BackendContext, ClusterBackend } from './backend.js';
import { shortNodeId } from './node-id.js';

/** Settles a conflict: returns the winner of two holders of `name`. Must be deterministic and symmetric. */
export type NameResolver = (name: string, a: AnyRef, b: AnyRef) => AnyRef | { readonly winner: AnyRef; readonly notify: true };

/** The default resolver: the holder with the smaller ref key (node, thread, id) keeps the name. */
export const smallerRefWins: NameResolver = (_name, a, b) => (refKey(a) <= refKey(b) ? a : b);

/** What the embedded backend needs from the cluster (main thread). */
export interface EmbeddedLinks {
  /** The long ids of the connected peers. */
  connected(): string[];
  /** Sends a gossip payload to thread 0 of `node`. */
  control(node: string, payload: unknown): void;
  /** A system call to process 0 of `node`'s main thread. */
  call(node: string, msg: unknown, timeoutMs: number): Promise<unknown>;
}

const MAX_NAMES = 100_000;
const MAX_NAME = 1024;

export class EmbeddedNames implements ClusterBackend {
  readonly kind = 'embedded';
  private readonly table = new Map<string, AnyRef>();
  /** Watches on this node's holders, by name. */
  private readonly watches = new Map<string, () => void>();
  private ctx: BackendContext | undefined;
  private arbiter: string | undefined;

  constructor(
    private readonly rt: Runtime,
    private readonly links: EmbeddedLinks,
    private readonly resolver: NameResolver = smallerRefWins,
  ) {}

  async start(ctx: BackendContext): Promise<void> {
    this.ctx = ctx;
    this.arbiter = ctx.node;
    this.timer = setInterval(() => this.antiEntropy(), ANTI_ENTROPY_MS);
    this.timer.unref();
  }

  /** The anti-entropy timer (see {@link antiEntropy}). */
  private timer: NodeJS.Timeout | undefined;
  /** XOR of every entry's hash: equal tables have equal digests (kept as entries come and go). */
  private digest = 0;

  /**
   * Every few seconds a node that is not the arbiter sends it the digest of its replica; on a
   * mismatch the arbiter asks for the replica, merges it and answers with its whole table,
   * which the node then adopts as is. So replicas that drifted apart while views of the group
   * differed (a node that saw a loss later than the others) meet again, with no traffic while
   * they agree.
   */
  private antiEntropy(): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    const arbiter = this.currentArbiter();
    if (arbiter !== ctx.node) this.links.control(arbiter, { type: 'g_digest', digest: this.digest });
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const cancel of this.watches.values()) cancel();
    this.watches.clear();
    this.table.clear();
    this.digest = 0;
    this.ctx = undefined;
  }

  whereis(name: string): AnyRef | undefined {
    return this.table.get(name);
  }

  names(): string[] {
    return [...this.table.keys()];
  }

  /** The arbiter of this node's group: the smallest id among itself and its peers. */
  private currentArbiter(): string {
    const self = (this.ctx as BackendContext).node;
    let best = self;
    for (const n of this.links.connected()) if (shortNodeId(n) < shortNodeId(best)) best = n;
    return best;
  }

  async register(name: string, ref: AnyRef): Promise<void> {
    // An arbiter that goes down before answering may or may not have decided: ask the next one
    // (registering the same process again is not a conflict), at most three times.
    for (let attempt = 1; ; attempt++) {
      const ctx = this.live();
      const arbiter = this.currentArbiter();
      if (arbiter === ctx.node) {
        this.decide(name, ref);
        return;
      }
      try {
        await this.links.call(arbiter, { op: 'g_register', name, ref }, 5000);
        // The g_add came before the answer, on the same connection: the replica has it.
        return;
      } catch (e) {
        if (!NodeDownError.is(e) || attempt === 3) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async unregister(name: string): Promise<void> {
    const ref = this.table.get(name);
    if (ref === undefined) return;
    this.remove(name, ref, 'unregistered');
    for (const n of this.links.connected()) this.links.control(n, { type: 'g_remove', name, ref, reason: 'unregistered' });
  }

  // --- Cluster events ---------------------------------------------------------------------

  /** A peer connected: replicas meet. */
  nodeUp(node: string): void {
    this.links.control(node, { type: 'g_sync', entries: [...this.table] });
    this.arbiterMaybeChanged();
  }

  /** A peer went down: its names are released here, and the arbiter may have changed. */
  nodeDown(node: string): void {
    for (const [name, ref] of [...this.shadows]) if (ref.node === node) this.shadows.delete(name);
    for (const [name, ref] of [...this.table]) {
      if (ref.node !== node) continue;
      this.remove(name, ref, 'node_down');
      const shadow = this.shadows.get(name);
      this.shadows.delete(name);
      if (shadow !== undefined && this.validRef(shadow)) this.add(name, shadow);
    }
    const before = this.arbiter;
    this.arbiterMaybeChanged();
    // Other nodes may have seen the loss earlier and moved names already: refresh from the
    // arbiter (it answers a replica with its whole table). A new arbiter was just sent one.
    const arbiter = this.currentArbiter();
    if (arbiter === before && arbiter !== (this.ctx as BackendContext).node)
      this.links.control(arbiter, { type: 'g_sync', entries: [...this.table] });
  }

  private arbiterMaybeChanged(): void {
    const now = this.currentArbiter();
    if (now === this.arbiter) return;
    this.arbiter = now;
    // The new arbiter learns what this node knows (it may have missed a g_add of the old one).
    if (now !== (this.ctx as BackendContext).node) this.links.control(now, { type: 'g_sync', entries: [...this.table] });
  }

  /** A gossip payload from peer `from`; false when it is not one of this backend's. */
  gossip(from: string, payload: Record<string, unknown>): boolean {
    const type = ownData(payload, 'type');
    if (type === 'g_add') {
      const name = ownData(payload, 'name');
      const ref = ownData(payload, 'ref');
      if (this.validName(name) && this.validRef(ref)) this.merge(name, copy(ref), from === this.currentArbiter());
      return true;
    }
    if (type === 'g_remove') {
      const name = ownData(payload, 'name');
      const ref = ownData(payload, 'ref');
      if (this.validName(name) && isRef(ref)) {
        const held = this.table.get(name);
        const reason = ownData(payload, 'reason') === 'exited' ? 'exited' : 'unregistered';
        if (held !== undefined && sameRef(held, ref)) this.remove(name, held, reason);
      }
      return true;
    }
    if (type === 'g_digest') {
      // As the arbiter: a replica that differs from this one is asked for.
      const digest = ownData(payload, 'digest');
      if (this.currentArbiter() === (this.ctx as BackendContext).node && typeof digest === 'number' && digest !== this.digest)
        this.links.control(from, { type: 'g_pull' });
      return true;
    }
    if (type === 'g_pull') {
      if (from === this.currentArbiter()) this.links.control(from, { type: 'g_sync', entries: [...this.table], align: true });
      return true;
    }
    if (type === 'g_sync') {
      const entries = ownData(payload, 'entries');
      if (!Array.isArray(entries) || entries.length > MAX_NAMES) return true;
      if (ownData(payload, 'full') === true && from === this.currentArbiter()) {
        this.adoptTable(entries);
        return true;
      }
      const learned: [string, AnyRef][] = [];
      for (const e of entries) {
        if (!Array.isArray(e) || e.length !== 2) continue;
        const [name, ref] = e as [unknown, unknown];
        if (!this.validName(name) || !this.validRef(ref)) continue;
        if (this.merge(name, copy(ref), ownData(payload, 'reply') === true && from === this.currentArbiter()))
          learned.push([name, this.table.get(name) as AnyRef]);
      }
      // The arbiter tells the others what it learnt, and answers the sender with its whole table
      // (an answer is not answered), so a split it inherited (an arbiter that died halfway
      // through telling its peers) is closed both ways.
      if (this.currentArbiter() === (this.ctx as BackendContext).node) {
        for (const [name, ref] of learned)
          for (const n of this.links.connected()) if (n !== from) this.links.control(n, { type: 'g_add', name, ref });
        // An answer to a pull (anti-entropy) is the whole table, to be adopted as is.
        if (ownData(payload, 'align') === true) this.links.control(from, { type: 'g_sync', entries: [...this.table], full: true });
        else if (ownData(payload, 'reply') !== true) this.links.control(from, { type: 'g_sync', entries: [...this.table], reply: true });
      }
      return true;
    }
    return false;
  }

  /** A system request to this node (as the arbiter); false when it is not one of this backend's. */
  system(msg: Record<string, unknown>, reply: (v: unknown) => void, fail: (e: unknown) => void): boolean {
    if (ownData(msg, 'op') !== 'g_register') return false;
    const name = ownData(msg, 'name');
    const ref = ownData(msg, 'ref');
    if (!this.validName(name) || !this.validRef(ref)) {
      fail(new InvalidArgumentError('GlobalRegistry.register', 'a malformed registration'));
      return true;
    }
    try {
      this.decide(name, copy(ref));
      reply(true);
    } catch (e) {
      fail(e);
    }
    return true;
  }

  /**
   * The arbiter's whole table, sent after it merged this node's replica: adopted as is. A name
   * this node holds that the arbiter gave to another process (or dropped) is that holder's to
   * keep; a local process displaced this way ends as a conflict loser.
   */
  private adoptTable(entries: unknown[]): void {
    const ctx = this.live();
    const theirs = new Map<string, AnyRef>();
    for (const e of entries) {
      if (!Array.isArray(e) || e.length !== 2) continue;
      const [name, ref] = e as [unknown, unknown];
      if (this.validName(name) && this.validRef(ref)) theirs.set(name, copy(ref));
    }
    const keep: [string, AnyRef][] = [];
    for (const [name, held] of [...this.table]) {
      const t = theirs.get(name);
      if (t !== undefined && sameRef(t, held)) continue;
      if (t === undefined && held.node === ctx.node) {
        // The arbiter does not know a holder of this node yet (it was sent meanwhile): kept,
        // and sent again.
        keep.push([name, held]);
        continue;
      }
      this.remove(name, held, 'unregistered', t !== undefined);
      if (held.node === ctx.node) ctx.evict(held, name); // the arbiter gave the name to another
    }
    if (keep.length > 0) this.links.control(this.currentArbiter(), { type: 'g_sync', entries: keep, reply: true });
    for (const [name, ref] of theirs) {
      const held = this.table.get(name);
      if (held !== undefined && sameRef(held, ref)) continue;
      this.add(name, ref);
    }
  }

  /** As the arbiter: the name goes to `ref` if free, and every peer is told. */
  private decide(name: string, ref: AnyRef): void {
    const held = this.table.get(name);
    if (held !== undefined) {
      if (sameRef(held, ref)) return;
      throw new AlreadyRegisteredError(name, formatRef(held));
    }
    if (this.table.size >= MAX_NAMES) throw new InvalidArgumentError('GlobalRegistry.register', `at most ${MAX_NAMES} names`);
    this.add(name, ref);
    for (const n of this.links.connected()) this.links.control(n, { type: 'g_add', name, ref });
  }

  /**
   * Applies a holder learnt from a peer. From this group's arbiter (`authoritative`: its g_add,
   * or its answer to a replica) it replaces what this node holds: the arbiter only gives away a
   * name it saw free, so a different holder here is one whose node the arbiter already saw go
   * (this node will too) — or, mid-heal, a holder the arbiter's own merge will settle; a local
   * process displaced this way ends as a conflict loser. From anyone else, a different holder is
   * a conflict (two groups each gave the name away while apart), settled by the resolver, which
   * every node computes alike. Returns true when the table changed.
   */
  private merge(name: string, ref: AnyRef, authoritative = false): boolean {
    const held = this.table.get(name);
    if (held === undefined) {
      if (this.table.size >= MAX_NAMES) return false;
      this.add(name, ref);
      return true;
    }
    if (sameRef(held, ref)) return false;
    if (authoritative) {
      const ctx = this.live();
      this.remove(name, held, 'unregistered', true);
      this.add(name, ref, true);
      ctx.emit({ type: 'conflictResolved', name, winner: ref, loser: held });
      if (held.node === ctx.node) ctx.evict(held, name);
      return true;
    }
    let verdict: ReturnType<NameResolver>;
    try {
      verdict = this.resolver(name, held, ref);
    } catch (e) {
      this.ctx?.log('warn', `nameResolver threw for ${name}: ${e instanceof Error ? e.message : String(e)}; the smaller ref wins`);
      verdict = smallerRefWins(name, held, ref);
    }
    // `{ winner, notify: true }`: the loser is told (an info message) instead of ended.
    const notify = !isRef(verdict) && typeof verdict === 'object' && verdict !== null && verdict.notify === true;
    const chosen = isRef(verdict) ? verdict : notify ? verdict.winner : held;
    // A resolver must pick one of the two; anything else keeps the holder already here.
    const winner = sameRef(chosen, ref) ? ref : held;
    const loser = sameRef(winner, held) ? ref : held;
    const ctx = this.live();
    if (!sameRef(winner, held)) {
      this.remove(name, held, 'unregistered', true);
      this.add(name, ref, true);
    }
    ctx.emit({ type: 'conflictResolved', name, winner, loser });
    if (loser.node === ctx.node) {
      if (notify) this.rt.router.send(loser, INFO, { type: 'name_conflict', name, winner }, undefined);
      else ctx.evict(loser, name);
    }
    // A loser on another node is kept aside: if the winner's node turns out to be gone (this
    // node had not seen it yet, the others had), the loser is the holder after all.
    else if (loser.node !== winner.node && this.shadows.size < MAX_NAMES) this.shadows.set(name, loser);
    return !sameRef(winner, held);
  }

  /** Holders that lost a conflict here while their nodes live on, by name (see merge). */
  private readonly shadows = new Map<string, AnyRef>();

  private add(name: string, ref: AnyRef, quiet = false): void {
    const ctx = this.live();
    const old = this.table.get(name);
    if (old !== undefined) this.digest ^= entryHash(name, old);
    this.table.set(name, ref);
    this.digest ^= entryHash(name, ref);
    if (ref.node === ctx.node) {
      this.watches.get(name)?.();
      this.watches.set(
        name,
        ctx.watch(ref, () => {
          if (this.table.get(name) !== undefined && sameRef(this.table.get(name) as AnyRef, ref)) {
            this.remove(name, ref, 'exited');
            for (const n of this.links.connected()) this.links.control(n, { type: 'g_remove', name, ref, reason: 'exited' });
          }
        }),
      );
    }
    if (!quiet) ctx.emit({ type: 'registered', name, ref });
  }

  private remove(name: string, ref: AnyRef, reason: 'unregistered' | 'exited' | 'node_down', quiet = false): void {
    const had = this.table.get(name);
    if (had !== undefined) this.digest ^= entryHash(name, had);
    this.table.delete(name);
    if (reason !== 'node_down') this.shadows.delete(name);
    const w = this.watches.get(name);
    if (w !== undefined) {
      this.watches.delete(name);
      w();
    }
    if (!quiet) this.ctx?.emit({ type: 'unregistered', name, ref, reason });
  }

  private validName(v: unknown): v is string {
    return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME;
  }

  /** A ref of this node or of a connected peer (a holder elsewhere is not ours to record). */
  private validRef(v: unknown): v is AnyRef {
    if (!isRef(v)) return false;
    return v.node === (this.ctx as BackendContext).node || this.links.connected().includes(v.node);
  }

  private live(): BackendContext {
    if (this.ctx === undefined) throw new NodeDownError(shortNodeId(this.rt.node), 'cluster_stopped');
    return this.ctx;
  }
}

/** How often a node checks its replica against the arbiter's. */
const ANTI_ENTROPY_MS = 2000;

/** FNV-1a of `name=ref`, for the replica digest. */
function entryHash(name: string, ref: AnyRef): number {
  const s = `${name}=${refKey(ref)}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function copy(r: AnyRef): AnyRef {
  return makeRef(r.node, r.thread, r.id);
}
