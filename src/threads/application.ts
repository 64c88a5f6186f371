/**
 * Application: the root of a node's supervision tree, with SIGINT/SIGTERM wired to a
 * graceful stop — thread subtrees stop in reverse start order (their terminate callbacks
 * run inside them), the workers exit, the default Task pool closes, and the process can end
 * on its own.
 */
import type { SupervisorOptions } from '../behaviours/supervisor/spec.js';
import type { SupervisorRef } from '../behaviours/supervisor/supervisor.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import { currentRuntime } from '../core/runtime.js';
import { closeDefaultTaskPool } from './task.js';

/** A running application. */
export interface RunningApplication {
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

export const Application = {
  /** Starts the root supervisor of the node. */
  async start(tree: SupervisorOptions, options: ApplicationOptions = {}): Promise<RunningApplication> {
    const rt = currentRuntime();
    const supervisor = await Supervisor.start(tree);
    const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
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
            await options.onStop?.();
          })();
        }
        return stopping;
      },
    };
    for (const s of signals) process.on(s, onSignal);
    return app;
  },
} as const;
