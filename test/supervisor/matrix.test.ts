/**
 * Supervision as a matrix (as OTP's supervisor_SUITE): strategy × restart type of the child
 * that exits × exit kind. Three children a, b, c; b exits. For each cell we check which
 * children got a new ref, which kept theirs, which are down or removed, and the restart counts
 * reported by Supervisor.getChildren.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ChildInfo, Ref, RestartType, Strategy, SupervisorOptions } from '../../src/index.js';
import { GenServer, isErrorExit, Process, Supervisor, sameRef } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';
import type { ExitKind, WorkerProtocol } from '../helpers.js';
import { EXIT_KINDS, exitProcess, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTARTS: readonly RestartType[] = ['permanent', 'transient', 'temporary'];

type Fate = 'restarted' | 'untouched' | 'down' | 'removed';

/** What OTP does with each of a, b, c when b exits with `kind`. */
function expected(strategy: Strategy, restart: RestartType, kind: ExitKind): Record<'a' | 'b' | 'c', Fate> {
  const restarts = restart === 'permanent' || (restart === 'transient' && (kind === 'error' || kind === 'killed'));
  if (!restarts) {
    const gone: Fate = restart === 'temporary' || strategy === 'simple_one_for_one' ? 'removed' : 'down';
    return { a: 'untouched', b: gone, c: 'untouched' };
  }
  switch (strategy) {
    case 'one_for_all':
      return { a: 'restarted', b: 'restarted', c: 'restarted' };
    case 'rest_for_one':
      return { a: 'untouched', b: 'restarted', c: 'restarted' };
    default:
      return { a: 'untouched', b: 'restarted', c: 'untouched' };
  }
}

/** Starts the supervisor; returns it and the children's ids in start order. */
async function startTree(
  strategy: Strategy,
  restart: RestartType,
): Promise<{ sup: Awaited<ReturnType<typeof Supervisor.start>>; ids: string[] }> {
  const intensity = { maxRestarts: 10, withinMs: 60_000 };
  if (strategy === 'simple_one_for_one') {
    const sup = await Supervisor.start({
      strategy,
      restartIntensity: intensity,
      template: { id: 'w', start: (tag: unknown) => GenServer.start(worker(String(tag))), restart },
    });
    for (const tag of ['a', 'b', 'c']) await Supervisor.startChild(sup, tag);
    return { sup, ids: (await Supervisor.getChildren(sup)).map((c) => c.id) };
  }
  // Only b has the restart type under test; its siblings are permanent.
  const options: SupervisorOptions = {
    strategy,
    restartIntensity: intensity,
    children: ['a', 'b', 'c'].map((id) => ({
      id,
      behavior: worker(id),
      restart: id === 'b' ? restart : 'permanent',
    })),
  };
  const sup = await Supervisor.start(options);
  return { sup, ids: ['a', 'b', 'c'] };
}

describe.each(STRATEGIES)('Supervisor strategy %s', (strategy) => {
  describe.each(RESTARTS)('%s child', (restart) => {
    it.each(EXIT_KINDS)('handles an exit with reason kind %s', async (kind) => {
      const { sup, ids } = await startTree(strategy, restart);
      const before = await Supervisor.getChildren(sup);
      expect(before.map((c) => c.restartCount)).toEqual([0, 0, 0]);
      const refs = before.map((c) => c.ref as AnyRef);
      const byTag = { a: refs[0] as AnyRef, b: refs[1] as AnyRef, c: refs[2] as AnyRef };

      const reason = await exitProcess(byTag.b, kind);
      if (kind === 'error') expect(isErrorExit(reason)).toBe(true);
      else expect(reason).toBe(kind);

      // The EXIT is in the supervisor's mailbox before awaitExit resolves, so this call is
      // answered after the supervisor has acted on it.
      const after = await Supervisor.getChildren(sup);
      const fates = expected(strategy, restart, kind);
      const tags = ['a', 'b', 'c'] as const;
      for (const [i, tag] of tags.entries()) {
        const id = ids[i] as string;
        const info: ChildInfo | undefined = after.find((c) => c.id === id);
        const old = byTag[tag];
        switch (fates[tag]) {
          case 'restarted':
            expect(info, `${tag} should be restarted`).toBeDefined();
            expect(info?.ref).toBeDefined();
            expect(sameRef(info?.ref as AnyRef, old), `${tag} should have a new ref`).toBe(false);
            expect(info?.restartCount).toBe(1);
            expect(Process.alive(old)).toBe(false);
            expect(await GenServer.call(info?.ref as Ref<WorkerProtocol>, 'tag')).toBe(tag);
            break;
          case 'untouched':
            expect(info, `${tag} should still be there`).toBeDefined();
            expect(sameRef(info?.ref as AnyRef, old), `${tag} should keep its ref`).toBe(true);
            expect(info?.restartCount).toBe(0);
            expect(Process.alive(old)).toBe(true);
            break;
          case 'down':
            expect(info, `${tag} should keep its spec`).toBeDefined();
            expect(info?.ref).toBeUndefined();
            expect(info?.restartCount).toBe(0);
            break;
          case 'removed':
            expect(info, `${tag} should be removed`).toBeUndefined();
            break;
        }
      }
      const counts = await Supervisor.countChildren(sup);
      const live = Object.values(fates).filter((f) => f === 'restarted' || f === 'untouched').length;
      expect(counts.active).toBe(live);
      expect(Process.alive(sup)).toBe(true);
    });
  });
});
