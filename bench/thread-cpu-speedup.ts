/**
 * CPU-bound GenServers on worker threads: two servers whose every call hashes a 64 KB buffer
 * for ≈5 ms (bench/hash-job.mjs, repetitions calibrated at start), each in its own thread
 * subtree, against the same two servers on the main thread. Each run issues 200 calls at
 * once, spread evenly over both servers, and times until the last reply.
 *
 * Rows:
 * - speedup: thread subtrees vs the same GenServers on the main thread (target ≥ 1.85× on
 *   2 cores);
 * - overhead: thread subtrees vs a raw hand-written pool of 2 plain workers (postMessage of
 *   `{ id, reps }`, same job, same 200 jobs in flight) (target ≥ 90 % of raw).
 * The whole curve over 1…N threads, each beside a raw pool as wide: thread-speedup.
 */
import { availableParallelism } from 'node:os';
import type { AnyRef } from '../src/index.js';
import { GenServer, currentRuntime, silentLogger } from '../src/index.js';
import { hash } from './hash-job.mjs';
import { calibrate, rawRun, spindleRun } from './cpu-job.js';
import { cpuServer } from './fixtures/thread-tree.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, pairedRatio } from './lib.js';
import { interleaved, startRawWorker, startThreadNode } from './thread-common.js';

const CALLS = 200;
const SERVERS = 2;
const JOB_MS = 5;

export const scenario: Scenario = {
  name: 'thread-cpu-speedup',
  description: '200 × ≈5 ms sha256 calls over 2 GenServers: 2 thread subtrees vs main thread vs raw 2-worker pool',
  async run(opts) {
    const reps = calibrate(JOB_MS);
    const expected = hash(reps);

    const node = await startThreadNode([
      { kind: 'cpu', name: 'cpu1' },
      { kind: 'cpu', name: 'cpu2' },
    ]);
    const rt = currentRuntime();
    rt.logger = silentLogger;
    const local: AnyRef[] = [];
    for (let i = 0; i < SERVERS; i++) local.push(await GenServer.start(cpuServer));
    const raw = await Promise.all([startRawWorker('hash'), startRawWorker('hash')]);

    const samples = await interleaved(opts, {
      main: () => spindleRun(local, reps, expected, CALLS),
      threads: () => spindleRun(node.refs, reps, expected, CALLS),
      raw: () => rawRun(raw, reps, expected, CALLS),
    });

    await node.stop();
    await Promise.all(raw.map((w) => w.terminate()));
    for (const r of local) await GenServer.stop(r);
    freshRuntime();

    const threads = median(samples.threads);
    const main = median(samples.main);
    const rawRate = median(samples.raw);
    const vsMain = { spindle: samples.threads, baseline: samples.main };
    const vsRaw = { spindle: samples.threads, baseline: samples.raw };
    const speedup = pairedRatio(vsMain) ?? 0;
    const extra = { reps, jobMs: JOB_MS, calls: CALLS, servers: SERVERS, cores: availableParallelism() };
    return [
      {
        scenario: `thread CPU speedup (2 subtrees, ${CALLS} × ≈${JOB_MS} ms calls)`,
        spindle: threads,
        baseline: main,
        baselineLabel: 'same GenServers on main thread',
        unit: 'job/s',
        ratioAs: 'times',
        ratioOf: 'main thread',
        checks: [{ label: '≥ 1.85× main thread', pass: speedup >= 1.85 }],
        samples: vsMain,
        extra,
      },
      {
        scenario: `thread CPU throughput vs raw pool (${CALLS} × ≈${JOB_MS} ms)`,
        spindle: threads,
        baseline: rawRate,
        baselineLabel: 'raw 2-worker postMessage pool',
        unit: 'job/s',
        checks: [{ label: '≥ 90% of raw', pass: (pairedRatio(vsRaw) ?? 0) >= 0.9 }],
        samples: vsRaw,
        extra,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
