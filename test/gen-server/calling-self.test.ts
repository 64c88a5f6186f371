/**
 * Calling yourself (docs/concepts/genserver.md, "Pitfalls"): before a handler's first `await`
 * the call rejects at once with InvalidArgumentError; after it the runtime cannot tell who is
 * calling, so the call waits on the busy mailbox and rejects with CallTimeoutError. A call from
 * anyone else to a process busy in an async handler is an ordinary call and is served.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ref } from '../../src/index.js';
import { CallTimeoutError, GenServer, InvalidArgumentError } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

type P = { call: ['before', string] | ['after', string] | ['slow', string] | ['get', string] };

const server = () =>
  GenServer.start<null, P>({
    init: () => null,
    async handleCall(msg, s) {
      const me = GenServer.self() as Ref<P>;
      if (msg === 'before') {
        const e = await GenServer.call(me, 'get').catch((x: unknown) => x);
        return [e instanceof InvalidArgumentError ? 'rejected at once' : String(e), s];
      }
      if (msg === 'after') {
        await Promise.resolve();
        const e = await GenServer.call(me, 'get', { timeout: 50 }).catch((x: unknown) => x);
        return [e instanceof CallTimeoutError ? 'timed out' : String(e), s];
      }
      if (msg === 'slow') {
        await new Promise((r) => setTimeout(r, 20));
        return ['slow done', s];
      }
      return ['got', s];
    },
  });

describe('calling yourself', () => {
  it('before the first await: rejects at once with InvalidArgumentError', async () => {
    const ref = await server();
    const t0 = Date.now();
    expect(await GenServer.call(ref, 'before')).toBe('rejected at once');
    expect(Date.now() - t0).toBeLessThan(1000);
    // The server is not wedged: the next call is served.
    expect(await GenServer.call(ref, 'get')).toBe('got');
  });

  it('after an await: waits on its own busy mailbox until the call times out', async () => {
    const ref = await server();
    expect(await GenServer.call(ref, 'after')).toBe('timed out');
    expect(await GenServer.call(ref, 'get')).toBe('got');
  });

  it('a call from outside to a process busy in an async handler is queued and served, not rejected', async () => {
    const ref = await server();
    const slow = GenServer.call(ref, 'slow');
    const next = GenServer.call(ref, 'get');
    expect(await slow).toBe('slow done');
    expect(await next).toBe('got');
  });
});
