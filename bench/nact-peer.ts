/**
 * Peer comparison: the cast-throughput workload (1M casts to a counter, then one request that
 * confirms the count) on nact — `start`, `spawn`, `dispatch`, and a final `query` — beside the
 * same workload on Spindle, in the same process. nact hands every message to `setImmediate`,
 * so it gets fewer runs.
 */
import { createRequire } from 'node:module';
import type { Ref } from 'nact';
import { dispatch, query, spawn, start } from 'nact';
import { CASTS, spindleCasts } from './cast-throughput.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, paired, pairedRatio } from './lib.js';

const nactVersion = (createRequire(import.meta.url)('nact/package.json') as { version: string }).version;

type CounterMsg = 'inc' | { type: 'get'; sender: Ref<number> };

let system: ReturnType<typeof start> | undefined;
let nextName = 1;

async function nactCasts(n: number): Promise<number> {
  system ??= start();
  const counter = spawn(
    system,
    (state: number, msg: CounterMsg) => {
      if (msg === 'inc') return state + 1;
      dispatch(msg.sender, state);
      return state;
    },
    `counter-${nextName++}`,
    { initialState: 0 },
  );
  const t0 = now();
  for (let i = 0; i < n; i++) dispatch(counter, 'inc');
  const count = await query(counter, (sender: Ref<number>) => ({ type: 'get', sender }) as CounterMsg, 600_000);
  const ms = now() - t0;
  if (count !== n) throw new Error(`nact counter saw ${count} messages, expected ${n}`);
  return (n * 1000) / ms;
}

export const scenario: Scenario = {
  name: 'nact-peer',
  description: '1M casts + confirming request: Spindle vs nact',
  async run(opts) {
    freshRuntime();
    // As in cast-throughput: let Spindle's side reach steady state first.
    for (let i = 0; i < 4; i++) await spindleCasts(CASTS);
    const samples = await paired(
      { runs: Math.min(opts.runs, 3), warmup: Math.min(opts.warmup, 1) },
      () => spindleCasts(CASTS),
      () => nactCasts(CASTS),
    );
    const spindle = median(samples.spindle);
    const baseline = median(samples.baseline);
    return [
      {
        scenario: 'peer: nact, same 1M-cast workload',
        spindle,
        baseline,
        baselineLabel: `nact ${nactVersion}`,
        unit: 'msg/s',
        ratioAs: 'times',
        ratioOf: 'nact',
        checks: [{ label: '≥ 5× nact', pass: (pairedRatio(samples) ?? 0) >= 5 }],
        samples,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
