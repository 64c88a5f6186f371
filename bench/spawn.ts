/**
 * Spawn rate: `await GenServer.start` of 100k processes with a synchronous init, one after
 * another, in a fresh runtime each run.
 *
 * Raw baseline: 100k plain objects created and inserted in a Map (the least a process table
 * can do).
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, paired } from './lib.js';

const N = 100_000;

const idle: GenServerBehavior<number> = {
  init: () => 0,
  handleCall: (_msg, n) => [n, n],
};

async function spindleRun(): Promise<number> {
  const rt = freshRuntime();
  const t0 = now();
  for (let i = 0; i < N; i++) await GenServer.start(idle);
  const ms = now() - t0;
  if (rt.procs.size !== N) throw new Error(`expected ${N} processes, found ${rt.procs.size}`);
  freshRuntime();
  return (N * 1000) / ms;
}

let keep: Map<number, { id: number; state: number }> | undefined;

function rawRun(): number {
  const t0 = now();
  const m = new Map<number, { id: number; state: number }>();
  for (let i = 0; i < N; i++) m.set(i, { id: i, state: idle.init(undefined) as number });
  const ms = now() - t0;
  keep = m;
  if (keep.size !== N) throw new Error('wrong size');
  keep = undefined;
  return (N * 1000) / ms;
}

export const scenario: Scenario = {
  name: 'spawn',
  description: 'await GenServer.start of 100k processes (sync init)',
  async run(opts) {
    const samples = await paired(opts, spindleRun, rawRun);
    const spindle = median(samples.spindle);
    return [
      {
        scenario: 'spawn rate (100k GenServer.start)',
        spindle,
        baseline: median(samples.baseline),
        baselineLabel: 'object + Map insert',
        unit: 'spawn/s',
        checks: [{ label: '≥ 100 k/s', pass: spindle >= 100e3 }],
        samples,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
