/**
 * The redial schedule of a lost peer: exponential backoff from `reconnectBaseMs`, capped at
 * 5 s, each wait randomised from half to one and a half times (so a cluster does not redial
 * in lockstep). The dialling itself is tested with real nodes in in-process.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { redialDelay } from '../../src/cluster/cluster.js';

describe('redialDelay', () => {
  it('doubles per failed attempt from the base, up to the 5 s cap', () => {
    const mid = (attempts: number) => redialDelay(200, attempts, 0.5);
    expect([0, 1, 2, 3, 4, 5, 6].map(mid)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(mid(1_000_000)).toBe(5000); // no overflow however long the peer stays away
    expect(redialDelay(5000, 0, 0.5)).toBe(5000);
  });

  it('randomises each wait from 0.5x to 1.5x', () => {
    expect(redialDelay(200, 0, 0)).toBe(100);
    expect(redialDelay(200, 0, 0.999_999)).toBeCloseTo(300, 3);
    expect(redialDelay(200, 10, 0)).toBe(2500);
    expect(redialDelay(200, 10, 0.999_999)).toBeCloseTo(7500, 1);
    // Two nodes that lost the same peer at the same moment wait different times.
    const waits = new Set(Array.from({ length: 20 }, () => redialDelay(200, 3, Math.random())));
    expect(waits.size).toBeGreaterThan(1);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(800);
      expect(w).toBeLessThan(2400);
    }
  });
});
