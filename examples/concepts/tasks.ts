/**
 * Task, both kinds. Elixir-style tasks (`Task.async`/`await`, `Task.Supervisor`) are
 * processes on this thread, for concurrent I/O; pool jobs (`Task.run`) run a module's export
 * on worker threads, for CPU work. This file is both the job module (its exports) and the
 * program (the main-thread part at the bottom).
 *
 *   npx tsx examples/concepts/tasks.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import {
  formatReason,
  GenServer,
  Process,
  RuntimeClosedError,
  Task,
  TaskExitedError,
  TaskFailedError,
  TaskTimeoutError,
} from '../../src/index.js';

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
  // ==== Part 1: Elixir-style tasks: processes on this thread, for concurrency and I/O.

  /** Stands for an I/O call (an HTTP request, a query). */
  const fetchUser = async (id: number) => {
    await sleep(20);
    return { id, name: `user-${id}` };
  };

  // 1. Task.async starts the function in its own process; Task.await takes its result.
  //    The two lookups run at the same time.
  const a = Task.async(() => fetchUser(1));
  const b = Task.async(() => fetchUser(2));
  console.log('users:', await Task.await(a), await Task.await(b));

  // 2. A task that throws: await rejects with TaskExitedError, the thrown error as cause.
  //    (Started outside any process, it is linked to nothing; the crash report is expected.)
  try {
    await Task.await(Task.async(() => fetchUser(3).then(() => Promise.reject(new Error('user 3 is gone')))));
  } catch (e) {
    if (e instanceof TaskExitedError) console.log(`${e.code}: cause ${(e.cause as Error).message}`);
  }

  // 3. Task.yield polls without giving up; Task.shutdown stops a task (its signal aborts).
  const slow = Task.async((signal) => sleep(60_000, 'late', { signal }).catch(() => 'aborted'));
  console.log('yield after 10 ms:', await Task.yield(slow, 10)); // undefined: still running
  console.log('shutdown:', await Task.shutdown(slow)); // undefined: it had not finished

  // 4. Inside a process, Task.async links the task to it: a crash takes the caller down.
  const caller = await GenServer.start<null, { cast: 'go' }>({
    init: () => null,
    handleCast: (_msg, s) => {
      Task.async(() => {
        throw new Error('linked crash');
      });
      return s;
    },
  });
  const callerExit = Process.awaitExit(caller);
  GenServer.cast(caller, 'go');
  console.log('the caller exited with', formatReason(await callerExit));

  // 5. A Task.Supervisor: asyncNolink keeps a crash away from the caller; asyncStream maps
  //    items through tasks, at most maxConcurrency at once, results in item order.
  const tasks = await Task.Supervisor.start();
  const nolink = await Task.Supervisor.asyncNolink(tasks, () => {
    throw new Error('contained');
  });
  const outcome = await Task.yield(nolink); // { exit: { error } }; the caller lives on
  console.log('asyncNolink:', outcome !== undefined && 'exit' in outcome ? formatReason(outcome.exit) : outcome);
  const users = Task.Supervisor.asyncStream(tasks, [1, 2, 3, 4], fetchUser, { maxConcurrency: 2 });
  for await (const r of users) {
    console.log('stream:', r); // { ok: { id, name } }, in item order
  }
  await Task.Supervisor.stop(tasks);

  // ==== Part 2: pool jobs: CPU work on worker threads.
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
