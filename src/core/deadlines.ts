/**
 * Deadlines for pending calls without one timer per call. Calls with the same timeout expire
 * in the order they were made, so each distinct timeout value keeps a FIFO; one clock timer
 * is armed for the earliest head. Settled entries are dropped lazily from the heads, which
 * keeps the queues tiny when replies come back in order (the common case).
 */
import type { Clock, TimerHandle } from './clock.js';

/** Something that may time out. `expire` is called once if it is still unsettled at its deadline. */
export interface Expirable {
  settled: boolean;
  deadline: number;
  expire(): void;
}

class Fifo {
  items: Expirable[] = [];
  head = 0;
}

export class Deadlines {
  private readonly byTimeout = new Map<number, Fifo>();
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** Tracks `e`, which expires `timeoutMs` from now. */
  add(e: Expirable, timeoutMs: number): void {
    let q = this.byTimeout.get(timeoutMs);
    if (q === undefined) {
      q = new Fifo();
      this.byTimeout.set(timeoutMs, q);
    }
    this.trim(q);
    e.deadline = this.clock.now() + timeoutMs;
    q.items.push(e);
    if (e.deadline < this.timerAt) this.arm(e.deadline);
  }

  /** Number of tracked entries (settled ones not yet trimmed included). */
  get size(): number {
    let n = 0;
    for (const q of this.byTimeout.values()) n += q.items.length - q.head;
    return n;
  }

  /** Stops the timer; pending entries will never expire (used when the runtime closes). */
  close(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.byTimeout.clear();
  }

  private trim(q: Fifo): void {
    const items = q.items;
    while (q.head < items.length && (items[q.head] as Expirable).settled) {
      (items as unknown[])[q.head] = undefined;
      q.head++;
    }
    if (q.head === items.length) {
      items.length = 0;
      q.head = 0;
    } else if (q.head > 1024 && q.head * 2 > items.length) {
      q.items = items.slice(q.head);
      q.head = 0;
    }
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.max(0, at - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.fire(), Math.ceil(delay));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: Expirable[] = [];
    for (const [timeout, q] of this.byTimeout) {
      this.trim(q);
      while (q.head < q.items.length) {
        const e = q.items[q.head] as Expirable;
        if (e.settled) {
          q.head++;
          continue;
        }
        if (e.deadline > now) {
          next = Math.min(next, e.deadline);
          break;
        }
        expired.push(e);
        (q.items as unknown[])[q.head] = undefined;
        q.head++;
      }
      this.trim(q);
      if (q.items.length === 0) this.byTimeout.delete(timeout);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const e of expired) if (!e.settled) e.expire();
  }
}
