/**
 * The `thread:` entry of a child spec: its validation, its defaults and the timings derived
 * from it. Checked when the supervisor is given the spec (start, `startChild`), so a typo or a
 * meaningless value fails there with an {@link InvalidArgumentError} naming the field, never
 * later as a worker that dies at boot or a watchdog that silently does nothing.
 */
import type { ThreadSpec } from '../behaviours/supervisor/spec.js';
import { durationProblem } from '../core/duration.js';
import { describeValue } from '../core/validate.js';
import { InvalidArgumentError, NotCloneableError } from '../errors.js';
import { findUncloneable } from '../transport/cloneable.js';

/** Default `watchdogMs`. */
export const DEFAULT_WATCHDOG_MS = 5000;

/**
 * Smallest finite `watchdogMs`. The heartbeat is a timer on the worker's event loop and a
 * message read by the main thread's, so either loop being late by a GC pause, a slow handler
 * or a module compile delays it by tens of ms; a shorter limit would judge healthy threads.
 */
export const MIN_WATCHDOG_MS = 100;

/** Default `initTimeout`: generous for a worker that transpiles TypeScript on a busy machine. */
export const DEFAULT_THREAD_INIT_TIMEOUT_MS = 30_000;

/**
 * Longest gap between heartbeats. A quarter of the watchdog period, but no more than this:
 * a watchdog of hours still beats every few seconds (one small message), and never asks
 * Node for a timer longer than it can keep.
 */
export const MAX_BEAT_MS = 5000;

/** The `resourceLimits` fields Node's `Worker` takes. */
const LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/** Every field of a ThreadSpec: anything else is a typo that would otherwise be ignored. */
const FIELDS = ['module', 'export', 'args', 'resourceLimits', 'watchdogMs', 'initTimeout', 'standby'] as const;

/** How often a worker with this watchdog beats; 0 when `watchdogMs` is Infinity (no watchdog, no heartbeats). */
export function heartbeatMs(watchdogMs: number): number {
  if (watchdogMs === Number.POSITIVE_INFINITY) return 0;
  return Math.min(MAX_BEAT_MS, Math.max(1, Math.floor(watchdogMs / 4)));
}

/**
 * Throws when `spec` is not a usable ThreadSpec: {@link InvalidArgumentError} naming the
 * field as `<label>.<field>` (e.g. `child spec "hashers" thread.watchdogMs`), or
 * {@link NotCloneableError} naming the path inside `args` that cannot reach a worker.
 */
export function validateThreadSpec(spec: unknown, label = 'thread'): void {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw new InvalidArgumentError(label, `expected { module, export?, args?, … }, got ${describeValue(spec)}`);
  const s = spec as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!(FIELDS as readonly string[]).includes(key))
      throw new InvalidArgumentError(`${label}.${key}`, `not a thread spec field (expected one of ${FIELDS.join(', ')})`);
  }
  checkModule(`${label}.module`, s.module);
  if (s.export !== undefined && (typeof s.export !== 'string' || s.export === ''))
    throw new InvalidArgumentError(`${label}.export`, `expected the name of an exported function, got ${describeValue(s.export)}`);
  const uncloneable = findUncloneable(s.args, 'thread.args');
  if (uncloneable !== undefined) throw new NotCloneableError(uncloneable.path, uncloneable.valueType, 'a new worker thread');
  checkLimits(`${label}.resourceLimits`, s.resourceLimits);
  const watchdog = s.watchdogMs === undefined ? undefined : durationProblem(s.watchdogMs, { min: MIN_WATCHDOG_MS });
  if (watchdog !== undefined) throw new InvalidArgumentError(`${label}.watchdogMs`, `${watchdog} (Infinity turns the watchdog off)`);
  const init = s.initTimeout === undefined ? undefined : durationProblem(s.initTimeout);
  if (init !== undefined) throw new InvalidArgumentError(`${label}.initTimeout`, init);
  if (s.standby !== undefined && typeof s.standby !== 'boolean')
    throw new InvalidArgumentError(`${label}.standby`, `expected true or false, got ${describeValue(s.standby)}`);
}

/** The spec's timings, defaults applied (the spec is valid). */
export function threadTimings(spec: ThreadSpec): { watchdogMs: number; initTimeout: number } {
  return { watchdogMs: spec.watchdogMs ?? DEFAULT_WATCHDOG_MS, initTimeout: spec.initTimeout ?? DEFAULT_THREAD_INIT_TIMEOUT_MS };
}

/** A path (absolute, or relative to the working directory) or a `file:`/`data:` URL. */
function checkModule(option: string, v: unknown): void {
  if (typeof v !== 'string' || v === '')
    throw new InvalidArgumentError(option, `expected a path or file URL of a .ts or .js module, got ${describeValue(v)}`);
  if (v.startsWith('file:')) {
    if (!URL.canParse(v)) throw new InvalidArgumentError(option, `${JSON.stringify(v)} is not a valid file URL`);
    return;
  }
  // Two letters or more, so a Windows drive ("C:\…") still reads as a path.
  if (/^[a-z][a-z0-9+.-]+:/i.test(v) && !v.startsWith('data:'))
    throw new InvalidArgumentError(option, `expected a path or a file: URL, got ${JSON.stringify(v)}`);
}

/** Heap and stack sizes in MB: positive numbers, known fields only (a misspelt one would be ignored by Node). */
function checkLimits(option: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidArgumentError(option, `expected { ${LIMITS.join(', ')} } (sizes in MB), got ${describeValue(v)}`);
  for (const [key, size] of Object.entries(v)) {
    if (!(LIMITS as readonly string[]).includes(key))
      throw new InvalidArgumentError(`${option}.${key}`, `not a resource limit (expected one of ${LIMITS.join(', ')})`);
    if (size === undefined) continue;
    if (typeof size !== 'number' || !Number.isFinite(size) || size <= 0)
      throw new InvalidArgumentError(`${option}.${key}`, `expected a positive number of MB, got ${describeValue(size)}`);
  }
}
