/**
 * Task timeouts on real pool threads. Node clamps a timer past 2^31−1 ms to 1 ms, so a long
 * `timeout` used to cut a job off at once, and a long `close` grace period to terminate its
 * threads at once; `Infinity` was refused. Now long waits are as long as they say, Infinity is
 * no deadline, and 0 is a deadline already reached. No sleeps: each job's own length is the wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskPool } from '../../src/index.js';
import { Task, TaskTimeoutError } from '../../src/index.js';

const PLAIN = new URL('../fixtures/plain-jobs.mjs', import.meta.url);

describe('Task timeouts are durations', () => {
  let pool: TaskPool;
  beforeAll(() => {
    pool = Task.pool({ minThreads: 0, maxThreads: 1 });
  });
  afterAll(() => pool.close({ timeout: 0 }));

  it('a timeout past 2^31−1 ms, or Infinity, lets the job run to the end', async () => {
    expect(await pool.run(PLAIN, 'sleep', [60], { timeout: 2 ** 31 })).toBe(60);
    expect(await pool.run(PLAIN, 'sleep', [60], { timeout: 1e12 })).toBe(60);
    expect(await pool.run(PLAIN, 'sleep', [20], { timeout: Number.POSITIVE_INFINITY })).toBe(20);
  });

  it('a timeout of 0 rejects at once with TaskTimeoutError and never runs the job', async () => {
    const before = pool.stats();
    await expect(pool.run(PLAIN, 'sleep', [10_000], { timeout: 0 })).rejects.toBeInstanceOf(TaskTimeoutError);
    const after = pool.stats();
    expect(after.running).toBe(0);
    expect(after.completed).toBe(before.completed);
  });
});

describe('TaskPool.close grace period is a duration', () => {
  it('a grace period past 2^31−1 ms, or Infinity, lets the running job finish', async () => {
    for (const timeout of [2 ** 31, Number.POSITIVE_INFINITY]) {
      const pool = Task.pool({ minThreads: 0, maxThreads: 1, idleTimeout: timeout });
      // Submitted, not finished: close must give it the whole grace period.
      const job = pool.run(PLAIN, 'sleep', [80]);
      await pool.close({ timeout });
      expect(await job).toBe(80);
      expect(pool.stats().completed).toBeGreaterThanOrEqual(1);
    }
  });
});
