/**
 * Shared setup for the worker-thread tests: fixture module URLs, a node (fresh runtime plus a
 * root supervisor with thread children) that is always torn down — no worker may outlive its
 * test file — and a poll helper for conditions that need an async probe.
 */
import type { AnyRef, ChildSpec, Protocol, Ref, GenServerBehavior, Runtime, SupervisorOptions, SupervisorRef } from '../../src/index.js';
import { Registry, Supervisor } from '../../src/index.js';
import type { FreshRuntimeOptions } from '../../src/testing.js';
import { freshRuntime } from '../../src/testing.js';
import { NodeThreads } from '../../src/threads/node-threads.js';

export const TREE = new URL('../fixtures/tree.ts', import.meta.url).href;
export const EXTRAS = new URL('../fixtures/thread-extras.ts', import.meta.url).href;
/** The stress subtree: a sink that burns a set time per cast and counts in shared memory. */
export const STRESS = new URL('../fixtures/stress-tree.ts', import.meta.url).href;

/** Generous: a worker boots through tsx in 100–800 ms, more on a loaded 2-core machine. */
export const BOOT_MS = 30_000;

export interface TestNode {
  readonly rt: Runtime;
  readonly sup: SupervisorRef;
  /** Stops the tree, terminates any worker left behind, restores the default runtime. Idempotent. */
  shutdown(): Promise<void>;
}

export async function startNode(
  children: ChildSpec[],
  options: Omit<SupervisorOptions, 'children'> = {},
  runtime: FreshRuntimeOptions = {},
): Promise<TestNode> {
  const env = freshRuntime(runtime);
  let done: Promise<void> | undefined;
  let sup: SupervisorRef | undefined;
  const shutdown = (): Promise<void> => {
    done ??= (async () => {
      if (sup !== undefined)
        await withTimeout(
          Supervisor.stop(sup).catch(() => {}),
          20_000,
        );
      await reap(env.rt);
      env.dispose();
    })();
    return done;
  };
  try {
    sup = await Supervisor.start({ ...options, children });
  } catch (e) {
    await shutdown();
    throw e;
  }
  return { rt: env.rt, sup, shutdown };
}

/** Terminates every worker thread of `rt`'s node that is still running. */
export async function reap(rt: Runtime): Promise<void> {
  const threads = NodeThreads.of(rt);
  await Promise.all(threads.links.threads().map((t) => threads.kill(t)));
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls an async condition until it holds (or throws after `timeoutMs`). */
export async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = BOOT_MS, what = 'condition'): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (ok(v)) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`eventually: ${what} not met within ${timeoutMs} ms (last: ${String(last)})`);
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}

/** A thread child spec. */
export function threadChild(id: string, module: string, args: unknown, extra: Record<string, unknown> = {}): ChildSpec {
  return { id, thread: { module, args, ...extra } };
}

/** A main-thread process that records every info message (EXIT, DOWN, …) it receives. */
export function recorder(
  seen: unknown[],
  setup?: () => void,
): GenServerBehavior<null, { call: ['ping', 'pong']; cast: 'crash' }, undefined> {
  return {
    init: () => {
      setup?.();
      return null;
    },
    handleCall: (_m, s) => ['pong', s],
    handleCast: () => {
      throw new Error('recorder crashed on purpose');
    },
    handleInfo: (msg, s) => {
      seen.push(msg);
      return s;
    },
  };
}

export type { AnyRef };

/** The ref registered as `name`, once some thread has registered it. */
export async function whereisEventually<P extends Protocol = Protocol>(name: string): Promise<Ref<P>> {
  return (await eventually(
    async () => Registry.whereis<P>(name),
    (r) => r !== undefined,
  )) as Ref<P>;
}
