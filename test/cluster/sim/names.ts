/**
 * The real {@link EmbeddedNames} (src/cluster/embedded-names.ts) on every simulated node:
 * `EmbeddedLinks` over the simulated connections (control = a CTL message to the peer's
 * `gossip`, call = a request to the peer's `system` and its answer, on the same connection),
 * and a fake `BackendContext` whose processes live in this file: `watch` is driven by
 * {@link NamesSim.exit}, `evict` records the loser and ends its process.
 */
import type { AnyRef } from '../../../src/core/ref.js';
import { makeRef, refKey, sameRef } from '../../../src/core/ref.js';
import { Runtime } from '../../../src/core/runtime.js';
import { silentLogger } from '../../../src/core/events.js';
import type { BackendContext, GlobalNameEvent } from '../../../src/cluster/backend.js';
import { EmbeddedNames, type NameResolver } from '../../../src/cluster/embedded-names.js';
import type { MembershipSim, SimNode } from './membership.js';

export interface Eviction {
  readonly node: number;
  readonly ref: AnyRef;
  readonly name: string;
}

export interface Registration {
  readonly node: number;
  readonly name: string;
  readonly ref: AnyRef;
  outcome: 'pending' | 'ok' | 'error';
  error?: unknown;
}

/** Per node: its processes (alive) and the watches on them. */
class Procs {
  nextId = 1;
  readonly alive = new Set<string>();
  readonly watches = new Map<string, Set<() => void>>();
}

export class NamesSim {
  readonly names: EmbeddedNames[] = [];
  readonly evictions: Eviction[] = [];
  readonly registrations: Registration[] = [];
  readonly events: number[];
  private readonly procs: Procs[] = [];

  constructor(
    readonly sim: MembershipSim,
    resolver?: NameResolver,
  ) {
    this.events = new Array(sim.nodes.length).fill(0);
    for (const node of sim.nodes) {
      const rt = new Runtime({ node: node.long, logger: silentLogger });
      const backend = new EmbeddedNames(
        rt,
        {
          connected: () => node.connected(),
          control: (peer, payload) => node.control(peer, payload as { type: string }),
          call: (peer, msg, timeoutMs) => node.call(peer, msg as Record<string, unknown>, timeoutMs),
        },
        resolver,
      );
      const procs = new Procs();
      this.procs.push(procs);
      const ctx: BackendContext = {
        node: node.long,
        shortId: node.short,
        learn: () => {},
        emit: (_e: GlobalNameEvent) => {
          this.events[node.idx] = (this.events[node.idx] ?? 0) + 1;
        },
        evict: (ref, name) => {
          this.evictions.push({ node: node.idx, ref, name });
          // The exit signal reaches the process a moment later.
          sim.net.setTimeout(() => this.exit(node.idx, ref), 0.1);
        },
        watch: (ref, onExit) => {
          const key = refKey(ref);
          if (!procs.alive.has(key)) {
            // Watching a dead process fires at once (rt.watch of a gone process).
            sim.net.setTimeout(onExit, 0.1);
            return () => {};
          }
          let set = procs.watches.get(key);
          if (set === undefined) procs.watches.set(key, (set = new Set()));
          const fn = () => onExit();
          set.add(fn);
          return () => set.delete(fn);
        },
        log: () => {},
      };
      // start() does its work before its first await: the backend is live at once.
      void backend.start(ctx);
      node.backend = backend;
      this.names.push(backend);
    }
  }

  /** A new process on node `i`. */
  spawn(i: number): AnyRef {
    const node = this.sim.node(i);
    const p = this.procs[i] as Procs;
    const ref = makeRef(node.long, 0, p.nextId++);
    p.alive.add(refKey(ref));
    return ref;
  }

  /** The process `ref` of node `i` exits: its watches fire. */
  exit(i: number, ref: AnyRef): void {
    const p = this.procs[i] as Procs;
    const key = refKey(ref);
    if (!p.alive.delete(key)) return;
    const set = p.watches.get(key);
    p.watches.delete(key);
    if (this.sim.node(i).status !== 'running') return;
    for (const fn of set ?? []) fn();
  }

  /** Registers `name` for a new process of node `i` (GlobalRegistry.register); the outcome lands in the record. */
  register(i: number, name: string): Registration {
    const ref = this.spawn(i);
    const r: Registration = { node: i, name, ref, outcome: 'pending' };
    this.registrations.push(r);
    if (this.sim.node(i).status !== 'running') {
      r.outcome = 'error';
      return r;
    }
    (this.names[i] as EmbeddedNames).register(name, ref).then(
      () => {
        r.outcome = 'ok';
      },
      (e: unknown) => {
        r.outcome = 'error';
        r.error = e;
      },
    );
    return r;
  }

  /** Running nodes. */
  private running(): SimNode[] {
    return this.sim.alive();
  }

  /**
   * The names property: every running node's replica is the same table, every holder is a
   * live process of a running node. Returns the problems found (empty when it holds).
   */
  problems(limit = 10): string[] {
    const out: string[] = [];
    const alive = this.running();
    const first = alive[0];
    if (first === undefined) return out;
    const ref0 = this.names[first.idx] as EmbeddedNames;
    const all = new Set<string>();
    for (const n of alive) for (const name of (this.names[n.idx] as EmbeddedNames).names()) all.add(name);
    for (const name of all) {
      const want = ref0.whereis(name);
      for (const n of alive) {
        const got = (this.names[n.idx] as EmbeddedNames).whereis(name);
        const same = want === undefined ? got === undefined : got !== undefined && sameRef(want, got);
        if (!same) {
          out.push(
            `${name}: ${first.short} has ${want === undefined ? 'none' : refKey(want)}, ${n.short} has ${got === undefined ? 'none' : refKey(got)}`,
          );
          break;
        }
      }
      if (want !== undefined) {
        const holder = alive.find((n) => n.long === want.node);
        if (holder === undefined) out.push(`${name}: held by ${refKey(want)} of a node not running`);
        else if (!(this.procs[holder.idx] as Procs).alive.has(refKey(want))) out.push(`${name}: held by ${refKey(want)}, which exited`);
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The holder of `name` per running node (undefined entries for nodes without it). */
  holders(name: string): (AnyRef | undefined)[] {
    return this.running().map((n) => (this.names[n.idx] as EmbeddedNames).whereis(name));
  }

  /** Lets promise callbacks (register outcomes) run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}
