/**
 * Durations. One rule for every duration in the API (timeouts, intervals, watchdogs):
 *
 * - a finite number of milliseconds `>= 0`, or
 * - `Infinity`: OTP's `infinity`, no deadline at all.
 *
 * Anything else (NaN, a negative number, a string, `null`, a bigint…) is an
 * {@link InvalidArgumentError} naming the option. A long duration waits as long as it says:
 * the real clock chains timers past Node's 2^31−1 ms limit instead of letting Node clamp it
 * to 1 ms (see {@link realClock} in clock.ts).
 */
import { InvalidArgumentError } from '../errors.js';

/** Node's largest timer delay (a 32-bit signed int of ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Optional tighter bounds for one option. */
export interface DurationBounds {
  /** Smallest finite value accepted (default 0). */
  readonly min?: number;
  /** Accept `Infinity` (default true). */
  readonly infinity?: boolean;
}

/** Why `v` is not a valid duration, or undefined when it is one. */
export function durationProblem(v: unknown, bounds?: DurationBounds): string | undefined {
  // The common case first and without building any text: this runs on every call.
  if (typeof v === 'number' && v >= (bounds?.min ?? 0) && (v < Number.POSITIVE_INFINITY || (bounds?.infinity ?? true))) return undefined;
  const min = bounds?.min ?? 0;
  const inf = bounds?.infinity ?? true;
  const expected = `expected a number of milliseconds >= ${min}${inf ? ' or Infinity' : ''}`;
  if (typeof v !== 'number') return `${expected}, got ${describe(v)}`;
  if (Number.isNaN(v)) return `${expected}, got NaN`;
  if (v === Number.POSITIVE_INFINITY) return `${expected}, got Infinity`;
  return `${expected}, got ${String(v)}`;
}

/**
 * Returns `v` (or `fallback` when `v` is undefined) when it is a valid duration; throws
 * {@link InvalidArgumentError} naming `option` otherwise.
 */
export function checkDuration(option: string, v: unknown, fallback: number, bounds?: DurationBounds): number {
  if (v === undefined) return fallback;
  const problem = durationProblem(v, bounds);
  if (problem !== undefined) throw new InvalidArgumentError(option, problem);
  return v as number;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'bigint') return `the bigint ${String(v)}n`;
  return typeof v;
}
