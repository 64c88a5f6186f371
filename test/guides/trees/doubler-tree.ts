// The thread subtree of the testing guide: one named GenServer that doubles numbers.
import type { GenServerBehavior, SupervisorOptions } from '../../../src/index.js';
import { GenServer } from '../../../src/index.js';

export type DoublerProtocol = { call: [{ double: number }, { value: number; thread: number }] };

const doubler: GenServerBehavior<null, DoublerProtocol> = {
  init: () => null,
  handleCall: (msg, s) => [{ value: msg.double * 2, thread: GenServer.self().thread }, s],
};

export default (args: { name: string }): SupervisorOptions => ({
  children: [{ id: 'doubler', behavior: doubler, options: { name: args.name } }],
});
