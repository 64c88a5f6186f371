/**
 * Test helpers (`spindle/testing`): a virtual clock for time logic without sleeping, and a
 * fresh runtime per test.
 */
import type { Clock, TimerHandle } from './core/clock.js';
import type { Logger } from './core/events.js';
import { silentLogger } from './core/events.js';
import type { RuntimeOptions } from './core/runtime.js';
import { Runtime, setDefaultRuntime } from './core/runtime.js';

// The types this entry's signatures use, so tests can name them from `spindle/testing` too.
export type { Clock, TimerHandle, Logger, RuntimeOptions };

interface VTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that only moves when told. `advance(ms)` runs due timers in deadline order, and
 * lets promise callbacks settle between them, so async handlers that react to a timer run
 * before the next timer fires.
 */
export class VirtualClock implements Clock {
  private t = 0;
  private nextId = 1;
  private timers: VTimer[] = [];

  /** Virtual milliseconds since the clock was made (starts at 0). */
  now(): number {
    return this.t;
  }

  /** Schedules `fn` at `now() + ms` (negative `ms` counts as 0); it runs during {@link VirtualClock.advance}. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: VTimer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  /** Cancels a pending timer; an unknown handle is ignored. */
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order; settles microtasks after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: VTimer | undefined;
      for (const x of this.timers)
        if (x.at <= end && (next === undefined || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
    await flush();
  }
}

/** Lets queued microtasks and immediates run: `rounds` (default 5) turns of `setImmediate`. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Options for {@link freshRuntime}. */
export interface FreshRuntimeOptions extends RuntimeOptions {
  /** Defaults to a silent logger so test output stays clean. */
  logger?: Logger;
}

/**
 * Makes a new runtime the default for this thread (so API calls outside processes use it).
 * Call `rt.killAll()` (or the returned `dispose`) after the test.
 */
export function freshRuntime(options: FreshRuntimeOptions = {}): { rt: Runtime; dispose: () => void } {
  const rt = new Runtime({ logger: silentLogger, ...options });
  const prev = setDefaultRuntime(rt);
  return {
    rt,
    dispose: () => {
      rt.killAll();
      setDefaultRuntime(prev);
    },
  };
}

/**
 * Waits until `cond()` is true, checking every millisecond of real time; rejects with an
 * `Error` naming `what` after `timeoutMs` real ms (default 5000).
 */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}
