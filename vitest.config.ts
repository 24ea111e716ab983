import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: files run two at a time; multi-process tests spawn their own children.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
