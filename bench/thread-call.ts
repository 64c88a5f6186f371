/**
 * Cross-thread calls from the main thread to an echo GenServer in a thread subtree.
 *
 * Rows:
 * - sequential round trip (one call at a time, `{ type: 'echo', value: i }`), vs a raw
 *   MessagePort ping-pong of the same payload with a plain worker (target ≤ 1.3× raw);
 *   `extra.latencyNs` / `baselineLatencyNs`: p50/p90/p99/max of single calls timed one by one
 *   (5k each, interleaved in chunks of 500), the cross-thread series of the latency chart;
 * - pipelined: a sliding window of 128 calls outstanding (each reply issues the next call),
 *   vs the same window by hand: requests posted in arrays of 64, each echoed back as one
 *   array, each reply array answered with as many new requests (target ≥ 800 k calls/s).
 */
import type { Worker } from 'node:worker_threads';
import type { Ref } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { EchoProtocol } from './fixtures/thread-tree.js';
import type { Scenario } from './lib.js';
import { interleavedLatencies, latencySummary, mainIfEntry, median, now, pairedRatio, percentile } from './lib.js';
import { interleaved, startRawWorker, startThreadNode } from './thread-common.js';

const SEQ_CALLS = 5_000;
/** Single calls timed one by one for `extra.latencyNs` (p50/p90/p99/max), each side. */
const SINGLE_CALLS = 5_000;
const WINDOW = 128;
/** The wider window the cluster issue asks about: batches grow with the backlog. */
const WIDE = 1024;
const PIPE_CALLS = 200_000;
/** Requests per array in the raw pipelined baseline (chunks let both threads work at once). */
const RAW_CHUNK = 64;

type Payload = { type: 'echo'; value: number };

/** Sequential calls; returns ns per call. */
async function spindleSeq(ref: Ref<EchoProtocol>): Promise<number> {
  let sum = 0;
  const t0 = now();
  for (let i = 0; i < SEQ_CALLS; i++) sum += ((await GenServer.call(ref, { type: 'echo', value: i })) as Payload).value;
  const ms = now() - t0;
  if (sum !== (SEQ_CALLS * (SEQ_CALLS - 1)) / 2) throw new Error('wrong replies');
  return (ms * 1e6) / SEQ_CALLS;
}

async function rawSeq(w: Worker): Promise<number> {
  let sum = 0;
  let resolveReply: (m: Payload) => void = () => {};
  const onReply = (m: Payload): void => resolveReply(m);
  w.on('message', onReply);
  const t0 = now();
  for (let i = 0; i < SEQ_CALLS; i++) {
    const reply = new Promise<Payload>((r) => {
      resolveReply = r;
    });
    w.postMessage({ type: 'echo', value: i });
    sum += (await reply).value;
  }
  const ms = now() - t0;
  w.off('message', onReply);
  if (sum !== (SEQ_CALLS * (SEQ_CALLS - 1)) / 2) throw new Error('wrong replies');
  return (ms * 1e6) / SEQ_CALLS;
}

/** One raw round trip (for the per-call latency sample). */
function rawOne(w: Worker, value: number): Promise<Payload> {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.postMessage({ type: 'echo', value });
  });
}

/** A sliding window of WINDOW calls in flight; returns calls/s. */
function spindlePipe(ref: Ref<EchoProtocol>, window = WINDOW): Promise<number> {
  return new Promise((resolve, reject) => {
    let issued = 0;
    let done = 0;
    let sum = 0;
    const t0 = now();
    const next = (): void => {
      const v = issued++;
      GenServer.call(ref, { type: 'echo', value: v }).then((r) => {
        sum += (r as Payload).value;
        if (++done === PIPE_CALLS) {
          const ms = now() - t0;
          if (sum !== (PIPE_CALLS * (PIPE_CALLS - 1)) / 2) reject(new Error('wrong replies'));
          else resolve((PIPE_CALLS * 1000) / ms);
        } else if (issued < PIPE_CALLS) next();
      }, reject);
    };
    for (let i = 0; i < window; i++) next();
  });
}

/** The hand-batched equivalent: requests in arrays, echoed back as arrays. */
function rawPipe(w: Worker, window = WINDOW): Promise<number> {
  return new Promise((resolve, reject) => {
    let issued = 0;
    let done = 0;
    let sum = 0;
    const post = (k: number): void => {
      for (let left = Math.min(k, PIPE_CALLS - issued); left > 0; left -= RAW_CHUNK) {
        const n = Math.min(left, RAW_CHUNK);
        const batch = new Array<Payload>(n);
        for (let j = 0; j < n; j++) batch[j] = { type: 'echo', value: issued++ };
        w.postMessage(batch);
      }
    };
    const t0 = now();
    const onReply = (replies: Payload[]): void => {
      for (let j = 0; j < replies.length; j++) sum += (replies[j] as Payload).value;
      done += replies.length;
      if (done === PIPE_CALLS) {
        const ms = now() - t0;
        w.off('message', onReply);
        if (sum !== (PIPE_CALLS * (PIPE_CALLS - 1)) / 2) reject(new Error('wrong replies'));
        else resolve((PIPE_CALLS * 1000) / ms);
      } else post(replies.length);
    };
    w.on('message', onReply);
    post(window);
  });
}

export const scenario: Scenario = {
  name: 'thread-call',
  description: 'main → worker GenServer calls: sequential round trip vs raw ping-pong; 128 and 1024 pipelined',
  async run(opts) {
    const node = await startThreadNode([{ kind: 'echo', name: 'echo' }]);
    const ref = node.refs[0] as Ref<EchoProtocol>;
    const raw = await startRawWorker('echo');
    const seq = await interleaved(opts, { spindle: () => spindleSeq(ref), raw: () => rawSeq(raw) });
    const single = await interleavedLatencies(
      SINGLE_CALLS,
      500,
      (i) => GenServer.call(ref, { type: 'echo', value: i }),
      (i) => rawOne(raw, i),
    );
    const pipe = await interleaved(opts, { spindle: () => spindlePipe(ref), raw: () => rawPipe(raw) });
    const wide = await interleaved(opts, { spindle: () => spindlePipe(ref, WIDE), raw: () => rawPipe(raw, WIDE) });
    await node.stop();
    await raw.terminate();
    const seqPairs = { spindle: seq.spindle, baseline: seq.raw };
    const seqS = median(seq.spindle);
    const seqB = median(seq.raw);
    const pipeS = median(pipe.spindle);
    return [
      {
        scenario: 'thread call, sequential round trip',
        spindle: seqS,
        baseline: seqB,
        baselineLabel: 'raw MessagePort ping-pong',
        unit: 'ns/call',
        checks: [{ label: '≤ 1.3× raw', pass: (pairedRatio(seqPairs) ?? Number.POSITIVE_INFINITY) <= 1.3 }],
        samples: seqPairs,
        extra: {
          calls: SEQ_CALLS,
          spindleP90: percentile(seq.spindle, 90),
          rawP90: percentile(seq.raw, 90),
          latencyNs: latencySummary(single.spindle),
          baselineLatencyNs: latencySummary(single.baseline),
          latencyKind: 'cross-thread',
        },
      },
      {
        scenario: `thread calls pipelined (${WINDOW} outstanding)`,
        spindle: pipeS,
        baseline: median(pipe.raw),
        baselineLabel: `raw MessagePort, arrays of ${RAW_CHUNK}, ${WINDOW} outstanding`,
        unit: 'call/s',
        checks: [
          { label: '≥ 800 k/s', pass: pipeS >= 800e3 },
          { label: '≥ 0.95× raw', pass: (pairedRatio({ spindle: pipe.spindle, baseline: pipe.raw }) ?? 0) >= 0.95 },
        ],
        samples: { spindle: pipe.spindle, baseline: pipe.raw },
        extra: { calls: PIPE_CALLS, window: WINDOW },
      },
      {
        scenario: `thread calls pipelined (${WIDE} outstanding)`,
        spindle: median(wide.spindle),
        baseline: median(wide.raw),
        baselineLabel: `raw MessagePort, arrays of ${RAW_CHUNK}, ${WIDE} outstanding`,
        unit: 'call/s',
        checks: [{ label: '≥ 0.8× raw', pass: (pairedRatio({ spindle: wide.spindle, baseline: wide.raw }) ?? 0) >= 0.8 }],
        samples: { spindle: wide.spindle, baseline: wide.raw },
        extra: { calls: PIPE_CALLS, window: WIDE },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
