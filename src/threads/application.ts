/**
 * Application: the root of a node's supervision tree, with SIGINT/SIGTERM wired to a
 * graceful stop — thread subtrees stop in reverse start order (their terminate callbacks
 * run inside them), the workers exit, the default Task pool closes, and the process can end
 * on its own.
 */
import { constants } from 'node:os';
import type { SupervisorOptions } from '../behaviours/supervisor/spec.js';
import type { SupervisorRef } from '../behaviours/supervisor/supervisor.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import { currentRuntime } from '../core/runtime.js';
import { checkFunction, checkOptions, describeValue } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { closeDefaultTaskPool } from './task.js';

/** A running application. */
export interface RunningApplication {
  /** The root supervisor. */
  readonly supervisor: SupervisorRef;
  /** Stops the tree (idempotent) and runs the `onStop` hooks. */
  stop(): Promise<void>;
}

/** Options for {@link Application.start}. */
export interface ApplicationOptions {
  /** Signals that trigger a graceful stop; default `['SIGINT', 'SIGTERM']`. `[]` wires none. */
  signals?: NodeJS.Signals[];
  /** Called after the tree stopped (close pools, servers). */
  onStop?: () => void | Promise<void>;
}

/** Signals a process cannot listen for: installing a listener throws. */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

/** The `signals` option: an array of catchable signal names this platform knows. */
function checkSignals(v: unknown): NodeJS.Signals[] {
  if (v === undefined) return ['SIGINT', 'SIGTERM'];
  if (!Array.isArray(v)) throw new InvalidArgumentError('signals', `expected an array of signal names, got ${describeValue(v)}`);
  const known = constants.signals as Record<string, number | undefined>;
  for (const [i, s] of v.entries()) {
    if (typeof s !== 'string' || !Object.hasOwn(known, s) || UNCATCHABLE.has(s))
      throw new InvalidArgumentError(
        `signals[${i}]`,
        `expected the name of a signal a process can catch (such as 'SIGINT' or 'SIGTERM'), got ${describeValue(s)}`,
      );
  }
  return [...v] as NodeJS.Signals[];
}

/** The root of a node's supervision tree, with signals wired to a graceful stop (OTP's `application`). */
export const Application = {
  /**
   * Starts `tree` as the root supervisor of the node (OTP: `application:start/1` starting the
   * top supervisor) and wires `options.signals` (default `['SIGINT', 'SIGTERM']`) to a
   * graceful stop: the tree stops with `'shutdown'`, thread subtrees in reverse start order,
   * the default Task pool closes, then `options.onStop` runs. Resolves once the tree is up.
   * Rejects with `InvalidArgumentError` (bad options, checked before anything starts) or
   * `ChildStartError` (a child failed to start; nothing is left running).
   */
  async start(tree: SupervisorOptions, options?: ApplicationOptions): Promise<RunningApplication> {
    // Every option is checked before anything starts: a bad one leaves no tree running.
    const o = checkOptions<ApplicationOptions>('options', options);
    const signals = checkSignals(o.signals);
    const onStop = o.onStop;
    if (onStop !== undefined) checkFunction('onStop', onStop);
    const rt = currentRuntime();
    const supervisor = await Supervisor.start(tree);
    let stopping: Promise<void> | undefined;
    const onSignal = (): void => {
      void app.stop();
    };
    const app: RunningApplication = {
      supervisor,
      stop() {
        if (stopping === undefined) {
          for (const s of signals) process.off(s, onSignal);
          stopping = (async () => {
            try {
              await Supervisor.stop(supervisor, 'shutdown');
            } catch {
              // Already stopped (e.g. it gave up after too many restarts).
            }
            // The default Task pool's threads go with the tree (jobs get a grace period).
            await closeDefaultTaskPool(rt);
            await onStop?.();
          })();
        }
        return stopping;
      },
    };
    const installed: NodeJS.Signals[] = [];
    try {
      for (const s of signals) {
        process.on(s, onSignal);
        installed.push(s);
      }
    } catch (e) {
      // The platform refused one (checked above, so rare): undo what this call started.
      for (const s of installed) process.off(s, onSignal);
      await Supervisor.stop(supervisor, 'shutdown').catch(() => {});
      const why = e instanceof Error ? e.message : String(e);
      throw new InvalidArgumentError(
        `signals[${installed.length}]`,
        `this platform cannot listen for ${String(signals[installed.length])}: ${why}`,
      );
    }
    return app;
  },
} as const;
