/**
 * DistributedSupervisor: children placed across the nodes of a cluster, restarted on the
 * survivors when a node dies, each running exactly once (docs/concepts/distributed-supervisor.md).
 *
 * No single point of failure: the supervisor is a replicated record, held by every node of the
 * cluster (sent to each node when it starts and whenever two nodes connect), not a process on
 * the node that started it. Each child runs under the cluster-wide name `dsup:<sup>:<child>`
 * (GlobalRegistry), which is what makes it run once: a second start of it fails to register
 * and exits before its `init`. One node decides, the **leader** (the smallest id among the
 * connected nodes, the same for every member of a group): it places children that have no
 * holder, counts restarts against the intensity, and serializes changes (start, terminate,
 * restart, delete of a child). The node a child runs on watches it and reports its exits.
 *
 * Reconciling is idempotent: the leader looks at every child that should run and has no holder
 * and places it. It runs on every relevant event (a start, an exit report, a node lost) and
 * once a second as a safety net, so a lost message costs at most a second.
 *
 * Split brain (`splitBrain`): `'none'` lets both sides run their children (at the heal the
 * name resolver keeps one copy and the other exits `name_conflict`, not restarted);
 * `'keep-majority'` stops the children on a side with at most half of the participating nodes;
 * `{ staticQuorum: n }` on a side with fewer than n nodes.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import { checkDuration } from '../core/duration.js';
import type { ExitReason } from '../core/exit-reason.js';
import { isNormalExit } from '../core/exit-reason.js';
import type { AnyRef } from '../core/ref.js';
import { sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime, withRuntime } from '../core/runtime.js';
import { checkFunction, checkOptions, describeValue, nameProblem } from '../core/validate.js';
import {
  ChildNotFoundError,
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  InvalidArgumentError,
  NoProcessError,
} from '../errors.js';
import { isPlainObject, ownData } from '../transport/validate.js';
import { allowedBehavior, isAllowedThread } from './behavior-registry.js';
import { shortNodeId } from './node-id.js';

/** Where a child runs. */
export type NodeSelector =
  | 'local_first'
  | 'round_robin'
  | 'least_loaded'
  | 'random'
  | 'hash'
  | { readonly node: string }
  | { readonly custom: string };

/** A child of a distributed supervisor. */
export interface DistributedChildSpec {
  /** Unique within the supervisor. */
  readonly id: string;
  /** A behaviour (or thread subtree) every node offers in its BehaviorRegistry under this name. */
  readonly behavior: string;
  /** Passed to `init` (structured-clone data: it crosses nodes). */
  readonly args?: unknown;
  /** `'permanent'` (default): always restarted; `'transient'`: after an abnormal exit; `'temporary'`: never. */
  readonly restart?: 'permanent' | 'transient' | 'temporary';
  /** Overrides the supervisor's selector for this child. */
  readonly nodeSelector?: NodeSelector;
}

/** Options of {@link DistributedSupervisor.start}. */
export interface DistributedSupervisorOptions {
  /** The supervisor's cluster-wide name. */
  readonly name: string;
  /** Only `'one_for_one'` across nodes (children on other nodes share no fate). */
  readonly strategy?: 'one_for_one';
  /** Where children run by default; default `'local_first'` (the leader's node, when it can). */
  readonly nodeSelector?: NodeSelector;
  readonly children?: readonly DistributedChildSpec[];
  /** What `startChild(sup, { id, args })` fills in (a simple_one_for_one template). */
  readonly childTemplate?: Omit<DistributedChildSpec, 'id'>;
  /** More than `maxRestarts` restarts within `withinMs` stop the whole supervisor; default 3 in 5000 ms. */
  readonly restartIntensity?: { readonly maxRestarts: number; readonly withinMs: number };
  /** What a side of a partition does; default `'none'` (see the module comment). */
  readonly splitBrain?: 'none' | 'keep-majority' | { readonly staticQuorum: number };
}

/** A distributed supervisor, by name. */
export interface DistributedSupervisorRef {
  readonly dsup: string;
}

/** One child, as {@link DistributedSupervisor.getChildren} reports it. */
export interface DistributedChildInfo {
  readonly id: string;
  /** Its process, when it runs. */
  readonly ref: AnyRef | undefined;
  /** The node it runs on (`name@host:port`), when it runs. */
  readonly node: string | undefined;
  readonly restart: 'permanent' | 'transient' | 'temporary';
  /** `running`, `pending` (to be placed), `terminated` (by terminateChild), `done` (exited, not to restart), `suspended` (minority side). */
  readonly status: 'running' | 'pending' | 'terminated' | 'done' | 'suspended';
}

type ChildState = 'active' | 'terminated' | 'done';

/** The replicated record of one supervisor. Plain data: it crosses nodes. */
interface Record_ {
  readonly uid: string;
  readonly name: string;
  version: number;
  selector: NodeSelector;
  intensity: { maxRestarts: number; withinMs: number };
  splitBrain: 'none' | 'keep-majority' | { staticQuorum: number };
  template: Omit<DistributedChildSpec, 'id'> | undefined;
  children: [string, DistributedChildSpec, ChildState][];
  /** Nodes that ever held this record (short ids): the electorate of `keep-majority`. */
  participants: string[];
}

/** What this module needs of the cluster (main thread). */
export interface DsupLinks {
  readonly self: string;
  connected(): string[];
  control(node: string, payload: unknown): void;
  call(node: string, msg: unknown, timeoutMs: number): Promise<unknown>;
  whereis(name: string): AnyRef | undefined;
  register(name: string, ref: AnyRef): Promise<void>;
}

const MAX_CHILDREN = 10_000;
const MAX_SUPS = 1024;

/** What one reconcile pass computes once for all its placements. */
interface Pass {
  counts: Map<string, number> | undefined;
}
/** Uids of stopped supervisors remembered (a stop older than the last 4,096 may be revived by a node that missed it). */
const MAX_TOMBSTONES = 4 * MAX_SUPS;
const selectors = new WeakMap<Runtime, Map<string, SelectorFn>>();

/** A custom placement: given the candidate nodes (short ids, sorted) and the child, returns one of them. */
export type SelectorFn = (nodes: readonly string[], child: { readonly id: string; readonly supervisor: string }) => string;

function childName(sup: string, id: string): string {
  return `dsup:${sup}:${id}`;
}

/** The distributed supervisors of one clustered node. */
export class DsupHost {
  private readonly sups = new Map<string, Record_>();
  /** Stopped supervisors (uid), so a record from a node that missed the stop is not revived. */
  private readonly tombstones = new Set<string>();
  /** Supervisor uid / behaviour pairs already reported as not offered here. */
  private readonly unlisted = new Set<string>();

  /** Remembers a stopped supervisor's uid; the oldest are forgotten past MAX_TOMBSTONES. */
  private bury(uid: string): void {
    this.tombstones.delete(uid);
    this.tombstones.add(uid);
    if (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.values().next().value as string);
  }
  /** Children this node started, by child name: the watch to cancel. */
  private readonly local = new Map<string, { ref: AnyRef; cancel: () => void }>();
  /** Children being placed (child name → until when), so a placement is not sent twice. */
  private readonly pending = new Map<string, number>();
  /** The leader's restart times per supervisor. */
  private readonly restarts = new Map<string, number[]>();
  private rr = 0;
  private readonly timer: NodeJS.Timeout;
  /** Nodes leaving gracefully: not placed on. */
  private readonly leaving = new Set<string>();

  constructor(
    private readonly rt: Runtime,
    private readonly links: DsupLinks,
  ) {
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  // --- API (called on this node) ------------------------------------------------------------

  async start(o: DistributedSupervisorOptions): Promise<DistributedSupervisorRef> {
    const existing = this.sups.get(o.name);
    if (existing !== undefined) throw new InvalidArgumentError('name', `a distributed supervisor ${JSON.stringify(o.name)} is running`);
    if (this.sups.size >= MAX_SUPS) throw new InvalidArgumentError('DistributedSupervisor.start', `at most ${MAX_SUPS} supervisors`);
    const rec: Record_ = {
      uid: randomBytes(8).toString('hex'),
      name: o.name,
      version: 1,
      selector: o.nodeSelector ?? 'local_first',
      intensity: { maxRestarts: o.restartIntensity?.maxRestarts ?? 3, withinMs: o.restartIntensity?.withinMs ?? 5000 },
      splitBrain: o.splitBrain ?? 'none',
      template: o.childTemplate,
      children: (o.children ?? []).map((c) => [c.id, { ...c }, 'active']),
      participants: [member(this.links.self), ...this.links.connected().map((n) => member(n))],
    };
    // Every connected node holds the record before start resolves (and before any placement
    // request reaches it): the supervisor is already replicated when the caller gets its ref.
    this.adopt(rec, false);
    await Promise.all(this.links.connected().map((n) => this.links.call(n, { op: 'd_adopt', rec }, 5000).catch(() => {})));
    this.reconcile(rec);
    const ref = { dsup: o.name };
    // As a Supervisor.start: resolves once every initial child runs; else the supervisor stops.
    const deadline = performance.now() + 15_000;
    for (;;) {
      const missing = rec.children.filter(([id, , st]) => st === 'active' && this.links.whereis(childName(o.name, id)) === undefined);
      if (missing.length === 0) return ref;
      if (!this.sups.has(o.name)) throw new ChildStartError(String(missing[0]?.[0]), o.name, 'the supervisor stopped');
      if (performance.now() > deadline) {
        await this.stop(o.name);
        throw new ChildStartError(String(missing[0]?.[0]), o.name, 'not started within 15 s');
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(name: string): Promise<void> {
    const rec = this.need(name);
    this.broadcast({ type: 'd_stop', uid: rec.uid, name });
    this.dropRecord(rec);
  }

  /**
   * Runs a change at the leader (this node, or by a call to it). A node that has not yet
   * received the record (it was started elsewhere a moment ago) still forwards to the leader.
   */
  async change(name: string, op: Record<string, unknown>): Promise<unknown> {
    const leader = this.leader();
    if (leader === this.links.self) return this.apply(name, op);
    return this.links.call(this.longOf(leader), { op: 'd_change', name, change: op }, 10_000);
  }

  children(name: string): DistributedChildInfo[] {
    const rec = this.need(name);
    const suspended = !this.hasQuorum(rec);
    return rec.children.map(([id, spec, st]) => {
      const ref = this.links.whereis(childName(name, id));
      const status: DistributedChildInfo['status'] =
        st === 'terminated' ? 'terminated' : st === 'done' ? 'done' : ref !== undefined ? 'running' : suspended ? 'suspended' : 'pending';
      return { id, ref, node: ref === undefined ? undefined : shortNodeId(ref.node), restart: spec.restart ?? 'permanent', status };
    });
  }

  isRunning(name: string): boolean {
    return this.sups.has(name);
  }

  names(): string[] {
    return [...this.sups.keys()];
  }

  // --- The leader ---------------------------------------------------------------------------

  private leader(): string {
    let best = this.links.self;
    for (const n of this.links.connected()) {
      const s = shortNodeId(n);
      if (s < best && !this.leaving.has(s)) best = s;
    }
    return best;
  }

  private longOf(short: string): string {
    return this.links.connected().find((n) => shortNodeId(n) === short) ?? short;
  }

  /** A change, at the leader: applied, versioned and sent to every node. */
  private apply(name: string, op: Record<string, unknown>): unknown {
    const rec = this.need(name);
    const kind = ownData(op, 'kind');
    const id = ownData(op, 'id');
    const entry = typeof id === 'string' ? rec.children.find((c) => c[0] === id) : undefined;
    const result: unknown = true;
    switch (kind) {
      case 'start': {
        const given = ownData(op, 'spec');
        const spec = (
          isPlainObject(given) && ownData(given, 'behavior') === undefined && rec.template !== undefined
            ? { ...rec.template, ...given }
            : given
        ) as DistributedChildSpec;
        checkChild(spec, 'spec');
        if (rec.children.some((c) => c[0] === spec.id)) throw new DuplicateChildError(spec.id, name);
        if (rec.children.length >= MAX_CHILDREN) throw new InvalidArgumentError('startChild', `at most ${MAX_CHILDREN} children`);
        rec.children.push([spec.id, { ...spec }, 'active']);
        break;
      }
      case 'terminate':
        if (entry === undefined) throw new ChildNotFoundError(String(id), name);
        entry[2] = 'terminated';
        break;
      case 'restart':
        if (entry === undefined) throw new ChildNotFoundError(String(id), name);
        if (entry[2] === 'active' && this.links.whereis(childName(name, entry[0])) !== undefined)
          throw new ChildRunningError(entry[0], name);
        entry[2] = 'active';
        break;
      case 'delete':
        if (entry === undefined) throw new ChildNotFoundError(String(id), name);
        if (entry[2] === 'active' && this.links.whereis(childName(name, entry[0])) !== undefined)
          throw new ChildRunningError(entry[0], name);
        rec.children = rec.children.filter((c) => c !== entry);
        break;
      case 'exit': {
        // A child exited on its node: `restart` says whether its restart type wants it back.
        if (entry === undefined || entry[2] !== 'active') return true;
        if (ownData(op, 'restart') !== true) {
          entry[2] = 'done';
          break;
        }
        if (!this.countRestart(rec)) {
          this.rt.logger.error(`distributed supervisor ${name}: restart intensity reached; stopping it on every node`);
          void this.stop(name);
          return true;
        }
        break;
      }
      default:
        throw new InvalidArgumentError('change', `unknown change ${describeValue(kind)}`);
    }
    rec.version++;
    this.broadcast({ type: 'd_rec', rec });
    // The leader's own children follow the record too (the others do in adopt).
    this.stopUnwanted(rec);
    this.reconcile(rec);
    return result;
  }

  /** Records a restart; false when it goes past the intensity. */
  private countRestart(rec: Record_): boolean {
    const now = performance.now();
    const times = (this.restarts.get(rec.uid) ?? []).filter((t) => now - t <= rec.intensity.withinMs);
    times.push(now);
    this.restarts.set(rec.uid, times);
    return times.length <= rec.intensity.maxRestarts;
  }

  /** Each second: reconcile, and tell the peers this node's load (for least_loaded). */
  private tick(): void {
    if (this.sups.size > 0) this.broadcast({ type: 'd_load', load: this.load() });
    this.checkLocal();
    this.reconcileAll();
  }

  /** Local children seen without their name on the last check (a second miss stops them). */
  private unnamed = new Set<string>();

  /**
   * A child this node runs must hold its name: one whose name is held by another process is a
   * duplicate (it lost a conflict this node did not see) and stops; one whose name is held by
   * no one for two checks in a row stops too (its place is given again by the leader).
   */
  private checkLocal(): void {
    const missing = new Set<string>();
    for (const [cname, mine] of [...this.local]) {
      if (this.spawningNames.has(cname)) continue;
      const holder = this.links.whereis(cname);
      if (holder !== undefined && sameRef(holder, mine.ref)) continue;
      if (holder === undefined && !this.unnamed.has(cname)) {
        missing.add(cname);
        continue;
      }
      this.rt.logger.warn(
        `distributed supervisor: ${cname} runs here but ${holder === undefined ? 'no one holds its name' : 'another process holds its name'}; stopping this copy`,
      );
      this.stopLocal(cname);
    }
    this.unnamed = missing;
  }

  /** A child's name was released somewhere (its holder exited or its node went): place it again now. */
  nameReleased(name: string): void {
    for (const rec of this.sups.values()) if (name.startsWith(`dsup:${rec.name}:`)) this.reconcile(rec);
  }

  /** This node lost the name of a child it runs (its backend's lease lapsed): the child stops. */
  nameLost(name: string, ref: AnyRef): void {
    const mine = this.local.get(name);
    if (mine !== undefined && sameRef(mine.ref, ref)) this.stopLocal(name);
  }

  private reconcileAll(): void {
    for (const rec of this.sups.values()) this.reconcile(rec);
  }

  /** At the leader: every active child without a holder is placed (once at a time). */
  private reconcile(rec: Record_): void {
    if (this.leader() !== this.links.self || !this.hasQuorum(rec)) return;
    const now = performance.now();
    const pass: Pass = { counts: undefined };
    for (const [id, spec, st] of rec.children) {
      if (st !== 'active') continue;
      const cname = childName(rec.name, id);
      if (this.links.whereis(cname) !== undefined) continue;
      const until = this.pending.get(cname);
      if (until !== undefined && until > now) continue;
      const target = this.place(rec, spec, pass);
      if (target === undefined) continue;
      this.pending.set(cname, now + 5000);
      const done = () => this.pending.delete(cname);
      if (target === this.links.self) void this.spawn(rec.name, id).finally(done);
      else this.links.call(this.longOf(target), { op: 'd_spawn', name: rec.name, id }, 5000).then(done, done);
    }
  }

  /** The node for a child, by its selector (short id), among the nodes not leaving. */
  private place(rec: Record_, spec: DistributedChildSpec, pass: Pass = { counts: undefined }): string | undefined {
    const nodes = [this.links.self, ...this.links.connected().map(shortNodeId)].filter((n) => !this.leaving.has(n)).sort();
    if (nodes.length === 0) return undefined;
    const sel = spec.nodeSelector ?? rec.selector;
    if (sel === 'local_first') return nodes.includes(this.links.self) ? this.links.self : nodes[0];
    if (sel === 'round_robin') return nodes[this.rr++ % nodes.length];
    if (sel === 'random') return nodes[Math.floor(Math.random() * nodes.length)];
    if (sel === 'hash') {
      // Rendezvous (highest random weight) hashing: a child moves only when its own node comes
      // or goes, whatever happens to the others.
      let best = nodes[0] as string;
      let bestWeight = -1;
      for (const n of nodes) {
        const w = hash(`${n}/${rec.name}/${spec.id}`);
        if (w > bestWeight) {
          bestWeight = w;
          best = n;
        }
      }
      return best;
    }
    if (sel === 'least_loaded') return this.leastLoaded(nodes, pass);
    if ('node' in sel) {
      const want = shortNodeId(sel.node);
      return nodes.includes(want) ? want : undefined; // that node only: it waits for it
    }
    const fn = selectors.get(this.rt)?.get(sel.custom);
    if (fn === undefined) {
      this.rt.logger.warn(`distributed supervisor ${rec.name}: no selector ${JSON.stringify(sel.custom)} on this node; using local_first`);
      return this.links.self;
    }
    try {
      const n = fn(nodes, { id: spec.id, supervisor: rec.name });
      return nodes.includes(n) ? n : undefined;
    } catch (e) {
      this.rt.logger.warn(`distributed supervisor ${rec.name}: selector ${sel.custom} threw: ${String(e)}`);
      return undefined;
    }
  }

  /** Loads reported by the nodes (children of every supervisor here, plus event loop use). */
  private readonly loads = new Map<string, number>();

  /**
   * The node holding the fewest children, weighted with its reported load. Counted once per
   * reconcile pass (a record of 10,000 children counted all of them again for each one), and
   * each child placed in the pass counts for its node.
   */
  private leastLoaded(nodes: string[], pass: Pass): string {
    let count = pass.counts;
    if (count === undefined) {
      count = new Map<string, number>(nodes.map((n) => [n, this.loads.get(n) ?? 0]));
      for (const r of this.sups.values())
        for (const [id] of r.children) {
          const h = this.links.whereis(childName(r.name, id));
          if (h !== undefined) {
            const s = shortNodeId(h.node);
            if (count.has(s)) count.set(s, (count.get(s) as number) + 1);
          }
        }
      pass.counts = count;
    }
    let best = nodes[0] as string;
    for (const n of nodes) if ((count.get(n) ?? 0) < (count.get(best) ?? 0)) best = n;
    count.set(best, (count.get(best) ?? 0) + 1);
    return best;
  }

  /** This node's load, as a number of children: process count / 100 plus event-loop use × 10. */
  load(): number {
    const elu = performance.eventLoopUtilization().utilization;
    return this.rt.procs.size / 100 + elu * 10;
  }

  // --- A node's own children ---------------------------------------------------------------

  /** Starts in flight here: a leave waits for them, so none is left behind. */
  private readonly spawning = new Set<Promise<void>>();
  /** The child names being started here (not yet checked by checkLocal). */
  private readonly spawningNames = new Set<string>();
  /** Set once this node leaves: it starts nothing more. */
  private left = false;

  /** Starts child `id` of `name` here, under its cluster-wide name. */
  spawn(name: string, id: string): Promise<void> {
    if (this.left) return Promise.resolve();
    const cname = childName(name, id);
    this.spawningNames.add(cname);
    const p = this.spawnNow(name, id).finally(() => {
      this.spawning.delete(p);
      this.spawningNames.delete(cname);
    });
    this.spawning.add(p);
    return p;
  }

  private async spawnNow(name: string, id: string): Promise<void> {
    const rec = this.sups.get(name);
    const entry = rec?.children.find((c) => c[0] === id);
    if (rec === undefined || entry === undefined || entry[2] !== 'active') return;
    const cname = childName(name, id);
    if (this.links.whereis(cname) !== undefined) return;
    const spec = entry[1];
    const allowed = allowedBehavior(this.rt, spec.behavior);
    if (allowed === undefined) {
      // Once per supervisor and behaviour, not per child and attempt (a record may list 10,000).
      const key = `${rec.uid}/${spec.behavior}`;
      if (!this.unlisted.has(key)) {
        if (this.unlisted.size >= MAX_SUPS) this.unlisted.delete(this.unlisted.values().next().value as string);
        this.unlisted.add(key);
        this.rt.logger.error(
          `distributed supervisor ${name}: child ${id}: behaviour ${spec.behavior} is not in this node's BehaviorRegistry (not logged again for this supervisor)`,
        );
      }
      return;
    }
    let ref: AnyRef;
    try {
      if (isAllowedThread(allowed)) {
        ref = await withRuntime(this.rt, () =>
          Supervisor.start({ strategy: 'one_for_one', children: [{ id, thread: { ...allowed.thread, args: spec.args } }] }),
        );
        try {
          await this.links.register(cname, ref);
        } catch (e) {
          await withRuntime(this.rt, () => Supervisor.stop(ref as never)).catch(() => {});
          throw e;
        }
      } else {
        ref = await withRuntime(this.rt, () => GenServer.start(allowed, { args: spec.args, name: { global: cname } } as never));
      }
    } catch (e) {
      this.rt.logger.warn(`distributed supervisor ${name}: child ${id} did not start here: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const cancel = this.rt.watch(ref, (_r, reason) => this.childExited(name, id, ref, reason));
    // A copy started here before (its name lost in a race) is a duplicate now.
    if (this.local.has(cname)) this.stopLocal(cname);
    this.local.set(cname, { ref, cancel });
  }

  private childExited(name: string, id: string, ref: AnyRef, reason: ExitReason): void {
    const cname = childName(name, id);
    const mine = this.local.get(cname);
    if (mine !== undefined && sameRef(mine.ref, ref)) this.local.delete(cname);
    const rec = this.sups.get(name);
    const entry = rec?.children.find((c) => c[0] === id);
    if (rec === undefined || entry === undefined || this.stopping.has(cname)) return;
    // Lost a name conflict at a heal: the other copy runs on; this one is not restarted.
    if (isConflict(reason)) return;
    const restart = entry[1].restart ?? 'permanent';
    const again = restart === 'permanent' || (restart === 'transient' && !isNormalExit(reason));
    void this.change(name, { kind: 'exit', id, restart: again }).catch(() => {});
  }

  /** Children stopped on purpose (terminate, stop, minority): their exits are not reports. */
  private readonly stopping = new Set<string>();

  private stopLocal(cname: string): void {
    const mine = this.local.get(cname);
    if (mine === undefined) return;
    this.stopping.add(cname);
    this.local.delete(cname);
    mine.cancel();
    const done = () => this.stopping.delete(cname);
    if (this.rt.router.isLocal(mine.ref)) void withRuntime(this.rt, () => GenServer.stop(mine.ref, 'shutdown')).then(done, done);
    else void withRuntime(this.rt, () => GenServer.stop(mine.ref, 'shutdown')).then(done, done);
  }

  // --- Replication ----------------------------------------------------------------------------

  private adopt(rec: Record_, reconcile = true): void {
    if (this.tombstones.has(rec.uid)) return;
    const have = this.sups.get(rec.name);
    // The table peers feed is bounded as the one this node fills (a record beyond is ignored).
    if (have === undefined && this.sups.size >= MAX_SUPS) return;
    if (have !== undefined && have.uid === rec.uid && have.version >= rec.version) return;
    if (have !== undefined && have.uid !== rec.uid) {
      // Two supervisors of one name started apart: the smaller uid stays, as every node decides.
      if (have.uid < rec.uid) return;
      this.dropRecord(have);
    }
    if (!rec.participants.includes(member(this.links.self))) rec.participants = [...rec.participants, member(this.links.self)];
    this.sups.set(rec.name, rec);
    this.stopUnwanted(rec);
    if (reconcile) this.reconcile(rec);
  }

  /** Children this node runs that the record no longer wants active (terminated, done, deleted) stop. */
  private stopUnwanted(rec: Record_): void {
    for (const [id, , st] of rec.children) if (st !== 'active') this.stopLocal(childName(rec.name, id));
    for (const cname of [...this.local.keys()])
      if (cname.startsWith(`dsup:${rec.name}:`) && !rec.children.some(([id]) => childName(rec.name, id) === cname)) this.stopLocal(cname);
  }

  private dropRecord(rec: Record_): void {
    this.bury(rec.uid);
    this.sups.delete(rec.name);
    for (const cname of [...this.local.keys()]) if (cname.startsWith(`dsup:${rec.name}:`)) this.stopLocal(cname);
  }

  private broadcast(payload: unknown): void {
    for (const n of this.links.connected()) this.links.control(n, payload);
  }

  /** A peer connected: records meet. */
  nodeUp(node: string): void {
    this.links.control(node, {
      type: 'd_sync',
      recs: [...this.sups.values()],
      tombstones: [...this.tombstones].slice(-MAX_SUPS),
      load: this.load(),
    });
    for (const rec of this.sups.values()) {
      const s = shortNodeId(node);
      if (!rec.participants.includes(member(s))) rec.participants = [...rec.participants, member(s)];
      this.enforceQuorum(rec);
      this.reconcile(rec);
    }
  }

  /** A peer went down: its children are placed again (by the leader), quorum is checked. */
  nodeDown(node: string): void {
    this.leaving.delete(shortNodeId(node));
    for (const rec of this.sups.values()) {
      this.enforceQuorum(rec);
      this.reconcile(rec);
    }
  }

  /**
   * This node leaves gracefully: the others stop placing on it, then its children stop (their
   * names go at once) and the leader places them elsewhere, without waiting for a failure to
   * be detected. Resolves once they have stopped.
   */
  async handOver(): Promise<void> {
    this.left = true;
    this.broadcast({ type: 'd_leaving', node: this.links.self });
    await Promise.all([...this.spawning]);
    const stops: Promise<unknown>[] = [];
    for (const cname of [...this.local.keys()]) {
      const mine = this.local.get(cname);
      if (mine === undefined) continue;
      this.local.delete(cname);
      mine.cancel();
      stops.push(withRuntime(this.rt, () => GenServer.stop(mine.ref, 'shutdown', { timeout: 5000 })).catch(() => {}));
    }
    await Promise.all(stops);
  }

  private hasQuorum(rec: Record_): boolean {
    const up = 1 + this.links.connected().filter((n) => rec.participants.includes(member(n))).length;
    if (rec.splitBrain === 'none') return true;
    if (rec.splitBrain === 'keep-majority') return up * 2 > rec.participants.length;
    return up >= rec.splitBrain.staticQuorum;
  }

  /** On a side without quorum, this node's children of `rec` stop (they run on the other side). */
  private enforceQuorum(rec: Record_): void {
    if (this.hasQuorum(rec)) return;
    for (const cname of [...this.local.keys()]) if (cname.startsWith(`dsup:${rec.name}:`)) this.stopLocal(cname);
  }

  /** A gossip payload from `from`; false when not this module's. */
  gossip(from: string, payload: Record<string, unknown>): boolean {
    const type = ownData(payload, 'type');
    if (type === 'd_rec') {
      const rec = parseRecord(ownData(payload, 'rec'));
      if (rec !== undefined) this.adopt(rec);
      return true;
    }
    if (type === 'd_stop') {
      const uid = ownData(payload, 'uid');
      const name = ownData(payload, 'name');
      if (typeof uid !== 'string' || uid.length > 64 || typeof name !== 'string') return true;
      this.bury(uid);
      const rec = this.sups.get(name);
      if (rec !== undefined && rec.uid === uid) this.dropRecord(rec);
      return true;
    }
    if (type === 'd_sync') {
      const recs = ownData(payload, 'recs');
      const tombs = ownData(payload, 'tombstones');
      const load = ownData(payload, 'load');
      if (typeof load === 'number' && Number.isFinite(load)) this.loads.set(shortNodeId(from), load);
      if (Array.isArray(tombs) && tombs.length <= MAX_SUPS)
        for (const t of tombs)
          if (typeof t === 'string' && t.length <= 64) {
            this.bury(t);
            for (const rec of [...this.sups.values()]) if (rec.uid === t) this.dropRecord(rec);
          }
      if (Array.isArray(recs) && recs.length <= MAX_SUPS)
        for (const r of recs) {
          const rec = parseRecord(r);
          if (rec !== undefined) this.adopt(rec);
        }
      return true;
    }
    if (type === 'd_load') {
      const load = ownData(payload, 'load');
      if (typeof load === 'number' && Number.isFinite(load) && load >= 0) this.loads.set(shortNodeId(from), load);
      return true;
    }
    if (type === 'd_leaving') {
      const node = ownData(payload, 'node');
      if (typeof node === 'string' && node === shortNodeId(from)) this.leaving.add(node);
      return true;
    }
    return false;
  }

  /** A system request (as the leader, or as a node asked to run a child). */
  system(msg: Record<string, unknown>, reply: (v: unknown) => void, fail: (e: unknown) => void): boolean {
    const op = ownData(msg, 'op');
    if (op === 'd_spawn') {
      const name = ownData(msg, 'name');
      const id = ownData(msg, 'id');
      if (typeof name !== 'string' || typeof id !== 'string') fail(new InvalidArgumentError('d_spawn', 'malformed'));
      else this.spawn(name, id).then(() => reply(true), fail);
      return true;
    }
    if (op === 'd_adopt') {
      const rec = parseRecord(ownData(msg, 'rec'));
      if (rec === undefined) fail(new InvalidArgumentError('d_adopt', 'a malformed record'));
      else {
        this.adopt(rec);
        reply(true);
      }
      return true;
    }
    if (op === 'd_change') {
      const name = ownData(msg, 'name');
      const change = ownData(msg, 'change');
      try {
        if (typeof name !== 'string' || !isPlainObject(change)) throw new InvalidArgumentError('d_change', 'malformed');
        reply(this.apply(name, change));
      } catch (e) {
        fail(e);
      }
      return true;
    }
    return false;
  }

  private need(name: string): Record_ {
    const rec = this.sups.get(name);
    if (rec === undefined) throw new NoProcessError(`distributed supervisor ${name}`);
    return rec;
  }
}

/**
 * A participant of `keep-majority`: the node's name and host, without the port, so a node
 * restarted on a fresh port (port 0) is the same voter, not one more.
 */
function member(nodeId: string): string {
  const short = shortNodeId(nodeId);
  const colon = short.lastIndexOf(':');
  return colon < 0 ? short : short.slice(0, colon);
}

function isConflict(reason: ExitReason): boolean {
  if (typeof reason !== 'object' || reason === null || !('shutdown' in reason)) return false;
  const d = reason.shutdown;
  return typeof d === 'object' && d !== null && Object.hasOwn(d, 'name_conflict');
}

/** FNV-1a: the same on every node. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

// --- Validation (options here, records from peers) ---------------------------------------------

const RESTARTS = ['permanent', 'transient', 'temporary'];

function checkSelector(option: string, s: unknown): void {
  if (s === undefined) return;
  if (s === 'local_first' || s === 'round_robin' || s === 'least_loaded' || s === 'random' || s === 'hash') return;
  if (isPlainObject(s)) {
    const node = ownData(s, 'node');
    const custom = ownData(s, 'custom');
    if (typeof node === 'string' && node !== '' && node.length <= 400) return;
    if (nameProblem(custom) === undefined) return;
  }
  throw new InvalidArgumentError(
    option,
    `expected 'local_first', 'round_robin', 'least_loaded', 'random', 'hash', { node } or { custom: name }, got ${describeValue(s)}`,
  );
}

function checkChild(c: unknown, label: string): asserts c is DistributedChildSpec {
  if (!isPlainObject(c))
    throw new InvalidArgumentError(label, `expected { id, behavior, args?, restart?, nodeSelector? }, got ${describeValue(c)}`);
  const id = ownData(c, 'id');
  const behavior = ownData(c, 'behavior');
  const problem = nameProblem(id) ?? nameProblem(behavior);
  if (problem !== undefined) throw new InvalidArgumentError(`${label}.id/behavior`, problem);
  const restart = ownData(c, 'restart');
  if (restart !== undefined && !RESTARTS.includes(restart as string))
    throw new InvalidArgumentError(`${label}.restart`, `expected 'permanent', 'transient' or 'temporary', got ${describeValue(restart)}`);
  checkSelector(`${label}.nodeSelector`, ownData(c, 'nodeSelector'));
}

/** A record from a peer, checked field by field; undefined when malformed. */
function parseRecord(v: unknown): Record_ | undefined {
  try {
    if (!isPlainObject(v)) return undefined;
    const uid = ownData(v, 'uid');
    const name = ownData(v, 'name');
    const version = ownData(v, 'version');
    const children = ownData(v, 'children');
    const participants = ownData(v, 'participants');
    const intensity = ownData(v, 'intensity');
    const splitBrain = ownData(v, 'splitBrain');
    if (typeof uid !== 'string' || uid.length > 64 || nameProblem(name) !== undefined) return undefined;
    if (typeof version !== 'number' || !Number.isSafeInteger(version)) return undefined;
    if (!Array.isArray(children) || children.length > MAX_CHILDREN) return undefined;
    if (!Array.isArray(participants) || participants.length > 4096 || !participants.every((p) => typeof p === 'string' && p.length <= 400))
      return undefined;
    if (!isPlainObject(intensity)) return undefined;
    const maxRestarts = ownData(intensity, 'maxRestarts');
    const withinMs = ownData(intensity, 'withinMs');
    if (typeof maxRestarts !== 'number' || typeof withinMs !== 'number' || !(maxRestarts >= 0) || !(withinMs > 0)) return undefined;
    if (
      !(
        splitBrain === 'none' ||
        splitBrain === 'keep-majority' ||
        (isPlainObject(splitBrain) && typeof ownData(splitBrain, 'staticQuorum') === 'number')
      )
    )
      return undefined;
    const kids: [string, DistributedChildSpec, ChildState][] = [];
    for (const c of children) {
      if (!Array.isArray(c) || c.length !== 3) return undefined;
      const [id, spec, st] = c as [unknown, unknown, unknown];
      checkChild(spec, 'child');
      if (id !== (spec as DistributedChildSpec).id || (st !== 'active' && st !== 'terminated' && st !== 'done')) return undefined;
      kids.push([id as string, { ...(spec as DistributedChildSpec) }, st]);
    }
    const selector = ownData(v, 'selector');
    checkSelector('selector', selector);
    const template = ownData(v, 'template');
    return {
      uid,
      name: name as string,
      version,
      selector: (selector ?? 'local_first') as NodeSelector,
      intensity: { maxRestarts, withinMs },
      splitBrain: (isPlainObject(splitBrain)
        ? { staticQuorum: ownData(splitBrain, 'staticQuorum') as number }
        : splitBrain) as Record_['splitBrain'],
      template: isPlainObject(template) ? (template as Omit<DistributedChildSpec, 'id'>) : undefined,
      children: kids,
      participants: [...participants] as string[],
    };
  } catch {
    return undefined;
  }
}

// --- The public API -----------------------------------------------------------------------------

const hosts = new WeakMap<Runtime, DsupHost>();

/** Installs the host of `rt`'s cluster. @internal */
export function attachDsupHost(rt: Runtime, host: DsupHost | undefined): void {
  if (host === undefined) hosts.delete(rt);
  else hosts.set(rt, host);
}

function host(fn: string): DsupHost {
  const h = hosts.get(currentRuntime());
  if (h === undefined) throw new InvalidArgumentError(fn, 'the cluster is not running (call Cluster.start first, on the main thread)');
  return h;
}

function refName(fn: string, ref: unknown): string {
  if (!isPlainObject(ref) || nameProblem(ownData(ref, 'dsup')) !== undefined)
    throw new InvalidArgumentError(`ref passed to ${fn}`, `expected { dsup: name }, got ${describeValue(ref)}`);
  return ownData(ref, 'dsup') as string;
}

async function start(options: DistributedSupervisorOptions): Promise<DistributedSupervisorRef> {
  const o = checkOptions<DistributedSupervisorOptions>('options passed to DistributedSupervisor.start', options);
  const np = nameProblem(o.name);
  if (np !== undefined) throw new InvalidArgumentError('name', np);
  if (o.strategy !== undefined && o.strategy !== 'one_for_one')
    throw new InvalidArgumentError('strategy', `only 'one_for_one' across nodes, got ${describeValue(o.strategy)}`);
  checkSelector('nodeSelector', o.nodeSelector);
  if (o.children !== undefined && !Array.isArray(o.children)) throw new InvalidArgumentError('children', 'expected an array');
  const ids = new Set<string>();
  for (const [i, c] of (o.children ?? []).entries()) {
    checkChild(c, `children[${i}]`);
    if (ids.has(c.id)) throw new DuplicateChildError(c.id, o.name as string);
    ids.add(c.id);
  }
  if (o.childTemplate !== undefined) checkChild({ ...o.childTemplate, id: 'template' }, 'childTemplate');
  if (o.restartIntensity !== undefined) {
    const r = checkOptions<{ maxRestarts: number; withinMs: number }>('restartIntensity', o.restartIntensity);
    if (typeof r.maxRestarts !== 'number' || !Number.isInteger(r.maxRestarts) || r.maxRestarts < 0)
      throw new InvalidArgumentError('restartIntensity.maxRestarts', `expected an integer >= 0, got ${describeValue(r.maxRestarts)}`);
    checkDuration('restartIntensity.withinMs', r.withinMs, 5000, { min: 1, infinity: false });
  }
  const sb = o.splitBrain;
  if (
    sb !== undefined &&
    sb !== 'none' &&
    sb !== 'keep-majority' &&
    !(isPlainObject(sb) && Number.isInteger(ownData(sb, 'staticQuorum')) && (ownData(sb, 'staticQuorum') as number) >= 1)
  )
    throw new InvalidArgumentError('splitBrain', `expected 'none', 'keep-majority' or { staticQuorum: n >= 1 }, got ${describeValue(sb)}`);
  return host('DistributedSupervisor.start').start(o as DistributedSupervisorOptions);
}

/** Starts a child (a full spec, or `{ id, args }` filled from the childTemplate) wherever its selector says. */
async function startChild(ref: DistributedSupervisorRef, spec: DistributedChildSpec | { id: string; args?: unknown }): Promise<AnyRef> {
  const name = refName('DistributedSupervisor.startChild', ref);
  const h = host('DistributedSupervisor.startChild');
  const rt = currentRuntime();
  if (!isPlainObject(spec) || nameProblem(ownData(spec, 'id')) !== undefined)
    throw new InvalidArgumentError('spec passed to DistributedSupervisor.startChild', `expected { id, … }, got ${describeValue(spec)}`);
  // Checked in full at the leader, which fills in the childTemplate.
  await h.change(name, { kind: 'start', spec });
  return waitHolder(rt, name, ownData(spec, 'id') as string);
}

/** Resolves with the child's process once it runs somewhere (bounded: 15 s); `rt` is the caller's runtime. */
async function waitHolder(rt: Runtime, name: string, id: string): Promise<AnyRef> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const r = rt.globalNames?.whereis(childName(name, id));
    if (r !== undefined) return r;
    if (performance.now() > deadline) throw new ChildStartError(id, name, 'not started within 15 s');
    await new Promise((res) => setTimeout(res, 10));
  }
}

async function terminateChild(ref: DistributedSupervisorRef, id: string): Promise<void> {
  await host('DistributedSupervisor.terminateChild').change(refName('DistributedSupervisor.terminateChild', ref), {
    kind: 'terminate',
    id,
  });
}

async function restartChild(ref: DistributedSupervisorRef, id: string): Promise<AnyRef> {
  const name = refName('DistributedSupervisor.restartChild', ref);
  const h = host('DistributedSupervisor.restartChild');
  const rt = currentRuntime();
  await h.change(name, { kind: 'restart', id });
  return waitHolder(rt, name, id);
}

async function deleteChild(ref: DistributedSupervisorRef, id: string): Promise<void> {
  await host('DistributedSupervisor.deleteChild').change(refName('DistributedSupervisor.deleteChild', ref), { kind: 'delete', id });
}

function getChildren(ref: DistributedSupervisorRef): DistributedChildInfo[] {
  return host('DistributedSupervisor.getChildren').children(refName('DistributedSupervisor.getChildren', ref));
}

function getChild(ref: DistributedSupervisorRef, id: string): DistributedChildInfo | undefined {
  return getChildren(ref).find((c) => c.id === id);
}

function countChildren(ref: DistributedSupervisorRef): { specs: number; active: number; running: number } {
  const kids = getChildren(ref);
  return {
    specs: kids.length,
    active: kids.filter((k) => k.status === 'running' || k.status === 'pending' || k.status === 'suspended').length,
    running: kids.filter((k) => k.status === 'running').length,
  };
}

function isRunning(ref: DistributedSupervisorRef): boolean {
  const name = refName('DistributedSupervisor.isRunning', ref);
  return hosts.get(currentRuntime())?.isRunning(name) ?? false;
}

/** Stops the supervisor on every node: each node stops the children it runs. */
async function stop(ref: DistributedSupervisorRef): Promise<void> {
  await host('DistributedSupervisor.stop').stop(refName('DistributedSupervisor.stop', ref));
}

/** Offers a placement function under `name` on this node (install it on every node that may lead). */
function registerSelector(name: string, fn: SelectorFn): void {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError('name passed to DistributedSupervisor.registerSelector', problem);
  checkFunction('fn passed to DistributedSupervisor.registerSelector', fn);
  const rt = currentRuntime();
  let m = selectors.get(rt);
  if (m === undefined) {
    m = new Map();
    selectors.set(rt, m);
  }
  m.set(name, fn);
}

/** Children placed across the cluster, restarted on the survivors, each running once. */
export const DistributedSupervisor = {
  start,
  startChild,
  terminateChild,
  restartChild,
  deleteChild,
  getChildren,
  getChild,
  countChildren,
  isRunning,
  stop,
  registerSelector,
} as const;
