/** What the main thread hands a new worker (workerData), and the control payloads to workers. */
import type { MessagePort } from 'node:worker_threads';
import type { AnyRef } from '../core/ref.js';
import type { SerializedError } from '../errors.js';
import type { WireReason } from '../transport/frames.js';

/** The subtree a worker loads: the module's export is called with `args`. */
export interface StartTree {
  readonly module: string;
  readonly export: string;
  readonly args: unknown;
}

export interface WorkerBoot {
  readonly node: string;
  readonly thread: number;
  /** URL of worker-main (.ts from source, .js when built). */
  readonly bootUrl: string;
  /** Register tsx before importing (TypeScript runtime or user module). */
  readonly useTsx: boolean;
  /** The subtree to load now; undefined for a standby spare, which waits for a `start` control. */
  readonly start: StartTree | undefined;
  readonly beatMs: number;
  /** Direct channels to the threads that already exist. */
  readonly peers: { thread: number; port: MessagePort }[];
  /** The node-wide names at spawn time; later changes arrive as control frames. */
  readonly names: [string, AnyRef][];
  /** Forward lifecycle events to the main thread (someone there listens). */
  readonly events: boolean;
  /** The main thread's runtime settings that every thread of the node shares. */
  readonly runtime: { readonly drainBudget: number; readonly sliceMs: number; readonly maxInFlight: number };
  /** Set when the node is in a cluster: the peer nodes connected now (long ids). */
  readonly cluster: { readonly peers: string[] } | undefined;
}

/** Control payloads the main thread sends to a worker. */
export type WorkerControl =
  | { op: 'peer'; thread: number; port: MessagePort }
  | { op: 'name'; name: string; ref: AnyRef | undefined }
  | { op: 'claim_reply'; req: number; error?: SerializedError }
  | { op: 'thread_down'; thread: number; reason: WireReason }
  | ({ op: 'start' } & StartTree)
  | { op: 'events'; on: boolean }
  | { op: 'stop' }
  /** Answer `{ op: 'synced', req }` once every frame main sent before this one is handled. */
  | { op: 'sync'; req: number }
  /** Cluster: a peer node came up, went down, its connection's outbound queue filled or drained. */
  | { op: 'node_up'; node: string }
  | { op: 'node_down'; node: string; reason: string }
  | { op: 'node_busy'; node: string; busy: boolean }
  /** Cluster: a batch from thread `from` of peer `node` for this thread (checked here, frame by frame). */
  | { op: 'node_in'; node: string; from: number; batch: unknown[] };
