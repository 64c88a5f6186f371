import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['spindle-source'] },
  test: {
    include: ['test/**/*.test.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
    testTimeout: 20000,
    hookTimeout: 20000,
    pool: 'forks',
  },
});
