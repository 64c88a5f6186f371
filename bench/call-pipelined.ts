/**
 * Pipelined calls: 100 calls outstanding at a time (`Promise.all` of a window of 100), 100k
 * calls per run; throughput in calls/s.
 *
 * Raw baseline: the same windows of calls on the in-thread actor floor (bench/bare-actor.ts:
 * a mailbox array drained in a microtask, replies carried through it), measured interleaved
 * with Spindle run by run. (It used to be `Promise.all` of an async function, no mailbox.)
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import { BareServer } from './bare-actor.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, paired } from './lib.js';

const WINDOW = 100;
const ROUNDS = 1000;
const CALLS = WINDOW * ROUNDS;

type EchoProtocol = { call: [number, number] };

const echo: GenServerBehavior<number, EchoProtocol> = {
  init: () => 0,
  handleCall: (msg, n) => [msg, n],
};

async function spindleRun(): Promise<number> {
  const ref = await GenServer.start(echo);
  const window: Promise<number>[] = new Array(WINDOW);
  let sum = 0;
  const t0 = now();
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < WINDOW; i++) window[i] = GenServer.call(ref, i);
    for (const v of await Promise.all(window)) sum += v;
  }
  const ms = now() - t0;
  if (sum !== (ROUNDS * WINDOW * (WINDOW - 1)) / 2) throw new Error('wrong replies');
  await GenServer.stop(ref);
  return (CALLS * 1000) / ms;
}

async function rawRun(): Promise<number> {
  const bare = new BareServer(0, echo.handleCall as (m: unknown, n: number) => [unknown, number]);
  const window: Promise<number>[] = new Array(WINDOW);
  let sum = 0;
  const t0 = now();
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < WINDOW; i++) window[i] = bare.call<number>(i);
    for (const v of await Promise.all(window)) sum += v;
  }
  const ms = now() - t0;
  if (sum !== (ROUNDS * WINDOW * (WINDOW - 1)) / 2) throw new Error('wrong replies');
  return (CALLS * 1000) / ms;
}

export const scenario: Scenario = {
  name: 'call-pipelined',
  description: '100 calls outstanding (Promise.all windows), 100k calls',
  async run(opts) {
    freshRuntime();
    const samples = await paired(opts, spindleRun, rawRun);
    return [
      {
        scenario: 'pipelined calls (100 outstanding)',
        spindle: median(samples.spindle),
        baseline: median(samples.baseline),
        baselineLabel: 'bare mailbox actor, same windows',
        unit: 'call/s',
        checks: [],
        samples,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
