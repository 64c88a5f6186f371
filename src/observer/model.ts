/**
 * What the observer shows, as plain JSON: one {@link NodeView} per node (this one, and in a
 * cluster each peer's, read over the cluster), each with its processes, supervision trees,
 * threads and (in a cluster) its links to other nodes. Every figure here is serialisable
 * with `JSON.stringify` (no `Infinity`, no refs as objects: refs are their text form), so the
 * HTTP API, the live page and a peer node all read the same shape.
 */
import type { AnyRef } from '../core/ref.js';

/** One live process, as the observer lists it. */
export interface ObservedProcess {
  /** The ref as text (`formatRef`), unique across the cluster. */
  readonly ref: string;
  /** Thread number inside its node (0: main). */
  readonly thread: number;
  /** What runs there: a supervisor, a thread child's host, a GenServer, or another process. */
  readonly kind: 'supervisor' | 'thread' | 'gen_server' | 'process';
  /** `'init'` while init runs, `'running'`, or `'stopping'` while terminate runs. */
  readonly status: 'init' | 'running' | 'stopping';
  /** True while an async handler is in flight. */
  readonly busy: boolean;
  /** Messages waiting in the mailbox. */
  readonly mailbox: number;
  /** The mailbox bound; null when unbounded. */
  readonly maxMailbox: number | null;
  /** Messages handled so far (cumulative). */
  readonly handled: number;
  /** Messages handled per second over the last sampling interval (0 on the first sample). */
  readonly rate: number;
  /** User messages refused by a full mailbox (cumulative). */
  readonly dropped: number;
  /** Registered names (local and global). */
  readonly names: readonly string[];
  /** The process that started it, as text, if any. */
  readonly parent: string | null;
  /** Linked processes, as text. */
  readonly links: readonly string[];
  /** Monitors it holds on other processes. */
  readonly monitors: number;
  /** Monitors other processes hold on it. */
  readonly monitoredBy: number;
  /** True while it traps exits (`Process.trapExit`). */
  readonly trapExit: boolean;
}

/** A supervisor's restart intensity and how much of it is left now. */
export interface IntensityBudget {
  /** `restartIntensity.maxRestarts`. */
  readonly maxRestarts: number;
  /** `restartIntensity.withinMs`; null when it is Infinity (every restart ever counts). */
  readonly withinMs: number | null;
  /** Restarts inside the current window. */
  readonly recent: number;
  /** Restarts it may still make inside the window before it gives up (maxRestarts - recent, at least 0). */
  readonly remaining: number;
}

/** One node of a supervision tree (`Supervisor.tree`), with refs as text. */
export interface ObservedTreeNode {
  /** The process as text; null for a child that is not running. */
  readonly ref: string | null;
  /** The child id in its supervisor's spec (null on a root). */
  readonly id: string | null;
  /** A supervisor, a worker, or a thread child (its host; its one child is the thread's root supervisor). */
  readonly kind: 'supervisor' | 'worker' | 'thread';
  /** Thread number its processes run on (for `'thread'`, the worker thread it owns). */
  readonly thread: number;
  /** How many times its supervisor restarted this child. */
  readonly restartCount: number;
  /** For supervisors: the intensity budget (null when it could not be read). */
  readonly budget: IntensityBudget | null;
  /** Its children in start order (empty for workers). */
  readonly children: readonly ObservedTreeNode[];
}

/** One thread of a node. */
export interface ObservedThread {
  /** Thread number (0: main). */
  readonly thread: number;
  /** Live processes on it. */
  readonly processes: number;
  /** Event-loop utilisation over the last sampling interval, 0..1 (null when unknown). */
  readonly elu: number | null;
  /** Bytes of JS heap in use on the thread (null when unknown). */
  readonly heapUsed: number | null;
  /** Messages (casts, infos, calls) that crossed into this thread per second over the last interval. */
  readonly inPerSec: number;
  /** Messages (casts, infos, calls) this thread sent to other threads per second (replies are not counted). */
  readonly outPerSec: number;
  /** The main thread's watchdog over this worker ('off' for main and for workers without one). */
  readonly watchdog: {
    readonly state: 'ok' | 'late' | 'off';
    /** `watchdogMs` of its spec (null when off). */
    readonly limitMs: number | null;
    /** Milliseconds since it last showed life (null when off or before its first heartbeat). */
    readonly silentMs: number | null;
  };
}

/** One event of a peer's life, as this node saw it. */
export interface NodeEvent {
  /** Epoch milliseconds. */
  readonly at: number;
  /** The peer connected (`'up'`) or was lost (`'down'`). */
  readonly event: 'up' | 'down';
  /** For 'down': the reason (`connection_closed`, `heartbeat_timeout`, ...). */
  readonly reason: string | null;
}

/** This node's link to one peer node. */
export interface ObservedPeer {
  /** `name@host:port`. */
  readonly id: string;
  /** The connection's state now. */
  readonly status: 'connected' | 'connecting' | 'disconnected';
  /** Bytes received from it per second over the last interval. */
  readonly bytesInPerSec: number;
  /** Bytes sent to it per second over the last interval. */
  readonly bytesOutPerSec: number;
  /** Frames received from it per second over the last interval. */
  readonly framesInPerSec: number;
  /** Frames sent to it per second over the last interval. */
  readonly framesOutPerSec: number;
  /** Milliseconds since anything was last heard from it (null when never). */
  readonly heartbeatLagMs: number | null;
  /** Up/down events, oldest first (bounded: the last 50). */
  readonly history: readonly NodeEvent[];
}

/** Everything the observer shows of one node. */
export interface NodeView {
  /** `name@host:port`, or `'local'` when the node is not in a cluster. */
  readonly node: string;
  /** Epoch milliseconds when the view was taken. */
  readonly at: number;
  /** Processes of every thread, at most 10,000 per thread; `truncated` when some were left out. */
  readonly processes: readonly ObservedProcess[];
  /** True when processes were left out (more than the bound). */
  readonly truncated: boolean;
  /** The supervision trees whose roots have no supervising parent (main thread first). */
  readonly trees: readonly ObservedTreeNode[];
  /** The main thread, then each live worker thread. */
  readonly threads: readonly ObservedThread[];
  /** Its peers (empty outside a cluster). */
  readonly peers: readonly ObservedPeer[];
}

/** A lifecycle event the page flashes: a process started, crashed, stopped or was restarted. */
export interface ObservedEvent {
  /** Epoch milliseconds. */
  readonly at: number;
  /** The node it happened on (`NodeView.node`). */
  readonly node: string;
  /** What happened to the process. */
  readonly event: 'started' | 'crashed' | 'terminated' | 'restarted';
  /** The process, as text. */
  readonly ref: string;
  /** The exit reason or error message, as short text (null when none). */
  readonly detail: string | null;
}

/** One action taken through the observer, as logged. */
export interface ActionRecord {
  /** Epoch milliseconds. */
  readonly at: number;
  /** What was asked: kill a process, restart a supervisor's child, or stop a supervision tree. */
  readonly action: 'kill' | 'restart_child' | 'stop_tree';
  /** The process (or supervisor) acted on, and for restart_child the child id. */
  readonly target: string;
  /** The child id, for restart_child (null otherwise). */
  readonly id: string | null;
  /** Whether it succeeded. */
  readonly ok: boolean;
  /** The error message when it failed. */
  readonly error: string | null;
}

/** What `GET /api/snapshot` returns and each SSE `snapshot` event carries. */
export interface Snapshot {
  /** This node's view first, then each connected peer's (a peer that did not answer is left out). */
  readonly nodes: readonly NodeView[];
  /** Whether actions are enabled on this observer. */
  readonly actions: boolean;
  /** The most recent actions, oldest first (bounded: the last 100). */
  readonly log: readonly ActionRecord[];
}

/**
 * Where the observer's server reads from. The collector (collect.ts) implements it over the
 * runtime; tests may give a fake.
 */
export interface ObserverSource {
  /**
   * A fresh snapshot. Rates are per second since the previous call to `snapshot` (0 on the
   * first), so one sampler should drive it.
   */
  snapshot(): Promise<Omit<Snapshot, 'actions' | 'log'>>;
  /** Subscribes to lifecycle events of this node (and its threads); returns the unsubscribe. */
  onEvent(listener: (e: ObservedEvent) => void): () => void;
  /** Prometheus text exposition (format 0.0.4) of per-process and per-thread counters of this node. */
  metrics(): Promise<string>;
  /**
   * The process behind `ref` text that appeared in a snapshot this source produced (this node's
   * or a peer's), or undefined when it never did. Actions resolve their targets only this way:
   * text from a browser is never parsed into a ref.
   */
  resolve(ref: string): AnyRef | undefined;
  /** Stops whatever it started (subscriptions, timers). */
  close(): void;
}
