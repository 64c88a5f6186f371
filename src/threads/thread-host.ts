/**
 * The host process: a main-thread GenServer that owns one worker thread and stands for it in
 * the parent supervisor. The thread's fate is the host's exit reason — a crash, out of
 * memory, a hang, `process.exit()`, or the subtree root's own exit (escalation) — so the
 * parent applies its strategy, restart types and intensity as for any child.
 */
import type { AnyRef } from '../core/ref.js';
import { currentRuntime } from '../core/runtime.js';
import type { GenServerBehavior } from '../behaviours/gen-server/behavior.js';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import { Result } from '../behaviours/gen-server/result.js';
import type { ChildSpec, ThreadSpec } from '../behaviours/supervisor/spec.js';
import type { ThreadExit } from './node-threads.js';
import { NodeThreads } from './node-threads.js';

interface HostState {
  readonly threads: NodeThreads;
  readonly thread: number;
  readonly root: AnyRef;
  dead: boolean;
}

/** What `Threads.info(host)` returns. */
export interface ThreadInfo {
  readonly thread: number;
  /** The subtree's root supervisor (on the worker thread). */
  readonly root: AnyRef;
}

type HostProtocol = { call: ['info', ThreadInfo] };

const hostBehavior: GenServerBehavior<HostState, HostProtocol, ThreadSpec> = {
  async init(spec) {
    const threads = NodeThreads.of(currentRuntime());
    const { thread, root } = await threads.spawn(spec, GenServer.self());
    return { threads, thread, root, dead: false };
  },
  handleCall: (_msg, s) => [{ thread: s.thread, root: s.root }, s],
  handleInfo(msg, s) {
    const m = msg as ThreadExit;
    if (m.type === '$thread_exit' && m.thread === s.thread) {
      s.dead = true;
      return Result.stop(m.reason, s);
    }
    return s;
  },
  async terminate(_reason, s) {
    if (!s.dead) await s.threads.stop(s.thread);
  },
};

/** Starts the host process (and its thread) for a `thread:` child spec, linked to `parent`. */
export function startThreadChild(spec: ChildSpec, parent: AnyRef): Promise<AnyRef> {
  return GenServer.start(hostBehavior, {
    args: spec.thread as ThreadSpec,
    link: parent,
    trapExit: true,
    initTimeout: 60_000,
    shutdownTimeout: Number.POSITIVE_INFINITY,
  });
}

/** Helpers for thread subtrees. */
export const Threads = {
  /** The thread number and root supervisor behind a thread child's ref. */
  info(host: AnyRef): Promise<ThreadInfo> {
    return GenServer.call(host as import('../core/ref.js').Ref<HostProtocol>, 'info');
  },
  /** Number of live worker threads of this node. */
  count(): number {
    return NodeThreads.of(currentRuntime()).size;
  },
} as const;
