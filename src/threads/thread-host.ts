/**
 * The host process: a main-thread GenServer that owns one worker thread and stands for it in
 * the parent supervisor. The thread's fate is the host's exit reason — a crash, out of
 * memory, a hang, `process.exit()`, or the subtree root's own exit (escalation) — so the
 * parent applies its strategy, restart types and intensity as for any child.
 */
import type { AnyRef, Ref } from '../core/ref.js';
import { formatRef, isRef, makeRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { currentRuntime } from '../core/runtime.js';
import { describeValue } from '../core/validate.js';
import { InitFailedError, InvalidArgumentError, NoProcessError } from '../errors.js';
import type { GenServerBehavior } from '../behaviours/gen-server/behavior.js';
import { GenServer } from '../behaviours/gen-server/gen-server.js';
import { Result } from '../behaviours/gen-server/result.js';
import type { ChildSpec, ThreadSpec } from '../behaviours/supervisor/spec.js';
import type { ThreadExit } from './node-threads.js';
import type { ChannelStats } from './links.js';
import type { StatsRequest, ThreadStats } from '../core/process-info.js';
import { markKind } from '../core/process-info.js';
import { NodeThreads } from './node-threads.js';

interface HostState {
  readonly threads: NodeThreads;
  readonly thread: number;
  readonly root: AnyRef;
  dead: boolean;
}

/** What `Threads.info(host)` returns. */
export interface ThreadInfo {
  /** The worker thread's number (1 and up; 0 is the main thread). */
  readonly thread: number;
  /** The subtree's root supervisor (on the worker thread). */
  readonly root: AnyRef;
}

type HostProtocol = { call: ['info', ThreadInfo] };

/** What a host starts from: the thread spec, and the supervisor that may restart it. */
interface HostArgs {
  readonly spec: ThreadSpec;
  readonly owner: AnyRef;
}

/** The host's behaviour (marked as a thread host, for `ProcessInfo.kind`). */
const hostBehavior: GenServerBehavior<HostState, HostProtocol, HostArgs> = {
  async init({ spec, owner }) {
    const threads = NodeThreads.of(currentRuntime());
    const { thread, root } = await threads.spawn(spec, GenServer.self(), owner);
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
markKind(hostBehavior, 'thread');

/**
 * Starts the host process (and its thread) for a `thread:` child spec, linked to `parent`.
 * The host's own init has no deadline: the thread's boot is bounded where it runs, by the
 * spec's `initTimeout` and the watchdog, which also terminate the worker. A failed start
 * rejects with what went wrong in the thread (a `ThreadExitError`, or the error the module,
 * its export or the subtree's start threw), not with the host's InitFailedError around it:
 * the host is an implementation detail.
 */
export async function startThreadChild(spec: ChildSpec, parent: AnyRef): Promise<AnyRef> {
  try {
    return await GenServer.start(hostBehavior, {
      args: { spec: spec.thread as ThreadSpec, owner: parent },
      link: parent,
      trapExit: true,
      initTimeout: Number.POSITIVE_INFINITY,
      shutdownTimeout: Number.POSITIVE_INFINITY,
    });
  } catch (e) {
    throw InitFailedError.is(e) && e.cause !== undefined ? e.cause : e;
  }
}

/**
 * Why `ref` cannot be asked for thread info, or undefined when it is a host: not a ref at all,
 * or a live process that is not a thread child (InvalidArgumentError), or nothing alive
 * (NoProcessError). Never sends to a process that is not a host: a plain GenServer would
 * take `'info'` for one of its own calls.
 */
function infoProblem(rt: Runtime, threads: NodeThreads, ref: unknown): Error | undefined {
  const arg = 'ref passed to Threads.info';
  if (!isRef(ref)) return new InvalidArgumentError(arg, `expected the ref of a thread child, got ${describeValue(ref)}`);
  if (threads.isHost(ref)) return undefined;
  const here = ref.node === rt.node && ref.thread === rt.thread;
  if (here && rt.procs.get(ref.id)?.alive !== true) return new NoProcessError(formatRef(ref));
  return new InvalidArgumentError(arg, `${formatRef(ref)} is not a thread child (the ref a supervisor gives for a thread: child spec)`);
}

/**
 * Helpers for thread subtrees (children with a `thread:` spec): which thread a child runs on,
 * the live threads, and the channels between them. No OTP equivalent (BEAM processes need no
 * threads).
 */
export const Threads = {
  /**
   * The thread number and root supervisor behind a thread child's ref. Rejects with
   * NoProcessError when no process is alive at `host`, and with InvalidArgumentError when
   * `host` is not a ref or names a process that is not a thread child.
   */
  info(host: AnyRef): Promise<ThreadInfo> {
    try {
      const rt = currentRuntime();
      const problem = infoProblem(rt, NodeThreads.of(rt), host);
      if (problem !== undefined) return Promise.reject(problem);
    } catch (e) {
      return Promise.reject(e);
    }
    return GenServer.call(host as Ref<HostProtocol>, 'info');
  },
  /** Number of live worker threads of this node. */
  count(): number {
    return NodeThreads.of(currentRuntime()).size;
  },
  /**
   * The main thread's channel to each live worker thread: messages in flight (sent, not yet
   * handled), casts sent and acknowledged, casts dropped at the `maxInFlight` bound, and
   * batches waiting in this thread's backlog. See docs/concepts/flow-control.md.
   */
  channels(): ChannelStats[] {
    const links = NodeThreads.of(currentRuntime()).links;
    const out: ChannelStats[] = [];
    for (const t of links.threads()) {
      const s = links.channelStats(t);
      if (s !== undefined) out.push(s);
    }
    return out;
  },
  /**
   * Every thread's counters, main first: live processes, casts dropped, messages dropped on
   * exit, casts lost in flight, and the thread's channels. Each worker is asked (a system
   * call to its runtime); a worker that does not answer within 5 s is left out.
   */
  async stats(): Promise<ThreadStats[]> {
    const rt = currentRuntime();
    const workers = NodeThreads.of(rt).links.threads();
    const req: StatsRequest = { op: 'runtime_stats' };
    const answers = await Promise.all(
      workers.map((t) =>
        rt.router.call(makeRef(rt.node, t, 0), req, 5000).then(
          (v) => v as ThreadStats,
          () => undefined,
        ),
      ),
    );
    return [rt.threadStats(), ...answers.filter((a): a is ThreadStats => a !== undefined)];
  },
} as const;
