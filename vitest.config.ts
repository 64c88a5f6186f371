import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['spindle-source'] },
  test: {
    include: ['test/**/*.test.ts'],
    // The type tests (test/**/*.test-d.ts) are checked by `tsc -p tsconfig.json` (`npm run
    // typecheck`, the first step of `npm test`): tsconfig includes test/, and a failed
    // expectTypeOf or an unused @ts-expect-error is a compile error there. Vitest's own
    // typecheck mode would check them a second time and print an "experimental feature"
    // notice on every run, so it stays off; `vitest run --typecheck` still runs it on demand.
    typecheck: { enabled: false, include: ['test/**/*.test-d.ts'] },
    testTimeout: 20000,
    hookTimeout: 20000,
    pool: 'forks',
  },
});
