/**
 * The CPU-bound job both speedup scenarios share (thread-cpu-speedup, thread-speedup): a
 * GenServer call whose handler hashes a 64 KB buffer for ≈`jobMs` (bench/hash-job.mjs, the
 * repetitions calibrated at start), `calls` of them at once, and the raw pool doing the same
 * job over plain `postMessage`.
 */
import type { Worker } from 'node:worker_threads';
import type { AnyRef, Ref } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { CpuProtocol } from './fixtures/thread-tree.js';
import { hash } from './hash-job.mjs';
import { median, now } from './lib.js';

/** Repetitions of the 64 KB hash that take ≈jobMs on this machine now. */
export function calibrate(jobMs: number): number {
  hash(64); // warm
  const perRep: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = now();
    hash(32);
    perRep.push((now() - t) / 32);
  }
  return Math.max(1, Math.round(jobMs / median(perRep)));
}

/** `calls` calls at once over `refs`, round robin. Returns job/s. */
export async function spindleRun(refs: AnyRef[], reps: number, expected: string, calls: number): Promise<number> {
  const msg = { type: 'hash', reps } as const;
  const pending: Promise<string>[] = new Array(calls);
  const t0 = now();
  for (let i = 0; i < calls; i++) pending[i] = GenServer.call(refs[i % refs.length] as Ref<CpuProtocol>, msg, { timeout: 120_000 });
  const out = await Promise.all(pending);
  const rate = (calls * 1000) / (now() - t0);
  if (out.some((d) => d !== expected)) throw new Error('wrong digest');
  return rate;
}

/** The raw pool: `calls` `{ id, reps }` messages posted at once, round robin over the workers. */
export async function rawRun(workers: Worker[], reps: number, expected: string, calls: number): Promise<number> {
  let left = calls;
  let bad = 0;
  const t0 = now();
  await new Promise<void>((resolve) => {
    const onReply = (m: { id: number; digest: string }): void => {
      if (m.digest !== expected) bad++;
      if (--left === 0) resolve();
    };
    for (const w of workers) w.on('message', onReply);
    for (let i = 0; i < calls; i++) (workers[i % workers.length] as Worker).postMessage({ id: i, reps });
  });
  const rate = (calls * 1000) / (now() - t0);
  for (const w of workers) w.removeAllListeners('message');
  if (bad > 0) throw new Error('raw pool: wrong digest');
  return rate;
}
