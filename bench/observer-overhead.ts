/**
 * Observer overhead: the cast-throughput workload (casts to a counter GenServer with a
 * synchronous handler, then one confirming call; bench/cast-throughput.ts) with
 * - no observer (the baseline),
 * - `Observer.start({ port: 0, host: '127.0.0.1' })` running with nobody watching
 *   (target ≥ 97 % of no observer),
 * - the observer (intervalMs 1000) with one Server-Sent-Events client connected to
 *   `<url>api/events` (node:http GET in this process, reading and counting the stream)
 *   (target ≥ 90 %),
 * measured interleaved (none, idle, watched, none, …). A run casts in blocks of 100k until
 * ≥ 1.2 s have passed, so every watched run spans at least one 1 s sample. The observer is
 * started and stopped (and the client connected, and its first bytes awaited) outside the
 * timed part of each run. The whole set runs twice: on an otherwise empty runtime, and with
 * 2,000 idle GenServers alive so each sample has real work.
 */
import { get, type IncomingMessage } from 'node:http';
import type { GenServerBehavior } from '../src/index.js';
import { GenServer, Observer } from '../src/index.js';
import { spindleCasts } from './cast-throughput.js';
import type { Row, Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, pairedRatio } from './lib.js';
import { interleaved } from './thread-common.js';

const BLOCK = 100_000;
const RUN_MS = 1200;
const INTERVAL_MS = 1000;
const IDLE_SERVERS = 2000;

/** Casts in blocks until RUN_MS have passed; msg/s over the whole run. */
async function castRun(): Promise<number> {
  let sent = 0;
  let ms = 0;
  while (ms < RUN_MS) {
    const rate = await spindleCasts(BLOCK);
    ms += (BLOCK * 1000) / rate;
    sent += BLOCK;
  }
  return (sent * 1000) / ms;
}

/** Connects an SSE client and resolves once its first bytes have arrived. */
function connect(url: string): Promise<{ res: IncomingMessage; bytes: () => number; close: () => void }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const req = get(new URL('api/events', url), { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET api/events: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      let first = true;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (first) {
          first = false;
          resolve({ res, bytes: () => bytes, close: () => req.destroy() });
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (e) => {
      if (bytes === 0) reject(e);
    });
  });
}

const idle: GenServerBehavior<number> = { init: () => 0, handleCall: (_m, n) => [n, n] };

export const scenario: Scenario = {
  name: 'observer-overhead',
  description: 'cast throughput with no observer vs observer idle vs observer with one SSE client (1 s samples)',
  async run(opts) {
    freshRuntime();
    // As in cast-throughput: let the young generation reach its steady size first.
    for (let i = 0; i < 10; i++) await spindleCasts(BLOCK * 3);
    const rounds = { runs: Math.min(opts.runs, 5), warmup: Math.min(opts.warmup, 1) };
    let sseBytes = 0;
    const variants = {
      none: castRun,
      idle: async () => {
        const obs = await Observer.start({ port: 0, host: '127.0.0.1' });
        try {
          return await castRun();
        } finally {
          await obs.stop();
        }
      },
      watched: async () => {
        const obs = await Observer.start({ port: 0, host: '127.0.0.1', intervalMs: INTERVAL_MS });
        const client = await connect(obs.url);
        try {
          const before = client.bytes();
          const rate = await castRun();
          sseBytes += client.bytes() - before;
          return rate;
        } finally {
          client.close();
          await obs.stop();
        }
      },
    };

    const rows: Row[] = [];
    for (const servers of [0, IDLE_SERVERS]) {
      for (let i = 0; i < servers; i++) await GenServer.start(idle);
      sseBytes = 0;
      const s = await interleaved(rounds, variants);
      const where = servers === 0 ? '' : `, ${servers.toLocaleString('en')} idle GenServers`;
      const extra = { blockCasts: BLOCK, runMs: RUN_MS, intervalMs: INTERVAL_MS, idleServers: servers };
      const idlePairs = { spindle: s.idle, baseline: s.none };
      const watchedPairs = { spindle: s.watched, baseline: s.none };
      rows.push(
        {
          scenario: `cast throughput, observer on, nobody watching${where}`,
          spindle: median(s.idle),
          baseline: median(s.none),
          baselineLabel: 'same casts, no observer',
          unit: 'msg/s',
          ratioOf: 'no observer',
          checks: [{ label: '≥ 97% of no observer', pass: (pairedRatio(idlePairs) ?? 0) >= 0.97 }],
          samples: idlePairs,
          extra,
        },
        {
          scenario: `cast throughput, observer + 1 SSE client (1 s samples)${where}`,
          spindle: median(s.watched),
          baseline: median(s.none),
          baselineLabel: 'same casts, no observer',
          unit: 'msg/s',
          ratioOf: 'no observer',
          checks: [{ label: '≥ 90% of no observer', pass: (pairedRatio(watchedPairs) ?? 0) >= 0.9 }],
          samples: watchedPairs,
          extra: { ...extra, sseBytesDuringTimedRuns: sseBytes },
        },
      );
    }
    freshRuntime();
    return rows;
  },
};

mainIfEntry(scenario, import.meta.url);
