/**
 * In-thread restart latency: a named GenServer under a one_for_one Supervisor is cast a
 * message whose handler throws; timed from the cast to the answer of a call to the restarted
 * server, found by name (polled: a few microtask yields, then one `setImmediate` turn per
 * try). 50 crashes per run; the figure is the run's median, in µs.
 *
 * Raw baseline, interleaved run by run: the same crash of a bare actor (bench/bare-actor.ts:
 * mailbox array + drain loop) whose drain catches the throw and hands it to a bare supervisor
 * (one microtask), which starts a fresh actor under the name in a Map; the same polling and
 * the same call.
 *
 * The other restarts are measured elsewhere, each beside its own raw floor:
 * - thread subtree (worker dies → restarted subtree answers a call): thread-restart
 *   (raw: `new Worker` → first message, timed between the crashes);
 * - node (kill -9 of a node → its child running again on a survivor): dsup-failover
 *   (against failure detection in the same run); detection alone: node-failure.
 */
import type { GenServerBehavior, Ref } from '../src/index.js';
import { GenServer, Registry, Supervisor, sameRef } from '../src/index.js';
import { BareSupervisor } from './bare-actor.js';
import type { Scenario } from './lib.js';
import { freshRuntime, latencySummary, mainIfEntry, median, now, pairedRatio } from './lib.js';
import { interleaved } from './thread-common.js';

const CRASHES = 50;
const NAME = 'crashy';

type CrashProtocol = { call: ['ping', number]; cast: 'crash' };

const crashy: GenServerBehavior<number, CrashProtocol> = {
  init: () => 0,
  handleCast: () => {
    throw new Error('crash (bench)');
  },
  handleCall: (_msg, n) => [n + 1, n],
};

const bareCall = (_m: unknown, n: number): [unknown, number] => [n + 1, n];
const bareCast = (): number => {
  throw new Error('crash (bench)');
};

/** Resolves with `find()`'s value once it is defined: microtask yields first, then macrotask turns. */
async function poll<T>(find: () => T | undefined): Promise<T> {
  for (let i = 0; ; i++) {
    const v = find();
    if (v !== undefined) return v;
    if (i < 64) await Promise.resolve();
    else await new Promise((r) => setImmediate(r));
  }
}

export const scenario: Scenario = {
  name: 'restart-latency',
  description: 'supervised GenServer crash → restarted one answers a call, vs a bare actor + bare supervisor',
  async run(opts) {
    freshRuntime();
    const sup = await Supervisor.start({
      strategy: 'one_for_one',
      restartIntensity: { maxRestarts: 1_000_000, withinMs: 1000 },
      children: [{ id: NAME, behavior: crashy, options: { name: NAME } }],
    });
    const bareSup = new BareSupervisor(() => 0, bareCall, bareCast);
    bareSup.start(NAME);

    const all = { spindle: [] as number[], raw: [] as number[] };
    const spindleRun = async (): Promise<number> => {
      const out: number[] = [];
      for (let i = 0; i < CRASHES; i++) {
        const old = Registry.whereis(NAME) as Ref<CrashProtocol>;
        const t0 = now();
        GenServer.cast(old, 'crash');
        const fresh = await poll(() => {
          const r = Registry.whereis(NAME);
          return r !== undefined && !sameRef(r, old) ? (r as Ref<CrashProtocol>) : undefined;
        });
        const n = await GenServer.call(fresh, 'ping');
        out.push((now() - t0) * 1000);
        if (n !== 1) throw new Error('restarted server did not start from init');
      }
      all.spindle.push(...out);
      return median(out);
    };
    const rawRun = async (): Promise<number> => {
      const out: number[] = [];
      for (let i = 0; i < CRASHES; i++) {
        const old = bareSup.names.get(NAME);
        if (old === undefined) throw new Error('bare actor not registered');
        const t0 = now();
        old.cast('crash');
        const fresh = await poll(() => {
          const a = bareSup.names.get(NAME);
          return a !== undefined && a !== old ? a : undefined;
        });
        const n = await fresh.call<number>('ping');
        out.push((now() - t0) * 1000);
        if (n !== 1) throw new Error('bare actor did not start from init');
      }
      all.raw.push(...out);
      return median(out);
    };
    const samples = await interleaved(opts, { spindle: spindleRun, raw: rawRun });
    await Supervisor.stop(sup);

    const pairs = { spindle: samples.spindle, baseline: samples.raw };
    return [
      {
        scenario: 'in-thread restart (crash → restarted GenServer answers a call)',
        spindle: median(samples.spindle),
        baseline: median(samples.raw),
        baselineLabel: 'bare actor restarted by a bare supervisor',
        unit: 'µs',
        checks: [],
        samples: pairs,
        extra: {
          crashesPerRun: CRASHES,
          ratio: pairedRatio(pairs),
          // Over every crash, warm-ups included.
          latencyUs: latencySummary(all.spindle),
          baselineLatencyUs: latencySummary(all.raw),
          restartsBare: bareSup.restarts,
        },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
