/**
 * Exit reasons are data, not errors. They cross threads and nodes as plain
 * values; `{ error }` carries the original thrown value (serialised when it crosses).
 */

/** Why a process exited. */
export type ExitReason =
  /** Finished on purpose; links do not propagate it and transient children stay down. */
  | 'normal'
  /** Stopped by its supervisor or by `GenServer.stop(ref, 'shutdown')`. */
  | 'shutdown'
  /** Killed without running `terminate` (shutdown timeout elapsed, or `exit(ref, 'kill')`). */
  | 'killed'
  /** Linked or monitored a process that was not alive. */
  | 'noproc'
  /** The process was on a node whose connection was lost (Erlang's `noconnection`). */
  | 'noconnection'
  /** A shutdown carrying a detail; treated like `'shutdown'` by restart rules. */
  | { readonly shutdown: unknown }
  /** A callback threw; `error` is what was thrown. */
  | { readonly error: unknown };

/** True for reasons that do not restart a transient child: normal, shutdown, `{ shutdown }`. */
export function isNormalExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && reason !== null && 'shutdown' in reason);
}

/** True for `{ error }` reasons (a crash). */
export function isErrorExit(reason: ExitReason): reason is { readonly error: unknown } {
  return typeof reason === 'object' && reason !== null && 'error' in reason;
}

/** Validates a value used as an exit reason; returns undefined when it is one. */
export function exitReasonProblem(reason: unknown): string | undefined {
  if (reason === 'normal' || reason === 'shutdown' || reason === 'killed' || reason === 'noproc' || reason === 'noconnection')
    return undefined;
  if (typeof reason === 'object' && reason !== null && ('error' in reason || 'shutdown' in reason)) return undefined;
  return `expected 'normal', 'shutdown', 'killed', 'noproc', 'noconnection', { shutdown } or { error }, got ${typeof reason === 'string' ? JSON.stringify(reason) : typeof reason}`;
}

/** Longest rendering of a reason (a `{ shutdown }` term can be any size). */
const MAX_REASON_TEXT = 2000;

/** One-line rendering for logs and error messages, at most about 2,000 characters. */
export function formatReason(reason: ExitReason): string {
  const text = renderReason(reason);
  return text.length > MAX_REASON_TEXT ? `${text.slice(0, MAX_REASON_TEXT)}…` : text;
}

/** A `{ shutdown }` term as JSON; a term JSON cannot hold (a BigInt, a cycle) as its type. */
function termText(term: unknown): string {
  try {
    return String(JSON.stringify(term));
  } catch {
    return `(${typeof term})`;
  }
}

function renderReason(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  if (reason !== null && typeof reason === 'object') {
    if ('error' in reason) {
      const e = reason.error;
      if (e instanceof Error) return `{ error: ${e.name}: ${e.message} }`;
      return `{ error: ${String(e)} }`;
    }
    if ('shutdown' in reason) return `{ shutdown: ${typeof reason.shutdown === 'string' ? reason.shutdown : termText(reason.shutdown)} }`;
  }
  return String(reason);
}
