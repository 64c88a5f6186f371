/**
 * The subtree that runs on each worker thread of the compute service: one supervisor with
 * one GenServer, `hasher-<index>`, registered node-wide so the HTTP server on the main thread
 * can call it by name. Loaded by the worker itself (through tsx): it only exports
 * `(args) => SupervisorOptions`.
 */
import { createHash } from 'node:crypto';
import type { GenServerBehavior, SupervisorOptions } from '../../src/index.js';
import { GenServer } from '../../src/index.js';

/** What one hash request returns (plain data: it crosses back to the main thread). */
export interface HashReply {
  readonly digest: string;
  readonly rounds: number;
  readonly hasher: string;
  readonly thread: number;
  readonly ms: number;
}

/** What a hasher reports about itself. */
export interface HasherStats {
  readonly hasher: string;
  readonly thread: number;
  /** Requests served since this hasher (and its thread) started. */
  readonly served: number;
  readonly upMs: number;
}

export type HasherProtocol = {
  call:
    | [{ type: 'hash'; rounds: number; input: string }, HashReply]
    | [{ type: 'stats' }, HasherStats]
    | [{ type: 'crash' }, { thread: number }];
};

interface HasherState {
  readonly name: string;
  readonly startedAt: number;
  served: number;
}

/** sha256 applied `rounds` times, each round hashing the previous digest: pure CPU work. */
export function chainedSha256(input: string, rounds: number): string {
  let digest: Buffer = Buffer.from(input);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex');
}

export const hasher: GenServerBehavior<HasherState, HasherProtocol, string> = {
  init: (name) => ({ name, startedAt: Date.now(), served: 0 }),
  handleCall(msg, state) {
    const thread = GenServer.self().thread;
    switch (msg.type) {
      case 'hash': {
        const t0 = performance.now();
        const digest = chainedSha256(msg.input, msg.rounds);
        state.served++;
        const ms = Math.round((performance.now() - t0) * 10) / 10;
        return [{ digest, rounds: msg.rounds, hasher: state.name, thread, ms }, state];
      }
      case 'stats':
        return [{ hasher: state.name, thread, served: state.served, upMs: Date.now() - state.startedAt }, state];
      case 'crash':
        // Not a handler crash (that would only restart this GenServer, inside the thread):
        // an exception thrown from a timer escapes every handler and kills the whole thread.
        setTimeout(() => {
          throw new Error(`${state.name} was asked to crash its thread`);
        }, 10);
        return [{ thread }, state];
    }
  },
};

/** The thread's root supervisor: `args.index` picks the registered name `hasher-<index>`. */
export default function hasherTree(args: { index: number }): SupervisorOptions {
  const name = `hasher-${args.index}`;
  return {
    strategy: 'one_for_one',
    children: [{ id: 'hasher', behavior: hasher, options: { name, args: name } }],
  };
}
