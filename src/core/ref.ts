/**
 * A ref is the plain-data address of a process: `{ node, thread, id }`. It survives
 * structured clone and the wire unchanged; the protocol type rides along as a phantom so
 * `GenServer.call` can infer reply types.
 */
import type { Protocol } from './protocol.js';

declare const protocolBrand: unique symbol;

/** Address of a process speaking protocol `P`. Plain data: compare with {@link sameRef}. */
export interface Ref<P extends Protocol = Protocol> {
  /** Node name (one OS process). */
  readonly node: string;
  /** Thread number inside the node: 0 is the main thread. */
  readonly thread: number;
  /** Process id, unique within its thread for the thread's lifetime. */
  readonly id: number;
  /** Phantom: never present at run time. */
  readonly [protocolBrand]?: P;
}

/** A ref of any protocol. */
// biome-ignore lint/suspicious/noExplicitAny: the protocol is erased for storage.
export type AnyRef = Ref<any>;

/** Builds a ref. */
export function makeRef<P extends Protocol = Protocol>(node: string, thread: number, id: number): Ref<P> {
  return { node, thread, id } as Ref<P>;
}

/** True when both refs address the same process. */
export function sameRef(a: AnyRef, b: AnyRef): boolean {
  return a.id === b.id && a.thread === b.thread && a.node === b.node;
}

/** A string key unique per process across the cluster, for maps and sets. */
export function refKey(r: AnyRef): string {
  return `${r.node}/${r.thread}/${r.id}`;
}

/** `#Ref<node/thread/id>` for logs and messages. */
export function formatRef(r: AnyRef): string {
  return `#Ref<${r.node}/${r.thread}/${r.id}>`;
}

/** True when `v` has the shape of a ref. */
export function isRef(v: unknown): v is AnyRef {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.node === 'string' && typeof r.thread === 'number' && typeof r.id === 'number';
}

/** Identifies one monitor: the id is unique within the monitoring thread. */
export interface MonitorRef {
  readonly node: string;
  readonly thread: number;
  readonly monitor: number;
}

/** String key of a monitor ref. */
export function monitorKey(m: MonitorRef): string {
  return `${m.node}/${m.thread}/m${m.monitor}`;
}
