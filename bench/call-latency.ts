/**
 * Sequential call latency: `await GenServer.call` in a loop, one call outstanding at a time.
 * Timed per batch of 1000 calls; the figure is the median batch / 1000.
 *
 * Raw baseline: the same loop of `await bare.call(i)` on the in-thread actor floor
 * (bench/bare-actor.ts: a mailbox array drained in a microtask, the reply function carried
 * through it), measured interleaved with Spindle run by run. (It used to be `await asyncFn()`,
 * which has no mailbox at all.)
 *
 * `extra.latencyNs` / `extra.baselineLatencyNs`: p50/p90/p99/max of single calls, each timed
 * on its own (the clock read, ≈30–50 ns, included), 20k calls of each side in interleaved
 * chunks of 1000 — the in-thread series of the report's latency chart.
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import { BareServer } from './bare-actor.js';
import type { Scenario } from './lib.js';
import { freshRuntime, interleavedLatencies, latencySummary, mainIfEntry, median, now, paired, percentile } from './lib.js';

const BATCH = 1000;
const BATCHES = 100;

type EchoProtocol = { call: [number, number] };

const echo: GenServerBehavior<number, EchoProtocol> = {
  init: () => 0,
  handleCall: (msg, n) => [msg, n],
};

const SINGLE_CALLS = 20_000;

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
  const bare = new BareServer(0, echo.handleCall as (m: unknown, n: number) => [unknown, number]);
  const out: number[] = [];
  let sum = 0;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = now();
    for (let i = 0; i < BATCH; i++) sum += await bare.call<number>(i);
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
    const ref = await GenServer.start(echo);
    const bare = new BareServer(0, echo.handleCall as (m: unknown, n: number) => [unknown, number]);
    const single = await interleavedLatencies(
      SINGLE_CALLS,
      1000,
      (i) => GenServer.call(ref, i),
      (i) => bare.call(i),
    );
    await GenServer.stop(ref);
    const spindle = median(samples.spindle);
    const baseline = median(samples.baseline);
    return [
      {
        scenario: 'sequential call latency (median)',
        spindle,
        baseline,
        baselineLabel: 'bare mailbox actor call',
        unit: 'ns/call',
        checks: [{ label: '≤ 1 µs', pass: spindle <= 1000 }],
        samples,
        extra: {
          // Over every batch, warm-up included.
          spindleBatchP90: percentile(all.spindle, 90),
          spindleBatchP99: percentile(all.spindle, 99),
          baselineBatchP90: percentile(all.baseline, 90),
          baselineBatchP99: percentile(all.baseline, 99),
          latencyNs: latencySummary(single.spindle),
          baselineLatencyNs: latencySummary(single.baseline),
          latencyKind: 'in-thread',
        },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
