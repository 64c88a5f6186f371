/**
 * A DOWN frame from another thread or node, checked and delivered: the same rules at both
 * distances. The monitor must have been made on this thread; the dead process must be one the
 * sender may speak for (`senderProblem`); and a process's monitor must be on that very process.
 * Returns what is wrong with the frame, or undefined once it is delivered.
 */
import type { AnyRef, MonitorRef } from '../core/ref.js';
import { formatRef, makeRef, monitorKey, sameRef } from '../core/ref.js';
import type { Runtime } from '../core/runtime.js';
import { decodeReason } from './frames.js';
import { isPlainObject, isWireMonitorRef, ownData, preview, wireReasonProblem } from './validate.js';

export function acceptDown(
  rt: Runtime,
  to: number,
  d: unknown,
  reason: unknown,
  senderProblem: (v: unknown) => string | undefined,
): string | undefined {
  if (!isPlainObject(d)) return `DOWN carrying ${preview(d)}`;
  const m = ownData(d, 'monitor');
  const dead = ownData(d, 'ref');
  if (!isWireMonitorRef(m) || m.node !== rt.node || m.thread !== rt.thread) return `DOWN for a monitor not made on thread ${rt.thread}`;
  const problem = senderProblem(dead) ?? reasonText(reason);
  if (problem !== undefined) return problem;
  const monitor: MonitorRef = { node: rt.node, thread: rt.thread, monitor: m.monitor };
  const r = dead as AnyRef;
  const ref = makeRef(r.node, r.thread, r.id);
  // The process (or, for id 0, the runtime's own watch) that holds this monitor, and on whom.
  const target = to === 0 ? rt.watchTarget(monitor) : rt.procs.get(to)?.monitoring?.get(monitorKey(monitor));
  if (target !== undefined && !sameRef(target, ref)) return `DOWN about ${formatRef(ref)} for a monitor of ${formatRef(target)}`;
  rt.router.down({ ref: makeRef(rt.node, rt.thread, to), monitor }, ref, decodeReason(reason));
  return undefined;
}

function reasonText(reason: unknown): string | undefined {
  const problem = wireReasonProblem(reason);
  return problem === undefined ? undefined : `DOWN reason: ${problem}`;
}
