/**
 * Lifecycle events and the logger hook. The runtime never writes to the console directly:
 * crash and supervisor reports go to a {@link Logger}; lifecycle changes go to subscribers.
 */
import { fileURLToPath } from 'node:url';
import type { ExitReason } from './exit-reason.js';
import { formatReason, isErrorExit } from './exit-reason.js';
import type { AnyRef } from './ref.js';
import { formatRef } from './ref.js';

/** A process lifecycle change. */
export type LifecycleEvent =
  | {
      readonly type: 'started';
      readonly ref: AnyRef;
      readonly name?: string | undefined;
    }
  | {
      readonly type: 'crashed';
      readonly ref: AnyRef;
      readonly reason: { readonly error: unknown };
      readonly name?: string | undefined;
    }
  | {
      readonly type: 'terminated';
      readonly ref: AnyRef;
      readonly reason: ExitReason;
      readonly name?: string | undefined;
    }
  | {
      readonly type: 'restarted';
      readonly supervisor: AnyRef;
      readonly childId: string;
      readonly ref: AnyRef;
      readonly restartCount: number;
    }
  | {
      readonly type: 'cast_dropped';
      /** The target: a ref, or the name that was not registered. */
      readonly ref: AnyRef | string;
      readonly why: string;
    };

/**
 * A function told of each {@link LifecycleEvent} (see `onLifecycle` and `Runtime.onLifecycle`).
 * It runs synchronously as the event happens; what it throws is logged as a warning and
 * otherwise ignored.
 */
export type LifecycleListener = (event: LifecycleEvent) => void;

/** Where crash and supervisor reports go. Pass one as `RuntimeOptions.logger` or assign `runtime.logger`. */
export interface Logger {
  /** A process crashed, or a supervisor gave up / restarted a child. */
  error(message: string, data?: Record<string, unknown>): void;
  /** Something surprising the runtime survived (a failing terminate, a dropped reply). */
  warn(message: string, data?: Record<string, unknown>): void;
  /** Routine reports (a restart). */
  info(message: string, data?: Record<string, unknown>): void;
}

/** Concise one-line reports on stderr: the default logger. */
export const stderrLogger: Logger = {
  error: (m) => process.stderr.write(`[spindle] error: ${m}\n`),
  warn: (m) => process.stderr.write(`[spindle] warn: ${m}\n`),
  info: (m) => process.stderr.write(`[spindle] ${m}\n`),
};

/** A logger that discards everything. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {} };

/** Fan-out of lifecycle events. Emitting with no listener costs one length check. */
export class EventBus {
  private listeners: LifecycleListener[] = [];
  /** Told when the bus gains its first listener or loses its last (the threads layer forwards events only while someone listens). */
  onActiveChange: ((active: boolean) => void) | undefined;

  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Subscribes; returns the unsubscribe function. */
  on(listener: LifecycleListener): () => void {
    this.listeners = [...this.listeners, listener];
    if (this.listeners.length === 1) this.onActiveChange?.(true);
    return () => {
      const before = this.listeners.length;
      this.listeners = this.listeners.filter((l) => l !== listener);
      if (before > 0 && this.listeners.length === 0) this.onActiveChange?.(false);
    };
  }

  emit(event: LifecycleEvent, logger: Logger): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (e) {
        logger.warn(`lifecycle listener threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

/** Spindle's own sources (src/ or dist/src/): frames from here are the runtime's, not the user's. */
const ownSources = ((): string | undefined => {
  try {
    return fileURLToPath(new URL('..', import.meta.url));
  } catch {
    return undefined;
  }
})();

/** How many stack frames a crash report shows. */
const REPORT_FRAMES = 3;

/** True for a stack frame of Node's internals or of Spindle itself. */
function internalFrame(line: string): boolean {
  return /\(node:|at node:/.test(line) || (ownSources !== undefined && line.includes(ownSources));
}

/**
 * The error whose stack shows where the crash began: the innermost `cause` with a stack. A
 * thread's death is reported as a ThreadExitError made by the runtime; its `cause` is the
 * error thrown on the thread, with the throw site in its stack.
 */
function throwSite(error: Error): Error {
  let site = error;
  const seen = new Set<unknown>([error]);
  for (let e: unknown = error.cause; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (typeof e.stack === 'string' && e.stack.includes('\n')) site = e;
  }
  return site;
}

/**
 * The crash report for a process exit: one line with the reason, then (for an `Error`) the
 * stack of the throw site, user frames first. Spindle's own frames and Node's are left out
 * when the stack has any other frame, so the report leads with the code that threw.
 */
export function crashReport(ref: AnyRef, name: string | undefined, reason: ExitReason): string {
  const who = name === undefined ? formatRef(ref) : `${formatRef(ref)} (${name})`;
  if (isErrorExit(reason) && reason.error instanceof Error) {
    const head = `process ${who} crashed: ${formatReason(reason)}`;
    const site = throwSite(reason.error);
    const frames = typeof site.stack === 'string' ? site.stack.split('\n').filter((l) => /^\s+at /.test(l)) : [];
    if (frames.length === 0) return head;
    const user = frames.filter((l) => !internalFrame(l));
    const shown = (user.length > 0 ? user : frames).slice(0, REPORT_FRAMES);
    const from = site === reason.error ? '' : `\n  caused by ${site.name}: ${site.message}`;
    return `${head}${from}\n${shown.join('\n')}`;
  }
  return `process ${who} exited: ${formatReason(reason)}`;
}
