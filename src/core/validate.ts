/**
 * Argument checks shared by the public API. Each returns the value (or its default) when it
 * is valid and throws {@link InvalidArgumentError} naming the option otherwise, so a bad
 * argument fails at the call that passed it, never later inside a process or a timer.
 * Durations have their own rule in duration.ts.
 */
import { InvalidArgumentError } from '../errors.js';
import type { MonitorRef } from './ref.js';

/**
 * Longest process name accepted. Names are map keys copied into every thread's name table
 * and into error messages; a bound keeps a runaway string (a whole payload passed by
 * mistake) out of both.
 */
export const MAX_NAME_LENGTH = 1024;

/** A short description of a value for an error message ("null", "the number 42", "a symbol"). */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return v === '' ? 'an empty string' : `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (typeof v === 'bigint') return `the bigint ${String(v)}n`;
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Why `v` is not a process name (a non-empty string of at most {@link MAX_NAME_LENGTH} chars). */
export function nameProblem(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return `expected a non-empty string, got ${describeValue(v)}`;
  if (v.length > MAX_NAME_LENGTH) return `expected at most ${MAX_NAME_LENGTH} characters, got ${v.length}`;
  return undefined;
}

/** An optional process name: undefined passes, anything else must satisfy {@link nameProblem}. */
export function checkName(option: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const problem = nameProblem(v);
  if (problem !== undefined) throw new InvalidArgumentError(option, problem);
  return v as string;
}

/** An options bag: undefined becomes `{}`; anything but a non-array object is rejected. */
export function checkOptions<T extends object>(option: string, v: unknown): Partial<T> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidArgumentError(option, `expected an object, got ${describeValue(v)}`);
  return v as Partial<T>;
}

/** An optional boolean flag. */
export function checkBoolean(option: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(option, `expected true or false, got ${describeValue(v)}`);
  return v;
}

/** A required function. */
export function checkFunction(option: string, v: unknown): void {
  if (typeof v !== 'function') throw new InvalidArgumentError(option, `expected a function, got ${describeValue(v)}`);
}

/** An optional integer in [min, max]. */
export function checkInteger(option: string, v: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new InvalidArgumentError(option, `expected an integer from ${min} to ${max}, got ${describeValue(v)}`);
  return v;
}

/** An optional list of transferables: an array when given (its items are checked by postMessage). */
export function checkTransfer(v: unknown): void {
  if (v !== undefined && !Array.isArray(v))
    throw new InvalidArgumentError('transfer', `expected an array of ArrayBuffers or MessagePorts, got ${describeValue(v)}`);
}

/** True when `v` has the shape of a {@link MonitorRef}. */
export function isMonitorRef(v: unknown): v is MonitorRef {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.node === 'string' && typeof m.thread === 'number' && typeof m.monitor === 'number';
}
