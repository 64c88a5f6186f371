/**
 * Time is injected: the runtime reads `now` and sets timers only through a {@link Clock},
 * so tests about time logic use a virtual clock and never sleep.
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** The time source the runtime uses for call timeouts, init timeouts, shutdown timeouts and `sendAfter`. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and Node's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
