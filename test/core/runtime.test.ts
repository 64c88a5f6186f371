/**
 * The runtime of one thread: isolation between runtimes, killAll, the logger hook and
 * lifecycle listeners, and the call deadline queue.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Deadlines } from '../../src/core/deadlines.js';
import type { Logger } from '../../src/index.js';
import { GenServer, Registry, Runtime, ServerExitedError, silentLogger, withRuntime } from '../../src/index.js';
import { flush, freshRuntime, VirtualClock } from '../../src/testing.js';
import { exitProcess, track, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

/** Replaces this test's runtime with one built from `options`. */
function reopen(options: Parameters<typeof freshRuntime>[0]): void {
  env.dispose();
  env = freshRuntime(options);
}

describe('Runtime', () => {
  it('keeps processes and names per runtime', async () => {
    const other = new Runtime({ node: 'b@host', logger: silentLogger });
    try {
      await GenServer.start(worker('here'), { name: 'svc' });
      const there = await withRuntime(other, () => GenServer.start(worker('there'), { name: 'svc' }));
      expect(there.node).toBe('b@host');
      expect(await GenServer.call(Registry.lookup('svc'), 'tag')).toBe('here');
      expect(withRuntime(other, () => Registry.whereis('svc'))).toEqual(there);
      expect(env.rt.procs.size).toBe(1);
      expect(other.procs.size).toBe(1);
    } finally {
      other.killAll();
    }
  });

  it('killAll kills every process and rejects their pending callers', async () => {
    const a = await GenServer.start(worker('a'));
    const slow = await GenServer.start<number, { call: ['wait', never] }>({
      init: () => 0,
      handleCall: () => new Promise<never>(() => {}),
    });
    const pending = track(GenServer.call(slow, 'wait'));
    await flush();
    env.rt.killAll();
    await flush();
    expect(env.rt.procs.size).toBe(0);
    expect(GenServer.isRunning(a)).toBe(false);
    expect(ServerExitedError.is(pending.error)).toBe(true);
    expect((pending.error as ServerExitedError).reason).toBe('killed');
  });
});

describe('Runtime logger and lifecycle listeners', () => {
  it('sends crash reports to the logger hook, never the console', async () => {
    const lines: [keyof Logger, string][] = [];
    const logger: Logger = {
      error: (m) => lines.push(['error', m]),
      warn: (m) => lines.push(['warn', m]),
      info: (m) => lines.push(['info', m]),
    };
    reopen({ logger });
    const ref = await GenServer.start(worker('a'), { name: 'reported' });
    await exitProcess(ref, 'error');
    const errors = lines.filter(([level]) => level === 'error').map(([, m]) => m);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('(reported) crashed');
    expect(errors[0]).toContain('boom:a');
  });

  it('a throwing lifecycle listener is reported as a warning and does not disturb the runtime', async () => {
    const warnings: string[] = [];
    reopen({ logger: { ...silentLogger, warn: (m) => warnings.push(m) } });
    env.rt.onLifecycle(() => {
      throw new Error('listener broke');
    });
    const seen: string[] = [];
    env.rt.onLifecycle((e) => seen.push(e.type));
    const ref = await GenServer.start(worker('a'));
    expect(await GenServer.call(ref, 'ping')).toBe('pong');
    await GenServer.stop(ref);
    expect(seen).toEqual(['started', 'terminated']);
    expect(warnings.some((w) => w.includes('listener broke'))).toBe(true);
  });
});

describe('Deadlines', () => {
  function entry(log: string[], name: string) {
    return {
      settled: false,
      deadline: 0,
      expire() {
        this.settled = true;
        log.push(name);
      },
    };
  }

  it('expires entries at their deadlines, in order, across different timeouts', async () => {
    const clock = new VirtualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    d.add(entry(log, 'a300'), 300);
    d.add(entry(log, 'b100'), 100);
    await clock.advance(50);
    d.add(entry(log, 'c100'), 100); // due at 150
    d.add(entry(log, 'd300'), 300); // due at 350
    await clock.advance(49);
    expect(log).toEqual([]);
    await clock.advance(1);
    expect(log).toEqual(['b100']);
    await clock.advance(50);
    expect(log).toEqual(['b100', 'c100']);
    await clock.advance(150);
    expect(log).toEqual(['b100', 'c100', 'a300']);
    await clock.advance(50);
    expect(log).toEqual(['b100', 'c100', 'a300', 'd300']);
    expect(clock.pending).toBe(0);
  });

  it('never expires an entry that settled first, and close stops everything', async () => {
    const clock = new VirtualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    const a = entry(log, 'a');
    d.add(a, 100);
    d.add(entry(log, 'b'), 100);
    a.settled = true;
    await clock.advance(100);
    expect(log).toEqual(['b']);
    d.add(entry(log, 'c'), 100);
    d.close();
    await clock.advance(1000);
    expect(log).toEqual(['b']);
    expect(d.size).toBe(0);
  });

  it('handles many calls with one timeout each expiring exactly once', async () => {
    const clock = new VirtualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    const entries = Array.from({ length: 5000 }, (_, i) => entry(log, String(i)));
    for (const [i, e] of entries.entries()) {
      d.add(e, 1000);
      if (i % 2 === 0) e.settled = true;
      if (i % 1000 === 999) await clock.advance(1);
    }
    await clock.advance(2000);
    expect(log).toHaveLength(2500);
    expect(new Set(log).size).toBe(2500);
    expect(log.every((n) => Number(n) % 2 === 1)).toBe(true);
  });
});
