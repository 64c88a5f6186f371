/**
 * The table of calls this thread made to other threads (Router.outgoing): replies settle the
 * right call in any order, a call left pending while thousands of later ones come and go is
 * still found, late or duplicate replies are ignored, and a dead thread fails exactly its own.
 */
import { describe, expect, it } from 'vitest';
import type { Outbound } from '../../src/core/router.js';
import { makeRef } from '../../src/core/ref.js';
import { Runtime, ServerExitedError, silentLogger } from '../../src/index.js';

/** A runtime whose other threads are a recorder: every call sent out is kept with its id. */
function node(): { rt: Runtime; sent: { thread: number; call: number; msg: unknown }[] } {
  const rt = new Runtime({ logger: silentLogger });
  const sent: { thread: number; call: number; msg: unknown }[] = [];
  const noop = (): void => {};
  const out: Outbound = {
    deliver: (to, _kind, msg, callId) => {
      sent.push({ thread: to.thread, call: callId, msg });
    },
    reply: noop,
    cancel: noop,
    exit: noop,
    link: noop,
    unlink: noop,
    monitor: noop,
    demonitor: noop,
    down: noop,
    reachable: () => true,
  };
  rt.setOutbound(out);
  return { rt, sent };
}

describe('outgoing cross-thread calls', () => {
  it('settles thousands of pending calls in any order', async () => {
    const { rt, sent } = node();
    const to = makeRef(rt.node, 1, 7);
    const n = 3000;
    const calls = Array.from({ length: n }, (_, i) => rt.router.call(to, i, Number.POSITIVE_INFINITY));
    expect(rt.router.outgoing.size).toBe(n);
    // Odd ones first, then the even ones backwards.
    const order = [...sent.filter((_, i) => i % 2 === 1), ...sent.filter((_, i) => i % 2 === 0).reverse()];
    for (const s of order) rt.router.settleOutgoing(s.call, true, (s.msg as number) * 2);
    expect(await Promise.all(calls)).toEqual(Array.from({ length: n }, (_, i) => i * 2));
    expect(rt.router.outgoing.size).toBe(0);
  });

  it('finds a call left pending while many later calls come and go; ignores late and duplicate replies', async () => {
    const { rt, sent } = node();
    const to = makeRef(rt.node, 1, 7);
    const long = rt.router.call(to, 'long', Number.POSITIVE_INFINITY);
    const longId = (sent[0] as { call: number }).call;
    for (let i = 0; i < 5000; i++) {
      const p = rt.router.call(to, i, Number.POSITIVE_INFINITY);
      rt.router.settleOutgoing((sent[sent.length - 1] as { call: number }).call, true, i);
      expect(await p).toBe(i);
    }
    expect(rt.router.outgoing.size).toBe(1);
    rt.router.settleOutgoing(longId + 1, true, 'late'); // already settled: ignored
    rt.router.settleOutgoing(longId, true, 'done');
    expect(await long).toBe('done');
    rt.router.settleOutgoing(longId, true, 'again');
    expect(rt.router.outgoing.size).toBe(0);
  });

  it('a dead thread fails exactly the calls made to it', async () => {
    const { rt, sent } = node();
    const calls = Array.from({ length: 600 }, (_, i) =>
      rt.router.call(makeRef(rt.node, 1 + (i % 3), 7), i, Number.POSITIVE_INFINITY).then(
        (v) => ({ ok: v }),
        (e: unknown) => ({ err: e }),
      ),
    );
    rt.router.failOutgoing((r) => r.thread === 2, 'killed');
    for (const s of sent) if (s.thread !== 2) rt.router.settleOutgoing(s.call, true, s.msg);
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      if (i % 3 === 1) expect((r as { err: unknown }).err).toBeInstanceOf(ServerExitedError);
      else expect(r).toEqual({ ok: i });
    });
    expect(rt.router.outgoing.size).toBe(0);
  });
});
