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

/**
 * True when both are refs ({@link isRef}) addressing the same process. False for anything
 * else, never a throw: this runs in error and cleanup paths.
 */
export function sameRef(a: AnyRef, b: AnyRef): boolean {
  if (a === b) return isRef(a);
  return isRef(a) && isRef(b) && a.id === b.id && a.thread === b.thread && a.node === b.node;
}

/** A string key unique per process across the cluster, for maps and sets. */
export function refKey(r: AnyRef): string {
  return `${r.node}/${r.thread}/${r.id}`;
}

/**
 * `#Ref<node/thread/id>` for logs and messages. Any other value renders as
 * `#Ref<invalid: …>` with a short description; never a throw: this runs in error paths.
 */
export function formatRef(r: AnyRef): string {
  if (isRef(r)) return `#Ref<${r.node}/${r.thread}/${r.id}>`;
  return `#Ref<invalid: ${describe(r)}>`;
}

/** Longest node name in a ref: the same bound as a process name (validate.ts MAX_NAME_LENGTH). */
const MAX_NODE_LENGTH = 1024;

/**
 * True when `v` has the shape of a ref: `node` a non-empty string of at most 1024 characters,
 * `thread` and `id` safe integers >= 0. Never throws (a throwing getter or Proxy trap is
 * simply not a ref).
 */
export function isRef(v: unknown): v is AnyRef {
  if (typeof v !== 'object' || v === null) return false;
  try {
    const r = v as Record<string, unknown>;
    const node = r.node;
    return typeof node === 'string' && node !== '' && node.length <= MAX_NODE_LENGTH && isIndex(r.thread) && isIndex(r.id);
  } catch {
    return false;
  }
}

function isIndex(n: unknown): boolean {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** A short, throw-free description of a non-ref for {@link formatRef}. */
function describe(v: unknown): string {
  try {
    if (v === null) return 'null';
    if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined) return String(v);
    if (Array.isArray(v)) return 'an array';
    return `a ${typeof v}`;
  } catch {
    return 'a value';
  }
}

/** Identifies one monitor: the id is unique within the monitoring thread. */
export interface MonitorRef {
  /** Node of the monitoring process. */
  readonly node: string;
  /** Thread of the monitoring process. */
  readonly thread: number;
  /** The monitor's number, unique within that thread. */
  readonly monitor: number;
}

/** String key of a monitor ref. */
export function monitorKey(m: MonitorRef): string {
  return `${m.node}/${m.thread}/m${m.monitor}`;
}
