/**
 * Speedup over 1, 2, … N threads: the CPU-bound GenServer of thread-cpu-speedup (every call
 * hashes a 64 KB buffer for ≈5 ms, bench/hash-job.mjs, calibrated at start), one per thread
 * subtree, with N = os.availableParallelism() (at least 2, at most 16). For n threads a run
 * issues `CALLS` calls at once round robin over the first n servers and times until the last
 * reply. N subtrees and N raw workers are started before anything is timed; idle ones cost
 * nothing.
 *
 * Raw baseline at the same n: a hand-written pool of n plain workers (postMessage of
 * `{ id, reps }`, the same job), measured interleaved with Spindle: each round runs Spindle
 * and raw for every n.
 *
 * Rows: one per n (job/s, Spindle vs raw pool), then N threads vs 1 thread (both Spindle). `extra.speedup` is Spindle at n over Spindle
 * at 1 thread (paired by round), `extra.rawSpeedup` the same for the pool, `extra.ideal` = n.
 * The last row's `extra.series` holds the whole curve (the report's speedup chart). Beyond 8
 * threads only 12 and 16 are measured, besides N.
 */
import { availableParallelism } from 'node:os';
import { hash } from './hash-job.mjs';
import { calibrate, rawRun, spindleRun } from './cpu-job.js';
import type { Row, Scenario } from './lib.js';
import { mainIfEntry, median, pairedRatio } from './lib.js';
import { interleaved, startRawWorker, startThreadNode } from './thread-common.js';

const JOB_MS = 5;
const MAX_THREADS = Math.min(16, Math.max(2, availableParallelism()));
/** Enough calls that every thread gets ≥ 25 even at N = 16. */
const CALLS = Math.max(200, 25 * MAX_THREADS);

/** 1…N, thinned above 8. */
const COUNTS = [...new Set([1, 2, 3, 4, 5, 6, 7, 8, 12, 16, MAX_THREADS].filter((n) => n <= MAX_THREADS))].sort((a, b) => a - b);

export const scenario: Scenario = {
  name: 'thread-speedup',
  description: `≈${JOB_MS} ms sha256 calls over 1…${MAX_THREADS} GenServer thread subtrees vs raw pools of as many workers`,
  async run(opts) {
    const reps = calibrate(JOB_MS);
    const expected = hash(reps);
    const node = await startThreadNode(Array.from({ length: MAX_THREADS }, (_, i) => ({ kind: 'cpu' as const, name: `cpu${i + 1}` })));
    const raw = await Promise.all(Array.from({ length: MAX_THREADS }, () => startRawWorker('hash')));
    // Every thread has run the job before timing (JIT, module state).
    await spindleRun(node.refs, reps, expected, CALLS);
    await rawRun(raw, reps, expected, CALLS);

    const variants: Record<string, () => Promise<number>> = {};
    for (const n of COUNTS) {
      variants[`s${n}`] = () => spindleRun(node.refs.slice(0, n), reps, expected, CALLS);
      variants[`r${n}`] = () => rawRun(raw.slice(0, n), reps, expected, CALLS);
    }
    const samples = await interleaved(opts, variants);
    await node.stop();
    await Promise.all(raw.map((w) => w.terminate()));

    const s1 = samples.s1 as number[];
    const r1 = samples.r1 as number[];
    const series = COUNTS.map((n) => {
      const s = samples[`s${n}`] as number[];
      const r = samples[`r${n}`] as number[];
      return {
        threads: n,
        spindle: median(s),
        raw: median(r),
        speedup: pairedRatio({ spindle: s, baseline: s1 }) ?? Number.NaN,
        rawSpeedup: pairedRatio({ spindle: r, baseline: r1 }) ?? Number.NaN,
        ideal: n,
      };
    });
    const cores = availableParallelism();
    const rows = series.map((p, i): Row => {
      const s = samples[`s${p.threads}`] as number[];
      const r = samples[`r${p.threads}`] as number[];
      const last = i === series.length - 1;
      return {
        scenario: `thread speedup, ${p.threads} thread${p.threads === 1 ? '' : 's'} (${CALLS} × ≈${JOB_MS} ms calls)`,
        spindle: p.spindle,
        baseline: p.raw,
        baselineLabel: `raw ${p.threads}-worker postMessage pool`,
        unit: 'job/s',
        // At N (≤ the cores) the subtrees should keep up with the raw pool, as thread-cpu-speedup asks at 2.
        checks: last && p.threads <= cores ? [{ label: '≥ 90% of raw', pass: (pairedRatio({ spindle: s, baseline: r }) ?? 0) >= 0.9 }] : [],
        samples: { spindle: s, baseline: r },
        extra: {
          chart: 'speedup',
          threads: p.threads,
          speedup: p.speedup,
          rawSpeedup: p.rawSpeedup,
          ideal: p.ideal,
          reps,
          jobMs: JOB_MS,
          calls: CALLS,
          cores,
          ...(last ? { series } : {}),
        },
      };
    });
    // The curve's end as its own row: N threads against 1, both Spindle, paired by round.
    const top = series[series.length - 1] as (typeof series)[number];
    rows.push({
      scenario: `thread speedup, ${top.threads} threads vs 1 (${CALLS} × ≈${JOB_MS} ms calls)`,
      spindle: top.spindle,
      baseline: series[0]?.spindle ?? Number.NaN,
      baselineLabel: 'same GenServer job on 1 thread subtree',
      unit: 'job/s',
      ratioAs: 'times',
      ratioOf: '1 thread',
      checks: [],
      samples: { spindle: samples[`s${top.threads}`] as number[], baseline: s1 },
      extra: { threads: top.threads, ideal: top.threads, rawSpeedup: top.rawSpeedup, cores },
    });
    return rows;
  },
};

mainIfEntry(scenario, import.meta.url);
