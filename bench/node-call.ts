/**
 * Cross-node calls to an echo server on a peer node (another process, loopback TCP):
 * - sequential round trips (one call at a time) vs a raw TCP ping-pong of one message;
 *   `extra.latencyNs` / `baselineLatencyNs`: p50/p90/p99/max of single calls timed one by one
 *   (5k each, interleaved in chunks of 500), the cross-node series of the latency chart;
 * - pipelined, 1024 calls outstanding, vs a raw pipeline of `[CALL, to, message, id]` frames in
 *   the cluster's batch codec (each turn's requests in one frame, answered in kind); also vs
 *   the same raw pipeline with a promise per call (what the promise API costs by itself) and
 *   vs node:v8 batches.
 */
import type { Ref } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { interleavedLatencies, latencySummary, mainIfEntry, median, now, pairedRatio } from './lib.js';
import { type RawClient, startPair } from './node-common.js';
import { interleaved } from './thread-common.js';

const SEQUENTIAL = 5_000;
/** Single calls timed one by one for `extra.latencyNs` (p50/p90/p99/max), each side. */
const SINGLE_CALLS = 5_000;
const PIPELINED = 100_000;
const WINDOW = 1024;
type Echo = { call: [unknown, unknown] };

async function spindleSequential(to: Ref<Echo>, n: number): Promise<number> {
  const t0 = now();
  for (let i = 0; i < n; i++) await GenServer.call(to, i);
  return (n * 1000) / (now() - t0);
}

async function rawSequential(raw: RawClient, n: number, v8 = false): Promise<number> {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    raw.send(3, [3, 7, i, i + 1], v8);
    await raw.next();
  }
  return (n * 1000) / (now() - t0);
}

function spindlePipelined(to: Ref<Echo>, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let sent = 0;
    let done = 0;
    const one = (): void => {
      sent++;
      GenServer.call(to, sent, { timeout: 60_000 }).then(() => {
        done++;
        if (sent < n) one();
        else if (done === n) resolve((n * 1000) / (now() - t0));
      }, reject);
    };
    for (let i = 0; i < WINDOW && i < n; i++) one();
  });
}

function rawPipelined(raw: RawClient, n: number, v8 = false): Promise<number> {
  return new Promise((resolve) => {
    const t0 = now();
    let sent = 0;
    let done = 0;
    let queue: unknown[] = [];
    let queued = false;
    const flush = (): void => {
      queued = false;
      const q = queue;
      queue = [];
      raw.send(3, q, v8);
    };
    const one = (): void => {
      sent++;
      queue.push(3, 7, sent, sent); // [CALL, to, message, call id]
      if (!queued) {
        queued = true;
        queueMicrotask(flush);
      }
    };
    raw.onFrame = (_op, value) => {
      const replies = value as unknown[];
      for (let i = 0; i < replies.length; i += 4) {
        done++;
        if (sent < n) one();
      }
      if (done === n) {
        raw.onFrame = undefined;
        resolve((n * 1000) / (now() - t0));
      }
    };
    for (let i = 0; i < WINDOW && i < n; i++) one();
  });
}

/**
 * The raw pipeline driven as the Spindle side is: each call returns a promise, settled by call
 * id when its reply frame arrives, and its continuation issues the next call. Same frames, same
 * batches, same codec as {@link rawPipelined}: the gap between the two is what a promise per
 * call costs by itself, the part of Spindle's gap no transport work can remove.
 */
function rawPromisePipelined(raw: RawClient, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let sent = 0;
    let done = 0;
    let queue: unknown[] = [];
    let queued = false;
    const waiting = new Map<number, (v: unknown) => void>();
    const flush = (): void => {
      queued = false;
      const q = queue;
      queue = [];
      raw.send(3, q);
    };
    const call = (id: number): Promise<unknown> => {
      queue.push(3, 7, id, id); // [CALL, to, message, call id]
      if (!queued) {
        queued = true;
        queueMicrotask(flush);
      }
      return new Promise((settle) => waiting.set(id, settle));
    };
    raw.onFrame = (_op, value) => {
      const replies = value as unknown[];
      for (let i = 0; i < replies.length; i += 4) {
        const id = replies[i + 3] as number;
        const settle = waiting.get(id);
        waiting.delete(id);
        settle?.(replies[i + 2]);
      }
    };
    const one = (): void => {
      sent++;
      call(sent).then(() => {
        done++;
        if (sent < n) one();
        else if (done === n) {
          raw.onFrame = undefined;
          resolve((n * 1000) / (now() - t0));
        }
      }, reject);
    };
    for (let i = 0; i < WINDOW && i < n; i++) one();
  });
}

export const scenario: Scenario = {
  name: 'node-call',
  description: 'calls to a GenServer on another node (loopback TCP): sequential and 1024 outstanding, vs raw TCP',
  async run(opts) {
    const pair = await startPair();
    const ref = pair.echo as Ref<Echo>;
    const seq = await interleaved(opts, {
      spindle: () => spindleSequential(ref, SEQUENTIAL),
      raw: () => rawSequential(pair.raw, SEQUENTIAL),
    });
    const single = await interleavedLatencies(
      SINGLE_CALLS,
      500,
      (i) => GenServer.call(ref, i),
      (i) => {
        pair.raw.send(3, [3, 7, i, i + 1]);
        return pair.raw.next();
      },
    );
    const pipe = await interleaved(opts, {
      spindle: () => spindlePipelined(ref, PIPELINED),
      raw: () => rawPipelined(pair.raw, PIPELINED),
      rawV8: () => rawPipelined(pair.raw, PIPELINED, true),
      rawPromise: () => rawPromisePipelined(pair.raw, PIPELINED),
    });
    await pair.stop();
    const seqPairs = { spindle: seq.spindle, baseline: seq.raw };
    const pipePairs = { spindle: pipe.spindle, baseline: pipe.raw };
    return [
      {
        scenario: 'cross-node call, sequential round trips',
        spindle: median(seq.spindle),
        baseline: median(seq.raw),
        baselineLabel: 'raw TCP ping-pong',
        unit: 'call/s',
        checks: [{ label: 'round trip ≤ 1.2× raw', pass: (pairedRatio(seqPairs) ?? 0) >= 1 / 1.2 }],
        samples: seqPairs,
        extra: { latencyNs: latencySummary(single.spindle), baselineLatencyNs: latencySummary(single.baseline), latencyKind: 'cross-node' },
      },
      {
        scenario: `cross-node calls, ${WINDOW} outstanding`,
        spindle: median(pipe.spindle),
        baseline: median(pipe.raw),
        baselineLabel: 'raw TCP batched pipeline',
        unit: 'call/s',
        checks: [{ label: '≥ 80% of raw', pass: (pairedRatio(pipePairs) ?? 0) >= 0.8 }],
        samples: pipePairs,
      },
      {
        scenario: `cross-node calls, ${WINDOW} outstanding, against a promise per raw call`,
        spindle: median(pipe.spindle),
        baseline: median(pipe.rawPromise),
        baselineLabel: 'raw TCP batched pipeline, a promise per call',
        unit: 'call/s',
        checks: [],
        samples: { spindle: pipe.spindle, baseline: pipe.rawPromise },
      },
      {
        scenario: `cross-node calls, ${WINDOW} outstanding, against node:v8 batches`,
        spindle: median(pipe.spindle),
        baseline: median(pipe.rawV8),
        baselineLabel: 'raw TCP batched pipeline, node:v8',
        unit: 'call/s',
        checks: [],
        samples: { spindle: pipe.spindle, baseline: pipe.rawV8 },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
