/**
 * Task: stateless jobs on a piscina pool. A TypeScript fixture (loaded in the pool threads
 * through tsx) is run by path; results, thrown errors, timeouts, aborts, close and parallel
 * jobs are checked. Timings are generous: the suite must pass on a loaded 2-core machine.
 */
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskPool } from '../../src/index.js';
import {
  Application,
  ErrorCode,
  InvalidArgumentError,
  NotCloneableError,
  RuntimeClosedError,
  Task,
  TaskAbortedError,
  TaskFailedError,
  TaskTimeoutError,
} from '../../src/index.js';
import type { add, fib, rich, sleep, spin } from '../fixtures/jobs.js';

const JOBS = new URL('../fixtures/jobs.ts', import.meta.url);

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('Task on an explicit pool', () => {
  let pool: TaskPool;
  beforeAll(() => {
    pool = Task.pool({ minThreads: 2, maxThreads: 2 });
  });
  afterAll(() => pool.close({ timeout: 0 }));

  it('runs a TypeScript export with its arguments and returns the result', async () => {
    const n = await pool.run<typeof fib>(JOBS, 'fib', [20]);
    expect(n).toBe(6765);
    expect(await pool.run<typeof add>(JOBS, 'add', [40, 2])).toBe(42);
    const r = await pool.run<typeof rich>(JOBS, 'rich', []);
    expect(r.map.get('a')).toBe(1);
    expect(r.when).toEqual(new Date(0));
    expect(r.big).toBe(10n ** 20n);
  });

  it('takes the module as a relative path, a file URL string or a URL', async () => {
    expect(await pool.run('test/fixtures/jobs.ts', 'add', [1, 2])).toBe(3);
    expect(await pool.run(JOBS.href, 'add', [1, 2])).toBe(3);
    expect(await pool.run(pathToFileURL(JOBS.pathname), 'add', [1, 2])).toBe(3);
  });

  it('rejects with TaskFailedError carrying the rebuilt error when the job throws', async () => {
    const e = await rejection(pool.run(JOBS, 'fail', ['boom']));
    expect(e).toBeInstanceOf(TaskFailedError);
    expect((e as TaskFailedError).code).toBe(ErrorCode.TASK_FAILED);
    expect(e.message).toContain('jobs.ts#fail');
    expect(e.message).toContain('boom');
    const cause = e.cause as Error & { code?: string };
    expect(cause.name).toBe('JobError');
    expect(cause.message).toBe('boom');
    expect(cause.code).toBe('E_JOB');
    expect(cause.stack).toContain('fail');
    expect((cause.cause as Error).message).toBe('inner cause');

    const later = await rejection(pool.run(JOBS, 'failLater', ['async boom']));
    expect(later).toBeInstanceOf(TaskFailedError);
    expect((later.cause as Error).message).toBe('async boom');

    const str = await rejection(pool.run(JOBS, 'throwString', []));
    expect(str).toBeInstanceOf(TaskFailedError);
    expect((str.cause as Error).message).toContain('just a string');
  });

  it('names a missing export, a non-function export and a missing module', async () => {
    const missing = await rejection(pool.run(JOBS, 'nope', []));
    expect(missing).toBeInstanceOf(TaskFailedError);
    expect(missing.message).toContain('"nope"');
    expect((missing.cause as Error).name).toBe('TypeError');

    const notFn = await rejection(pool.run(JOBS, 'notAFunction', []));
    expect(notFn).toBeInstanceOf(TaskFailedError);
    expect(notFn.message).toContain('"notAFunction"');

    const noModule = await rejection(pool.run('test/fixtures/no-such-module.ts', 'x', []));
    expect(noModule).toBeInstanceOf(TaskFailedError);
    expect((noModule.cause as { code?: string }).code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('rejects bad arguments with typed errors before anything is sent', async () => {
    expect(await rejection(pool.run(42 as unknown as string, 'fib', [1]))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.run('https://example.com/jobs.js', 'fib', [1]))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.run(JOBS, '', []))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.run(JOBS, 'fib', 5 as unknown as [number]))).toBeInstanceOf(InvalidArgumentError);
    expect(await rejection(pool.run(JOBS, 'fib', [1], { timeout: -1 }))).toBeInstanceOf(InvalidArgumentError);
    const clone = await rejection(pool.run(JOBS, 'add', [1, (() => 2) as unknown as number]));
    expect(clone).toBeInstanceOf(NotCloneableError);
    expect((clone as NotCloneableError).path).toBe('args[1]');
  });

  it('fails a job whose result cannot be cloned back, and keeps working', async () => {
    const e = await rejection(pool.run(JOBS, 'returnFunction', []));
    expect(e).toBeInstanceOf(TaskFailedError);
    expect(e.cause).toBeInstanceOf(NotCloneableError);
    expect((e.cause as NotCloneableError).path).toBe('result');
    const nested = await rejection(pool.run(JOBS, 'returnNested', []));
    expect((nested.cause as NotCloneableError).path).toBe('result.list[0].cb');
    expect(nested.message).toContain('result.list[0].cb is a function');
    expect(await pool.run(JOBS, 'add', [2, 3])).toBe(5);
  });

  it('times out with TaskTimeoutError and frees the thread', async () => {
    const t0 = Date.now();
    const e = await rejection(pool.run<typeof spin>(JOBS, 'spin', [30_000], { timeout: 300 }));
    expect(e).toBeInstanceOf(TaskTimeoutError);
    expect((e as TaskTimeoutError).timeoutMs).toBe(300);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // The spinning thread was terminated: the pool (2 threads) still runs two jobs at once.
    expect(await Promise.all([pool.run(JOBS, 'add', [1, 1]), pool.run(JOBS, 'add', [2, 2])])).toEqual([2, 4]);
  });

  it('aborts with TaskAbortedError through an AbortSignal', async () => {
    const ac = new AbortController();
    const job = pool.run<typeof sleep>(JOBS, 'sleep', [30_000], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user gave up')), 100);
    const e = await rejection(job);
    expect(e).toBeInstanceOf(TaskAbortedError);
    expect((e.cause as Error).message).toBe('user gave up');

    const pre = await rejection(pool.run(JOBS, 'add', [1, 2], { signal: AbortSignal.abort() }));
    expect(pre).toBeInstanceOf(TaskAbortedError);
    // A signal that never fires changes nothing.
    expect(await pool.run(JOBS, 'add', [1, 2], { signal: new AbortController().signal, timeout: 60_000 })).toBe(3);
  });

  it('runs jobs in parallel on the pool threads', async () => {
    const before = pool.stats().completed;
    const jobs = Array.from({ length: 8 }, (_, i) => pool.run<typeof fib>(JOBS, 'fib', [15 + (i % 3)]));
    expect(await Promise.all(jobs)).toEqual([610, 987, 1597, 610, 987, 1597, 610, 987]);
    const threads = new Set(await Promise.all(Array.from({ length: 6 }, () => pool.run<typeof spin>(JOBS, 'spin', [30]))));
    expect(threads.size).toBeGreaterThanOrEqual(1);
    expect(threads.size).toBeLessThanOrEqual(2);
    const s = pool.stats();
    expect(s.completed - before).toBe(14);
    expect(s.running).toBe(0);
    expect(s.queued).toBe(0);
    expect(s.threads).toBeLessThanOrEqual(2);
  });
});

describe('closing a pool', () => {
  it('lets submitted jobs finish, then rejects new ones with RuntimeClosedError', async () => {
    const pool = Task.pool({ maxThreads: 1 });
    const inFlight = pool.run<typeof sleep>(JOBS, 'sleep', [50]);
    const closed = pool.close();
    expect(await rejection(pool.run(JOBS, 'add', [1, 2]))).toBeInstanceOf(RuntimeClosedError);
    expect(await inFlight).toBe(50);
    await closed;
    expect(pool.stats().threads).toBe(0);
    expect(pool.close()).toBe(closed); // idempotent
  });

  it('cuts off unfinished jobs with RuntimeClosedError when the grace period ends', async () => {
    const pool = Task.pool({ maxThreads: 1 });
    expect(await pool.run(JOBS, 'add', [1, 2])).toBe(3); // the thread is up
    const running = rejection(pool.run<typeof spin>(JOBS, 'spin', [30_000]));
    const queued = rejection(pool.run<typeof add>(JOBS, 'add', [1, 2]));
    await pool.close({ timeout: 0 });
    expect(await running).toBeInstanceOf(RuntimeClosedError);
    expect(await queued).toBeInstanceOf(RuntimeClosedError);
    expect(pool.stats()).toMatchObject({ running: 0, threads: 0 });
  });
});

describe('the default pool', () => {
  it('runs jobs, closes with Task.closeDefault and restarts on the next run', async () => {
    expect(await Task.run<typeof add>(JOBS, 'add', [2, 2])).toBe(4);
    expect(Task.stats().completed).toBeGreaterThanOrEqual(1);
    await Task.closeDefault();
    expect(Task.stats()).toMatchObject({ completed: 0, threads: 0 });
    expect(await Task.run<typeof add>(JOBS, 'add', [3, 3])).toBe(6);
    await Task.closeDefault();
  });

  it("is closed by Application's stop", async () => {
    const app = await Application.start({ children: [] }, { signals: [] });
    expect(await Task.run<typeof add>(JOBS, 'add', [1, 1])).toBe(2);
    expect(Task.stats().threads).toBeGreaterThan(0);
    await app.stop();
    expect(Task.stats().threads).toBe(0);
  });
});
