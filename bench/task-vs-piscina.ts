/**
 * Task throughput: the same stateless jobs run through Spindle's `Task` API (a TaskPool) and
 * through a raw piscina pool that loads the job module directly, with the same thread count
 * (`os.availableParallelism()`, all started and warm before timing). Each run submits a burst
 * of jobs at once and times until the last settles.
 *
 * Rows:
 * - a coarse CPU job (SHA-256 of a 64 KB buffer, 64 times: a few ms): what Task is for; the
 *   ratio should be ~100%;
 * - a trivial job (`inc(n)`): the pure per-job cost of each layer.
 *
 * Raw baseline: `new Piscina({ filename: bench/hash-job.mjs, name })` (piscina defaults
 * otherwise), `pool.run(args)`, run by run alternately with Task (A/B/A/B). The targets are
 * checked on the paired ratio (median of per-pair ratios), the figure the ratio column shows.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Task } from '../src/index.js';
import type { Scenario } from './lib.js';
import { mainIfEntry, median, now, paired, pairedRatio } from './lib.js';

const JOB_MODULE = new URL('./hash-job.mjs', import.meta.url);
const REPS = 64;
const CPU_JOBS = 300;
const TRIVIAL_JOBS = 20_000;

type HashFn = (reps: number) => string;
type IncFn = (n: number) => number;

export const scenario: Scenario = {
  name: 'task-vs-piscina',
  description: 'stateless jobs through Task vs a raw piscina pool, same threads and job code',
  async run(opts) {
    const threads = availableParallelism();
    const task = Task.pool({ minThreads: threads, maxThreads: threads });
    const hashPool = new Piscina<number, string>({ filename: JOB_MODULE.href, name: 'hash', minThreads: threads, maxThreads: threads });
    const incPool = new Piscina<number, number>({ filename: JOB_MODULE.href, name: 'inc', minThreads: threads, maxThreads: threads });

    // Load the module on every thread of each pool before anything is timed.
    const warm = Array.from({ length: threads * 4 }, (_, i) => i);
    await Promise.all(warm.map(() => task.run<HashFn>(JOB_MODULE, 'hash', [1])));
    await Promise.all(warm.map(() => hashPool.run(1)));
    await Promise.all(warm.map(() => incPool.run(1)));

    // One job alone on the main thread, for the record.
    const { hash } = (await import(JOB_MODULE.href)) as { hash: HashFn };
    const t0 = now();
    const expected = hash(REPS);
    const jobMs = now() - t0;

    const cpu = await paired(
      opts,
      async () => {
        const t = now();
        const out = await Promise.all(Array.from({ length: CPU_JOBS }, () => task.run<HashFn>(JOB_MODULE, 'hash', [REPS])));
        const s = (CPU_JOBS * 1000) / (now() - t);
        if (out.some((d) => d !== expected)) throw new Error('Task: wrong digest');
        return s;
      },
      async () => {
        const t = now();
        const out = await Promise.all(Array.from({ length: CPU_JOBS }, () => hashPool.run(REPS)));
        const s = (CPU_JOBS * 1000) / (now() - t);
        if (out.some((d) => d !== expected)) throw new Error('piscina: wrong digest');
        return s;
      },
    );

    const trivial = await paired(
      opts,
      async () => {
        const t = now();
        const out = await Promise.all(Array.from({ length: TRIVIAL_JOBS }, (_, i) => task.run<IncFn>(JOB_MODULE, 'inc', [i])));
        const s = (TRIVIAL_JOBS * 1000) / (now() - t);
        if (out[TRIVIAL_JOBS - 1] !== TRIVIAL_JOBS) throw new Error('Task: wrong sum');
        return s;
      },
      async () => {
        const t = now();
        const out = await Promise.all(Array.from({ length: TRIVIAL_JOBS }, (_, i) => incPool.run(i)));
        const s = (TRIVIAL_JOBS * 1000) / (now() - t);
        if (out[TRIVIAL_JOBS - 1] !== TRIVIAL_JOBS) throw new Error('piscina: wrong sum');
        return s;
      },
    );

    await Promise.all([task.close({ timeout: 0 }), hashPool.destroy(), incPool.destroy()]);

    const cpuS = median(cpu.spindle);
    const cpuB = median(cpu.baseline);
    const trivS = median(trivial.spindle);
    const trivB = median(trivial.baseline);
    return [
      {
        scenario: `Task: CPU job (sha256 64 KB ×${REPS}), ${threads} threads`,
        spindle: cpuS,
        baseline: cpuB,
        baselineLabel: 'raw piscina, same job',
        unit: 'job/s',
        ratioOf: 'piscina',
        checks: [{ label: '≥ 90% of piscina', pass: (pairedRatio(cpu) ?? 0) >= 0.9 }],
        samples: cpu,
        extra: { threads, jobsPerRun: CPU_JOBS, jobMsOnMainThread: jobMs },
      },
      {
        scenario: `Task: trivial job (n + 1), ${threads} threads`,
        spindle: trivS,
        baseline: trivB,
        baselineLabel: 'raw piscina, same job',
        unit: 'job/s',
        ratioOf: 'piscina',
        checks: [{ label: '≥ 70% of piscina', pass: (pairedRatio(trivial) ?? 0) >= 0.7 }],
        samples: trivial,
        extra: { threads, jobsPerRun: TRIVIAL_JOBS },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
