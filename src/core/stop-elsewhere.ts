/**
 * A graceful stop of a process on another thread or node, the same at both distances: the
 * caller's runtime watches the process, `sendStop` asks it to stop (a STOP frame), and after
 * `timeoutMs` an exit signal `killed` ends it. Resolves once it is down; rejects with
 * NoProcessError when it was not alive (as for a local process).
 */
import { NoProcessError } from '../errors.js';
import type { AnyRef } from './ref.js';
import { formatRef } from './ref.js';
import type { Runtime } from './runtime.js';

export function stopElsewhere(rt: Runtime, ref: AnyRef, timeoutMs: number, sendStop: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: unknown;
    let settled = false;
    rt.watch(ref, (_ref, why) => {
      settled = true;
      if (timer !== undefined) rt.clock.clearTimeout(timer);
      if (why === 'noproc') reject(new NoProcessError(formatRef(ref)));
      else resolve();
    });
    if (settled) return; // its thread or node is already gone (the watch fired at once)
    sendStop();
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      timer = rt.clock.setTimeout(() => rt.router.exitSignal(ref, rt.selfRef, 'killed', false), timeoutMs);
    }
  });
}
