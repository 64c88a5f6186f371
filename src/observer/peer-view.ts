/**
 * A {@link NodeView} over the wire: what a node sends when a peer asks it `{ op: 'observe' }`
 * ({@link trimForWire}: bounded, plain data), and what the asking side accepts
 * ({@link checkPeerView}). The answer comes from another node and is hostile until checked:
 * every field's type is checked, strings and arrays are bounded, refs must name processes of
 * the answering node, and a view with anything malformed is dropped whole (never a throw).
 */
import type { AnyRef } from '../core/ref.js';
import { makeRef } from '../core/ref.js';
import { isPlainObject, ownData } from '../transport/validate.js';
import type { IntensityBudget, NodeEvent, NodeView, ObservedPeer, ObservedProcess, ObservedThread, ObservedTreeNode } from './model.js';

/** The most processes a view carries over the wire (`truncated` says when some were left out). */
export const MAX_PEER_PROCESSES = 5000;
/** The most tree nodes (all trees together) a view carries over the wire. */
export const MAX_PEER_TREE_NODES = 5000;
/** The deepest a tree over the wire may be (as `Supervisor.tree`). */
const MAX_DEPTH = 64;
/** The most threads, peers, names and links accepted. */
const MAX_THREADS = 1024;
const MAX_PEERS = 4096;
const MAX_NAMES = 64;
const MAX_LINKS = 1000;
const MAX_HISTORY = 50;
/** Longest text accepted: a ref or a name (names are at most 1024 characters), a node id, a reason. */
const MAX_REF_TEXT = 1100;
const MAX_NAME = 1024;
const MAX_NODE_ID = 400;
const MAX_REASON = 200;

/**
 * `view` bounded for the wire: at most {@link MAX_PEER_PROCESSES} processes (`truncated` set
 * when cut), {@link MAX_PEER_TREE_NODES} tree nodes, and the per-process bounds the asking side
 * enforces (names, links). Plain data, as the view already is.
 */
export function trimForWire(view: NodeView): NodeView {
  const cut = view.processes.length > MAX_PEER_PROCESSES;
  const processes = view.processes
    .slice(0, MAX_PEER_PROCESSES)
    .map((p) =>
      p.names.length > MAX_NAMES || p.links.length > MAX_LINKS
        ? { ...p, names: p.names.slice(0, MAX_NAMES), links: p.links.slice(0, MAX_LINKS) }
        : p,
    );
  const budget = { left: MAX_PEER_TREE_NODES };
  const trees: ObservedTreeNode[] = [];
  for (const t of view.trees) {
    const n = pruneTree(t, budget, 0);
    if (n === undefined) break;
    trees.push(n);
  }
  return {
    ...view,
    processes,
    truncated: view.truncated || cut,
    trees,
    threads: view.threads.slice(0, MAX_THREADS),
    peers: view.peers.slice(0, MAX_PEERS),
  };
}

/** `n` with at most `budget.left` nodes in all, none deeper than the bound; undefined when none is left. */
function pruneTree(n: ObservedTreeNode, budget: { left: number }, depth: number): ObservedTreeNode | undefined {
  if (budget.left <= 0) return undefined;
  budget.left--;
  const children: ObservedTreeNode[] = [];
  if (depth < MAX_DEPTH)
    for (const c of n.children) {
      const pc = pruneTree(c, budget, depth + 1);
      if (pc === undefined) break;
      children.push(pc);
    }
  // Child ids are unbounded in a spec; one longer than the checker takes is cut (shown, not acted on).
  const id = n.id !== null && n.id.length > MAX_NAME ? `${n.id.slice(0, MAX_NAME - 1)}…` : n.id;
  return { ...n, id, children };
}

/** A view checked by {@link checkPeerView}, with the refs it names (for `ObserverSource.resolve`). */
export interface CheckedView {
  readonly view: NodeView;
  /** Ref text → ref, for every process of the answering node the view names. */
  readonly refs: Map<string, AnyRef>;
}

/** Thrown inside the checker at the first malformed field; never escapes it. */
class Malformed extends Error {}

function fail(): never {
  throw new Malformed('malformed peer view');
}

/**
 * The view a peer answered, checked field by field, or undefined when anything in it is
 * malformed or out of bounds. `short` is the peer's `name@host:port` (the view's `node` must be
 * it) and `long` its connected incarnation's id: every process and tree ref must name a process
 * of that node. The result is a fresh copy holding only the model's fields.
 */
export function checkPeerView(v: unknown, short: string, long: string): CheckedView | undefined {
  try {
    const refs = new Map<string, AnyRef>();
    return { view: nodeView(v, short, long, refs), refs };
  } catch {
    return undefined; // Malformed, or a hostile Proxy or getter: the same verdict
  }
}

function nodeView(v: unknown, short: string, long: string, refs: Map<string, AnyRef>): NodeView {
  const o = obj(v);
  if (field(o, 'node') !== short) fail();
  const processes = list(field(o, 'processes'), MAX_PEER_PROCESSES).map((p) => process(p, long, refs));
  const budget = { left: MAX_PEER_TREE_NODES };
  const trees = list(field(o, 'trees'), MAX_PEER_TREE_NODES).map((t) => treeNode(t, long, refs, budget, 0));
  return {
    node: short,
    at: num(field(o, 'at')),
    processes,
    truncated: bool(field(o, 'truncated')),
    trees,
    threads: list(field(o, 'threads'), MAX_THREADS).map(thread),
    peers: list(field(o, 'peers'), MAX_PEERS).map(peer),
  };
}

function process(v: unknown, long: string, refs: Map<string, AnyRef>): ObservedProcess {
  const o = obj(v);
  const self = text(field(o, 'ref'), MAX_REF_TEXT);
  const ref = ownRef(self, long);
  refs.set(self, ref);
  const thread = count(field(o, 'thread'));
  if (thread !== ref.thread) fail();
  const parent = field(o, 'parent');
  return {
    ref: self,
    thread,
    kind: oneOf(field(o, 'kind'), ['supervisor', 'thread', 'gen_server', 'process'] as const),
    status: oneOf(field(o, 'status'), ['init', 'running', 'stopping'] as const),
    busy: bool(field(o, 'busy')),
    mailbox: count(field(o, 'mailbox')),
    maxMailbox: nullable(field(o, 'maxMailbox'), count),
    handled: count(field(o, 'handled')),
    rate: nonNegative(field(o, 'rate')),
    dropped: count(field(o, 'dropped')),
    names: list(field(o, 'names'), MAX_NAMES).map((n) => text(n, MAX_NAME)),
    parent: parent === null ? null : refText(parent),
    links: list(field(o, 'links'), MAX_LINKS).map(refText),
    monitors: count(field(o, 'monitors')),
    monitoredBy: count(field(o, 'monitoredBy')),
    trapExit: bool(field(o, 'trapExit')),
  };
}

function treeNode(v: unknown, long: string, refs: Map<string, AnyRef>, budget: { left: number }, depth: number): ObservedTreeNode {
  if (--budget.left < 0 || depth > MAX_DEPTH) fail();
  const o = obj(v);
  const refField = field(o, 'ref');
  let ref: string | null = null;
  if (refField !== null) {
    ref = text(refField, MAX_REF_TEXT);
    refs.set(ref, ownRef(ref, long));
  }
  const id = field(o, 'id');
  const b = field(o, 'budget');
  return {
    ref,
    id: id === null ? null : text(id, MAX_NAME),
    kind: oneOf(field(o, 'kind'), ['supervisor', 'worker', 'thread'] as const),
    thread: count(field(o, 'thread')),
    restartCount: count(field(o, 'restartCount')),
    budget: b === null ? null : intensity(b),
    children: list(field(o, 'children'), MAX_PEER_TREE_NODES).map((c) => treeNode(c, long, refs, budget, depth + 1)),
  };
}

function intensity(v: unknown): IntensityBudget {
  const o = obj(v);
  return {
    maxRestarts: count(field(o, 'maxRestarts')),
    withinMs: nullable(field(o, 'withinMs'), nonNegative),
    recent: count(field(o, 'recent')),
    remaining: count(field(o, 'remaining')),
  };
}

function thread(v: unknown): ObservedThread {
  const o = obj(v);
  const w = obj(field(o, 'watchdog'));
  const elu = nullable(field(o, 'elu'), nonNegative);
  if (elu !== null && elu > 1) fail();
  return {
    thread: count(field(o, 'thread')),
    processes: count(field(o, 'processes')),
    elu,
    heapUsed: nullable(field(o, 'heapUsed'), count),
    inPerSec: nonNegative(field(o, 'inPerSec')),
    outPerSec: nonNegative(field(o, 'outPerSec')),
    watchdog: {
      state: oneOf(field(w, 'state'), ['ok', 'late', 'off'] as const),
      limitMs: nullable(field(w, 'limitMs'), nonNegative),
      silentMs: nullable(field(w, 'silentMs'), nonNegative),
    },
  };
}

function peer(v: unknown): ObservedPeer {
  const o = obj(v);
  return {
    id: text(field(o, 'id'), MAX_NODE_ID),
    status: oneOf(field(o, 'status'), ['connected', 'connecting', 'disconnected'] as const),
    bytesInPerSec: nonNegative(field(o, 'bytesInPerSec')),
    bytesOutPerSec: nonNegative(field(o, 'bytesOutPerSec')),
    framesInPerSec: nonNegative(field(o, 'framesInPerSec')),
    framesOutPerSec: nonNegative(field(o, 'framesOutPerSec')),
    heartbeatLagMs: nullable(field(o, 'heartbeatLagMs'), nonNegative),
    history: list(field(o, 'history'), MAX_HISTORY).map(nodeEvent),
  };
}

function nodeEvent(v: unknown): NodeEvent {
  const o = obj(v);
  const reason = field(o, 'reason');
  return {
    at: num(field(o, 'at')),
    event: oneOf(field(o, 'event'), ['up', 'down'] as const),
    reason: reason === null ? null : text(reason, MAX_REASON),
  };
}

// --- Field checks (each throws Malformed) ---------------------------------------------------

/** `#Ref<node/thread/id>` (formatRef); the node may hold anything but `<`, `>` and `/`. */
const REF_TEXT = /^#Ref<([^<>/]+)\/(\d{1,16})\/(\d{1,16})>$/;

/** `v` as ref text of any node (a parent or link may live elsewhere). */
function refText(v: unknown): string {
  const s = text(v, MAX_REF_TEXT);
  if (!REF_TEXT.test(s)) fail();
  return s;
}

/** The ref behind `s`, which must name a process of node `long`. */
function ownRef(s: string, long: string): AnyRef {
  const m = REF_TEXT.exec(s);
  if (m === null || m[1] !== long) fail();
  const thread = Number(m[2]);
  const id = Number(m[3]);
  if (!Number.isSafeInteger(thread) || !Number.isSafeInteger(id)) fail();
  return makeRef(long, thread, id);
}

function obj(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) fail();
  return v;
}

function field(o: Record<string, unknown>, key: string): unknown {
  return ownData(o, key);
}

function list(v: unknown, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) fail();
  return v;
}

function text(v: unknown, max: number): string {
  if (typeof v !== 'string' || v.length > max) fail();
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== 'boolean') fail();
  return v;
}

function num(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail();
  return v;
}

function nonNegative(v: unknown): number {
  const n = num(v);
  if (n < 0) fail();
  return n;
}

/** A count: a safe integer ≥ 0. */
function count(v: unknown): number {
  const n = nonNegative(v);
  if (!Number.isSafeInteger(n)) fail();
  return n;
}

function nullable<T>(v: unknown, check: (v: unknown) => T): T | null {
  return v === null ? null : check(v);
}

function oneOf<const T extends readonly string[]>(v: unknown, allowed: T): T[number] {
  if (typeof v !== 'string' || !allowed.includes(v)) fail();
  return v as T[number];
}
