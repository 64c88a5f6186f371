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

/** The stable error codes. */
export const ErrorCode = {
  CALL_TIMEOUT: 'ERR_CALL_TIMEOUT',
  SERVER_EXITED: 'ERR_SERVER_EXITED',
  NO_PROCESS: 'ERR_NO_PROCESS',
  INIT_FAILED: 'ERR_INIT_FAILED',
  INIT_TIMEOUT: 'ERR_INIT_TIMEOUT',
  BAD_RETURN_VALUE: 'ERR_BAD_RETURN_VALUE',
  ALREADY_REGISTERED: 'ERR_ALREADY_REGISTERED',
  NOT_REGISTERED: 'ERR_NOT_REGISTERED',
  CHILD_START: 'ERR_CHILD_START',
  CHILD_NOT_FOUND: 'ERR_CHILD_NOT_FOUND',
  CHILD_RUNNING: 'ERR_CHILD_RUNNING',
  DUPLICATE_CHILD: 'ERR_DUPLICATE_CHILD',
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  NOT_IN_PROCESS: 'ERR_NOT_IN_PROCESS',
  NOT_CLONEABLE: 'ERR_NOT_CLONEABLE',
  THREAD_EXIT: 'ERR_THREAD_EXIT',
  TASK_FAILED: 'ERR_TASK_FAILED',
  TASK_TIMEOUT: 'ERR_TASK_TIMEOUT',
  TASK_ABORTED: 'ERR_TASK_ABORTED',
  RUNTIME_CLOSED: 'ERR_RUNTIME_CLOSED',
  MAILBOX_FULL: 'ERR_MAILBOX_FULL',
  MAILBOX_OVERFLOW: 'ERR_MAILBOX_OVERFLOW',
  BUSY: 'ERR_BUSY',
  REMOTE: 'ERR_REMOTE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Plain-data form of an error, safe for structured clone and the wire. */
export interface SerializedError {
  readonly __spindleError: 1;
  readonly code?: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly context?: Record<string, unknown>;
  readonly cause?: SerializedError | undefined;
}

/** Base class of every Spindle error. `context` holds the values named in the message. */
export class SpindleError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.context = context;
  }

  /** True when `e` is a Spindle error with this code (works after crossing threads). */
  static hasCode(e: unknown, code: ErrorCode): boolean {
    return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
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
  override name = 'CallTimeoutError';
  constructor(
    readonly server: string,
    readonly timeoutMs: number,
    readonly messageTag: string,
  ) {
    super(ErrorCode.CALL_TIMEOUT, `call to ${server} with message ${messageTag} got no reply within ${timeoutMs} ms`, {
      server,
      timeoutMs,
      messageTag,
    });
  }
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
  override name = 'ServerExitedError';
  constructor(
    readonly server: string,
    readonly reason: ExitReason,
    readonly messageTag: string,
  ) {
    super(
      ErrorCode.SERVER_EXITED,
      `${server} exited with reason ${formatReason(reason)} before replying to message ${messageTag}`,
      { server, reason: formatReason(reason), messageTag },
      typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : undefined,
    );
  }
  static is(e: unknown): e is ServerExitedError {
    return SpindleError.hasCode(e, ErrorCode.SERVER_EXITED);
  }
  static for(ref: AnyRef, reason: ExitReason, message: unknown): ServerExitedError {
    return new ServerExitedError(formatRef(ref), reason, describeTag(message));
  }
}

/** The target process is not alive (never existed, or already exited). */
export class NoProcessError extends SpindleError {
  override name = 'NoProcessError';
  constructor(readonly server: string) {
    super(ErrorCode.NO_PROCESS, `no process is alive at ${server}`, { server });
  }
  static is(e: unknown): e is NoProcessError {
    return SpindleError.hasCode(e, ErrorCode.NO_PROCESS);
  }
}

/** `init` threw, or asked to stop. `cause` is the original error. */
export class InitFailedError extends SpindleError {
  override name = 'InitFailedError';
  constructor(
    readonly server: string,
    readonly reason: ExitReason,
  ) {
    super(
      ErrorCode.INIT_FAILED,
      `init of ${server} failed with reason ${formatReason(reason)}`,
      { server, reason: formatReason(reason) },
      typeof reason === 'object' && reason !== null && 'error' in reason ? reason.error : undefined,
    );
  }
  static is(e: unknown): e is InitFailedError {
    return SpindleError.hasCode(e, ErrorCode.INIT_FAILED);
  }
}

/** `init` did not finish within `initTimeout`; the process was killed. */
export class InitTimeoutError extends SpindleError {
  override name = 'InitTimeoutError';
  constructor(
    readonly server: string,
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.INIT_TIMEOUT, `init of ${server} did not finish within ${timeoutMs} ms`, { server, timeoutMs });
  }
  static is(e: unknown): e is InitTimeoutError {
    return SpindleError.hasCode(e, ErrorCode.INIT_TIMEOUT);
  }
}

/** A callback returned a value of the wrong shape (OTP's `bad_return_value`). */
export class BadReturnValueError extends SpindleError {
  override name = 'BadReturnValueError';
  static is(e: unknown): e is BadReturnValueError {
    return SpindleError.hasCode(e, ErrorCode.BAD_RETURN_VALUE);
  }
  constructor(
    readonly callback: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(ErrorCode.BAD_RETURN_VALUE, `${callback} returned ${got}, expected ${expected}`, { callback, expected, got });
  }
}

/** A unique name is already taken by another live process. */
export class AlreadyRegisteredError extends SpindleError {
  override name = 'AlreadyRegisteredError';
  constructor(
    readonly registeredName: string,
    readonly holder: string,
  ) {
    super(ErrorCode.ALREADY_REGISTERED, `name ${JSON.stringify(registeredName)} is already registered to ${holder}`, {
      name: registeredName,
      holder,
    });
  }
  static is(e: unknown): e is AlreadyRegisteredError {
    return SpindleError.hasCode(e, ErrorCode.ALREADY_REGISTERED);
  }
}

/** `Registry.lookup` found no process under the name. */
export class NotRegisteredError extends SpindleError {
  override name = 'NotRegisteredError';
  constructor(readonly registeredName: string) {
    super(ErrorCode.NOT_REGISTERED, `no process is registered as ${JSON.stringify(registeredName)}`, {
      name: registeredName,
    });
  }
  static is(e: unknown): e is NotRegisteredError {
    return SpindleError.hasCode(e, ErrorCode.NOT_REGISTERED);
  }
}

/** A supervisor child failed to start. `cause` is the child's start error. */
export class ChildStartError extends SpindleError {
  override name = 'ChildStartError';
  constructor(
    readonly childId: string,
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
  static is(e: unknown): e is ChildStartError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_START);
  }
}

/** No child with that id in the supervisor. */
export class ChildNotFoundError extends SpindleError {
  override name = 'ChildNotFoundError';
  static is(e: unknown): e is ChildNotFoundError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_NOT_FOUND);
  }
  constructor(
    readonly childId: string,
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
  override name = 'ChildRunningError';
  static is(e: unknown): e is ChildRunningError {
    return SpindleError.hasCode(e, ErrorCode.CHILD_RUNNING);
  }
  constructor(
    readonly childId: string,
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
  override name = 'DuplicateChildError';
  static is(e: unknown): e is DuplicateChildError {
    return SpindleError.hasCode(e, ErrorCode.DUPLICATE_CHILD);
  }
  constructor(
    readonly childId: string,
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
  override name = 'InvalidArgumentError';
  static is(e: unknown): e is InvalidArgumentError {
    return SpindleError.hasCode(e, ErrorCode.INVALID_ARGUMENT);
  }
  constructor(
    readonly argument: string,
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
  override name = 'NotInProcessError';
  static is(e: unknown): e is NotInProcessError {
    return SpindleError.hasCode(e, ErrorCode.NOT_IN_PROCESS);
  }
  constructor(readonly fn: string) {
    super(ErrorCode.NOT_IN_PROCESS, `${fn} must be called from inside a process callback (in async callbacks, before the first await)`, {
      fn,
    });
  }
}

/** A message could not be cloned to cross a thread or node; `path` names the field. */
export class NotCloneableError extends SpindleError {
  override name = 'NotCloneableError';
  constructor(
    readonly path: string,
    readonly valueType: string,
    readonly destination: string,
  ) {
    super(ErrorCode.NOT_CLONEABLE, `message to ${destination} cannot be cloned: ${path} is a ${valueType}`, {
      path,
      valueType,
      destination,
    });
  }
  static is(e: unknown): e is NotCloneableError {
    return SpindleError.hasCode(e, ErrorCode.NOT_CLONEABLE);
  }
}

/** How a worker thread ended. */
export type ThreadExitKind = 'crashed' | 'exited' | 'out_of_memory' | 'hung';

/** A worker thread died; every process inside it exits with this as its `{ error }` reason. */
export class ThreadExitError extends SpindleError {
  override name = 'ThreadExitError';
  constructor(
    readonly thread: number,
    readonly kind: ThreadExitKind,
    readonly detail: string,
    cause?: unknown,
  ) {
    super(ErrorCode.THREAD_EXIT, `worker thread ${thread} ${kind.replace(/_/g, ' ')}: ${detail}`, { thread, kind, detail }, cause);
  }
  static is(e: unknown): e is ThreadExitError {
    return SpindleError.hasCode(e, ErrorCode.THREAD_EXIT);
  }
}

/** A Task job threw; `cause` is the original error. */
export class TaskFailedError extends SpindleError {
  override name = 'TaskFailedError';
  static is(e: unknown): e is TaskFailedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_FAILED);
  }
  constructor(
    readonly task: string,
    cause: unknown,
  ) {
    super(ErrorCode.TASK_FAILED, `task ${task} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { task }, cause);
  }
}

/** A Task did not finish in time and was cancelled. */
export class TaskTimeoutError extends SpindleError {
  override name = 'TaskTimeoutError';
  static is(e: unknown): e is TaskTimeoutError {
    return SpindleError.hasCode(e, ErrorCode.TASK_TIMEOUT);
  }
  constructor(
    readonly task: string,
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.TASK_TIMEOUT, `task ${task} did not finish within ${timeoutMs} ms`, { task, timeoutMs });
  }
}

/** A Task was aborted through its AbortSignal. */
export class TaskAbortedError extends SpindleError {
  override name = 'TaskAbortedError';
  static is(e: unknown): e is TaskAbortedError {
    return SpindleError.hasCode(e, ErrorCode.TASK_ABORTED);
  }
  constructor(readonly task: string) {
    super(ErrorCode.TASK_ABORTED, `task ${task} was aborted`, { task });
  }
}

/**
 * A call (or, under the `reject` policy, a same-thread cast or send) found the target's
 * bounded mailbox full (`StartOptions.maxMailbox`). Nothing was queued.
 */
export class MailboxFullError extends SpindleError {
  override name = 'MailboxFullError';
  constructor(
    readonly server: string,
    readonly maxMailbox: number,
  ) {
    super(ErrorCode.MAILBOX_FULL, `the mailbox of ${server} is full (maxMailbox ${maxMailbox}); the message was not queued`, {
      server,
      maxMailbox,
    });
  }
  static is(e: unknown): e is MailboxFullError {
    return SpindleError.hasCode(e, ErrorCode.MAILBOX_FULL);
  }
}

/** The exit reason `{ error }` of a process whose bounded mailbox overflowed under the `crash` policy. */
export class MailboxOverflowError extends SpindleError {
  override name = 'MailboxOverflowError';
  constructor(
    readonly server: string,
    readonly maxMailbox: number,
  ) {
    super(ErrorCode.MAILBOX_OVERFLOW, `the mailbox of ${server} overflowed (maxMailbox ${maxMailbox}); mailbox_overflow`, {
      server,
      maxMailbox,
    });
  }
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
  override name = 'ChannelBusyError';
  constructor(
    readonly destination: string,
    readonly inFlight: number,
    readonly maxInFlight: number,
  ) {
    super(
      ErrorCode.BUSY,
      `the channel to ${destination} is busy: ${inFlight} messages sent and not yet handled (maxInFlight ${maxInFlight})`,
      { destination, inFlight, maxInFlight },
    );
  }
  static is(e: unknown): e is ChannelBusyError {
    return SpindleError.hasCode(e, ErrorCode.BUSY);
  }
}

/** The runtime (or the thread host) is closed or closing and takes no new work. */
export class RuntimeClosedError extends SpindleError {
  override name = 'RuntimeClosedError';
  static is(e: unknown): e is RuntimeClosedError {
    return SpindleError.hasCode(e, ErrorCode.RUNTIME_CLOSED);
  }
  constructor(readonly what: string) {
    super(ErrorCode.RUNTIME_CLOSED, `${what}: the runtime is shutting down`, {
      what,
    });
  }
}

type Rebuilder = (s: SerializedError) => SpindleError;

/** Rebuilds each code's class from its context. The context carries every constructor argument. */
const rebuilders: Record<string, Rebuilder> = {
  [ErrorCode.CALL_TIMEOUT]: (s) => new CallTimeoutError(str(s, 'server'), num(s, 'timeoutMs'), str(s, 'messageTag')),
  [ErrorCode.NO_PROCESS]: (s) => new NoProcessError(str(s, 'server')),
  [ErrorCode.ALREADY_REGISTERED]: (s) => new AlreadyRegisteredError(str(s, 'name'), str(s, 'holder')),
  [ErrorCode.NOT_REGISTERED]: (s) => new NotRegisteredError(str(s, 'name')),
  [ErrorCode.INIT_TIMEOUT]: (s) => new InitTimeoutError(str(s, 'server'), num(s, 'timeoutMs')),
  [ErrorCode.INVALID_ARGUMENT]: (s) => new InvalidArgumentError(str(s, 'argument'), str(s, 'problem')),
  [ErrorCode.NOT_IN_PROCESS]: (s) => new NotInProcessError(str(s, 'fn')),
  [ErrorCode.NOT_CLONEABLE]: (s) => new NotCloneableError(str(s, 'path'), str(s, 'valueType'), str(s, 'destination')),
  [ErrorCode.CHILD_NOT_FOUND]: (s) => new ChildNotFoundError(str(s, 'childId'), str(s, 'supervisor')),
  [ErrorCode.CHILD_RUNNING]: (s) => new ChildRunningError(str(s, 'childId'), str(s, 'supervisor')),
  [ErrorCode.DUPLICATE_CHILD]: (s) => new DuplicateChildError(str(s, 'childId'), str(s, 'supervisor')),
  [ErrorCode.TASK_TIMEOUT]: (s) => new TaskTimeoutError(str(s, 'task'), num(s, 'timeoutMs')),
  [ErrorCode.TASK_ABORTED]: (s) => new TaskAbortedError(str(s, 'task')),
  [ErrorCode.RUNTIME_CLOSED]: (s) => new RuntimeClosedError(str(s, 'what')),
  [ErrorCode.BAD_RETURN_VALUE]: (s) => new BadReturnValueError(str(s, 'callback'), str(s, 'expected'), str(s, 'got')),
};

function str(s: SerializedError, k: string): string {
  return String(s.context?.[k] ?? '');
}
function num(s: SerializedError, k: string): number {
  return Number(s.context?.[k] ?? 0);
}

/** Turns any thrown value into plain data that survives structured clone and JSON. */
export function serializeError(e: unknown, depth = 0): SerializedError {
  if (e instanceof Error) {
    const base: SerializedError = {
      __spindleError: 1,
      name: e.name,
      message: e.message,
      ...(e.stack === undefined ? {} : { stack: e.stack }),
      ...(e instanceof SpindleError ? { code: e.code, context: { ...e.context } } : {}),
      ...(e.cause !== undefined && depth < 8 ? { cause: serializeError(e.cause, depth + 1) } : {}),
    };
    return base;
  }
  return {
    __spindleError: 1,
    name: 'NonErrorThrown',
    message: safeString(e),
    context: { value: safeString(e) },
  };
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
}

/** True for the output of {@link serializeError}. */
export function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && (v as { __spindleError?: unknown }).__spindleError === 1;
}

/**
 * Rebuilds an error from {@link serializeError}'s output: the same Spindle class for a known
 * code, otherwise an `Error` with the original name, message and stack.
 */
export function deserializeError(s: SerializedError): Error {
  const cause = s.cause === undefined ? undefined : deserializeError(s.cause);
  let err: Error;
  const rebuild = s.code === undefined ? undefined : rebuilders[s.code];
  if (rebuild) {
    err = rebuild(s);
    if (cause !== undefined)
      Object.defineProperty(err, 'cause', {
        value: cause,
        configurable: true,
        writable: true,
      });
  } else if (
    s.code === ErrorCode.SERVER_EXITED ||
    s.code === ErrorCode.INIT_FAILED ||
    s.code === ErrorCode.CHILD_START ||
    s.code === ErrorCode.THREAD_EXIT ||
    s.code === ErrorCode.TASK_FAILED
  ) {
    err = rebuildWithCause(s, cause);
  } else {
    err = new Error(s.message, cause === undefined ? undefined : { cause });
    err.name = s.name;
  }
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
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

function rebuildWithCause(s: SerializedError, cause: Error | undefined): Error {
  const reason: ExitReason = cause !== undefined ? { error: cause } : parseReason(s.context?.reason);
  switch (s.code) {
    case ErrorCode.SERVER_EXITED: {
      const e = new ServerExitedError(str(s, 'server'), reason, str(s, 'messageTag'));
      return withMessage(e, s.message);
    }
    case ErrorCode.INIT_FAILED:
      return withMessage(new InitFailedError(str(s, 'server'), reason), s.message);
    case ErrorCode.CHILD_START:
      return withMessage(new ChildStartError(str(s, 'childId'), str(s, 'supervisor'), cause), s.message);
    case ErrorCode.THREAD_EXIT:
      return new ThreadExitError(num(s, 'thread'), (s.context?.kind as ThreadExitKind) ?? 'crashed', str(s, 'detail'), cause);
    default:
      return withMessage(new TaskFailedError(str(s, 'task'), cause), s.message);
  }
}

function withMessage<E extends Error>(e: E, message: string): E {
  e.message = message;
  return e;
}
