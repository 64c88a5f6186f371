/**
 * Shared fixtures for the test suite: a small worker behaviour whose exits can be triggered
 * by kind, a gate (a promise the test opens), and a way to capture a failure whether the
 * API throws synchronously or rejects.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AnyRef, ExitReason, GenServerBehavior, Ref } from '../src/index.js';
import { GenServer, Process, Result } from '../src/index.js';

/** How a child is made to exit in the supervision tests. */
export type ExitKind = 'normal' | 'shutdown' | 'error' | 'killed';

export const EXIT_KINDS: readonly ExitKind[] = ['normal', 'shutdown', 'error', 'killed'];

/** The protocol of {@link worker}. */
export type WorkerProtocol = {
  call: ['ping', 'pong'] | ['tag', string];
  cast: { exit: 'normal' | 'shutdown' | 'error' };
};

/**
 * A worker that answers `ping`, reports its tag, and exits on a cast. `log` records
 * `init:<tag>` and `terminate:<tag>:<reason>` so tests can check order and that terminate ran.
 */
export function worker(tag: string, log: string[] = []): GenServerBehavior<string, WorkerProtocol> {
  return {
    init: () => {
      log.push(`init:${tag}`);
      return tag;
    },
    handleCall: (msg, s) => (msg === 'ping' ? ['pong', s] : [s, s]),
    handleCast: (msg, s) => {
      if (msg.exit === 'error') throw new Error(`boom:${tag}`);
      return Result.stop(msg.exit, s);
    },
    terminate: (reason, s) => {
      log.push(`terminate:${s}:${typeof reason === 'string' ? reason : 'error' in reason ? 'error' : 'shutdown'}`);
    },
  };
}

/**
 * Makes `ref` exit with `kind` and resolves with its exit reason. The watch is set before
 * the exit is triggered, because a kill takes effect synchronously.
 */
export function exitProcess(ref: AnyRef, kind: ExitKind): Promise<ExitReason> {
  const done = Process.awaitExit(ref);
  if (kind === 'killed') Process.exit(ref, 'kill');
  else GenServer.cast(ref as Ref<WorkerProtocol>, { exit: kind });
  return done;
}

/** A promise the test opens by hand. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
  fail(error: unknown): void;
}

export function gate<T = void>(): Gate<T> {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

/** Runs `fn` and returns what it threw or rejected with; fails the test if it succeeded. */
export async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

/** Tracks a promise's state without awaiting it. */
export function track<T>(p: Promise<T>): { readonly settled: boolean; readonly value: T | undefined; readonly error: unknown } {
  const st = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  p.then(
    (v) => {
      st.settled = true;
      st.value = v;
    },
    (e) => {
      st.settled = true;
      st.error = e;
    },
  );
  return st;
}

/**
 * Records every unhandled rejection while installed. Call `stop()` in afterEach; the
 * returned array is what fired.
 */
export function recordUnhandledRejections(): { readonly fired: unknown[]; stop(): void } {
  const fired: unknown[] = [];
  const listener = (reason: unknown) => {
    fired.push(reason);
  };
  process.on('unhandledRejection', listener);
  return { fired, stop: () => process.off('unhandledRejection', listener) };
}

/**
 * Runs `node --import tsx <args>` from the repository root as a user would, collecting stdout
 * and stderr together; SIGKILLs it after `timeoutMs`. Resolves with the exit code, the output
 * and the wall time.
 */
export function runTsx(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; ms: number }> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - t0 });
    });
  });
}
