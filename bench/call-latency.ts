/**
 * Sequential call latency: `await GenServer.call` in a loop, one call outstanding at a time.
 * Timed per batch of 1000 calls; the figure is the median batch / 1000.
 *
 * Raw baseline: the same loop over `await asyncFn()` (an async function returning at once).
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, paired, percentile } from './lib.js';

const BATCH = 1000;
const BATCHES = 100;

type EchoProtocol = { call: [number, number] };

const echo: GenServerBehavior<number, EchoProtocol> = {
  init: () => 0,
  handleCall: (msg, n) => [msg, n],
};

const asyncFn = async (x: number): Promise<number> => x;

/** Per-batch ns/call for every batch of one run. */
async function spindleBatches(): Promise<number[]> {
  const ref = await GenServer.start(echo);
  const out: number[] = [];
  let sum = 0;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = now();
    for (let i = 0; i < BATCH; i++) sum += await GenServer.call(ref, i);
    out.push(((now() - t0) * 1e6) / BATCH);
  }
  if (sum !== (BATCHES * BATCH * (BATCH - 1)) / 2) throw new Error('wrong replies');
  await GenServer.stop(ref);
  return out;
}

async function rawBatches(): Promise<number[]> {
  const out: number[] = [];
  let sum = 0;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = now();
    for (let i = 0; i < BATCH; i++) sum += await asyncFn(i);
    out.push(((now() - t0) * 1e6) / BATCH);
  }
  if (sum !== (BATCHES * BATCH * (BATCH - 1)) / 2) throw new Error('wrong replies');
  return out;
}

export const scenario: Scenario = {
  name: 'call-latency',
  description: 'sequential await GenServer.call, median of 1000-call batches',
  async run(opts) {
    freshRuntime();
    const all = { spindle: [] as number[], baseline: [] as number[] };
    const samples = await paired(
      opts,
      async () => {
        const b = await spindleBatches();
        all.spindle.push(...b);
        return median(b);
      },
      async () => {
        const b = await rawBatches();
        all.baseline.push(...b);
        return median(b);
      },
    );
    const spindle = median(samples.spindle);
    const baseline = median(samples.baseline);
    return [
      {
        scenario: 'sequential call latency (median)',
        spindle,
        baseline,
        baselineLabel: 'await asyncFn()',
        unit: 'ns/call',
        checks: [{ label: '≤ 1 µs', pass: spindle <= 1000 }],
        samples,
        extra: {
          // Over every batch, warm-up included.
          spindleBatchP90: percentile(all.spindle, 90),
          spindleBatchP99: percentile(all.spindle, 99),
          baselineBatchP90: percentile(all.baseline, 90),
          baselineBatchP99: percentile(all.baseline, 99),
        },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
