/**
 * Every error Spindle throws or rejects with lives in this module.
 *
 * Each class has a stable `code` (recognise errors by code, not `instanceof`, once they may
 * have crossed a thread or node), context fields naming the values involved, a sentence
 * message with those values in it, and `cause` for chaining. {@link serializeError} and
 * {@link deserializeError} turn any error into plain data and back into the same class.
 */
import type { ExitReason } from './core/exit-reason.js';
import { formatReason } from './core/exit-reason.js';
import type { AnyRef } from './core/ref.js';
import { formatRef } from './core/ref.js';
import type { DataBudget } from './transport/validate.js';
import {
  MAX_CAUSE_DEPTH,
  MAX_ERROR_CODE,
  MAX_ERROR_MESSAGE,
  MAX_ERROR_NAME,
  MAX_ERROR_STACK,
  OMIT,
  bigintText,
  boundedData,
  capString,
  errorDataBudget,
  isPlainObject,
  looksSerializedError,
  ownData,
  preview,
  redactPaths,
} from './transport/validate.js';

/**
 * The stable error codes, by key (`ErrorCode.CALL_TIMEOUT === 'ERR_CALL_TIMEOUT'`). Recognise
 * errors by `code` (or a class's `is()`), which survives crossing threads and nodes.
 */
export const ErrorCode = {
  /** A call got no reply in time: {@link CallTimeoutError}. OTP: the `timeout` exit of `GenServer.call/3`. */
  CALL_TIMEOUT: 'ERR_CALL_TIMEOUT',
  /** The server exited before replying: {@link ServerExitedError}. OTP: the exit of `GenServer.call/3` when the server dies. */
  SERVER_EXITED: 'ERR_SERVER_EXITED',
  /** The target process is not alive: {@link NoProcessError}. OTP: `noproc`. */
  NO_PROCESS: 'ERR_NO_PROCESS',
  /** `init` threw or asked to stop: {@link InitFailedError}. OTP: `{:error, reason}` from `start_link`. */
  INIT_FAILED: 'ERR_INIT_FAILED',
  /** `init` did not finish in time: {@link InitTimeoutError}. OTP: `{:error, :timeout}` from `start_link`. */
  INIT_TIMEOUT: 'ERR_INIT_TIMEOUT',
  /** A callback returned a value of the wrong shape: {@link BadReturnValueError}. OTP: `bad_return_value`. */
  BAD_RETURN_VALUE: 'ERR_BAD_RETURN_VALUE',
  /** A unique name is taken: {@link AlreadyRegisteredError}. OTP: `{:error, {:already_started, pid}}`. */
  ALREADY_REGISTERED: 'ERR_ALREADY_REGISTERED',
  /** No process under the name: {@link NotRegisteredError}. */
  NOT_REGISTERED: 'ERR_NOT_REGISTERED',
  /** A supervisor child failed to start: {@link ChildStartError}. OTP: `{:error, {reason, child}}`. */
  CHILD_START: 'ERR_CHILD_START',
  /** No such supervisor child: {@link ChildNotFoundError}. OTP: `{:error, :not_found}`. */
  CHILD_NOT_FOUND: 'ERR_CHILD_NOT_FOUND',
  /** The child must be stopped first: {@link ChildRunningError}. OTP: `{:error, :running}`. */
  CHILD_RUNNING: 'ERR_CHILD_RUNNING',
  /** Two children share an id: {@link DuplicateChildError}. OTP: `{:error, :already_present}`. */
  DUPLICATE_CHILD: 'ERR_DUPLICATE_CHILD',
  /** A bad argument to a public function: {@link InvalidArgumentError}. OTP: `badarg`. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** A current-process function was called outside any process: {@link NotInProcessError}. */
  NOT_IN_PROCESS: 'ERR_NOT_IN_PROCESS',
  /** A message cannot cross a thread or node: {@link NotCloneableError}. */
  NOT_CLONEABLE: 'ERR_NOT_CLONEABLE',
  /** A worker thread died: {@link ThreadExitError}. */
  THREAD_EXIT: 'ERR_THREAD_EXIT',
  /** A Task job threw: {@link TaskFailedError}. */
  TASK_FAILED: 'ERR_TASK_FAILED',
  /** A Task did not finish in time: {@link TaskTimeoutError}. */
  TASK_TIMEOUT: 'ERR_TASK_TIMEOUT',
  /** A Task was aborted: {@link TaskAbortedError}. */
  TASK_ABORTED: 'ERR_TASK_ABORTED',
  /** An Elixir-style task exited without a result: {@link TaskExitedError}. */
  TASK_EXITED: 'ERR_TASK_EXITED',
  /** A task result was already taken: {@link TaskAlreadyAwaitedError}. */
  TASK_AWAITED: 'ERR_TASK_AWAITED',
  /** The runtime, thread host, pool or registry is closed: {@link RuntimeClosedError}. */
  RUNTIME_CLOSED: 'ERR_RUNTIME_CLOSED',
  /** A bounded mailbox is full: {@link MailboxFullError}. */
  MAILBOX_FULL: 'ERR_MAILBOX_FULL',
  /** A bounded mailbox overflowed under the `crash` policy: {@link MailboxOverflowError}. */
  MAILBOX_OVERFLOW: 'ERR_MAILBOX_OVERFLOW',
  /** The channel to another thread is over its in-flight bound: {@link ChannelBusyError}. */
  BUSY: 'ERR_BUSY',
  /** A cluster connection's handshake failed: {@link HandshakeError}. */
  HANDSHAKE: 'ERR_HANDSHAKE',
  /** The node of the target is not connected, or went down while a call waited: {@link NodeDownError}. */
  NODE_DOWN: 'ERR_NODE_DOWN',
  /** Reserved, raised by nothing: an error from another node keeps its own class and code. */
  REMOTE: 'ERR_REMOTE',
} as const;
/** One of the `ErrorCode` values (`'ERR_…'`). */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Plain-data form of an error, safe for structured clone and the wire. `context` is a Spindle
 * error's context; `fields` are the other own enumerable fields of any other error (a custom
 * class's `status`, a system error's `errno`), kept as bounded plain data.
 */
export interface SerializedError {
  /** Marker telling a serialized error from other data; always 1. */
  readonly __spindleError: 1;
  /** The error's `code` (an `ErrorCode` value for Spindle errors), when it had a string one. */
  readonly code?: string;
  /** The error's `name` (`'Error'` when it had none); `'NonErrorThrown'` for a thrown non-error. */
  readonly name: string;
  /** The error's message (bounded). */
  readonly message: string;
  /** The error's stack (bounded); absent when stacks were not kept (across nodes). */
  readonly stack?: string;
  /** A Spindle error's context (the values named in its message), as bounded plain data. */
  readonly context?: Record<string, unknown>;
  /** Any other error's own enumerable fields (not name, message, stack, cause, code, context). */
  readonly fields?: Record<string, unknown>;
  /** The serialized `cause`, when there was one (at most 8 levels deep, cycles cut). */
  readonly cause?: SerializedError | undefined;
}

/** Base class of every Spindle error. `context` holds the values named in the message. */
export class SpindleError extends Error {
  /** The stable code of this error: match on it rather than on the class or message. */
  readonly code: ErrorCode;
  /** The values named in the message, as plain data (serialized with the error). */
  readonly context: Readonly<Record<string, unknown>>;

  /** Makes an error with `code`, `message`, `context` (default `{}`) and optional `cause`. */
  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.context = context;
  }

  /**
   * True when `e` carries this code (works after crossing threads). It compares the `code`
   * field alone: an error rebuilt from a code this version does not know is a plain `Error`
   * that keeps that code, so it matches its own code and no class's `is()`. Never throws.
   */
  static hasCode(e: unknown, code: ErrorCode): boolean {
    if (typeof e !== 'object' || e === null) return false;
    try {
      return (e as { code?: unknown }).code === code;
    } catch {
      return false; // a getter or Proxy trap that throws: not a Spindle error
    }
  }
}

function describeTag(message: unknown): string {
  if (typeof message === 'string') return JSON.stringify(message);
  if (typeof message === 'object' && message !== null) {
    const t = (message as { type?: unknown }).type ?? (message as { tag?: unknown }).tag;
    if (typeof t === 'string') return JSON.stringify(t);
  }
  return typeof message;
}

/** A `call` got no reply within its timeout. The call is withdrawn if it had not started. */
export class CallTimeoutError extends SpindleError {
  /** Always `'CallTimeoutError'`. */
  override name = 'CallTimeoutError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The timeout that ran out, in ms. */
    readonly timeoutMs: number,
    /** The message's tag: a string message, or its `type`/`tag` field, JSON-quoted. */
    readonly messageTag: string,
  ) {
    super(ErrorCode.CALL_TIMEOUT, `call to ${server} with message ${messageTag} got no reply within ${timeoutMs} ms`, {
      server,
      timeoutMs,
      messageTag,
    });
  }
  /** True when `e` is a CallTimeoutError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is CallTimeoutError {
    return SpindleError.hasCode(e, ErrorCode.CALL_TIMEOUT);
  }
  /** Builds the error for a call to `ref` with `message`. */
  static for(ref: AnyRef | string, message: unknown, timeoutMs: number): CallTimeoutError {
    return new CallTimeoutError(typeof ref === 'string' ? ref : formatRef(ref), timeoutMs, describeTag(message));
  }
}

/**
 * The server exited before replying to a call. `reason` is the exit reason; when the server
 * crashed, `cause` is the original error thrown by the handler.
 */
export class ServerExitedError extends SpindleError {
  /** Always `'ServerExitedError'`. */
  override name = 'ServerExitedError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The exit reason. */
    readonly reason: ExitReason,
    /** The message's tag: a string message, or its `type`/`tag` field, JSON-quoted. */
    readonly messageTag: string,
  ) {
    super(
      ErrorCode.SERVER_EXITED,
      `${server} exited with reason ${formatReason(reason)} before replying to message ${messageTag}`,
      { server, reason: formatReason(reason), messageTag },
      typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : undefined,
    );
  }
  /** True when `e` is a ServerExitedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ServerExitedError {
    return SpindleError.hasCode(e, ErrorCode.SERVER_EXITED);
  }
  /** Builds the error for a call to `ref` with `message` whose server exited with `reason`. */
  static for(ref: AnyRef, reason: ExitReason, message: unknown): ServerExitedError {
    return new ServerExitedError(formatRef(ref), reason, describeTag(message));
  }
}

/** The target process is not alive (never existed, or already exited). */
export class NoProcessError extends SpindleError {
  /** Always `'NoProcessError'`. */
  override name = 'NoProcessError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
  ) {
    super(ErrorCode.NO_PROCESS, `no process is alive at ${server}`, { server });
  }
  /** True when `e` is a NoProcessError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is NoProcessError {
    return SpindleError.hasCode(e, ErrorCode.NO_PROCESS);
  }
}

/** `init` threw, or asked to stop. `cause` is the original error. */
export class InitFailedError extends SpindleError {
  /** Always `'InitFailedError'`. */
  override name = 'InitFailedError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The exit reason. */
    readonly reason: ExitReason,
  ) {
    super(
      ErrorCode.INIT_FAILED,
      `init of ${server} failed with reason ${formatReason(reason)}`,
      { server, reason: formatReason(reason) },
      typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : undefined,
    );
  }
  /** True when `e` is a InitFailedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is InitFailedError {
    return SpindleError.hasCode(e, ErrorCode.INIT_FAILED);
  }
}

/** `init` did not finish within `initTimeout`; the process was killed. */
export class InitTimeoutError extends SpindleError {
  /** Always `'InitTimeoutError'`. */
  override name = 'InitTimeoutError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The timeout that ran out, in ms. */
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.INIT_TIMEOUT, `init of ${server} did not finish within ${timeoutMs} ms`, { server, timeoutMs });
  }
  /** True when `e` is a InitTimeoutError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is InitTimeoutError {
    return SpindleError.hasCode(e, ErrorCode.INIT_TIMEOUT);
  }
}

/** A callback returned a value of the wrong shape (OTP's `bad_return_value`). */
export class BadReturnValueError extends SpindleError {
  /** Always `'BadReturnValueError'`. */
  override name = 'BadReturnValueError';
  /** True when `e` is a BadReturnValueError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is BadReturnValueError {
    return SpindleError.hasCode(e, ErrorCode.BAD_RETURN_VALUE);
  }
  constructor(
    /** The callback that returned it (e.g. `handleCall`). */
    readonly callback: string,
    /** The shape it should have returned. */
    readonly expected: string,
    /** A description of what it returned. */
    readonly got: string,
  ) {
    super(ErrorCode.BAD_RETURN_VALUE, `${callback} returned ${got}, expected ${expected}`, { callback, expected, got });
  }
}

/** A unique name is already taken by another live process. */
export class AlreadyRegisteredError extends SpindleError {
  /** Always `'AlreadyRegisteredError'`. */
  override name = 'AlreadyRegisteredError';
  constructor(
    /** The name (in `context.name`). */
    readonly registeredName: string,
    /** The process holding the name, as text. */
    readonly holder: string,
  ) {
    super(ErrorCode.ALREADY_REGISTERED, `name ${JSON.stringify(registeredName)} is already registered to ${holder}`, {
      name: registeredName,
      holder,
    });
  }
  /** True when `e` is a AlreadyRegisteredError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is AlreadyRegisteredError {
    return SpindleError.hasCode(e, ErrorCode.ALREADY_REGISTERED);
  }
}

/** `Registry.lookup` found no process under the name. */
export class NotRegisteredError extends SpindleError {
  /** Always `'NotRegisteredError'`. */
  override name = 'NotRegisteredError';
  constructor(
    /** The name (in `context.name`). */
    readonly registeredName: string,
  ) {
    super(ErrorCode.NOT_REGISTERED, `no process is registered as ${JSON.stringify(registeredName)}`, {
      name: registeredName,
    });
  }
  /** True when `e` is a NotRegisteredError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is NotRegisteredError {
    return SpindleError.hasCode(e, ErrorCode.NOT_REGISTERED);
  }
}

/** A supervisor child failed to start. `cause` is the child's start error. */
export class ChildStartError extends SpindleError {
  /** Always `'ChildStartError'`. */
  override name = 'ChildStartError';
  constructor(
    /** The child's id. */
    readonly childId: string,
    /** The supervisor, as text. */
    readonly supervisor: string,
    cause: unknown,
  ) {
    super(
      ErrorCode.CHILD_START,
      `child ${JSON.stringify(childId)} of supervisor ${supervisor} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`,
      { childId, supervisor },
      cause,
    );
  }
  /** True when `e` is a ChildStartError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ChildStartError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_START);
  }
}

/** No child with that id in the supervisor. */
export class ChildNotFoundError extends SpindleError {
  /** Always `'ChildNotFoundError'`. */
  override name = 'ChildNotFoundError';
  /** True when `e` is a ChildNotFoundError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ChildNotFoundError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_NOT_FOUND);
  }
  constructor(
    /** The child's id. */
    readonly childId: string,
    /** The supervisor, as text. */
    readonly supervisor: string,
  ) {
    super(ErrorCode.CHILD_NOT_FOUND, `supervisor ${supervisor} has no child ${JSON.stringify(childId)}`, {
      childId,
      supervisor,
    });
  }
}

/** The operation needs the child stopped (e.g. `deleteChild`, `restartChild`) but it runs. */
export class ChildRunningError extends SpindleError {
  /** Always `'ChildRunningError'`. */
  override name = 'ChildRunningError';
  /** True when `e` is a ChildRunningError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ChildRunningError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_RUNNING);
  }
  constructor(
    /** The child's id. */
    readonly childId: string,
    /** The supervisor, as text. */
    readonly supervisor: string,
  ) {
    super(ErrorCode.CHILD_RUNNING, `child ${JSON.stringify(childId)} of supervisor ${supervisor} is running`, {
      childId,
      supervisor,
    });
  }
}

/** Two children share one id. */
export class DuplicateChildError extends SpindleError {
  /** Always `'DuplicateChildError'`. */
  override name = 'DuplicateChildError';
  /** True when `e` is a DuplicateChildError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is DuplicateChildError {
    return SpindleError.hasCode(e, ErrorCode.DUPLICATE_CHILD);
  }
  constructor(
    /** The child's id. */
    readonly childId: string,
    /** The supervisor, as text. */
    readonly supervisor: string,
  ) {
    super(ErrorCode.DUPLICATE_CHILD, `supervisor ${supervisor} already has a child ${JSON.stringify(childId)}`, {
      childId,
      supervisor,
    });
  }
}

/** A public function was given an argument it cannot use. */
export class InvalidArgumentError extends SpindleError {
  /** Always `'InvalidArgumentError'`. */
  override name = 'InvalidArgumentError';
  /** True when `e` is a InvalidArgumentError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is InvalidArgumentError {
    return SpindleError.hasCode(e, ErrorCode.INVALID_ARGUMENT);
  }
  constructor(
    /** The argument, named with the function it was passed to. */
    readonly argument: string,
    /** What is wrong with it (expected …, got …). */
    readonly problem: string,
  ) {
    super(ErrorCode.INVALID_ARGUMENT, `invalid ${argument}: ${problem}`, {
      argument,
      problem,
    });
  }
}

/** A function that acts on "the current process" was called outside any process. */
export class NotInProcessError extends SpindleError {
  /** Always `'NotInProcessError'`. */
  override name = 'NotInProcessError';
  /** True when `e` is a NotInProcessError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is NotInProcessError {
    return SpindleError.hasCode(e, ErrorCode.NOT_IN_PROCESS);
  }
  constructor(
    /** The function that was called. */
    readonly fn: string,
  ) {
    super(ErrorCode.NOT_IN_PROCESS, `${fn} must be called from inside a process callback (in async callbacks, before the first await)`, {
      fn,
    });
  }
}

/** A message could not be cloned to cross a thread or node; `path` names the field. */
export class NotCloneableError extends SpindleError {
  /** Always `'NotCloneableError'`. */
  override name = 'NotCloneableError';
  constructor(
    /** Where in the message the value is (e.g. `msg.handle`). */
    readonly path: string,
    /** What the value is (e.g. `function`). */
    readonly valueType: string,
    /** Where the message was going, as text. */
    readonly destination: string,
  ) {
    super(ErrorCode.NOT_CLONEABLE, `message to ${destination} cannot be cloned: ${path} is a ${valueType}`, {
      path,
      valueType,
      destination,
    });
  }
  /** True when `e` is a NotCloneableError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is NotCloneableError {
    return SpindleError.hasCode(e, ErrorCode.NOT_CLONEABLE);
  }
}

/** How a worker thread ended. */
export type ThreadExitKind = 'crashed' | 'exited' | 'out_of_memory' | 'hung' | 'init_timeout' | 'protocol_violation';

/** A worker thread died; every process inside it exits with this as its `{ error }` reason. */
export class ThreadExitError extends SpindleError {
  /** Always `'ThreadExitError'`. */
  override name = 'ThreadExitError';
  constructor(
    /** The worker thread's id. */
    readonly thread: number,
    /** How the thread ended. */
    readonly kind: ThreadExitKind,
    /** What happened, in words. */
    readonly detail: string,
    cause?: unknown,
  ) {
    super(ErrorCode.THREAD_EXIT, `worker thread ${thread} ${kind.replace(/_/g, ' ')}: ${detail}`, { thread, kind, detail }, cause);
  }
  /**
   * Casts and infos the main thread sent to this thread that it never handled: lost in flight
   * with it (also added to the main runtime's `stats.lostInFlight`).
   */
  lostCasts = 0;
  /**
   * Records the lost-in-flight count (the thread manager does, as the thread's death is handled).
   * @internal
   */
  withLostCasts(n: number): this {
    if (!(Number.isSafeInteger(n) && n > 0)) return this;
    this.lostCasts = n;
    (this.context as Record<string, unknown>).lostCasts = n;
    this.message += `; ${n} cast${n === 1 ? '' : 's'} sent to it from the main thread were lost in flight`;
    return this;
  }
  /** True when `e` is a ThreadExitError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ThreadExitError {
    return SpindleError.hasCode(e, ErrorCode.THREAD_EXIT);
  }
}

/** A Task job threw; `cause` is the original error. */
export class TaskFailedError extends SpindleError {
  /** Always `'TaskFailedError'`. */
  override name = 'TaskFailedError';
  /** True when `e` is a TaskFailedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is TaskFailedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_FAILED);
  }
  constructor(
    /** The task, as text. */
    readonly task: string,
    cause: unknown,
  ) {
    super(ErrorCode.TASK_FAILED, `task ${task} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { task }, cause);
  }
}

/** A Task did not finish in time and was cancelled. */
export class TaskTimeoutError extends SpindleError {
  /** Always `'TaskTimeoutError'`. */
  override name = 'TaskTimeoutError';
  /** True when `e` is a TaskTimeoutError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is TaskTimeoutError {
    return SpindleError.hasCode(e, ErrorCode.TASK_TIMEOUT);
  }
  constructor(
    /** The task, as text. */
    readonly task: string,
    /** The timeout that ran out, in ms. */
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.TASK_TIMEOUT, `task ${task} did not finish within ${timeoutMs} ms`, { task, timeoutMs });
  }
}

/** A Task was aborted through its AbortSignal. */
export class TaskAbortedError extends SpindleError {
  /** Always `'TaskAbortedError'`. */
  override name = 'TaskAbortedError';
  /** True when `e` is a TaskAbortedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is TaskAbortedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_ABORTED);
  }
  constructor(
    /** The task, as text. */
    readonly task: string,
  ) {
    super(ErrorCode.TASK_ABORTED, `task ${task} was aborted`, { task });
  }
}

/**
 * An Elixir-style task (`Task.async`, `Task.Supervisor.async…`) exited without a result:
 * `reason` is its exit reason. When its function threw, `cause` is the thrown value.
 */
export class TaskExitedError extends SpindleError {
  /** Always `'TaskExitedError'`. */
  override name = 'TaskExitedError';
  /** True when `e` is a TaskExitedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is TaskExitedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_EXITED);
  }
  constructor(
    /** The task, as text. */
    readonly task: string,
    /** The exit reason. */
    readonly reason: ExitReason,
  ) {
    super(
      ErrorCode.TASK_EXITED,
      `task ${task} exited with reason ${formatReason(reason)}`,
      { task, reason: formatReason(reason) },
      typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : undefined,
    );
  }
}

/** A task's result was already taken (`Task.await`, `Task.yield` or `Task.shutdown`) or is being waited for. */
export class TaskAlreadyAwaitedError extends SpindleError {
  /** Always `'TaskAlreadyAwaitedError'`. */
  override name = 'TaskAlreadyAwaitedError';
  /** True when `e` is a TaskAlreadyAwaitedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is TaskAlreadyAwaitedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_AWAITED);
  }
  constructor(
    /** The task, as text. */
    readonly task: string,
  ) {
    super(ErrorCode.TASK_AWAITED, `task ${task} was already awaited, or is being awaited: a task's result is delivered once`, { task });
  }
}

/**
 * A call (or, under the `reject` policy, a same-thread cast or send) found the target's
 * bounded mailbox full (`StartOptions.maxMailbox`). Nothing was queued.
 */
export class MailboxFullError extends SpindleError {
  /** Always `'MailboxFullError'`. */
  override name = 'MailboxFullError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The mailbox bound. */
    readonly maxMailbox: number,
  ) {
    super(ErrorCode.MAILBOX_FULL, `the mailbox of ${server} is full (maxMailbox ${maxMailbox}); the message was not queued`, {
      server,
      maxMailbox,
    });
  }
  /** True when `e` is a MailboxFullError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is MailboxFullError {
    return SpindleError.hasCode(e, ErrorCode.MAILBOX_FULL);
  }
}

/** The exit reason `{ error }` of a process whose bounded mailbox overflowed under the `crash` policy. */
export class MailboxOverflowError extends SpindleError {
  /** Always `'MailboxOverflowError'`. */
  override name = 'MailboxOverflowError';
  constructor(
    /** The target, as text (a formatted ref or a name). */
    readonly server: string,
    /** The mailbox bound. */
    readonly maxMailbox: number,
  ) {
    super(ErrorCode.MAILBOX_OVERFLOW, `the mailbox of ${server} overflowed (maxMailbox ${maxMailbox}); mailbox_overflow`, {
      server,
      maxMailbox,
    });
  }
  /** True when `e` is a MailboxOverflowError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is MailboxOverflowError {
    return SpindleError.hasCode(e, ErrorCode.MAILBOX_OVERFLOW);
  }
}

/**
 * The channel to another thread holds more unhandled messages than its bound
 * (`RuntimeOptions.maxInFlight`): the receiver is not keeping up. Calls fail fast with this;
 * casts are dropped and counted.
 */
export class ChannelBusyError extends SpindleError {
  /** Always `'ChannelBusyError'`. */
  override name = 'ChannelBusyError';
  constructor(
    /** Where the message was going, as text. */
    readonly destination: string,
    /** Messages sent on the channel and not yet handled. */
    readonly inFlight: number,
    /** The bound (`RuntimeOptions.maxInFlight`). */
    readonly maxInFlight: number,
    /** Why it is busy, when it is not the in-flight count (a node's connection over its byte bound). */
    why?: string,
  ) {
    super(
      ErrorCode.BUSY,
      `the channel to ${destination} is busy: ${why ?? `${inFlight} messages sent and not yet handled (maxInFlight ${maxInFlight})`}`,
      { destination, inFlight, maxInFlight },
    );
  }
  /** True when `e` is a ChannelBusyError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is ChannelBusyError {
    return SpindleError.hasCode(e, ErrorCode.BUSY);
  }
}

/** {@link RuntimeClosedError}'s default reason. */
const RUNTIME_SHUTTING_DOWN = 'the runtime is shutting down';

/**
 * The runtime (or the thread host, a Task pool, a keyed registry) is closed or closing and
 * takes no new work.
 */
export class RuntimeClosedError extends SpindleError {
  /** Always `'RuntimeClosedError'`. */
  override name = 'RuntimeClosedError';
  /** True when `e` is a RuntimeClosedError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is RuntimeClosedError {
    return SpindleError.hasCode(e, ErrorCode.RUNTIME_CLOSED);
  }
  /**
   * The message is `` `${what}: ${why}` ``; `why` defaults to `'the runtime is shutting down'`
   * (a closed keyed registry says `'the registry is closed'`).
   */
  constructor(
    /** The operation that was refused. */
    readonly what: string,
    /** Why it was refused (the end of the message); default `'the runtime is shutting down'`. */
    readonly why: string = RUNTIME_SHUTTING_DOWN,
  ) {
    super(ErrorCode.RUNTIME_CLOSED, `${what}: ${why}`, { what, why });
  }
}

/** Why a cluster handshake failed (see docs/cluster-handshake.md). */
export type HandshakeFailureReason =
  | 'auth_failed'
  | 'bad_message'
  | 'version_mismatch'
  | 'timeout'
  | 'duplicate_connection'
  | 'name_mismatch'
  | 'connection_closed';

/** Every {@link HandshakeFailureReason}; the Record makes the compiler insist on all of them. */
const HANDSHAKE_FAILURE_REASONS: Readonly<Record<HandshakeFailureReason, true>> = {
  auth_failed: true,
  bad_message: true,
  version_mismatch: true,
  timeout: true,
  duplicate_connection: true,
  name_mismatch: true,
  connection_closed: true,
};

/**
 * A cluster connection could not be brought up: the handshake with `peer` failed for `reason`
 * (a REJECT either side sent or received, its timer, or the socket closing first).
 */
export class HandshakeError extends SpindleError {
  /** Always `'HandshakeError'`. */
  override name = 'HandshakeError';
  constructor(
    /** Why it failed. */
    readonly reason: HandshakeFailureReason,
    /** The other end, as text (an address, or a node name once known). */
    readonly peer: string,
  ) {
    super(ErrorCode.HANDSHAKE, `the handshake with ${peer} failed: ${reason}`, { reason, peer });
  }
  /** True when `e` is a HandshakeError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is HandshakeError {
    return SpindleError.hasCode(e, ErrorCode.HANDSHAKE);
  }
}

/** Why a node is down (see docs/concepts/cluster.md). */
export type NodeDownReason =
  | 'connection_closed'
  | 'heartbeat_timeout'
  | 'graceful_shutdown'
  | 'protocol_error'
  | 'cluster_stopped'
  | 'not_connected'
  | 'restarted'
  | 'partitioned';

/** Every {@link NodeDownReason}; the Record makes the compiler insist on all of them. */
const NODE_DOWN_REASONS: Readonly<Record<NodeDownReason, true>> = {
  connection_closed: true,
  heartbeat_timeout: true,
  graceful_shutdown: true,
  protocol_error: true,
  cluster_stopped: true,
  not_connected: true,
  restarted: true,
  partitioned: true,
};

/**
 * The node of a call's target is not connected (`not_connected`), or the connection to it was
 * lost while the call waited for its reply (the other reasons). Erlang's `{nodedown, Node}`.
 */
export class NodeDownError extends SpindleError {
  /** Always `'NodeDownError'`. */
  override name = 'NodeDownError';
  constructor(
    /** The node, as `name@host:port`. */
    readonly node: string,
    /** Why it is down. */
    readonly reason: NodeDownReason,
  ) {
    super(ErrorCode.NODE_DOWN, `node ${node} is down (${reason})`, { node, reason });
  }
  /** True when `e` is a NodeDownError by its code (also after crossing threads or nodes); never throws. */
  static is(e: unknown): e is NodeDownError {
    return SpindleError.hasCode(e, ErrorCode.NODE_DOWN);
  }
}

/** A known {@link NodeDownReason}; anything else reads as `connection_closed`. */
function nodeDownReason(v: unknown): NodeDownReason {
  return typeof v === 'string' && Object.hasOwn(NODE_DOWN_REASONS, v) ? (v as NodeDownReason) : 'connection_closed';
}

// --- Serialization --------------------------------------------------------------------------
//
// What arrives from another thread or node is untrusted data: the code is a key looked up in
// a Map (never an index into a plain object), every field is type-checked, strings, cause
// depth and the data of context and fields are bounded, and nothing in it can throw here.

/** Options for {@link serializeError}. */
export interface SerializeErrorOptions {
  /** Keep each error's `stack`; default true (between threads). */
  readonly stacks?: boolean;
  /**
   * Keep absolute file paths and file URLs in messages, stacks, context and fields; default
   * true. When false each is cut to its file name (`…/worker.ts`).
   */
  readonly paths?: boolean;
}

/**
 * The options for an error that leaves the machine (a node boundary): no stacks and no
 * absolute paths, which tell a peer the directory layout and dependencies of this host.
 */
export const ACROSS_NODES: SerializeErrorOptions = Object.freeze({ stacks: false, paths: false });

/**
 * Turns any thrown value into plain data that survives structured clone and JSON: name,
 * message, stack, `code`, a Spindle error's `context`, any other error's own enumerable
 * fields, and the cause chain (cycles cut, at most 8 deep). Strings and data are bounded.
 * Never throws.
 */
export function serializeError(e: unknown, options: SerializeErrorOptions = {}): SerializedError {
  try {
    const budget = errorDataBudget();
    if (options?.paths === false) budget.mapString = redactPaths;
    return serializeAt(e, options ?? {}, 0, budget, new Set());
  } catch {
    // Only a value whose fields throw when read (getters, Proxies) lands here.
    return { __spindleError: 1, name: 'Error', message: 'an error whose fields could not be read' };
  }
}

function serializeAt(e: unknown, o: SerializeErrorOptions, depth: number, budget: DataBudget, seen: Set<unknown>): SerializedError {
  if (!(e instanceof Error)) return nonError(e, o);
  seen.add(e);
  const text = (s: string, max: number) => capString(o.paths === false ? redactPaths(s) : s, max);
  const fields = e as unknown as Record<string, unknown>;
  const code = fields.code;
  const context = fields.context;
  const out: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
    __spindleError: 1,
    name: typeof e.name === 'string' ? text(e.name, MAX_ERROR_NAME) : 'Error',
    message: typeof e.message === 'string' ? text(e.message, MAX_ERROR_MESSAGE) : '',
  };
  if (o.stacks !== false && typeof e.stack === 'string') out.stack = text(e.stack, MAX_ERROR_STACK);
  if (typeof code === 'string') out.code = capString(code, MAX_ERROR_CODE);
  if (isPlainObject(context)) {
    const c = boundedData(context, budget);
    if (c !== OMIT) out.context = c as Record<string, unknown>;
  }
  // A Spindle error (a code and a context) is rebuilt from those; any other error keeps its
  // own fields. The same rule as the Task worker's (workers/task-worker.mjs).
  if (typeof code !== 'string' || !isPlainObject(context)) {
    const own = ownFields(e, budget);
    if (own !== undefined) out.fields = own;
  }
  const cause = e.cause;
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH && !seen.has(cause)) out.cause = serializeAt(cause, o, depth + 1, budget, seen);
  return out;
}

/** Keys an error's fields never supply: the ones serialized on their own. */
const OWN_KEYS = new Set(['name', 'message', 'stack', 'cause', 'code', 'context']);

/** The own enumerable data fields of `e` (bounded plain data), or undefined when it has none. */
function ownFields(e: Error, budget: DataBudget): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(e)) {
    if (OWN_KEYS.has(k) || k === '__proto__') continue;
    const v = boundedData(ownData(e, k), budget, 1);
    if (v !== OMIT) (out ??= {})[k] = v;
  }
  return out;
}

function nonError(e: unknown, o: SerializeErrorOptions): SerializedError {
  const raw = safeString(e);
  const text = capString(o.paths === false ? redactPaths(raw) : raw, MAX_ERROR_MESSAGE);
  return { __spindleError: 1, name: 'NonErrorThrown', message: text, context: { value: text } };
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    try {
      return String(v);
    } catch {
      return `[${typeof v}]`; // e.g. Object.create(null) holding a BigInt
    }
  }
}

/** True for the output of {@link serializeError} (the marker only; fields are checked on rebuild). */
export function isSerializedError(v: unknown): v is SerializedError {
  return looksSerializedError(v);
}

/**
 * Rebuilds an error from {@link serializeError}'s output: the same Spindle class for a known
 * code; otherwise an `Error` with the original name, message and stack, and as own fields
 * the `code` and `context` it carried (if any) and its other fields. Total over any input:
 * a value that is not a serialized error gives an InvalidArgumentError saying so.
 */
export function deserializeError(s: unknown): Error {
  try {
    return rebuild(s, 0, errorDataBudget(), new Set());
  } catch (e) {
    // Unreachable for structured-cloned data; a last line for a hostile local object.
    return new InvalidArgumentError('serialized error', `could not be read (${e instanceof Error ? e.name : typeof e})`);
  }
}

/** A serialized error with every field checked and bounded. */
interface Clean {
  readonly code: string | undefined;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** The context, or undefined when it carried none (or a malformed one). */
  readonly context: Record<string, unknown> | undefined;
  readonly fields: Record<string, unknown> | undefined;
}

function rebuild(s: unknown, depth: number, budget: DataBudget, seen: Set<unknown>): Error {
  if (!looksSerializedError(s))
    return new InvalidArgumentError('serialized error', `expected the output of serializeError, got ${preview(s)}`);
  seen.add(s);
  const c = clean(s as object, budget);
  const raw = ownData(s as object, 'cause');
  const cause = depth < MAX_CAUSE_DEPTH && looksSerializedError(raw) && !seen.has(raw) ? rebuild(raw, depth + 1, budget, seen) : undefined;
  const known = c.code === undefined ? undefined : REBUILDERS.get(c.code);
  const err = known === undefined ? rebuildOther(c, cause) : known(c, cause);
  if (cause !== undefined && err.cause === undefined) define(err, 'cause', cause, false);
  // Without a stack from the sender (omitted across nodes), a header only: never the stack of
  // this rebuild, which would point at the wrong code.
  err.stack = c.stack ?? `${err.name}: ${err.message}`;
  return err;
}

function clean(s: object, budget: DataBudget): Clean {
  const name = ownData(s, 'name');
  const code = ownData(s, 'code');
  const stack = ownData(s, 'stack');
  return {
    code: typeof code === 'string' ? capString(code, MAX_ERROR_CODE) : undefined,
    name: typeof name === 'string' && name !== '' ? capString(name, MAX_ERROR_NAME) : 'Error',
    message: textOf(ownData(s, 'message')),
    stack: typeof stack === 'string' ? capString(stack, MAX_ERROR_STACK) : undefined,
    context: dataOf(ownData(s, 'context'), budget),
    fields: dataOf(ownData(s, 'fields'), budget),
  };
}

/** A message: a string (bounded), or a primitive's text; anything else is no message. */
function textOf(v: unknown): string {
  if (typeof v === 'string') return capString(v, MAX_ERROR_MESSAGE);
  if (typeof v === 'bigint') return bigintText(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** A bounded copy of a plain-object field (context, fields); undefined for anything else. */
function dataOf(v: unknown, budget: DataBudget): Record<string, unknown> | undefined {
  if (!isPlainObject(v)) return undefined;
  const d = boundedData(v, budget);
  return d === OMIT ? undefined : (d as Record<string, unknown>);
}

/** An error of a code this version has no class for (or none): a plain `Error` with what it carried. */
function rebuildOther(c: Clean, cause: Error | undefined): Error {
  const err = new Error(c.message, cause === undefined ? undefined : { cause });
  err.name = c.name;
  if (c.code !== undefined) define(err, 'code', c.code, true);
  if (c.context !== undefined) define(err, 'context', c.context, true);
  if (c.fields !== undefined) {
    for (const k of Object.keys(c.fields)) {
      // Never shadow what an Error has (name, toString, constructor, …) or what is set above.
      if (OWN_KEYS.has(k) || k in err) continue;
      define(err, k, c.fields[k], true);
    }
  }
  return err;
}

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, enumerable, configurable: true, writable: true });
}

type Rebuilder = (c: Clean, cause: Error | undefined) => Error;

/** The classes rebuilt from their code; the context carries every constructor argument. */
const REBUILDERS = new Map<string, Rebuilder>([
  [ErrorCode.CALL_TIMEOUT, (c) => new CallTimeoutError(str(c, 'server'), num(c, 'timeoutMs'), str(c, 'messageTag'))],
  [ErrorCode.NO_PROCESS, (c) => new NoProcessError(str(c, 'server'))],
  [ErrorCode.ALREADY_REGISTERED, (c) => new AlreadyRegisteredError(str(c, 'name'), str(c, 'holder'))],
  [ErrorCode.NOT_REGISTERED, (c) => new NotRegisteredError(str(c, 'name'))],
  [ErrorCode.INIT_TIMEOUT, (c) => new InitTimeoutError(str(c, 'server'), num(c, 'timeoutMs'))],
  [ErrorCode.INVALID_ARGUMENT, (c) => new InvalidArgumentError(str(c, 'argument'), str(c, 'problem'))],
  [ErrorCode.NOT_IN_PROCESS, (c) => new NotInProcessError(str(c, 'fn'))],
  [ErrorCode.NOT_CLONEABLE, (c) => new NotCloneableError(str(c, 'path'), str(c, 'valueType'), str(c, 'destination'))],
  [ErrorCode.CHILD_NOT_FOUND, (c) => new ChildNotFoundError(str(c, 'childId'), str(c, 'supervisor'))],
  [ErrorCode.CHILD_RUNNING, (c) => new ChildRunningError(str(c, 'childId'), str(c, 'supervisor'))],
  [ErrorCode.DUPLICATE_CHILD, (c) => new DuplicateChildError(str(c, 'childId'), str(c, 'supervisor'))],
  [ErrorCode.TASK_TIMEOUT, (c) => new TaskTimeoutError(str(c, 'task'), num(c, 'timeoutMs'))],
  [ErrorCode.TASK_ABORTED, (c) => new TaskAbortedError(str(c, 'task'))],
  [
    ErrorCode.RUNTIME_CLOSED,
    (c) => {
      // An error from a version without `why` carries only `what`: the default reason then.
      const why = str(c, 'why');
      return new RuntimeClosedError(str(c, 'what'), why === '' ? RUNTIME_SHUTTING_DOWN : why);
    },
  ],
  [ErrorCode.BAD_RETURN_VALUE, (c) => new BadReturnValueError(str(c, 'callback'), str(c, 'expected'), str(c, 'got'))],
  [ErrorCode.MAILBOX_FULL, (c) => new MailboxFullError(str(c, 'server'), num(c, 'maxMailbox'))],
  [ErrorCode.MAILBOX_OVERFLOW, (c) => new MailboxOverflowError(str(c, 'server'), num(c, 'maxMailbox'))],
  [ErrorCode.BUSY, (c) => new ChannelBusyError(str(c, 'destination'), num(c, 'inFlight'), num(c, 'maxInFlight'))],
  [
    ErrorCode.SERVER_EXITED,
    (c, cause) => withMessage(new ServerExitedError(str(c, 'server'), reasonOf(c, cause), str(c, 'messageTag')), c.message),
  ],
  [ErrorCode.INIT_FAILED, (c, cause) => withMessage(new InitFailedError(str(c, 'server'), reasonOf(c, cause)), c.message)],
  [ErrorCode.CHILD_START, (c, cause) => withMessage(new ChildStartError(str(c, 'childId'), str(c, 'supervisor'), cause), c.message)],
  [
    ErrorCode.THREAD_EXIT,
    (c, cause) =>
      new ThreadExitError(num(c, 'thread'), threadExitKind(ctx(c, 'kind')), str(c, 'detail'), cause).withLostCasts(num(c, 'lostCasts')),
  ],
  [ErrorCode.TASK_FAILED, (c, cause) => withMessage(new TaskFailedError(str(c, 'task'), cause), c.message)],
  [ErrorCode.TASK_EXITED, (c, cause) => withMessage(new TaskExitedError(str(c, 'task'), reasonOf(c, cause)), c.message)],
  [ErrorCode.TASK_AWAITED, (c) => new TaskAlreadyAwaitedError(str(c, 'task'))],
  [ErrorCode.HANDSHAKE, (c) => new HandshakeError(handshakeReason(ctx(c, 'reason')), str(c, 'peer'))],
  [ErrorCode.NODE_DOWN, (c) => new NodeDownError(str(c, 'node'), nodeDownReason(ctx(c, 'reason')))],
]);

/** A known {@link HandshakeFailureReason}; anything else reads as `bad_message`. */
function handshakeReason(v: unknown): HandshakeFailureReason {
  return typeof v === 'string' && Object.hasOwn(HANDSHAKE_FAILURE_REASONS, v) ? (v as HandshakeFailureReason) : 'bad_message';
}

/** The context field `k` (own fields only: `toString` or `__proto__` read as absent). */
function ctx(c: Clean, k: string): unknown {
  return c.context !== undefined && Object.hasOwn(c.context, k) ? c.context[k] : undefined;
}
function str(c: Clean, k: string): string {
  const v = ctx(c, k);
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
function num(c: Clean, k: string): number {
  const v = ctx(c, k);
  return typeof v === 'number' ? v : 0;
}

/** Every {@link ThreadExitKind}; the Record makes the compiler insist on all of them. */
const THREAD_EXIT_KINDS: Readonly<Record<ThreadExitKind, true>> = {
  crashed: true,
  exited: true,
  out_of_memory: true,
  hung: true,
  init_timeout: true,
  protocol_violation: true,
};

function threadExitKind(v: unknown): ThreadExitKind {
  return typeof v === 'string' && Object.hasOwn(THREAD_EXIT_KINDS, v) ? (v as ThreadExitKind) : 'crashed';
}

/** The exit reason of a ServerExitedError or InitFailedError: the cause when it crashed, else the context's text. */
function reasonOf(c: Clean, cause: Error | undefined): ExitReason {
  return cause !== undefined ? { error: cause } : parseReason(ctx(c, 'reason'));
}

/** Reads back an exit reason stored as {@link formatReason}'s text (`{ shutdown: … }` included). */
function parseReason(text: unknown): ExitReason {
  if (typeof text !== 'string') return 'normal';
  const m = /^\{ shutdown: (.*) \}$/s.exec(text);
  if (m === null) return text as ExitReason;
  const detail = m[1] as string;
  try {
    return { shutdown: JSON.parse(detail) };
  } catch {
    return { shutdown: detail };
  }
}

function withMessage<E extends Error>(e: E, message: string): E {
  e.message = message;
  return e;
}
