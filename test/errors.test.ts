/**
 * Errors: stable codes, context, and serialise → (structured clone) → rebuild giving the same
 * class back, as happens when an error crosses a thread or a node.
 */
import { describe, expect, it } from 'vitest';
import type { ExitReason, SerializedError } from '../src/index.js';
import {
  AlreadyRegisteredError,
  BadReturnValueError,
  CallTimeoutError,
  ChannelBusyError,
  HandshakeError,
  NodeDownError,
  ChildNotFoundError,
  ChildRunningError,
  ChildStartError,
  DuplicateChildError,
  deserializeError,
  ErrorCode,
  InitFailedError,
  InitTimeoutError,
  InvalidArgumentError,
  isSerializedError,
  MailboxFullError,
  MailboxOverflowError,
  NoProcessError,
  NotCloneableError,
  NotInProcessError,
  NotRegisteredError,
  RuntimeClosedError,
  ServerExitedError,
  SpindleError,
  serializeError,
  TaskAbortedError,
  TaskAlreadyAwaitedError,
  TaskExitedError,
  TaskFailedError,
  TaskTimeoutError,
  ThreadExitError,
} from '../src/index.js';

const ref = { node: 'n@h', thread: 1, id: 7 };
const root = new TypeError('root cause');

// biome-ignore lint/suspicious/noExplicitAny: a table of constructors of different arities.
const samples: [string, new (...args: any[]) => SpindleError, SpindleError][] = [
  ['CallTimeoutError', CallTimeoutError, CallTimeoutError.for(ref, { type: 'get' }, 250)],
  ['ServerExitedError', ServerExitedError, ServerExitedError.for(ref, { error: root }, 'get')],
  ['NoProcessError', NoProcessError, new NoProcessError('#Ref<n@h/1/7>')],
  ['InitFailedError', InitFailedError, new InitFailedError('#Ref<n@h/1/7>', { error: root })],
  ['InitTimeoutError', InitTimeoutError, new InitTimeoutError('#Ref<n@h/1/7>', 100)],
  ['BadReturnValueError', BadReturnValueError, new BadReturnValueError('handleCall', '[reply, state]', 'number 42')],
  ['AlreadyRegisteredError', AlreadyRegisteredError, new AlreadyRegisteredError('svc', '#Ref<n@h/1/7>')],
  ['NotRegisteredError', NotRegisteredError, new NotRegisteredError('svc')],
  ['ChildStartError', ChildStartError, new ChildStartError('w', 'supervisor #Ref<n@h/0/1>', root)],
  ['ChildNotFoundError', ChildNotFoundError, new ChildNotFoundError('w', 'supervisor #Ref<n@h/0/1>')],
  ['ChildRunningError', ChildRunningError, new ChildRunningError('w', 'supervisor #Ref<n@h/0/1>')],
  ['DuplicateChildError', DuplicateChildError, new DuplicateChildError('w', 'supervisor #Ref<n@h/0/1>')],
  ['InvalidArgumentError', InvalidArgumentError, new InvalidArgumentError('timeout', 'expected a positive number')],
  ['NotInProcessError', NotInProcessError, new NotInProcessError('Process.self')],
  ['NotCloneableError', NotCloneableError, new NotCloneableError('msg.fn', 'function', '#Ref<n@h/1/7>')],
  ['ThreadExitError', ThreadExitError, new ThreadExitError(2, 'out_of_memory', 'heap limit reached', root)],
  ['TaskFailedError', TaskFailedError, new TaskFailedError('job-1', root)],
  ['TaskTimeoutError', TaskTimeoutError, new TaskTimeoutError('job-1', 1000)],
  ['TaskExitedError', TaskExitedError, new TaskExitedError('#Ref<n@h/1/7>', { error: root })],
  ['TaskAlreadyAwaitedError', TaskAlreadyAwaitedError, new TaskAlreadyAwaitedError('#Ref<n@h/1/7>')],
  ['TaskAbortedError', TaskAbortedError, new TaskAbortedError('job-1')],
  ['RuntimeClosedError', RuntimeClosedError, new RuntimeClosedError('GenServer.start')],
  ['MailboxFullError', MailboxFullError, new MailboxFullError('#Ref<n@h/1/7>', 100)],
  ['MailboxOverflowError', MailboxOverflowError, new MailboxOverflowError('#Ref<n@h/1/7>', 100)],
  ['ChannelBusyError', ChannelBusyError, new ChannelBusyError('thread 2', 5000, 4096)],
  ['HandshakeError', HandshakeError, new HandshakeError('auth_failed', '127.0.0.1:4370')],
  ['NodeDownError', NodeDownError, new NodeDownError('b@127.0.0.3:4370', 'heartbeat_timeout')],
];

function expectSame(rebuilt: Error, original: SpindleError, cls: new (...args: never[]) => SpindleError): void {
  expect(rebuilt).toBeInstanceOf(cls);
  expect(rebuilt).toBeInstanceOf(SpindleError);
  expect(rebuilt.name).toBe(original.name);
  expect((rebuilt as SpindleError).code).toBe(original.code);
  expect(rebuilt.message).toBe(original.message);
  expect((rebuilt as SpindleError).context).toEqual(original.context);
  expect(rebuilt.stack).toBe(original.stack);
  if (original.cause !== undefined) {
    const c = rebuilt.cause as Error;
    expect(c).toBeInstanceOf(Error);
    expect(c.name).toBe((original.cause as Error).name);
    expect(c.message).toBe((original.cause as Error).message);
  } else {
    expect(rebuilt.cause).toBeUndefined();
  }
}

describe('serializeError / deserializeError', () => {
  it('covers every error code', () => {
    const covered = new Set(samples.map(([, , e]) => e.code));
    for (const code of Object.values(ErrorCode)) {
      if (code === ErrorCode.REMOTE) continue;
      expect(covered.has(code), `no sample for ${code}`).toBe(true);
    }
  });

  it.each(samples)('round-trips %s to the same class, code, message and context', (_name, cls, original) => {
    const s = serializeError(original);
    expect(isSerializedError(s)).toBe(true);
    expect(s.code).toBe(original.code);
    expectSame(deserializeError(s), original, cls);
  });

  it.each(samples)('round-trips %s through structuredClone and JSON of its serialized form', (_name, cls, original) => {
    const cloned = structuredClone(serializeError(original)) as SerializedError;
    expectSame(deserializeError(cloned), original, cls);
    const viaJson = JSON.parse(JSON.stringify(serializeError(original))) as SerializedError;
    expectSame(deserializeError(viaJson), original, cls);
  });

  it('keeps the typed fields of the rebuilt error', () => {
    const t = deserializeError(serializeError(CallTimeoutError.for(ref, 'ping', 250))) as CallTimeoutError;
    expect(t.timeoutMs).toBe(250);
    expect(t.messageTag).toBe('"ping"');
    expect(t.server).toBe('#Ref<n@h/1/7>');
    expect(CallTimeoutError.is(t)).toBe(true);

    const c = deserializeError(serializeError(new ChildStartError('w', 'sup', root))) as ChildStartError;
    expect(c.childId).toBe('w');
    expect(c.supervisor).toBe('sup');
  });

  it('RuntimeClosedError says why (default: the runtime is shutting down), also after a round trip', () => {
    expect(new RuntimeClosedError('send').message).toBe('send: the runtime is shutting down');
    const r = deserializeError(
      serializeError(new RuntimeClosedError('KeyedRegistry.lookup', 'the registry is closed')),
    ) as RuntimeClosedError;
    expect(r).toBeInstanceOf(RuntimeClosedError);
    expect(r.message).toBe('KeyedRegistry.lookup: the registry is closed');
    expect(r.why).toBe('the registry is closed');
    // An error serialized without `why` (an older version) keeps the default reason.
    const old = deserializeError({
      __spindleError: 1,
      code: 'ERR_RUNTIME_CLOSED',
      name: 'RuntimeClosedError',
      message: 'x',
      context: { what: 'x' },
    });
    expect((old as RuntimeClosedError).why).toBe('the runtime is shutting down');
  });

  it.each<ExitReason>(['normal', 'shutdown', 'killed', 'noproc', { shutdown: 'reached_max_restart_intensity' }, { shutdown: { code: 3 } }])(
    'keeps a ServerExitedError reason (%o) across the round trip',
    (reason) => {
      const e = deserializeError(structuredClone(serializeError(ServerExitedError.for(ref, reason, 'get')))) as ServerExitedError;
      expect(ServerExitedError.is(e)).toBe(true);
      expect(e.reason).toEqual(reason);
      expect(e.cause).toBeUndefined();
    },
  );

  it('rebuilds a crash reason from the cause chain', () => {
    const e = deserializeError(serializeError(ServerExitedError.for(ref, { error: root }, 'get'))) as ServerExitedError;
    expect(e.reason).toEqual({ error: e.cause });
    expect((e.cause as Error).name).toBe('TypeError');
  });

  it('keeps a nested cause chain', () => {
    const inner = new InitFailedError('#Ref<n@h/1/7>', { error: root });
    const outer = new ChildStartError('w', 'sup', inner);
    const rebuilt = deserializeError(structuredClone(serializeError(outer)));
    expect(rebuilt).toBeInstanceOf(ChildStartError);
    expect(rebuilt.cause).toBeInstanceOf(InitFailedError);
    expect(((rebuilt.cause as Error).cause as Error).message).toBe('root cause');
  });

  it('rebuilds plain and non-Error thrown values as Errors with the original name and message', () => {
    const plain = new RangeError('out of range');
    const p = deserializeError(serializeError(plain));
    expect(p.name).toBe('RangeError');
    expect(p.message).toBe('out of range');
    const s = deserializeError(structuredClone(serializeError('just a string')));
    expect(s).toBeInstanceOf(Error);
    expect(s.message).toBe('just a string');
    const o = deserializeError(serializeError({ code: 42 }));
    expect(o.message).toBe('{"code":42}');
  });

  it('survives a cyclic cause chain without recursing forever', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const s = serializeError(a);
    expect(() => structuredClone(s)).not.toThrow();
    expect(deserializeError(s).message).toBe('a');
  });
});

describe('error messages', () => {
  it('name the values involved', () => {
    expect(CallTimeoutError.for(ref, { type: 'get' }, 250).message).toBe(
      'call to #Ref<n@h/1/7> with message "get" got no reply within 250 ms',
    );
    expect(new AlreadyRegisteredError('svc', '#Ref<n@h/0/3>').message).toContain('"svc"');
    expect(ServerExitedError.for(ref, 'killed', 'x').message).toContain('killed');
  });
});

describe('static is', () => {
  it('every error class recognises its own code, also after a round trip', async () => {
    const E = await import('../src/errors.js');
    const samples: [{ is(e: unknown): boolean }, Error][] = [
      [E.BadReturnValueError, new E.BadReturnValueError('handleCall', 'a tuple', 'undefined')],
      [E.ChildNotFoundError, new E.ChildNotFoundError('a', 'sup')],
      [E.ChildRunningError, new E.ChildRunningError('a', 'sup')],
      [E.DuplicateChildError, new E.DuplicateChildError('a', 'sup')],
      [E.InvalidArgumentError, new E.InvalidArgumentError('x', 'bad')],
      [E.NotInProcessError, new E.NotInProcessError('GenServer.self')],
      [E.TaskFailedError, new E.TaskFailedError('job', new Error('x'))],
      [E.TaskTimeoutError, new E.TaskTimeoutError('job', 5)],
      [E.TaskAbortedError, new E.TaskAbortedError('job')],
      [E.RuntimeClosedError, new E.RuntimeClosedError('send')],
    ];
    for (const [cls, err] of samples) {
      expect(cls.is(err)).toBe(true);
      expect(cls.is(E.deserializeError(structuredClone(E.serializeError(err))))).toBe(true);
      expect(cls.is(new Error('plain'))).toBe(false);
    }
  });
});
