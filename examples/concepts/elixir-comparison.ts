/**
 * Elixir → Spindle: the Stack server from Elixir's GenServer docs, an Agent, and three
 * differences you can watch happen (no preemption, self() after await, async register).
 *
 *   npx tsx examples/concepts/elixir-comparison.ts
 */
import type { GenServerBehavior } from '../../src/index.js';
import { Agent, GenServer, Registry, formatRef } from '../../src/index.js';

// defmodule Stack do use GenServer … end
type StackProtocol = {
  call: ['pop', string | undefined];
  cast: { push: string };
};
const Stack: GenServerBehavior<string[], StackProtocol, string> = {
  init: (elements) => elements.split(','), // {:ok, String.split(elements, ",")}
  handleCall: (_pop, [head, ...tail]) => [head, tail], // {:reply, head, tail}
  handleCast: ({ push }, state) => [push, ...state], // {:noreply, [element | state]}
};

// {:ok, pid} = GenServer.start_link(Stack, "hello,world")
const pid = await GenServer.start(Stack, { args: 'hello,world' });
console.log(await GenServer.call(pid, 'pop')); // "hello"
GenServer.cast(pid, { push: 'elixir' });
console.log(await GenServer.call(pid, 'pop')); // "elixir"

// {:ok, agent} = Agent.start_link(fn -> 0 end); Agent.update(agent, &(&1 + 1)); Agent.get(agent, & &1)
const agent = await Agent.start(() => 0);
await Agent.update(agent, (n) => n + 1);
console.log('agent:', await Agent.get(agent, (n) => n)); // 1

// Difference 1: no preemption. A CPU-bound handler holds the whole thread: this 10 ms timer
// fires only after the 150 ms handler returns. (Move such servers to a thread subtree.)
const busy = await GenServer.start<null, { cast: 'spin' }>({
  init: () => null,
  handleCast(_msg, s) {
    const end = Date.now() + 150;
    while (Date.now() < end) {} // busy loop: nothing else on this thread runs
    return s;
  },
});
const t0 = Date.now();
const fired = new Promise<number>((resolve) => setTimeout(() => resolve(Date.now() - t0), 10));
GenServer.cast(busy, 'spin');
console.log(`10 ms timer fired after ${await fired} ms`);

// Difference 2: self() is only known in the synchronous part of a callback.
const selfish = await GenServer.start<null, { call: ['where', string] }>({
  init: () => null,
  async handleCall(_msg, s) {
    const me = GenServer.self(); // fine: before the first await
    await Promise.resolve();
    try {
      GenServer.self();
      return ['self() worked after await', s];
    } catch (e) {
      return [`before await: ${formatRef(me)}; after: ${(e as Error).name}`, s];
    }
  },
});
console.log(await GenServer.call(selfish, 'where'));

// Difference 3: Registry.register is async (Process.register/2 is not): await it.
await Registry.register('stack', pid);
console.log('registered:', Registry.whereis('stack') !== undefined);

for (const ref of [pid, busy, selfish]) await GenServer.stop(ref);
await Agent.stop(agent);
