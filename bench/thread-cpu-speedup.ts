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
import type { Worker } from 'node:worker_threads';
import type { AnyRef, Ref } from '../src/index.js';
import { GenServer, currentRuntime, silentLogger } from '../src/index.js';
import { hash } from './hash-job.mjs';
import type { CpuProtocol } from './fixtures/thread-tree.js';
import { cpuServer } from './fixtures/thread-tree.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, pairedRatio } from './lib.js';
import { interleaved, startRawWorker, startThreadNode } from './thread-common.js';

const CALLS = 200;
const SERVERS = 2;
const JOB_MS = 5;

/** Repetitions of the 64 KB hash that take ≈JOB_MS on this machine now. */
function calibrate(): number {
  hash(64); // warm
  const perRep: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = now();
    hash(32);
    perRep.push((now() - t) / 32);
  }
  return Math.max(1, Math.round(JOB_MS / median(perRep)));
}

/** 200 calls at once over `refs`, round robin. Returns job/s. */
async function spindleRun(refs: AnyRef[], reps: number, expected: string): Promise<number> {
  const msg = { type: 'hash', reps } as const;
  const calls: Promise<string>[] = new Array(CALLS);
  const t0 = now();
  for (let i = 0; i < CALLS; i++) calls[i] = GenServer.call(refs[i % refs.length] as Ref<CpuProtocol>, msg, { timeout: 120_000 });
  const out = await Promise.all(calls);
  const rate = (CALLS * 1000) / (now() - t0);
  if (out.some((d) => d !== expected)) throw new Error('wrong digest');
  return rate;
}

/** The raw pool: 200 `{ id, reps }` messages posted at once, round robin over the workers. */
async function rawRun(workers: Worker[], reps: number, expected: string): Promise<number> {
  let left = CALLS;
  let bad = 0;
  const t0 = now();
  await new Promise<void>((resolve) => {
    const onReply = (m: { id: number; digest: string }): void => {
      if (m.digest !== expected) bad++;
      if (--left === 0) resolve();
    };
    for (const w of workers) w.on('message', onReply);
    for (let i = 0; i < CALLS; i++) (workers[i % workers.length] as Worker).postMessage({ id: i, reps });
  });
  const rate = (CALLS * 1000) / (now() - t0);
  for (const w of workers) w.removeAllListeners('message');
  if (bad > 0) throw new Error('raw pool: wrong digest');
  return rate;
}

export const scenario: Scenario = {
  name: 'thread-cpu-speedup',
  description: '200 × ≈5 ms sha256 calls over 2 GenServers: 2 thread subtrees vs main thread vs raw 2-worker pool',
  async run(opts) {
    const reps = calibrate();
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
      main: () => spindleRun(local, reps, expected),
      threads: () => spindleRun(node.refs, reps, expected),
      raw: () => rawRun(raw, reps, expected),
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
