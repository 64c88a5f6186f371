/**
 * Cross-node cast throughput: 1M casts (as the design's measurement; 200k runs were short enough to be
 * noisy) of a small object (`{ n: 1 }`) from this node to a
 * counter on a peer node (another process, loopback TCP), then one call that confirms the
 * count (it queues behind every cast).
 *
 * Raw baseline: the same messages over one raw TCP connection between the same two processes,
 * 256 per frame in the cluster's frame layout (`[CAST, to, message, 0]` each) and batch codec and the
 * turn's frames coalesced into one write; the peer decodes and counts; then a GET round trip.
 */
import type { Ref } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { mainIfEntry, median, now, pairedRatio } from './lib.js';
import { type RawClient, startPair } from './node-common.js';
import { interleaved } from './thread-common.js';

const CASTS = 1_000_000;
const BATCH = 256;
type Counter = { call: ['get', number]; cast: { n: number } };

async function spindleRun(ref: Ref<Counter>, n: number): Promise<number> {
  const before = await GenServer.call(ref, 'get');
  const t0 = now();
  for (let i = 0; i < n; i++) {
    GenServer.cast(ref, { n: 1 });
    // Yield now and then, as a real producer does: one turn's casts leave in one write.
    if ((i & 4095) === 4095) await new Promise<void>((r) => setImmediate(r));
  }
  const count = await GenServer.call(ref, 'get', { timeout: 120_000 });
  const ms = now() - t0;
  if (count - before !== n) throw new Error(`counter saw ${count - before} casts, expected ${n}`);
  return (n * 1000) / ms;
}

async function rawRun(raw: RawClient, n: number, v8 = false): Promise<number> {
  raw.send(2, [], v8);
  const [before] = (await raw.next()) as [number];
  const t0 = now();
  for (let i = 0; i < n; i += BATCH) {
    const k = Math.min(BATCH, n - i);
    // The cluster's frame layout: [CAST, to, message, 0] per message.
    const batch = new Array(k * 4);
    for (let j = 0; j < k; j++) {
      batch[j * 4] = 1;
      batch[j * 4 + 1] = 7;
      batch[j * 4 + 2] = { n: 1 };
      batch[j * 4 + 3] = 0;
    }
    raw.send(1, batch, v8);
    if (((i / BATCH) & 15) === 15) await new Promise<void>((r) => setImmediate(r));
  }
  raw.send(2, [], v8);
  const [count] = (await raw.next()) as [number];
  const ms = now() - t0;
  if (count - before !== n) throw new Error(`raw peer saw ${count - before} messages, expected ${n}`);
  return (n * 1000) / ms;
}

export const scenario: Scenario = {
  name: 'node-cast',
  description: '1M casts to a GenServer on another node (loopback TCP) + one confirming call, vs raw batched TCP frames',
  async run(opts) {
    const pair = await startPair();
    const ref = pair.counter as Ref<Counter>;
    const samples = await interleaved(opts, {
      spindle: () => spindleRun(ref, CASTS),
      raw: () => rawRun(pair.raw, CASTS),
      rawV8: () => rawRun(pair.raw, CASTS, true),
    });
    await pair.stop();
    const pairs = { spindle: samples.spindle, baseline: samples.raw };
    return [
      {
        scenario: 'cross-node cast throughput (1M casts + call)',
        spindle: median(samples.spindle),
        baseline: median(samples.raw),
        baselineLabel: `raw TCP, ${BATCH} frames per batch`,
        unit: 'msg/s',
        checks: [{ label: '≥ 60% of raw', pass: (pairedRatio(pairs) ?? 0) >= 0.6 }],
        samples: pairs,
      },
      {
        scenario: 'cross-node cast throughput, against node:v8 batches',
        spindle: median(samples.spindle),
        baseline: median(samples.rawV8),
        baselineLabel: `raw TCP, ${BATCH} frames per node:v8 batch`,
        unit: 'msg/s',
        checks: [],
        samples: { spindle: samples.spindle, baseline: samples.rawV8 },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
