/**
 * Shared pieces of the worker-thread scenarios (bench/thread-*.ts): starting thread subtrees
 * from bench/fixtures/thread-tree.ts under a root supervisor, starting the raw baseline
 * workers (bench/fixtures/raw-worker.mjs), and measuring several variants interleaved.
 */
import { Worker } from 'node:worker_threads';
import type { AnyRef, ChildSpec, SupervisorRef } from '../src/index.js';
import { Registry, Supervisor, currentRuntime, silentLogger } from '../src/index.js';
import type { TreeArgs } from './fixtures/thread-tree.js';
import type { RunOptions } from './lib.js';
import { freshRuntime, gc } from './lib.js';

export const TREE = new URL('./fixtures/thread-tree.ts', import.meta.url).href;
const RAW_WORKER = new URL('./fixtures/raw-worker.mjs', import.meta.url);

export interface ThreadNode {
  readonly sup: SupervisorRef;
  /** The named servers, resolved to refs (each on its own worker thread). */
  readonly refs: AnyRef[];
  /** Stops the root supervisor: every subtree stops and its worker exits. */
  stop(): Promise<void>;
}

/** A fresh silent runtime and a root supervisor with one thread subtree per entry of `trees`. */
export async function startThreadNode(trees: TreeArgs[]): Promise<ThreadNode> {
  freshRuntime();
  currentRuntime().logger = silentLogger;
  const children: ChildSpec[] = trees.map((args) => ({ id: args.name, thread: { module: TREE, args } }));
  const sup = await Supervisor.start({ strategy: 'one_for_one', children });
  const refs = trees.map((t) => {
    const ref = Registry.whereis(t.name);
    if (ref === undefined) throw new Error(`thread server ${t.name} did not register`);
    return ref;
  });
  return { sup, refs, stop: () => Supervisor.stop(sup) };
}

/** A raw worker in `mode` (see raw-worker.mjs), resolved once it has posted 'ready'. */
export async function startRawWorker(mode: 'hash' | 'count' | 'echo' | 'blob'): Promise<Worker> {
  const w = new Worker(RAW_WORKER, { workerData: { mode } });
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  return w;
}

/**
 * Like lib's `paired`, for any number of variants: each round runs every variant once, in
 * order, so drift in machine load hits all of them alike. Returns each variant's figures.
 * As in `repeat` and `paired`, one gc runs after the warm-up and none between runs: a forced
 * gc before every run shrank the young generation each time, and every run then paid for
 * regrowing it, the variants that allocate most (a promise per call) most of all.
 */
export async function interleaved<K extends string>(
  opts: RunOptions,
  variants: Record<K, () => Promise<number>>,
): Promise<Record<K, number[]>> {
  const keys = Object.keys(variants) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    if (i === opts.warmup) gc();
    for (const k of keys) {
      const v = await variants[k]();
      if (i >= opts.warmup) out[k].push(v);
    }
  }
  return out;
}
