import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior, LifecycleEvent } from '../../src/index.js';
import { GenServer, InvalidArgumentError, InitFailedError, Process, Supervisor } from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

const idle: GenServerBehavior<number> = { init: () => 0, handleCall: (_m, s) => [s, s], handleInfo: (_m, s) => s };

describe('runtime regressions', () => {
  it('lets the process exit right after the last call instead of holding it for the call timeout', () => {
    const script = fileURLToPath(new URL('../fixtures/exit-after-call.ts', import.meta.url));
    const start = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('done');
    // The default call timeout is 5000 ms; an armed deadline timer would hold the process that long.
    expect(Date.now() - start).toBeLessThan(4500 + 3000);
    expect(r.stdout).toMatch(/exit after \d+ ms/);
    const ms = Number(/exit after (\d+) ms/.exec(r.stdout)?.[1]);
    expect(ms).toBeLessThan(2000);
  });

  it('keeps GenServer.self() valid after stopping another process in the same callback', async () => {
    const other = await GenServer.start(idle);
    const seen: unknown[] = [];
    const ref = await GenServer.start<number, { call: ['go', boolean] }>({
      init: () => 0,
      handleCall: (_m, s) => {
        void GenServer.stop(other);
        seen.push(GenServer.self());
        return [true, s];
      },
    });
    await GenServer.call(ref, 'go');
    expect(seen).toEqual([ref]);
  });

  it("emits 'cast_dropped' for a cast to a name that is not registered", () => {
    const events: LifecycleEvent[] = [];
    env.rt.onLifecycle((e) => events.push(e));
    GenServer.cast('nobody-here', 'x' as never);
    expect(events).toEqual([{ type: 'cast_dropped', ref: 'nobody-here', why: 'name not registered' }]);
  });

  it('stops trapping children (nested supervisors) when their parent supervisor is killed', async () => {
    const top = await Supervisor.start({
      children: [{ id: 'inner', supervisor: { children: [{ id: 'w', behavior: idle }] } }],
    });
    const [inner] = await Supervisor.getChildren(top);
    const [w] = await Supervisor.getChildren(inner?.ref as never);
    Process.exit(top, 'kill');
    await waitFor(() => !Process.alive(inner?.ref as never) && !Process.alive(w?.ref as never), 5000, 'subtree to stop');
  });

  it('rejects start at once when the process is killed while its async init is pending', async () => {
    let resolveInit!: () => void;
    const starting = GenServer.start({
      init: () =>
        new Promise<number>((r) => {
          resolveInit = () => r(0);
        }),
    });
    const ref = [...env.rt.procs.values()].at(-1)?.ref;
    Process.exit(ref as never, 'kill');
    await expect(starting).rejects.toBeInstanceOf(InitFailedError);
    resolveInit();
  });

  it('rejects a call a process makes to itself instead of waiting for the timeout', async () => {
    let err: unknown;
    const ref = await GenServer.start<number, { call: ['self', boolean] }>({
      init: () => 0,
      handleCall: (_m, s) => {
        GenServer.call(GenServer.self(), 'x' as never).catch((e) => {
          err = e;
        });
        return [true, s];
      },
    });
    await GenServer.call(ref, 'self');
    await waitFor(() => err !== undefined);
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });
});
