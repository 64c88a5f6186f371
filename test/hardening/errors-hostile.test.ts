/**
 * Errors and exit reasons rebuilt from untrusted data (what another thread, or later another
 * node, sends). deserializeError, decodeReason and decodeEvent are total: whatever arrives,
 * they return a value of the right kind and never throw, never index a plain object by a
 * foreign key, never read through a getter, and keep every string, the cause chain and the
 * data of context and fields bounded. A code this version does not know rebuilds as a plain
 * Error that keeps its name, code and message. Custom error classes keep their own fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exitReasonProblem } from '../../src/core/exit-reason.js';
import {
  ACROSS_NODES,
  CallTimeoutError,
  ErrorCode,
  InvalidArgumentError,
  NoProcessError,
  ServerExitedError,
  SpindleError,
  ThreadExitError,
  deserializeError,
  serializeError,
} from '../../src/index.js';
import { decodeEvent, decodeReason, encodeReason } from '../../src/transport/frames.js';
import { MAX_CAUSE_DEPTH, MAX_ERROR_MESSAGE, MAX_ERROR_NAME, MAX_ERROR_STACK } from '../../src/transport/validate.js';

const RUNS = { numRuns: 300 };

/** Keys that are dangerous to look up on a plain object. */
const HOSTILE_KEYS = ['toString', 'valueOf', 'hasOwnProperty', '__proto__', 'constructor', 'isPrototypeOf', '__defineGetter__'];

/** A serialized error as a hostile sender may make it: JSON.parse gives `__proto__` as an own key. */
function wire(fields: Record<string, unknown>): unknown {
  return structuredClone({ __spindleError: 1, ...fields });
}

function causeDepth(e: unknown): number {
  let n = 0;
  for (let c = (e as Error).cause; c !== undefined; c = (c as Error).cause) n++;
  return n;
}

describe('deserializeError over hostile codes', () => {
  it.each(HOSTILE_KEYS)('code %j rebuilds as a plain Error with the original name, code and message', (code) => {
    const e = deserializeError(wire({ code, name: 'EvilError', message: 'boom', context: { server: 'x' } }));
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(SpindleError);
    expect(e.name).toBe('EvilError');
    expect(e.message).toBe('boom');
    expect((e as { code?: unknown }).code).toBe(code);
    expect((e as { context?: unknown }).context).toEqual({ server: 'x' });
    // The code is the one it carries: it matches itself, and no class claims it.
    expect(SpindleError.hasCode(e, code as ErrorCode)).toBe(true);
    expect(NoProcessError.is(e)).toBe(false);
    expect(CallTimeoutError.is(e)).toBe(false);
  });

  it('an own __proto__ key (as JSON.parse makes it) changes nothing', () => {
    const s = JSON.parse(
      '{"__spindleError":1,"name":"E","message":"m","__proto__":{"code":"ERR_NO_PROCESS"},"context":{"__proto__":{"polluted":1}}}',
    );
    const e = deserializeError(s);
    expect(e).not.toBeInstanceOf(NoProcessError);
    expect((e as { code?: unknown }).code).toBeUndefined();
    const ctx = (e as { context?: object }).context as object;
    expect(Object.getPrototypeOf(ctx)).toBe(Object.prototype);
    expect((ctx as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('a known code with a context of the wrong shape still rebuilds its class, with safe values', () => {
    const t = deserializeError(wire({ code: ErrorCode.CALL_TIMEOUT, name: 1, message: 2, context: ['x'] })) as CallTimeoutError;
    expect(t).toBeInstanceOf(CallTimeoutError);
    expect(t.server).toBe('');
    expect(t.timeoutMs).toBe(0);
    const k = deserializeError(wire({ code: ErrorCode.THREAD_EXIT, context: { thread: '3', kind: 'toString', detail: { x: 1 } } }));
    expect(k).toBeInstanceOf(ThreadExitError);
    expect((k as ThreadExitError).kind).toBe('crashed');
    expect((k as ThreadExitError).thread).toBe(0);
    expect((k as ThreadExitError).detail).toBe('');
  });

  it('type-checks every field: an object name, a number message, an array context, a string stack', () => {
    const e = deserializeError(wire({ name: { evil: true }, message: 42, context: [1, 2], fields: 'x', stack: 7 }));
    expect(e.name).toBe('Error');
    expect(e.message).toBe('42');
    expect((e as { context?: unknown }).context).toBeUndefined();
    // No stack came: a header only, never the stack of the rebuild.
    expect(e.stack).toBe('Error: 42');
  });

  it('never calls a getter of a local hostile object', () => {
    let called = 0;
    const context = {
      get server(): string {
        called++;
        throw new Error('getter ran');
      },
    };
    const s = { __spindleError: 1, code: ErrorCode.NO_PROCESS, name: 'NoProcessError', message: 'm', context };
    const e = deserializeError(s);
    expect(e).toBeInstanceOf(NoProcessError);
    expect(called).toBe(0);
    // A value whose every read throws (a revoked Proxy) is refused, not thrown at the caller.
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(() => deserializeError(proxy)).not.toThrow();
    expect(deserializeError(proxy)).toBeInstanceOf(InvalidArgumentError);
  });

  it('cuts a cause cycle and a deep cause chain', () => {
    const cyclic = { __spindleError: 1, name: 'A', message: 'a' } as { cause?: unknown };
    cyclic.cause = cyclic;
    const e = deserializeError(structuredClone(cyclic));
    expect(e.message).toBe('a');
    expect(e.cause).toBeUndefined();

    let deep: unknown = { __spindleError: 1, name: 'E', message: 'leaf' };
    for (let i = 0; i < 5000; i++) deep = { __spindleError: 1, name: 'E', message: `level ${i}`, cause: deep };
    const d = deserializeError(deep);
    expect(causeDepth(d)).toBe(MAX_CAUSE_DEPTH);
  });

  it('bounds strings and the data of context and fields', () => {
    const big = 'x'.repeat(1_000_000);
    const many = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, big]));
    // Not cloned: 50 000 copies of a 1 MB string is what a sender would pay, not the test.
    const e = deserializeError({ __spindleError: 1, name: big, message: big, stack: big, context: many, fields: many });
    expect(e.name.length).toBeLessThanOrEqual(MAX_ERROR_NAME + 1);
    expect(e.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE + 1);
    expect((e.stack as string).length).toBeLessThanOrEqual(MAX_ERROR_STACK + 1);
    const ctx = (e as { context?: Record<string, string> }).context as Record<string, string>;
    const kept = Object.values(ctx).reduce((n, v) => n + v.length, 0) + Object.keys(e).length;
    expect(kept).toBeLessThanOrEqual(64 * 1024);
  });

  it('is total over any value (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const e = deserializeError(v);
        expect(e).toBeInstanceOf(Error);
        expect(typeof e.message).toBe('string');
      }),
      RUNS,
    );
  });

  it('is total over any serialized-looking record, with hostile keys and values (property)', () => {
    const codes = fc.oneof(fc.constantFrom<unknown>(...Object.values(ErrorCode), ...HOSTILE_KEYS), fc.anything());
    const data = fc.oneof(
      fc.anything(),
      fc.dictionary(fc.constantFrom(...HOSTILE_KEYS, 'server', 'kind', 'reason', 'thread'), fc.anything()),
    );
    const serialized = fc.letrec((tie) => ({
      error: fc.record(
        {
          __spindleError: fc.constant(1),
          code: codes,
          name: fc.anything(),
          message: fc.anything(),
          stack: fc.anything(),
          context: data,
          fields: data,
          cause: fc.oneof({ depthSize: 'small' }, fc.anything(), tie('error')),
        },
        { requiredKeys: ['__spindleError'] },
      ),
    })).error;
    fc.assert(
      fc.property(serialized, (s) => {
        const e = deserializeError(structuredClone(s));
        expect(e).toBeInstanceOf(Error);
        expect(e.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE + 1);
        expect(causeDepth(e)).toBeLessThanOrEqual(MAX_CAUSE_DEPTH);
        const code = (s as { code?: unknown }).code;
        if (typeof code === 'string' && (Object.values(ErrorCode) as string[]).includes(code) && code !== ErrorCode.REMOTE) {
          expect(e).toBeInstanceOf(SpindleError);
          expect(SpindleError.hasCode(e, code as ErrorCode)).toBe(true);
        }
        // The rebuilt error crosses again.
        expect(() => structuredClone(serializeError(e))).not.toThrow();
      }),
      RUNS,
    );
  });
});

describe('SpindleError.hasCode', () => {
  it('never throws, whatever it is given', () => {
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
      },
    );
    const getter = {
      get code(): string {
        throw new Error('getter');
      },
    };
    expect(SpindleError.hasCode(trap, ErrorCode.NO_PROCESS)).toBe(false);
    expect(SpindleError.hasCode(getter, ErrorCode.NO_PROCESS)).toBe(false);
    expect(NoProcessError.is(getter)).toBe(false);
  });
});

describe('serializeError', () => {
  it('is total and its output always crosses and rebuilds (property)', () => {
    const revoked = (): unknown => {
      const { proxy, revoke } = Proxy.revocable(new Error('revoked'), {});
      revoke();
      return proxy;
    };
    // Made inside the property: fast-check itself cannot inspect a revoked Proxy.
    const hostile: (() => unknown)[] = [
      () => Object.assign(Object.create(null), { n: 1n }), // neither JSON nor String can print it
      revoked,
      () => Object.assign(new Error('x'), { n: 1n }),
      () => 'z'.repeat(100_000),
    ];
    const values = fc.oneof(
      fc.anything().map((v) => () => v),
      fc.integer({ min: 0, max: hostile.length - 1 }).map((i) => hostile[i] as () => unknown),
    );
    fc.assert(
      fc.property(values, (make) => {
        const v = make();
        const s = serializeError(v);
        const back = deserializeError(structuredClone(s));
        expect(back).toBeInstanceOf(Error);
        expect(s.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE + 1);
      }),
      RUNS,
    );
  });

  it('survives an error whose fields throw when read', () => {
    const e = new Error('x');
    Object.defineProperty(e, 'name', {
      get() {
        throw new Error('name getter');
      },
    });
    expect(() => serializeError(e)).not.toThrow();
    expect(() => serializeError(Object.create(null))).not.toThrow();
  });

  it('keeps a custom error class’s name, own fields and cause chain (not its prototype)', () => {
    class HttpError extends Error {
      override name = 'HttpError';
      constructor(
        message: string,
        readonly status: number,
        readonly details: { path: string; tries: number[] },
        cause?: unknown,
      ) {
        super(message, { cause });
      }
    }
    const root = Object.assign(new RangeError('too far'), { limit: 10, at: new Date(5) });
    const err = Object.assign(new HttpError('not found', 404, { path: '/x', tries: [1, 2] }, root), {
      fn: () => 1,
      big: 'y'.repeat(10_000),
    });
    const e = deserializeError(structuredClone(serializeError(err))) as Error & Record<string, unknown>;
    expect(e.name).toBe('HttpError');
    expect(e.message).toBe('not found');
    expect(e.status).toBe(404);
    expect(e.details).toEqual({ path: '/x', tries: [1, 2] });
    expect(e.stack).toBe(err.stack);
    expect(e).not.toBeInstanceOf(HttpError);
    // What is not data is left out; what is large is cut.
    expect('fn' in e).toBe(false);
    expect((e.big as string).length).toBeLessThanOrEqual(4097);
    const cause = e.cause as Error & Record<string, unknown>;
    expect(cause.name).toBe('RangeError');
    expect(cause.limit).toBe(10);
    expect(cause.at).toEqual(new Date(5));
  });

  it('a field never shadows what an Error has', () => {
    const s = wire({ name: 'E', message: 'm', fields: { toString: 'x', constructor: 1, name: 'F', stack: 's', cause: 'c', ok: true } });
    const e = deserializeError(s) as Error & Record<string, unknown>;
    expect(String(e)).toBe('E: m');
    expect(e.name).toBe('E');
    expect(e.cause).toBeUndefined();
    expect(e.ok).toBe(true);
  });

  it('ACROSS_NODES leaves out stacks and cuts absolute paths to their file name', () => {
    const err = new ServerExitedError('#Ref<n/1/2>', { error: new Error('cannot open /home/alice/app/secrets/db.json') }, 'get');
    (err.cause as Error).stack = 'Error: x\n    at open (/home/alice/app/src/db.ts:10:5)\n    at file:///home/alice/app/src/main.ts:3:1';
    const s = serializeError(err, ACROSS_NODES);
    expect(s.stack).toBeUndefined();
    expect(s.cause?.stack).toBeUndefined();
    expect(s.cause?.message).toBe('cannot open …/db.json');
    expect(JSON.stringify(s)).not.toContain('/home/alice');
    const back = deserializeError(structuredClone(s));
    expect(back).toBeInstanceOf(ServerExitedError);
    // The rebuilt error shows no stack of this process either.
    expect(back.stack).toBe(`${back.name}: ${back.message}`);
    // Between threads (the default) stacks stay.
    expect(serializeError(err).stack).toBe(err.stack);
  });
});

describe('decodeReason', () => {
  it('decodes what encodeReason makes, and turns a malformed reason into an abnormal exit, never into normal', () => {
    for (const r of ['normal', 'shutdown', 'killed', 'noproc', { shutdown: { why: 1 } }] as const)
      expect(decodeReason(encodeReason(r))).toEqual(r);
    const crash = decodeReason(encodeReason({ error: new NoProcessError('x') }));
    expect((crash as { error: unknown }).error).toBeInstanceOf(NoProcessError);
    for (const bad of [
      42,
      'Normal',
      null,
      undefined,
      [],
      {},
      { error: 'not serialized' },
      { error: { code: 'toString' } },
      { toString: 'normal' },
    ]) {
      const r = decodeReason(bad);
      expect(exitReasonProblem(r)).toBeUndefined();
      expect((r as { error?: unknown }).error).toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('is total over any value and always gives a valid exit reason (property)', () => {
    const reasons = fc.oneof(
      fc.anything(),
      fc.record({ error: fc.anything() }),
      fc.record({ error: fc.record({ __spindleError: fc.constant(1), code: fc.constantFrom(...HOSTILE_KEYS) }) }),
      fc.record({ shutdown: fc.anything() }),
    );
    fc.assert(
      fc.property(reasons, (v) => {
        const r = decodeReason(structuredClone(v));
        expect(exitReasonProblem(r)).toBeUndefined();
      }),
      RUNS,
    );
  });
});

describe('decodeEvent', () => {
  it('rebuilds a well-formed event and refuses a malformed one', () => {
    const ref = { node: 'n', thread: 1, id: 2 };
    const ev = decodeEvent(structuredClone({ type: 'crashed', ref, reason: encodeReason({ error: new Error('x') }), extra: 1 }));
    expect(ev?.type).toBe('crashed');
    expect((ev as { extra?: unknown }).extra).toBeUndefined();
    for (const bad of [
      null,
      'started',
      { type: 'toString', ref },
      { type: 'started', ref: { node: 1 } },
      { type: 'crashed', ref, reason: 'normal' },
    ]) {
      expect(decodeEvent(bad)).toBeUndefined();
    }
  });

  it('is total over any value (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const ev = decodeEvent(v);
        if (ev !== undefined) expect(['started', 'crashed', 'terminated', 'restarted', 'cast_dropped']).toContain(ev.type);
      }),
      RUNS,
    );
  });
});
