/**
 * GenServer: a typed stack server (the example from Elixir's GenServer docs, extended) showing
 * call, cast, info, sendAfter, a deferred reply, handleContinue, a call timeout and a stop.
 *
 *   npx tsx examples/concepts/genserver.ts
 */
import type { From, GenServerBehavior } from '../../src/index.js';
import { CallTimeoutError, GenServer, Result } from '../../src/index.js';

// The protocol, declared once. `call` pairs each message with its reply type.
type StackProtocol = {
  call: ['pop', string | undefined] | ['take', string] | ['ticks', number] | ['stop', string];
  cast: { type: 'push'; item: string };
  info: 'tick';
};

interface Stack {
  items: string[];
  takers: From[]; // callers of 'take' waiting for an item
  ticks: number;
}

const stack: GenServerBehavior<Stack, StackProtocol, string[]> = {
  // `args` comes from GenServer.start(…, { args }). Result.continue runs handleContinue
  // before the first message: do slow setup there without holding up `start`.
  init: (items) => Result.continue({ items, takers: [], ticks: 0 }, 'loaded'),

  handleContinue(cont, s) {
    console.log(`handleContinue(${String(cont)}) ran before any message`);
    return s;
  },

  handleCall(msg, s, from) {
    switch (msg) {
      case 'pop':
        return [s.items[0], { ...s, items: s.items.slice(1) }];
      case 'take':
        // Nothing to take yet: don't reply now. Keep `from` and answer with GenServer.reply.
        if (s.items.length === 0) return Result.noreply({ ...s, takers: [...s.takers, from] });
        return [s.items[0] as string, { ...s, items: s.items.slice(1) }];
      case 'ticks':
        return [s.ticks, s];
      case 'stop':
        // Reply to this caller, then stop with reason 'normal' (terminate runs).
        return Result.stop('normal', s, { reply: 'bye' });
    }
  },

  handleCast(msg, s) {
    const [taker, ...rest] = s.takers;
    if (taker !== undefined) {
      GenServer.reply(taker, msg.item);
      return { ...s, takers: rest };
    }
    return { ...s, items: [msg.item, ...s.items] };
  },

  handleInfo(msg, s) {
    if (msg === 'tick') return { ...s, ticks: s.ticks + 1 };
    return s; // EXIT / DOWN messages would arrive here too
  },

  terminate(reason, s) {
    console.log(`terminate(${String(reason)}) with ${s.items.length} item(s) left`);
  },
};

const ref = await GenServer.start(stack, { name: 'stack', args: ['hello'] });

console.log('pop ->', await GenServer.call(ref, 'pop')); // 'hello'
console.log('pop ->', await GenServer.call('stack', 'pop')); // undefined (by name)

// A deferred reply: 'take' waits until someone pushes.
const taken = GenServer.call(ref, 'take');
GenServer.cast(ref, { type: 'push', item: 'world' });
console.log('take ->', await taken); // 'world'

// Info messages: plain sends and timers.
GenServer.send(ref, 'tick');
GenServer.sendAfter(ref, 'tick', 20);
await new Promise((r) => setTimeout(r, 40));
console.log('ticks ->', await GenServer.call(ref, 'ticks')); // 2

// A call that gets no reply in time rejects with CallTimeoutError.
try {
  await GenServer.call(ref, 'take', { timeout: 50 });
} catch (e) {
  if (CallTimeoutError.is(e)) console.log(`timeout -> ${e.code}: ${e.message}`);
}

GenServer.cast(ref, { type: 'push', item: 'kept' }); // the timed-out taker's reply is dropped; see pitfalls
console.log('stop ->', await GenServer.call(ref, 'stop')); // 'bye'
console.log('running?', GenServer.isRunning('stack')); // false: the name was released
