/**
 * The observer's collector: the {@link ObserverSource} over a main-thread runtime. It samples
 * this node (every thread's processes, the supervision trees with their restart budgets, the
 * threads, the cluster links), asks each connected peer for its own view (a cluster system
 * call `{ op: 'observe' }`, 1 s each, checked by peer-view.ts), maps lifecycle events, and
 * renders the Prometheus metrics.
 *
 * One sampler per runtime does the local sampling, shared by every collector of that runtime
 * and by the answer to peers: rates are per second since the previous sample, and a sample
 * taken less than 250 ms ago is reused, so two observers or a polling peer do not distort them.
 * API calls run inside the runtime with `withRuntime`: code after an `await` has lost the
 * ambient runtime, so each call is wrapped where it is made.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import { performance } from 'node:perf_hooks';
import type { SupervisionNode } from '../behaviours/introspection.js';
import { listWithin, treeWithin } from '../behaviours/introspection.js';
import type { SupervisorRef } from '../behaviours/supervisor/supervisor.js';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import type { ObservedMember } from '../cluster/cluster.js';
import { observeCluster, setObserveProvider } from '../cluster/cluster.js';
import type { LifecycleEvent } from '../core/events.js';
import { formatReason } from '../core/exit-reason.js';
import type { ProcessInfo, StatsRequest } from '../core/process-info.js';
import { MAX_LIST_PER_THREAD, threadHeapUsed } from '../core/process-info.js';
import type { AnyRef } from '../core/ref.js';
import { formatRef, makeRef, refKey } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { withRuntime } from '../core/runtime.js';
import type { ObservedWorker } from '../threads/node-threads.js';
import { NodeThreads } from '../threads/node-threads.js';
import { isPlainObject, isWireId, ownData } from '../transport/validate.js';
import type { PeerMetrics } from './metrics.js';
import { renderMetrics } from './metrics.js';
import type {
  IntensityBudget,
  NodeView,
  ObservedEvent,
  ObservedPeer,
  ObservedProcess,
  ObservedThread,
  ObservedTreeNode,
  ObserverSource,
} from './model.js';
import { checkPeerView, trimForWire } from './peer-view.js';

/** A local sample younger than this is reused rather than taken again. */
export const MIN_SAMPLE_INTERVAL_MS = 250;
/** How long a peer may take to answer `observe` before it is left out of the snapshot. */
export const PEER_TIMEOUT_MS = 1000;
/** How long a worker may take to answer for its counters before its figures are left unknown. */
const STATS_TIMEOUT_MS = 1000;

/**
 * How long a sample waits for any one thread or supervisor (its process list, a tree level, an
 * intensity budget): a hung thread is left out of the view after this, instead of stalling it
 * for the 5 s of the public calls, and its watchdog state (read on the main thread) shows it.
 */
const ASK_TIMEOUT_MS = 1000;

/** `Supervisor.intensity(sup)` with a call timeout of `timeoutMs`. */
async function intensityWithin(sup: SupervisorRef, timeoutMs: number): Promise<unknown> {
  const r = (await GenServer.call(sup, { op: 'intensity' }, { timeout: timeoutMs })) as { ok: boolean; value?: unknown; error?: unknown };
  if (r.ok) return r.value;
  throw r.error;
}
/** Longest `detail` of an {@link ObservedEvent}. */
const MAX_DETAIL = 200;

/**
 * The observer's data source over `rt` (a main-thread runtime): snapshots of this node and its
 * connected peers, lifecycle events, Prometheus metrics, and the refs of the last snapshot.
 * Starts nothing until asked (no timer); `close()` drops its event subscriptions.
 */
export function createCollector(rt: Runtime): ObserverSource {
  return new Collector(rt);
}

class Collector implements ObserverSource {
  /** Ref text → ref of every process in the last snapshot. */
  private refs = new Map<string, AnyRef>();
  private readonly unsubscribes = new Set<() => void>();
  private closed = false;

  constructor(private readonly rt: Runtime) {}

  async snapshot(): Promise<{ nodes: NodeView[] }> {
    const rt = this.rt;
    const local = await samplerOf(rt).sample();
    const cluster = observeCluster(rt);
    const peers = (cluster?.members() ?? []).filter((m) => m.status === 'connected' && m.long !== undefined);
    const answers = await Promise.all(peers.map((m) => askPeer(rt, m)));
    const refs = new Map(local.refs);
    const nodes = [local.view];
    for (const a of answers) {
      if (a === undefined) continue;
      nodes.push(a.view);
      for (const [text, ref] of a.refs) refs.set(text, ref);
    }
    this.refs = refs;
    return { nodes };
  }

  onEvent(listener: (e: ObservedEvent) => void): () => void {
    const rt = this.rt;
    if (this.closed) return () => {};
    const off = rt.onLifecycle((e) => {
      const o = observedEvent(e, nodeName(rt));
      if (o !== undefined) listener(o);
    });
    let done = false;
    const unsubscribe = (): void => {
      if (done) return;
      done = true;
      this.unsubscribes.delete(unsubscribe);
      off();
    };
    this.unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  async metrics(): Promise<string> {
    const s = await samplerOf(this.rt).sample();
    return renderMetrics({
      processes: s.view.processes,
      threads: s.view.threads.map((t) => ({ ...t, droppedCasts: s.droppedCasts.get(t.thread) ?? null })),
      peers: s.peerTotals,
    });
  }

  resolve(ref: string): AnyRef | undefined {
    return typeof ref === 'string' ? this.refs.get(ref) : undefined;
  }

  close(): void {
    this.closed = true;
    for (const u of [...this.unsubscribes]) u();
  }
}

/** Peer `m`'s view, asked of process 0 of its main thread and checked; undefined when it did not answer well. */
function askPeer(rt: Runtime, m: ObservedMember): Promise<ReturnType<typeof checkPeerView>> {
  const long = m.long as string;
  return rt.router.call(makeRef(long, 0, 0), { op: 'observe' }, PEER_TIMEOUT_MS).then(
    (v) => checkPeerView(v, m.id, long),
    () => undefined,
  );
}

/** This node's name in views and events: its cluster id, or `'local'`. */
function nodeName(rt: Runtime): string {
  return observeCluster(rt)?.self ?? 'local';
}

/** `s` cut to `max` characters. */
function short(s: string, max = MAX_DETAIL): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A lifecycle event as the observer shows it (undefined for the kinds it does not: dropped casts). */
export function observedEvent(e: LifecycleEvent, node: string): ObservedEvent | undefined {
  const at = Date.now();
  switch (e.type) {
    case 'started':
      return { at, node, event: 'started', ref: formatRef(e.ref), detail: e.name === undefined ? null : short(e.name) };
    case 'crashed':
    case 'terminated':
      return { at, node, event: e.type, ref: formatRef(e.ref), detail: short(formatReason(e.reason)) };
    case 'restarted':
      return {
        at,
        node,
        event: 'restarted',
        ref: formatRef(e.ref),
        detail: short(`child ${JSON.stringify(short(e.childId, 80))} of ${formatRef(e.supervisor)}, restart ${e.restartCount}`),
      };
    default:
      return undefined;
  }
}

// --- The local sampler -------------------------------------------------------------------

/** One local sample: the view, the refs it names, and the cumulative figures the metrics need. */
interface LocalSample {
  readonly view: NodeView;
  readonly refs: Map<string, AnyRef>;
  /** Casts dropped per thread (cumulative), for threads that answered. */
  readonly droppedCasts: Map<number, number>;
  readonly peerTotals: PeerMetrics[];
  /** performance.now() when it was taken. */
  readonly taken: number;
}

/** The cumulative counters of the previous sample, from which rates are computed. */
interface Counters {
  readonly at: number;
  readonly handled: Map<string, number>;
  readonly threadIn: Map<number, number>;
  readonly threadOut: Map<number, number>;
  readonly elu: Map<number, EventLoopUtilization>;
  readonly peers: Map<string, ObservedMember>;
}

/** A thread's counters as it answered them (checked: a worker's answer is untrusted). */
interface Stats {
  readonly thread: number;
  readonly processes: number;
  readonly droppedCasts: number;
  readonly channels: readonly { thread: number; sentFrames: number }[];
}

const samplers = new WeakMap<Runtime, Sampler>();

function samplerOf(rt: Runtime): Sampler {
  let s = samplers.get(rt);
  if (s === undefined) {
    s = new Sampler(rt);
    samplers.set(rt, s);
  }
  return s;
}

/**
 * What this node answers a peer's `{ op: 'observe' }`: its local view (the shared sample),
 * bounded for the wire. Installed as the cluster's observe provider when this module loads.
 */
export function observeAnswer(rt: Runtime): Promise<NodeView> {
  return samplerOf(rt)
    .sample()
    .then((s) => trimForWire(s.view));
}

setObserveProvider(observeAnswer);

class Sampler {
  private prev: Counters | undefined;
  private last: LocalSample | undefined;
  private pending: Promise<LocalSample> | undefined;

  constructor(private readonly rt: Runtime) {}

  /** The last sample when younger than {@link MIN_SAMPLE_INTERVAL_MS}, else a new one (one at a time). */
  sample(): Promise<LocalSample> {
    const last = this.last;
    if (last !== undefined && performance.now() - last.taken < MIN_SAMPLE_INTERVAL_MS) return Promise.resolve(last);
    if (this.pending === undefined) {
      this.pending = this.take().finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  /** Takes a sample: reads everything, computes rates against the previous one, and keeps it. */
  private async take(): Promise<LocalSample> {
    const rt = this.rt;
    const taken = performance.now();
    const infos = await withRuntime(rt, () => listWithin(ASK_TIMEOUT_MS));
    const workers = NodeThreads.observe(rt);
    const [stats, trees] = await Promise.all([this.stats(workers), this.trees(infos)]);
    const cluster = observeCluster(rt);
    const now = performance.now();
    const rates = new Rates(this.prev, now);
    const procs = observeProcesses(infos, rates);
    const threads = observeThreads(rt, workers, stats, procs.perThread, rates);
    const peers = observePeers(cluster?.members() ?? [], rates, now);
    this.prev = { at: now, handled: procs.handled, ...threads.counters, peers: peers.counters };
    const refs = new Map<string, AnyRef>();
    for (const i of infos) refs.set(formatRef(i.ref), i.ref);
    for (const t of trees) collectRefs(t.node, refs);
    const droppedCasts = new Map<number, number>();
    for (const st of stats.values()) droppedCasts.set(st.thread, st.droppedCasts);
    const sample: LocalSample = {
      view: {
        node: cluster?.self ?? 'local',
        at: Date.now(),
        processes: procs.processes,
        truncated: procs.truncated,
        trees: trees.map((t) => t.observed),
        threads: threads.threads,
        peers: peers.peers,
      },
      refs,
      droppedCasts,
      peerTotals: peers.totals,
      taken,
    };
    this.last = sample;
    return sample;
  }

  /** Every thread's counters: main's at once, each worker's by a system call (left out when it does not answer). */
  private async stats(workers: readonly ObservedWorker[]): Promise<Map<number, Stats>> {
    const rt = this.rt;
    const out = new Map<number, Stats>();
    out.set(0, rt.threadStats());
    const req: StatsRequest = { op: 'runtime_stats' };
    const answers = await Promise.all(
      workers.map((w) =>
        rt.router.call(makeRef(rt.node, w.thread, 0), req, STATS_TIMEOUT_MS).then(
          (v) => checkedStats(v, w.thread),
          () => undefined,
        ),
      ),
    );
    for (const a of answers) if (a !== undefined) out.set(a.thread, a);
    return out;
  }

  /**
   * The supervision trees whose roots have no supervising parent, main thread first, each with
   * the intensity budget of its supervisors. A worker's root supervisor is reached through its
   * thread child's host, so it is a root of its own only when no tree reached it.
   */
  private async trees(infos: readonly ProcessInfo[]): Promise<{ node: SupervisionNode; observed: ObservedTreeNode }[]> {
    const rt = this.rt;
    const supervising = new Set<string>();
    for (const i of infos) if (i.kind === 'supervisor' || i.kind === 'thread') supervising.add(refKey(i.ref));
    const roots = infos.filter((i) => i.kind === 'supervisor' && (i.parent === undefined || !supervising.has(refKey(i.parent))));
    const read = (r: ProcessInfo) =>
      withRuntime(rt, () => treeWithin(r.ref as SupervisorRef, ASK_TIMEOUT_MS)).then(
        (t) => t,
        () => undefined, // it exited meanwhile
      );
    const covered = new Set<string>();
    const found: SupervisionNode[] = [];
    const main = await Promise.all(roots.filter((r) => r.thread === rt.thread).map(read));
    for (const t of main) if (t !== undefined) found.push(t);
    for (const t of found) coverage(t, covered);
    const rest = await Promise.all(roots.filter((r) => r.thread !== rt.thread && !covered.has(refKey(r.ref))).map(read));
    for (const t of rest) if (t !== undefined) found.push(t);
    const budgets = await this.budgets(found);
    return found.map((node) => ({ node, observed: observedTree(node, budgets) }));
  }

  /** The intensity budget of every supervisor in `trees`, by ref key (absent where it could not be read). */
  private async budgets(trees: readonly SupervisionNode[]): Promise<Map<string, IntensityBudget>> {
    const rt = this.rt;
    const sups: AnyRef[] = [];
    const walk = (n: SupervisionNode) => {
      if (n.kind === 'supervisor' && n.ref !== undefined) sups.push(n.ref);
      for (const c of n.children) walk(c);
    };
    for (const t of trees) walk(t);
    const out = new Map<string, IntensityBudget>();
    await Promise.all(
      sups.map((ref) =>
        withRuntime(rt, () => intensityWithin(ref as SupervisorRef, ASK_TIMEOUT_MS)).then(
          (b) => {
            const checked = checkedBudget(b);
            if (checked !== undefined) out.set(refKey(ref), checked);
          },
          () => undefined,
        ),
      ),
    );
    return out;
  }
}

/** Per-second rates of cumulative counters since the previous sample (0 on the first). */
class Rates {
  private readonly dt: number;
  constructor(
    readonly prev: Counters | undefined,
    now: number,
  ) {
    this.dt = prev === undefined ? 0 : (now - prev.at) / 1000;
  }

  /** The rate of a counter now at `cur`, at `before` in the previous sample (undefined: not there, rate 0). */
  of(cur: number, before: number | undefined): number {
    return this.dt > 0 && before !== undefined ? Math.max(0, (cur - before) / this.dt) : 0;
  }

  /** As {@link of}, for a counter that starts at 0 when absent from the previous sample (a new process, thread). */
  since(cur: number, before: number | undefined): number {
    return this.of(cur, this.prev === undefined ? undefined : (before ?? 0));
  }
}

/** The processes as the observer shows them, their counters, and the snapshots per thread. */
function observeProcesses(
  infos: readonly ProcessInfo[],
  rates: Rates,
): { processes: ObservedProcess[]; handled: Map<string, number>; perThread: Map<number, ProcessInfo[]>; truncated: boolean } {
  const handled = new Map<string, number>();
  const perThread = new Map<number, ProcessInfo[]>();
  const processes = infos.map((i) => {
    const ref = formatRef(i.ref);
    handled.set(ref, i.handled);
    const mine = perThread.get(i.thread);
    if (mine === undefined) perThread.set(i.thread, [i]);
    else mine.push(i);
    return observedProcess(i, ref, rates.since(i.handled, rates.prev?.handled.get(ref)));
  });
  const truncated = [...perThread.values()].some((l) => l.length >= MAX_LIST_PER_THREAD);
  return { processes, handled, perThread, truncated };
}

/**
 * The threads, main first: processes, event-loop utilisation, heap, the messages crossing each
 * thread's boundary (from every thread's channel counters: what it sent is out, what others
 * sent it is in), and the watchdog.
 */
function observeThreads(
  rt: Runtime,
  workers: readonly ObservedWorker[],
  stats: Map<number, Stats>,
  perThread: Map<number, ProcessInfo[]>,
  rates: Rates,
): { threads: ObservedThread[]; counters: Pick<Counters, 'threadIn' | 'threadOut' | 'elu'> } {
  const threadIn = new Map<number, number>();
  const threadOut = new Map<number, number>();
  const add = (m: Map<number, number>, t: number, n: number) => m.set(t, (m.get(t) ?? 0) + n);
  for (const st of stats.values())
    for (const c of st.channels) {
      add(threadOut, st.thread, c.sentFrames);
      add(threadIn, c.thread, c.sentFrames);
    }
  const elu = new Map<number, EventLoopUtilization>();
  const prev = rates.prev;
  const view = (thread: number, cur: EventLoopUtilization | undefined, heapUsed: number | null, watchdog: ObservedThread['watchdog']) => {
    if (cur !== undefined) elu.set(thread, cur);
    return {
      thread,
      processes: stats.get(thread)?.processes ?? perThread.get(thread)?.length ?? 0,
      elu: eluBetween(cur, prev?.elu.get(thread)),
      heapUsed,
      inPerSec: rates.since(threadIn.get(thread) ?? 0, prev?.threadIn.get(thread)),
      outPerSec: rates.since(threadOut.get(thread) ?? 0, prev?.threadOut.get(thread)),
      watchdog,
    };
  };
  const threads: ObservedThread[] = [
    view(0, performance.eventLoopUtilization(), threadHeapUsed(), { state: 'off', limitMs: null, silentMs: null }),
  ];
  for (const w of workers) threads.push(view(w.thread, w.elu, perThread.get(w.thread)?.[0]?.heapUsed ?? null, watchdogOf(rt, w)));
  return { threads, counters: { threadIn, threadOut, elu } };
}

/** The peers: traffic per second each way, silence, history; and their cumulative counters. */
function observePeers(
  members: readonly ObservedMember[],
  rates: Rates,
  now: number,
): { peers: ObservedPeer[]; totals: PeerMetrics[]; counters: Map<string, ObservedMember> } {
  const counters = new Map<string, ObservedMember>();
  const peers: ObservedPeer[] = [];
  const totals: PeerMetrics[] = [];
  for (const m of members) {
    counters.set(m.id, m);
    const before = rates.prev?.peers.get(m.id);
    peers.push({
      id: m.id,
      status: m.status,
      bytesInPerSec: rates.of(m.bytesIn, before?.bytesIn),
      bytesOutPerSec: rates.of(m.bytesOut, before?.bytesOut),
      framesInPerSec: rates.of(m.framesIn, before?.framesIn),
      framesOutPerSec: rates.of(m.framesOut, before?.framesOut),
      heartbeatLagMs: m.lastHeard === undefined ? null : Math.max(0, now - m.lastHeard),
      history: m.history.map((h) => ({ at: h.at, event: h.event, reason: h.reason })),
    });
    const { id, bytesIn, bytesOut, framesIn, framesOut } = m;
    totals.push({ id, connected: m.status === 'connected', bytesIn, bytesOut, framesIn, framesOut });
  }
  return { peers, totals, counters };
}

/** A {@link ProcessInfo} as the observer shows it. */
function observedProcess(i: ProcessInfo, ref: string, rate: number): ObservedProcess {
  return {
    ref,
    thread: i.thread,
    kind: i.kind,
    status: i.status,
    busy: i.busy,
    mailbox: i.mailbox,
    maxMailbox: Number.isFinite(i.maxMailbox) ? i.maxMailbox : null,
    handled: i.handled,
    rate,
    dropped: i.dropped,
    names: [...i.names],
    parent: i.parent === undefined ? null : formatRef(i.parent),
    links: i.links.map(formatRef),
    monitors: i.monitors,
    monitoredBy: i.monitoredBy,
    trapExit: i.trapExit,
  };
}

/** A tree with refs as text and each supervisor's budget (null where it could not be read). */
function observedTree(n: SupervisionNode, budgets: Map<string, IntensityBudget>): ObservedTreeNode {
  return {
    ref: n.ref === undefined ? null : formatRef(n.ref),
    id: n.id ?? null,
    kind: n.kind,
    thread: n.thread,
    restartCount: n.restartCount,
    budget: n.kind === 'supervisor' && n.ref !== undefined ? (budgets.get(refKey(n.ref)) ?? null) : null,
    children: n.children.map((c) => observedTree(c, budgets)),
  };
}

/** Adds the ref key of every node of `n` to `into`. */
function coverage(n: SupervisionNode, into: Set<string>): void {
  if (n.ref !== undefined) into.add(refKey(n.ref));
  for (const c of n.children) coverage(c, into);
}

/** Adds ref text → ref of every node of `n` to `into`. */
function collectRefs(n: SupervisionNode, into: Map<string, AnyRef>): void {
  if (n.ref !== undefined) into.set(formatRef(n.ref), n.ref);
  for (const c of n.children) collectRefs(c, into);
}

/** Utilisation between two cumulative readings (since the thread started when there is no earlier one). */
function eluBetween(cur: EventLoopUtilization | undefined, before: EventLoopUtilization | undefined): number | null {
  if (cur === undefined) return null;
  if (before === undefined) return clamp01(cur.utilization);
  const active = cur.active - before.active;
  const idle = cur.idle - before.idle;
  const total = active + idle;
  return total > 0 ? clamp01(active / total) : 0;
}

function clamp01(n: number): number {
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}

/** The watchdog's view of worker `w` (`'late'` once silent for more than half its limit), read on `rt`'s clock. */
export function watchdogOf(rt: Pick<Runtime, 'clock'>, w: ObservedWorker): ObservedThread['watchdog'] {
  if (w.watchdogMs === Number.POSITIVE_INFINITY) return { state: 'off', limitMs: null, silentMs: null };
  const silentMs = Number.isNaN(w.lastSignOfLife) ? null : Math.max(0, rt.clock.now() - w.lastSignOfLife);
  return { state: silentMs !== null && silentMs > w.watchdogMs / 2 ? 'late' : 'ok', limitMs: w.watchdogMs, silentMs };
}

/** A budget as the model carries it (Infinity as null); undefined for a malformed answer. */
function checkedBudget(b: unknown): IntensityBudget | undefined {
  if (!isPlainObject(b)) return undefined;
  const { maxRestarts, withinMs, recent, remaining } = b;
  const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);
  if (!finite(maxRestarts) || !finite(recent) || !finite(remaining) || typeof withinMs !== 'number') return undefined;
  return { maxRestarts, withinMs: Number.isFinite(withinMs) ? withinMs : null, recent, remaining };
}

/** Worker `thread`'s answer to `runtime_stats`, checked (undefined when malformed). */
function checkedStats(v: unknown, thread: number): Stats | undefined {
  if (!isPlainObject(v)) return undefined;
  const processes = ownData(v, 'processes');
  const droppedCasts = ownData(v, 'droppedCasts');
  const channels = ownData(v, 'channels');
  if (ownData(v, 'thread') !== thread || !isWireId(processes) || !isWireId(droppedCasts) || !Array.isArray(channels)) return undefined;
  const out: { thread: number; sentFrames: number }[] = [];
  for (const c of channels.slice(0, 1024)) {
    if (!isPlainObject(c)) return undefined;
    const t = ownData(c, 'thread');
    const sent = ownData(c, 'sentFrames');
    if (!isWireId(t) || !isWireId(sent)) return undefined;
    out.push({ thread: t, sentFrames: sent });
  }
  return { thread, processes, droppedCasts, channels: out };
}
