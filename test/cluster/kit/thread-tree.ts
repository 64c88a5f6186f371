/**
 * A worker-thread subtree for the cluster tests (started by kit/node-main.ts's `startThread`):
 * one `relay` server, registered under the name given, that echoes, reports where it runs,
 * and calls any target (another node's process included) on request.
 */
import { type AnyRef, GenServer, type GenServerBehavior, type SupervisorOptions } from '../../../src/index.js';

export type RelayProtocol = {
  call:
    | [{ type: 'echo'; value: unknown }, unknown]
    | [{ type: 'self' }, AnyRef]
    | [{ type: 'callRemote'; target: AnyRef | { name: string; node: string }; msg: unknown }, unknown];
};

const relay: GenServerBehavior<null, RelayProtocol> = {
  init: () => null,
  async handleCall(msg, s) {
    switch (msg.type) {
      case 'echo':
        return [msg.value, s];
      case 'self':
        return [GenServer.self(), s];
      case 'callRemote':
        // biome-ignore lint/suspicious/noExplicitAny: any target, any protocol.
        return [await GenServer.call(msg.target as any, msg.msg, { timeout: 10000 }), s];
    }
  },
};

export default function tree(args: { name: string }): SupervisorOptions {
  return {
    strategy: 'one_for_one',
    children: [{ id: 'relay', behavior: relay, options: { name: args.name } }],
  };
}
