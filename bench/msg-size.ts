/**
 * Message-size sweep across threads: casts of a byte payload (a `Uint8Array` of 16 B, 256 B,
 * 4 KB, 64 KB, 1 MB) from the main thread to a GenServer in a thread subtree that counts them,
 * then one call that confirms count and bytes (it queues behind every cast). Two ways to send:
 * - clone: `GenServer.cast(ref, bytes)` (structured clone copies the bytes);
 * - transfer: `GenServer.cast(ref, bytes, { transfer: [bytes.buffer] })` (moved, not copied).
 * Every message is its own buffer, allocated before the clock starts (a transferred buffer is
 * gone from the sender; a repeated one would be cloned once per batch).
 *
 * Raw baseline, per mode: a plain worker (bench/fixtures/raw-worker.mjs, mode 'blob') sent the
 * same payloads with one `postMessage(bytes)` / `postMessage(bytes, [bytes.buffer])` each, then
 * a 'get' round trip. Per size the four variants run interleaved (Spindle clone, raw clone,
 * Spindle transfer, raw transfer, repeated); fewer messages for the bigger sizes.
 *
 * Rows: one per size and mode; `extra` has msg/s and MB/s of both sides (the report's
 * throughput-vs-size chart).
 */
import type { Worker } from 'node:worker_threads';
import type { Ref } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { BlobProtocol } from './fixtures/thread-tree.js';
import type { Row, Scenario } from './lib.js';
import { mainIfEntry, median, now, pairedRatio } from './lib.js';
import { interleaved, startRawWorker, startThreadNode } from './thread-common.js';

/** Payload sizes and messages per run (≈0.2 s a run or less on a slow 2-core box). */
const SIZES: readonly { bytes: number; label: string; count: number }[] = [
  { bytes: 16, label: '16 B', count: 20_000 },
  { bytes: 256, label: '256 B', count: 20_000 },
  { bytes: 4 * 1024, label: '4 KB', count: 10_000 },
  { bytes: 64 * 1024, label: '64 KB', count: 2_000 },
  { bytes: 1024 * 1024, label: '1 MB', count: 150 },
];

type Mode = 'clone' | 'transfer';

/**
 * The payloads of one run: `n` distinct buffers, for either mode. (Not one buffer sent `n`
 * times: structured clone keeps identity within one postMessage, so a batch holding the same
 * buffer many times would copy it once — measured at 100 GB/s "throughput" for 1 MB.)
 */
function payloads(size: number, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array(size).fill(i & 0xff));
}

/** Returns msg/s. */
async function spindleRun(ref: Ref<BlobProtocol>, mode: Mode, size: number, n: number): Promise<number> {
  const msgs = payloads(size, n);
  const before = await GenServer.call(ref, 'get');
  const t0 = now();
  if (mode === 'clone') for (let i = 0; i < n; i++) GenServer.cast(ref, msgs[i] as Uint8Array);
  else
    for (let i = 0; i < n; i++) {
      const m = msgs[i] as Uint8Array;
      GenServer.cast(ref, m, { transfer: [m.buffer as ArrayBuffer] });
    }
  const after = await GenServer.call(ref, 'get', { timeout: 120_000 });
  const ms = now() - t0;
  if (after.n - before.n !== n || after.bytes - before.bytes !== n * size)
    throw new Error(`blob server saw ${after.n - before.n} messages / ${after.bytes - before.bytes} B, expected ${n} / ${n * size}`);
  return (n * 1000) / ms;
}

function ask(w: Worker): Promise<{ n: number; bytes: number }> {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.postMessage('get');
  });
}

async function rawRun(w: Worker, mode: Mode, size: number, n: number): Promise<number> {
  const msgs = payloads(size, n);
  const before = await ask(w);
  const t0 = now();
  if (mode === 'clone') for (let i = 0; i < n; i++) w.postMessage(msgs[i]);
  else
    for (let i = 0; i < n; i++) {
      const m = msgs[i] as Uint8Array;
      w.postMessage(m, [m.buffer as ArrayBuffer]);
    }
  const after = await ask(w);
  const ms = now() - t0;
  if (after.n - before.n !== n || after.bytes - before.bytes !== n * size)
    throw new Error(`raw worker saw ${after.n - before.n} messages, expected ${n}`);
  return (n * 1000) / ms;
}

const mbps = (msgPerSec: number, bytes: number): number => (msgPerSec * bytes) / 1e6;

export const scenario: Scenario = {
  name: 'msg-size',
  description: 'casts of 16 B … 1 MB Uint8Arrays main → worker GenServer, clone vs transfer, vs raw postMessage',
  async run(opts) {
    const node = await startThreadNode([{ kind: 'blob', name: 'blob' }]);
    const ref = node.refs[0] as Ref<BlobProtocol>;
    const raw = await startRawWorker('blob');
    const rows: Row[] = [];
    for (const { bytes, label, count } of SIZES) {
      const s = await interleaved(opts, {
        spindleClone: () => spindleRun(ref, 'clone', bytes, count),
        rawClone: () => rawRun(raw, 'clone', bytes, count),
        spindleTransfer: () => spindleRun(ref, 'transfer', bytes, count),
        rawTransfer: () => rawRun(raw, 'transfer', bytes, count),
      });
      for (const mode of ['clone', 'transfer'] as const) {
        const sp = mode === 'clone' ? s.spindleClone : s.spindleTransfer;
        const rw = mode === 'clone' ? s.rawClone : s.rawTransfer;
        const spindle = median(sp);
        const baseline = median(rw);
        rows.push({
          scenario: `thread cast ${label} Uint8Array, ${mode === 'clone' ? 'structured clone' : 'transferred'}`,
          spindle,
          baseline,
          baselineLabel: `raw postMessage${mode === 'clone' ? '' : ' with transfer list'}, one per message`,
          unit: 'msg/s',
          checks: [],
          samples: { spindle: sp, baseline: rw },
          extra: {
            chart: 'msg-size',
            bytes,
            sizeLabel: label,
            mode,
            messages: count,
            spindleMsgPerSec: spindle,
            rawMsgPerSec: baseline,
            spindleMBps: mbps(spindle, bytes),
            rawMBps: mbps(baseline, bytes),
            ratio: pairedRatio({ spindle: sp, baseline: rw }),
          },
        });
      }
    }
    await node.stop();
    await raw.terminate();
    return rows;
  },
};

mainIfEntry(scenario, import.meta.url);
