/**
 * The wire contract between threads (and, later, nodes): every frame is four words appended
 * to a flat batch array — `[tag, to, a, b]` — so a batch of N frames is one array of 4N
 * slots and structured clone walks no per-frame objects. `to` is the target process id on
 * the receiving thread (0 for frames addressed to the thread itself); the sender's thread is
 * known from the link the batch arrived on.
 *
 * | tag | to | a | b |
 * | --- | --- | --- | --- |
 * | CAST, INFO | process id | message | 0 |
 * | CALL | process id | message | call id |
 * | REPLY_OK | 0 | value | call id |
 * | REPLY_ERR | 0 | serialized error | call id |
 * | CANCEL | process id | call id | 0 |
 * | EXIT, EXIT_LINK | process id | sender ref | encoded reason |
 * | LINK, UNLINK | process id | sender ref | 0 |
 * | MONITOR | process id | watcher ref | monitor ref |
 * | DEMONITOR | process id | monitor key | 0 |
 * | DOWN | watcher id (0: the runtime) | `{ monitor, ref }` | encoded reason |
 * | STOP | process id | encoded reason | 0 |
 * | CTL | 0 | control payload (thread management) | 0 |
 * | ACK | 0 | casts+infos handled from the receiver of this ack (cumulative) | all messages handled (cumulative) |
 */
import type { LifecycleEvent } from '../core/events.js';
import type { ExitReason } from '../core/exit-reason.js';
import { isErrorExit } from '../core/exit-reason.js';
import type { AnyRef } from '../core/ref.js';
import { makeRef } from '../core/ref.js';
import type { SerializedError } from '../errors.js';
import { InvalidArgumentError, deserializeError, serializeError } from '../errors.js';
import { capString, isPlainObject, isWireId, isWireRef, ownData, wireReasonProblem } from './validate.js';

export const Tag = {
  CAST: 1,
  INFO: 2,
  CALL: 3,
  REPLY_OK: 4,
  REPLY_ERR: 5,
  CANCEL: 6,
  EXIT: 7,
  EXIT_LINK: 8,
  LINK: 9,
  UNLINK: 10,
  MONITOR: 11,
  DEMONITOR: 12,
  DOWN: 13,
  STOP: 14,
  CTL: 15,
  ACK: 16,
} as const;
export type Tag = (typeof Tag)[keyof typeof Tag];

/** Words per frame. */
export const FRAME = 4;

/** An exit reason in wire form: `{ error }` carries a serialized error. */
export type WireReason = Exclude<ExitReason, { readonly error: unknown }> | { readonly error: SerializedError };

export function encodeReason(r: ExitReason): WireReason {
  if (typeof r === 'object' && r !== null && 'error' in r) return { error: serializeError(r.error) };
  return r as WireReason;
}

/**
 * The exit reason a wire reason stands for. Total over any input (it may come from a hostile
 * peer): a malformed reason becomes `{ error: InvalidArgumentError }` naming the problem, an
 * abnormal exit, never `'normal'`. Receivers that must tell a malformed reason apart check
 * {@link wireReasonProblem} first.
 */
export function decodeReason(r: unknown): ExitReason {
  const problem = wireReasonProblem(r);
  if (problem !== undefined) return { error: new InvalidArgumentError('exit reason', problem) };
  if (typeof r === 'string') return r as ExitReason;
  const o = r as object;
  if (Object.hasOwn(o, 'error')) return { error: deserializeError(ownData(o, 'error')) };
  return { shutdown: ownData(o, 'shutdown') };
}

/** A lifecycle event in wire form (its exit reason encoded). */
export function encodeEvent(e: LifecycleEvent): unknown {
  return 'reason' in e ? { ...e, reason: encodeReason(e.reason) } : e;
}

/**
 * The lifecycle event a wire event stands for, rebuilt field by field (unknown fields are
 * dropped, reasons decoded); undefined when it is malformed. Total over any input.
 */
export function decodeEvent(e: unknown): LifecycleEvent | undefined {
  if (!isPlainObject(e)) return undefined;
  const type = ownData(e, 'type');
  const ref = ownData(e, 'ref');
  switch (type) {
    case 'started':
    case 'crashed':
    case 'terminated': {
      const name = ownData(e, 'name');
      if (!isWireRef(ref) || (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH))) return undefined;
      const named = name === undefined ? {} : { name };
      if (type === 'started') return { type, ref: copyRef(ref), ...named };
      const wire = ownData(e, 'reason');
      if (wireReasonProblem(wire) !== undefined) return undefined;
      const reason = decodeReason(wire);
      if (type === 'terminated') return { type, ref: copyRef(ref), reason, ...named };
      return isErrorExit(reason) ? { type, ref: copyRef(ref), reason, ...named } : undefined;
    }
    case 'restarted': {
      const supervisor = ownData(e, 'supervisor');
      const childId = ownData(e, 'childId');
      const restartCount = ownData(e, 'restartCount');
      if (!isWireRef(ref) || !isWireRef(supervisor) || typeof childId !== 'string' || !isWireId(restartCount)) return undefined;
      return { type, supervisor: copyRef(supervisor), childId: capString(childId, MAX_NAME_LENGTH), ref: copyRef(ref), restartCount };
    }
    case 'cast_dropped': {
      const why = ownData(e, 'why');
      if (typeof why !== 'string' || !(isWireRef(ref) || typeof ref === 'string')) return undefined;
      const target = typeof ref === 'string' ? capString(ref, MAX_NAME_LENGTH) : copyRef(ref);
      return { type, ref: target, why: capString(why, 200) };
    }
    default:
      return undefined;
  }
}

/** A fresh ref with only the three fields (a checked wire ref may carry extra ones). */
function copyRef(r: { node: string; thread: number; id: number }): AnyRef {
  return makeRef(r.node, r.thread, r.id);
}

/** Longest name or child id kept from an event (as the registry's own bound). */
const MAX_NAME_LENGTH = 1024;
