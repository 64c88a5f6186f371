/**
 * Memory per idle GenServer: heapUsed after gc with 100k idle GenServers (state 0) minus
 * heapUsed after gc before starting them, per process. Run under `--expose-gc` (bench/run.ts
 * always does; run alone with `node --expose-gc --import tsx bench/idle-memory.ts`).
 *
 * Raw baseline: 100k idle bare actors (bench/bare-actor.ts: a mailbox array, a drain closure,
 * state 0) held in a Map, measured interleaved with Spindle run by run. (It used to be a plain
 * `{ id, state }` object, which is no actor.)
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import { BareServer } from './bare-actor.js';
import type { Scenario } from './lib.js';
import { freshRuntime, gc, mainIfEntry, median, paired } from './lib.js';

const N = 100_000;

const idle: GenServerBehavior<number> = {
  init: () => 0,
  handleCall: (_msg, n) => [n, n],
};

function heap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

async function spindleRun(): Promise<number> {
  freshRuntime();
  const before = heap();
  const rt = freshRuntime();
  for (let i = 0; i < N; i++) await GenServer.start(idle);
  const after = heap();
  if (rt.procs.size !== N) throw new Error('wrong size');
  freshRuntime();
  return (after - before) / N;
}

let keep: Map<number, BareServer<number>> | undefined;
const idleCall = idle.handleCall as (m: unknown, n: number) => [unknown, number];

function rawRun(): number {
  const before = heap();
  const m = new Map<number, BareServer<number>>();
  for (let i = 0; i < N; i++) m.set(i, new BareServer(0, idleCall));
  keep = m;
  const after = heap();
  const size = keep.size;
  keep = undefined;
  if (size !== N) throw new Error('wrong size');
  return (after - before) / N;
}

export const scenario: Scenario = {
  name: 'idle-memory',
  description: 'heap per idle GenServer, 100k of them, after gc',
  async run(opts) {
    if ((globalThis as { gc?: unknown }).gc === undefined) throw new Error('run with node --expose-gc');
    const samples = await paired({ runs: Math.min(opts.runs, 3), warmup: Math.min(opts.warmup, 1) }, spindleRun, rawRun);
    const spindle = median(samples.spindle);
    return [
      {
        scenario: 'memory per idle GenServer (100k)',
        spindle,
        baseline: median(samples.baseline),
        baselineLabel: 'bare mailbox actor in a Map',
        unit: 'B/proc',
        checks: [{ label: '≤ 100 MB / 100k', pass: spindle * N <= 100e6 }],
        samples,
        extra: { totalMB: (spindle * N) / 1e6 },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
