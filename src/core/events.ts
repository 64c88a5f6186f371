/**
 * Lifecycle events and the logger hook. The runtime never writes to the console directly:
 * crash and supervisor reports go to a {@link Logger}; lifecycle changes go to subscribers.
 */
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

/** The crash report line for a process exit. */
export function crashReport(ref: AnyRef, name: string | undefined, reason: ExitReason): string {
  const who = name === undefined ? formatRef(ref) : `${formatRef(ref)} (${name})`;
  if (isErrorExit(reason) && reason.error instanceof Error && reason.error.stack) {
    return `process ${who} crashed: ${formatReason(reason)}\n${reason.error.stack.split('\n').slice(1, 4).join('\n')}`;
  }
  return `process ${who} exited: ${formatReason(reason)}`;
}
