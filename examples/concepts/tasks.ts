/**
 * Task: stateless CPU jobs on a pool of worker threads. A job is an exported function of a
 * module, run by path and export name; arguments and result are structured-cloned. This file
 * is both the job module (its exports) and the program (the main-thread part at the bottom).
 *
 *   npx tsx examples/concepts/tasks.ts
 */
import { isMainThread } from 'node:worker_threads';
import { RuntimeClosedError, Task, TaskFailedError, TaskTimeoutError } from '../../src/index.js';

// ---- Jobs: plain exported functions. They run on pool threads, one call at a time per thread.

/** Counts the primes in [from, to) by trial division: a few ms of pure CPU per 100k numbers. */
export function countPrimes(from: number, to: number): number {
  let count = 0;
  for (let n = Math.max(2, from); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Rejects input it cannot handle: the caller gets a TaskFailedError with this as `cause`. */
export function parseRecord(line: string): { id: number; name: string } {
  const [id, name] = line.split(',');
  if (name === undefined || !/^\d+$/.test(id ?? '')) throw new SyntaxError(`bad record ${JSON.stringify(line)}`);
  return { id: Number(id), name };
}

/** Never finishes on its own (stands for a runaway job). */
export function spinForever(): never {
  for (;;) {}
}

// ---- The program. Pool threads import this file for the jobs above, so it runs only on main.
if (isMainThread) {
  const self = import.meta.url; // this module, as the jobs' module

  // 1. One job on the default pool (started on first use, one thread per core). The type
  //    argument checks the arguments and types the result.
  console.log('primes below 100k:', await Task.run<typeof countPrimes>(self, 'countPrimes', [0, 100_000]));

  // 2. Split a range into chunks: the jobs run in parallel on the pool's threads.
  const chunks = Array.from({ length: 8 }, (_, i) => [i * 50_000, (i + 1) * 50_000] as [number, number]);
  const t0 = performance.now();
  const counts = await Promise.all(chunks.map((range) => Task.run<typeof countPrimes>(self, 'countPrimes', range)));
  console.log(
    `primes below 400k: ${counts.reduce((a, b) => a + b, 0)} (8 jobs, ${(performance.now() - t0).toFixed(0)} ms, threads: ${Task.stats().threads})`,
  );

  // 3. A job that throws: TaskFailedError, with the job's own error (name, message) as cause.
  try {
    await Task.run<typeof parseRecord>(self, 'parseRecord', ['x,ada']);
  } catch (e) {
    if (e instanceof TaskFailedError) console.log(`${e.code}: ${e.message} (cause: ${(e.cause as Error).name})`);
  }

  // 4. A runaway job: the timeout terminates its thread (the pool starts another).
  try {
    await Task.run(self, 'spinForever', [], { timeout: 200 });
  } catch (e) {
    if (e instanceof TaskTimeoutError) console.log(`${e.code}: ${e.message}`);
  }

  // 5. An explicit pool: its own threads and counters; closing lets running jobs finish first.
  const pool = Task.pool({ maxThreads: 2 });
  console.log('record:', await pool.run<typeof parseRecord>(self, 'parseRecord', ['7,grace']));
  await pool.close();
  console.log('explicit pool:', pool.stats());
  try {
    await pool.run(self, 'countPrimes', [0, 10]);
  } catch (e) {
    if (e instanceof RuntimeClosedError) console.log(`after close -> ${e.code}`);
  }

  // Idle pool threads do not keep the process alive, but close the default pool when done
  // (Application's stop does it for you).
  await Task.closeDefault();
}
