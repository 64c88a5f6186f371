/**
 * Failure detection for a peer node: a φ-accrual detector (Hayashibara et al., as Akka and
 * Cassandra use it) over the arrival times of anything the peer sends, a hard cap on silence,
 * and a local-health guard. Pure: the caller passes the time, so tests need no clock.
 *
 * - Every received chunk is a heartbeat (data counts; ticks fill idle links).
 * - φ is the suspicion level: −log10 of the probability that a heartbeat would still arrive
 *   this late, given the recent intervals (a normal model with a floor on the deviation and
 *   an allowance for pauses). Above `threshold` the peer is suspected.
 * - Whatever φ says, silence longer than `maxSilenceMs` is suspicion (a hard bound on detection).
 * - The observer's own event-loop lag is subtracted first: a node whose loop was frozen does not
 *   accuse every peer when it wakes up (Lifeguard's local-health idea).
 */
import { checkDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../errors.js';

/** Options of a {@link PhiAccrualDetector}; every field is optional. */
export interface DetectorOptions {
  /** Intervals kept for the estimate; default 100. */
  readonly windowSize?: number;
  /** Floor of the interval standard deviation, in ms; default 100. */
  readonly minStdDevMs?: number;
  /** Pause tolerated on top of the mean interval (GC, a busy peer), in ms; default 1500. */
  readonly acceptablePauseMs?: number;
  /** φ above which the peer is suspected; default 10 (about one false suspicion in 10^10). */
  readonly threshold?: number;
  /** Silence after which the peer is suspected whatever φ says, in ms; default 4000. */
  readonly maxSilenceMs?: number;
  /** Expected interval before any has been seen (the tick period), in ms; default 500. */
  readonly firstIntervalMs?: number;
}

/** Why a peer is suspected, or undefined when it is not. */
export type Suspicion = 'phi' | 'max_silence' | undefined;

export class PhiAccrualDetector {
  readonly windowSize: number;
  readonly minStdDevMs: number;
  readonly acceptablePauseMs: number;
  readonly threshold: number;
  readonly maxSilenceMs: number;
  private readonly intervals: number[] = [];
  private next = 0;
  private sum = 0;
  private sumSq = 0;
  private last: number;

  /** `now` is the time the peer became known (its handshake), in ms on the caller's clock. */
  constructor(now: number, options: DetectorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('detector options', 'expected an object');
    const w = options.windowSize ?? 100;
    if (!Number.isInteger(w) || w < 2 || w > 10_000)
      throw new InvalidArgumentError('windowSize', `expected an integer from 2 to 10000, got ${String(w)}`);
    this.windowSize = w;
    this.minStdDevMs = checkDuration('minStdDevMs', options.minStdDevMs, 100, { min: 1, infinity: false });
    this.acceptablePauseMs = checkDuration('acceptablePauseMs', options.acceptablePauseMs, 1500, { infinity: false });
    this.maxSilenceMs = checkDuration('maxSilenceMs', options.maxSilenceMs, 4000, { min: 1 });
    const first = checkDuration('firstIntervalMs', options.firstIntervalMs, 500, { min: 1, infinity: false });
    const t = options.threshold ?? 10;
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0)
      throw new InvalidArgumentError('threshold', `expected a finite number > 0, got ${String(t)}`);
    this.threshold = t;
    if (!Number.isFinite(now)) throw new InvalidArgumentError('now', `expected a finite time, got ${String(now)}`);
    this.last = now;
    // Seed with the expected interval ± a quarter, so the first judgements are sane (as Akka).
    this.record(first - first / 4);
    this.record(first + first / 4);
  }

  /** Something arrived from the peer at `now`. A time before the last one is ignored. */
  heartbeat(now: number): void {
    if (!Number.isFinite(now) || now < this.last) return;
    this.record(now - this.last);
    this.last = now;
  }

  /** Milliseconds since the peer was last heard, less the observer's own lag (never negative). */
  silence(now: number, localLagMs = 0): number {
    const lag = Number.isFinite(localLagMs) && localLagMs > 0 ? localLagMs : 0;
    return Math.max(0, now - this.last - lag);
  }

  /** The suspicion level φ at `now` (0 right after a heartbeat; grows with silence). */
  phi(now: number, localLagMs = 0): number {
    const t = this.silence(now, localLagMs);
    const n = this.intervals.length;
    const mean = this.sum / n;
    const variance = Math.max(0, this.sumSq / n - mean * mean);
    const std = Math.max(Math.sqrt(variance), this.minStdDevMs);
    const y = (t - (mean + this.acceptablePauseMs)) / std;
    // Logistic approximation of the normal CDF's tail (as in Akka's detector).
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    const p = t > mean + this.acceptablePauseMs ? e / (1 + e) : 1 - 1 / (1 + e);
    if (p <= 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, -Math.log10(p));
  }

  /** Why the peer is suspected at `now`, or undefined while it is trusted. */
  judge(now: number, localLagMs = 0): Suspicion {
    if (this.silence(now, localLagMs) > this.maxSilenceMs) return 'max_silence';
    if (this.phi(now, localLagMs) > this.threshold) return 'phi';
    return undefined;
  }

  private record(interval: number): void {
    const a = this.intervals;
    if (a.length < this.windowSize) a.push(interval);
    else {
      const old = a[this.next] as number;
      this.sum -= old;
      this.sumSq -= old * old;
      a[this.next] = interval;
      this.next = (this.next + 1) % this.windowSize;
    }
    this.sum += interval;
    this.sumSq += interval * interval;
  }
}
