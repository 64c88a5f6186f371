/**
 * The coordination seam of a cluster (docs/concepts/global-registry.md): where cluster-wide
 * names are decided and kept. Messages always travel on the node-to-node connections; only
 * the coordination moves.
 *
 * - The embedded backend (the default, no extra server) decides each name at one arbiter per
 *   connected group of nodes and keeps a replica on every node.
 * - The etcd backend (`spindle/etcd`) keeps names in etcd under the node's lease, so a name is
 *   released when its node dies or is cut off from etcd, and a name is never held twice.
 *
 * Every method is called on the main thread of a node whose cluster runs.
 */
import type { AnyRef } from '../core/ref.js';

/** A change to the cluster-wide name table, as every node's replica sees it. */
export type GlobalNameEvent =
  | { readonly type: 'registered'; readonly name: string; readonly ref: AnyRef }
  | { readonly type: 'unregistered'; readonly name: string; readonly ref: AnyRef; readonly reason: 'unregistered' | 'exited' | 'node_down' }
  | { readonly type: 'conflictResolved'; readonly name: string; readonly winner: AnyRef; readonly loser: AnyRef };

/** What a backend is given when the cluster starts. */
export interface BackendContext {
  /** This node's long id (`name@host:port~creation`). */
  readonly node: string;
  /** This node's short id (`name@host:port`): what peers dial. */
  readonly shortId: string;
  /** A member the backend knows of (by short id): dialled as a seed would be. */
  readonly learn: (nodeId: string) => void;
  /** Reports a change of the name table (the backend calls it for every change it applies). */
  readonly emit: (event: GlobalNameEvent) => void;
  /** Ends a process that lost a name conflict: exit reason `{ shutdown: { name_conflict: name } }`. */
  readonly evict: (ref: AnyRef, name: string) => void;
  /** Watches a process of this node: `onExit` runs once when it exits. Returns a cancel function. */
  readonly watch: (ref: AnyRef, onExit: () => void) => () => void;
  /** Logs a line about the backend. */
  readonly log: (level: 'warn' | 'info', message: string) => void;
}

/**
 * Where cluster-wide names are decided. `register` resolves once the name is held (and this
 * node's replica shows it) or rejects with AlreadyRegisteredError naming the holder;
 * `whereis` answers from this node's replica, synchronously.
 */
export interface ClusterBackend {
  /** A short name for logs and docs: 'embedded', 'etcd'. */
  readonly kind: string;
  start(ctx: BackendContext): Promise<void>;
  stop(): Promise<void>;
  register(name: string, ref: AnyRef): Promise<void>;
  /** Releases `name` if held (by anyone: as Erlang's `global:unregister_name`); resolves either way. */
  unregister(name: string): Promise<void>;
  whereis(name: string): AnyRef | undefined;
  /** Every name in this node's replica. */
  names(): string[];
}
