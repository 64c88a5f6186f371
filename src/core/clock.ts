/**
 * Time is injected: the runtime reads `now` and sets timers only through a {@link Clock},
 * so tests about time logic use a virtual clock and never sleep.
 */
import { MAX_TIMER_MS } from './duration.js';

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** The time source the runtime uses for call timeouts, init timeouts, shutdown timeouts and `sendAfter`. */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /**
   * Runs `fn` once after `ms` milliseconds. `ms` is a duration (see duration.ts): a finite
   * number >= 0, or `Infinity` for a timer that never fires. Long delays are not clamped.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}; a fired or unknown handle is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * A timer longer than Node allows (2^31−1 ms), or infinite: it re-arms itself in steps of at
 * most {@link MAX_TIMER_MS} until its deadline, and never fires when the deadline is Infinity.
 * Node would clamp such a delay to 1 ms and fire at once.
 */
class LongTimer {
  timer: ReturnType<typeof setTimeout> | undefined;
  private refed = true;
  constructor(
    private readonly fn: () => void,
    private readonly at: number,
  ) {
    this.arm();
  }
  private arm(): void {
    const left = this.at - performance.now();
    if (left <= MAX_TIMER_MS) {
      this.timer = setTimeout(this.fn, Math.max(0, left));
    } else {
      this.timer = setTimeout(() => this.arm(), MAX_TIMER_MS);
    }
    if (!this.refed) this.timer.unref();
  }
  ref(): this {
    this.refed = true;
    this.timer?.ref();
    return this;
  }
  unref(): this {
    this.refed = false;
    this.timer?.unref();
    return this;
  }
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** An infinite timer: holds nothing, fires never. */
const NEVER = {
  ref() {
    return this;
  },
  unref() {
    return this;
  },
};

/** The real clock: `performance.now()` and Node's timers, without Node's clamping of long delays. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    if (ms <= MAX_TIMER_MS) return setTimeout(fn, ms);
    if (ms === Number.POSITIVE_INFINITY) return NEVER;
    return new LongTimer(fn, performance.now() + ms);
  },
  clearTimeout: (h) => {
    if (h instanceof LongTimer) h.clear();
    else if (h !== NEVER) clearTimeout(h as ReturnType<typeof setTimeout>);
  },
};
