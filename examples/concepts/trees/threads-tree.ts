/**
 * The subtree that examples/concepts/threads.ts runs on a worker thread. The worker imports
 * this module and calls its default export with the child spec's `args`; the export returns
 * the options of the subtree's root supervisor.
 */
import type { GenServerBehavior, SupervisorOptions } from '../../../src/index.js';
import { GenServer } from '../../../src/index.js';

export type SquarerProtocol = {
  call: [{ type: 'square'; n: number }, { square: number; thread: number }] | [{ type: 'crash_thread' }, 'ok'];
};

const squarer: GenServerBehavior<null, SquarerProtocol> = {
  init: () => null,
  handleCall(msg, s) {
    if (msg.type === 'square') return [{ square: msg.n * msg.n, thread: GenServer.self().thread }, s];
    // An exception thrown from a timer escapes every handler: it kills the whole thread,
    // which its supervisor on the main thread sees as an ordinary child exit.
    setTimeout(() => {
      throw new Error('asked to crash the thread');
    }, 10);
    return ['ok', s];
  },
};

export default function threadsTree(args: { name: string }): SupervisorOptions {
  return {
    strategy: 'one_for_one',
    // A registered name is node-wide: the main thread calls the squarer by name.
    children: [{ id: 'squarer', behavior: squarer, options: { name: args.name } }],
  };
}
