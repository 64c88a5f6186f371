/**
 * Crash reports lead with the throw site: the user's frames first, Spindle's and Node's left
 * out; for a thread that died, the frames of the error thrown on that thread (the cause of the
 * ThreadExitError), not the runtime's frames where the ThreadExitError was made.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { crashReport } from '../../src/core/events.js';
import { makeRef } from '../../src/core/ref.js';
import type { Logger, Ref } from '../../src/index.js';
import { GenServer, ThreadExitError } from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import type { WorkerProtocol } from '../fixtures/tree.js';
import type { TestNode } from '../threads/helpers.js';
import { BOOT_MS, startNode, TREE } from '../threads/helpers.js';

function capturing(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  return { errors, logger: { error: (m) => errors.push(m), warn() {}, info() {} } };
}

const frames = (report: string) => report.split('\n').filter((l) => /^\s+at /.test(l));

function thrower(): never {
  throw new Error('thrown by user code');
}

describe('crash reports', () => {
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.shutdown();
    node = undefined;
  });

  it('a handler crash on this thread: the first frame is the throw site, no Spindle frames', async () => {
    const { logger, errors } = capturing();
    const env = freshRuntime({ logger });
    try {
      const ref = await GenServer.start<null, { cast: 'boom' }>({ init: () => null, handleCast: () => thrower() });
      GenServer.cast(ref, 'boom');
      await waitFor(() => errors.length > 0);
      const report = errors[0] as string;
      expect(report).toMatch(/^process #Ref<.*> crashed: \{ error: Error: thrown by user code \}/);
      const f = frames(report);
      expect(f[0]).toContain('thrower');
      expect(f[0]).toContain('crash-report.test.ts');
      for (const line of f) expect(line).not.toMatch(/[/\\]src[/\\](core|behaviours|threads|transport)[/\\]/);
    } finally {
      env.dispose();
    }
  });

  it("a thread's death: the report shows the frames of the error thrown on the thread", () => {
    const cause = new Error('escaped everything');
    cause.stack =
      'Error: escaped everything\n    at Timeout._onTimeout (/app/tree.ts:12:9)\n    at listOnTimeout (node:internal/timers:581:17)';
    const report = crashReport(makeRef('n', 0, 2), 'host', {
      error: new ThreadExitError(1, 'crashed', 'uncaught Error: escaped everything', cause),
    });
    const lines = report.split('\n');
    expect(lines[0]).toContain('crashed: { error: ThreadExitError: worker thread 1 crashed');
    expect(lines[1]).toBe('  caused by Error: escaped everything');
    expect(frames(report)).toEqual(['    at Timeout._onTimeout (/app/tree.ts:12:9)']);
  });

  it('an error with no stack frames: the reason line alone', () => {
    const e = new Error('bare');
    e.stack = 'Error: bare';
    expect(crashReport(makeRef('n', 0, 3), undefined, { error: e })).toBe('process #Ref<n/0/3> crashed: { error: Error: bare }');
  });

  it('a handler crash on a worker thread: the report reaching the main logger leads with the throw site', async () => {
    const { logger, errors } = capturing();
    node = await startNode([{ id: 't', thread: { module: TREE, args: { name: 'crash-report-w' } } }], {}, { logger });
    const w = 'crash-report-w' as unknown as Ref<WorkerProtocol>;
    await expect(GenServer.call(w, { type: 'throw' })).rejects.toThrow();
    await waitFor(() => errors.some((m) => m.includes('handler failed')), BOOT_MS);
    const report = errors.find((m) => m.includes('handler failed')) as string;
    const f = frames(report);
    expect(f.length).toBeGreaterThan(0);
    expect(f[0]).toContain('fixtures/tree.ts');
  }, 40_000);
});
