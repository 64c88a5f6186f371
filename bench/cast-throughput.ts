/**
 * Cast throughput: 1M casts to a counter GenServer with a synchronous handler, then one call
 * that confirms the count (it queues behind every cast, so it returns when all are handled).
 *
 * Raw baseline: a bare array-queue actor — push into an array, drain it in a loop with a head
 * index in one microtask, the same handler function — with the same final "call".
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, paired, pairedRatio } from './lib.js';

export const CASTS = 1_000_000;

type CounterProtocol = { call: ['get', number]; cast: 'inc' };

/** The handler both sides run. */
export const inc = (_msg: unknown, n: number): number => n + 1;

export const counter: GenServerBehavior<number, CounterProtocol> = {
  init: () => 0,
  handleCast: inc,
  handleCall: (_msg, n) => [n, n],
};

/** Casts `n` messages to a fresh counter and waits for the confirming call. Returns msg/s. */
export async function spindleCasts(n: number): Promise<number> {
  const ref = await GenServer.start(counter);
  const t0 = now();
  for (let i = 0; i < n; i++) GenServer.cast(ref, 'inc');
  const count = await GenServer.call(ref, 'get');
  const ms = now() - t0;
  if (count !== n) throw new Error(`counter saw ${count} casts, expected ${n}`);
  await GenServer.stop(ref);
  return (n * 1000) / ms;
}

/** The minimal in-thread actor: one array, a head index, a drain loop in a microtask. */
class BareActor<S> {
  private q: unknown[] = [];
  private head = 0;
  private scheduled = false;
  constructor(
    public state: S,
    private readonly handler: (msg: unknown, state: S) => S,
  ) {}

  send(msg: unknown): void {
    this.q.push(msg);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.drain);
    }
  }

  /** A "call": a reply function queued behind the messages already sent. */
  ask(): Promise<S> {
    return new Promise((resolve) => this.send(resolve));
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const q = this.q;
    while (this.head < q.length) {
      const m = q[this.head];
      q[this.head++] = undefined;
      if (typeof m === 'function') m(this.state);
      else this.state = this.handler(m, this.state);
    }
    q.length = 0;
    this.head = 0;
  };
}

export async function rawCasts(n: number): Promise<number> {
  const a = new BareActor(0, inc);
  const t0 = now();
  for (let i = 0; i < n; i++) a.send('inc');
  const count = await a.ask();
  const ms = now() - t0;
  if (count !== n) throw new Error(`bare actor saw ${count} messages, expected ${n}`);
  return (n * 1000) / ms;
}

export const scenario: Scenario = {
  name: 'cast-throughput',
  description: '1M casts to a counter GenServer (sync handler) + one confirming call',
  async run(opts) {
    freshRuntime();
    // The young generation takes ~5 runs of 1M casts to grow to its steady size: warm up more.
    for (let i = 0; i < 3; i++) await spindleCasts(CASTS);
    const samples = await paired(
      opts,
      () => spindleCasts(CASTS),
      () => rawCasts(CASTS),
    );
    const spindle = median(samples.spindle);
    const baseline = median(samples.baseline);
    return [
      {
        scenario: 'cast throughput (1M casts + call)',
        spindle,
        baseline,
        baselineLabel: 'bare array-queue actor',
        unit: 'msg/s',
        checks: [
          { label: '≥ 10 M/s', pass: spindle >= 10e6 },
          { label: '≥ 40% of raw', pass: (pairedRatio(samples) ?? 0) >= 0.4 },
        ],
        samples,
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
