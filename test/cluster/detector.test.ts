/** The φ-accrual failure detector: pure, so time is just a number here. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhiAccrualDetector } from '../../src/cluster/detector.js';
import { InvalidArgumentError } from '../../src/index.js';

/** A detector fed `n` heartbeats every `every` ms (± jitter); returns it and the last beat's time. */
function regular(n: number, every = 500, jitter = 0, seed = 1): { d: PhiAccrualDetector; last: number } {
  const d = new PhiAccrualDetector(0);
  let t = 0;
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    t += every + ((s % 1000) / 1000 - 0.5) * 2 * jitter;
    d.heartbeat(t);
  }
  return { d, last: t };
}

describe('PhiAccrualDetector', () => {
  it('never suspects a peer that ticks regularly, just before each next tick', () => {
    const d = new PhiAccrualDetector(0);
    let t = 0;
    for (let i = 0; i < 1000; i++) {
      expect(d.judge(t + 499)).toBeUndefined();
      t += 500;
      d.heartbeat(t);
    }
  });

  it('suspects a silent peer by φ after about 2.6 s with the defaults (500 ms ticks), before the hard cap', () => {
    const { d, last } = regular(200, 500, 50);
    expect(d.judge(last + 2000)).toBeUndefined();
    expect(d.phi(last + 2000)).toBeLessThan(10);
    expect(d.judge(last + 3000)).toBe('phi');
    expect(d.phi(last + 3000)).toBeGreaterThan(10);
  });

  it('suspects by the hard cap whatever φ says', () => {
    const d = new PhiAccrualDetector(0, { acceptablePauseMs: 60_000 });
    for (let t = 500; t <= 50_000; t += 500) d.heartbeat(t);
    expect(d.judge(50_000 + 3_999)).toBeUndefined();
    expect(d.judge(50_000 + 4_001)).toBe('max_silence');
  });

  it("subtracts the observer's own loop lag: a frozen observer does not accuse its peers", () => {
    const { d, last } = regular(100);
    expect(d.judge(last + 5000)).toBe('max_silence');
    expect(d.judge(last + 5000, 4500)).toBeUndefined();
    expect(d.silence(last + 100, 1000)).toBe(0);
    expect(d.judge(last + 5000, Number.NaN)).toBe('max_silence');
  });

  it('φ grows with silence (monotone), and is about 0 right after a heartbeat', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.integer({ min: 10, max: 2000 }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (n, every, a, b) => {
          const { d, last } = regular(n, every, every / 10);
          const [x, y] = a < b ? [a, b] : [b, a];
          expect(d.phi(last + x)).toBeLessThanOrEqual(d.phi(last + y));
          expect(d.phi(last)).toBeLessThan(0.01);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ignores heartbeats that are not finite or go back in time', () => {
    const d = new PhiAccrualDetector(1000);
    d.heartbeat(Number.NaN);
    d.heartbeat(500);
    d.heartbeat(Number.POSITIVE_INFINITY);
    expect(d.silence(2000)).toBe(1000);
  });

  it('a maxSilenceMs of Infinity leaves φ alone to decide', () => {
    const d = new PhiAccrualDetector(0, { maxSilenceMs: Number.POSITIVE_INFINITY });
    expect(d.judge(1e9)).toBe('phi');
  });

  it('refuses bad options with InvalidArgumentError naming them', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ windowSize: 1 }, 'windowSize'],
      [{ windowSize: 2.5 }, 'windowSize'],
      [{ minStdDevMs: 0 }, 'minStdDevMs'],
      [{ minStdDevMs: Number.NaN }, 'minStdDevMs'],
      [{ acceptablePauseMs: -1 }, 'acceptablePauseMs'],
      [{ acceptablePauseMs: Number.POSITIVE_INFINITY }, 'acceptablePauseMs'],
      [{ maxSilenceMs: 0 }, 'maxSilenceMs'],
      [{ maxSilenceMs: '4000' }, 'maxSilenceMs'],
      [{ threshold: 0 }, 'threshold'],
      [{ threshold: Number.POSITIVE_INFINITY }, 'threshold'],
      [{ firstIntervalMs: 0 }, 'firstIntervalMs'],
    ];
    for (const [options, name] of bad) {
      let err: unknown;
      try {
        new PhiAccrualDetector(0, options as never);
      } catch (e) {
        err = e;
      }
      expect(InvalidArgumentError.is(err), name).toBe(true);
      expect((err as InvalidArgumentError).argument).toBe(name);
    }
    expect(() => new PhiAccrualDetector(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => new PhiAccrualDetector(0, null as never)).toThrow(InvalidArgumentError);
  });
});
