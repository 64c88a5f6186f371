/**
 * Spawn rate: `await GenServer.start` of 100k processes with a synchronous init, one after
 * another, in a fresh runtime each run.
 *
 * Raw baseline: 100k bare actors (bench/bare-actor.ts: a mailbox array, a drain closure, the
 * state from the same `init`) created and inserted in a Map under a numeric id — the least a
 * process table of real actors can do — measured interleaved with Spindle run by run. (It used
 * to be a plain `{ id, state }` object, which is no actor.)
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import { BareServer } from './bare-actor.js';
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

let keep: Map<number, BareServer<number>> | undefined;
const idleCall = idle.handleCall as (m: unknown, n: number) => [unknown, number];

function rawRun(): number {
  const t0 = now();
  const m = new Map<number, BareServer<number>>();
  for (let i = 0; i < N; i++) m.set(i, new BareServer(idle.init(undefined) as number, idleCall));
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
        baselineLabel: 'bare mailbox actor + Map insert',
        unit: 'spawn/s',
        checks: [{ label: '≥ 100 k/s', pass: spindle >= 100e3 }],
        samples,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
