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
import type { SerializedError } from '../errors.js';
import { deserializeError, isSerializedError, serializeError } from '../errors.js';

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

export function decodeReason(r: WireReason): ExitReason {
  if (typeof r === 'object' && r !== null && 'error' in r && isSerializedError(r.error)) return { error: deserializeError(r.error) };
  return r as ExitReason;
}

/** A lifecycle event in wire form (its exit reason encoded). */
export function encodeEvent(e: LifecycleEvent): unknown {
  return 'reason' in e ? { ...e, reason: encodeReason(e.reason) } : e;
}

export function decodeEvent(e: unknown): LifecycleEvent {
  const ev = e as LifecycleEvent & { reason?: WireReason };
  return (ev.reason !== undefined ? { ...ev, reason: decodeReason(ev.reason) } : ev) as LifecycleEvent;
}
