import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GenServer } from '../src/index.js';
import { freshRuntime } from '../src/testing.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

describe('GenServer smoke', () => {
  it('serves a call', async () => {
    const ref = await GenServer.start({ init: () => 1, handleCall: (_m: unknown, s: number) => [s, s] as const });
    expect(await GenServer.call(ref, 'x' as never)).toBe(1);
  });
});
