// A thread subtree of the consumer project: run as TypeScript (through tsx) and as compiled .js.
import { GenServer, type GenServerBehavior, type SupervisorOptions } from 'spindle';

export type SquareProtocol = { call: [{ square: number }, { square: number; thread: number }] };

const squarer: GenServerBehavior<null, SquareProtocol> = {
  init: () => null,
  handleCall: (msg, state) => [{ square: msg.square * msg.square, thread: GenServer.self().thread }, state],
};

export default function tree(args: { name: string }): SupervisorOptions {
  return { children: [{ id: 'squarer', behavior: squarer, options: { name: args.name } }] };
}
