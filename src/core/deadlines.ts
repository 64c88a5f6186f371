/**
 * Deadlines for pending calls without one timer per call. Calls with the same timeout expire
 * in the order they were made, so each distinct timeout value keeps a FIFO; one clock timer
 * is armed for the earliest head. Settled entries are dropped lazily from the heads, which
 * keeps the queues tiny when replies come back in order (the common case).
 *
 * With the real clock, the calls made in one run of microtasks share one reading of it, taken
 * in a microtask after them: a deadline is stamped a little late, never early (a call never
 * times out before its timeout has passed, as with Node's timers), and a pipeline of calls
 * does not read the clock once per call (~45 ns each, a tenth of a cross-thread call's cost).
 * An injected clock is read at once for each call, so a test that advances it right after a
 * call sees the exact deadline.
 */
import type { Clock, TimerHandle } from './clock.js';
import { realClock } from './clock.js';

/** Something that may time out. `expire` is called once if it is still unsettled at its deadline. */
export interface Expirable {
  settled: boolean;
  deadline: number;
  expire(): void;
}

/**
 * Entries in items[head, tail); those from `stamped` on still wait for their deadline (NaN).
 * The array is reused when it empties (no `length = 0`).
 */
class Fifo {
  items: Expirable[] = [];
  head = 0;
  tail = 0;
  stamped = 0;
}

const resolved = Promise.resolve();

export class Deadlines {
  private readonly byTimeout = new Map<number, Fifo>();
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** The queue `add` used last (nearly every call uses the same timeout): skips the map lookup. */
  private lastTimeout = Number.NaN;
  private lastQueue: Fifo | undefined;
  /** Tracked entries not yet settled: the timer holds the process open only while this is > 0. */
  private live = 0;

  /** Deadlines are stamped once per run of microtasks (real clock only, see the module comment). */
  private readonly lazy: boolean;
  private stampQueued = false;

  constructor(private readonly clock: Clock) {
    this.lazy = clock === realClock;
  }

  /**
   * Tracks `e`, which expires `timeoutMs` from now (a duration, see duration.ts). An infinite
   * timeout is no deadline: nothing is tracked, no timer armed. A long one arms one clock
   * timer for its full length (the clock, not this class, handles delays past Node's limit),
   * so a call waiting days costs one timer, not one wake-up per millisecond.
   */
  add(e: Expirable, timeoutMs: number): void {
    if (timeoutMs === Number.POSITIVE_INFINITY) return;
    let q = this.lastQueue;
    if (q === undefined || this.lastTimeout !== timeoutMs) {
      q = this.byTimeout.get(timeoutMs);
      if (q === undefined) {
        q = new Fifo();
        this.byTimeout.set(timeoutMs, q);
      }
      this.lastTimeout = timeoutMs;
      this.lastQueue = q;
    }
    this.trim(q);
    if (this.live++ === 0 && this.timer !== undefined) (this.timer as { ref?: () => void }).ref?.();
    const items = q.items;
    const t = q.tail;
    if (t < items.length) items[t] = e;
    else items.push(e);
    q.tail = t + 1;
    if (this.lazy) {
      e.deadline = Number.NaN;
      if (!this.stampQueued) {
        this.stampQueued = true;
        void resolved.then(this.stamp);
      }
      return;
    }
    e.deadline = this.clock.now() + timeoutMs;
    q.stamped = t + 1;
    if (e.deadline < this.timerAt) this.arm(e.deadline);
  }

  /** Gives the calls added since the last stamp their deadline: one clock reading for all. */
  private readonly stamp = (): void => {
    this.stampQueued = false;
    const now = this.clock.now();
    let earliest = Number.POSITIVE_INFINITY;
    for (const [timeout, q] of this.byTimeout) {
      const items = q.items;
      const from = Math.max(q.stamped, q.head);
      if (from >= q.tail) continue;
      const deadline = now + timeout;
      for (let i = from; i < q.tail; i++) (items[i] as Expirable).deadline = deadline;
      q.stamped = q.tail;
      if (deadline < earliest) earliest = deadline;
    }
    if (earliest < this.timerAt) this.arm(earliest);
  };

  /** A tracked entry settled (reply, error or expiry). */
  done(): void {
    if (--this.live === 0 && this.timer !== undefined) (this.timer as { unref?: () => void }).unref?.();
  }

  /** Number of tracked entries (settled ones not yet trimmed included). */
  get size(): number {
    let n = 0;
    for (const q of this.byTimeout.values()) n += q.tail - q.head;
    return n;
  }

  /** Stops the timer; pending entries will never expire (used when the runtime closes). */
  close(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.byTimeout.clear();
    this.lastQueue = undefined;
    this.live = 0;
  }

  private trim(q: Fifo): void {
    const items = q.items;
    let h = q.head;
    const t = q.tail;
    while (h < t && (items[h] as Expirable).settled) {
      (items as unknown[])[h] = undefined;
      h++;
    }
    if (h === t) {
      q.head = 0;
      q.tail = 0;
      q.stamped = 0;
      if (items.length > 1024) q.items = [];
    } else if (h > 1024 && h * 2 > t) {
      q.items = items.slice(h, t);
      q.head = 0;
      q.tail = t - h;
      q.stamped = q.stamped > h ? q.stamped - h : 0;
    } else q.head = h;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.max(0, at - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.fire(), Math.ceil(delay));
    // Settled entries are dropped lazily, so this timer may outlive every pending call: it
    // holds the process open only while some call is unsettled (a call always settles, by
    // timeout at the latest), never after the last reply.
    if (this.live === 0) (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: Expirable[] = [];
    for (const [timeout, q] of this.byTimeout) {
      this.trim(q);
      while (q.head < q.tail) {
        const e = q.items[q.head] as Expirable;
        if (e.settled) {
          (q.items as unknown[])[q.head] = undefined;
          q.head++;
          continue;
        }
        // Not due yet, or not stamped yet (NaN: its stamp is queued and arms the timer).
        if (!(e.deadline <= now)) {
          if (e.deadline > now) next = Math.min(next, e.deadline);
          break;
        }
        expired.push(e);
        (q.items as unknown[])[q.head] = undefined;
        q.head++;
      }
      this.trim(q);
      if (q.tail === 0) {
        this.byTimeout.delete(timeout);
        if (this.lastQueue === q) this.lastQueue = undefined;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const e of expired) if (!e.settled) e.expire();
  }
}
