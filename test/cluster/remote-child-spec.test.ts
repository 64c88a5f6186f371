/**
 * Another node names what to start, never code: a supervisor refuses a child spec that comes
 * from another node (a `thread` spec names a module to import, so it would run any code the
 * peer chose), while a simple_one_for_one template started with arguments, and every other
 * supervisor request, still work across nodes.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior } from '../../src/index.js';
import { ChildNotFoundError, ErrorCode, GenServer, InvalidArgumentError, Supervisor } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { failure } from '../helpers.js';
import { startPair, stopNodes, type TestNode } from './kit/in-process.js';

afterEach(stopNodes);

const pair = (): Promise<[TestNode, TestNode]> => startPair(['127.0.0.121', '127.0.0.122']);

const echo: GenServerBehavior<unknown, { call: [unknown, unknown] }> = {
  init: (args) => args ?? null,
  handleCall: (m, s) => [[m, s], s],
};

describe('child specs from another node', () => {
  it('a thread spec sent to a supervisor of another node is refused and its module never runs', async () => {
    const [a, b] = await pair();
    const dir = mkdtempSync(join(tmpdir(), 'spindle-remote-spec-'));
    try {
      const marker = join(dir, 'ran');
      // A module that would leave a file behind if any node imported it.
      const code = `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'x'); export default () => ({ children: [] });`;
      const module = `data:text/javascript,${encodeURIComponent(code)}`;
      const sup = await a.on(() => Supervisor.start({ name: 'top', children: [] }));
      for (const target of [sup, { name: 'top', node: a.id }] as const) {
        const e = await failure(() => b.on(() => Supervisor.startChild(target as AnyRef, { id: 'evil', thread: { module } })));
        expect(e).toBeInstanceOf(InvalidArgumentError);
        expect((e as Error).message).toMatch(/child spec from another node is refused/);
      }
      expect(await a.on(() => Supervisor.countChildren(sup))).toMatchObject({ specs: 0, active: 0 });
      // The same spec from this node's own thread is the node's choice: it is accepted here.
      await a.on(() => Supervisor.startChild(sup, { id: 'own', thread: { module } })).catch(() => undefined);
      await waitFor(() => existsSync(marker), 10_000, 'the local start to import the module');
      rmSync(marker);
      // Refused again from b after the local start: nothing was imported on b's behalf.
      await failure(() => b.on(() => Supervisor.startChild(sup, { id: 'evil2', thread: { module } })));
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a simple_one_for_one template started from another node with arguments works; other requests too', async () => {
    const [a, b] = await pair();
    const sup = await a.on(() =>
      Supervisor.start({ name: 'pool', strategy: 'simple_one_for_one', template: { id: 'worker', behavior: echo } }),
    );
    const child = await b.on(() => Supervisor.startChild({ name: 'pool', node: a.id } as never, 'from b'));
    expect(child.node).toBe(a.rt.node);
    expect(await b.on(() => GenServer.call(child, 'hi'))).toEqual(['hi', 'from b']);
    expect(await b.on(() => Supervisor.countChildren(sup))).toMatchObject({ active: 1 });
    await b.on(() => Supervisor.terminateChild(sup, child));
    expect(await b.on(() => Supervisor.countChildren(sup))).toMatchObject({ active: 0 });
    // A supervisor's refusal crosses with its class and code, as a call's own error does.
    const e = await failure(() => b.on(() => Supervisor.terminateChild(sup, 'nope')));
    expect(e).toBeInstanceOf(ChildNotFoundError);
    expect((e as ChildNotFoundError).code).toBe(ErrorCode.CHILD_NOT_FOUND);
    expect((e as Error).stack ?? '').not.toMatch(/server\.ts/);
  });
});
