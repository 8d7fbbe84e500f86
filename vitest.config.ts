import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but Node; `real` runs against real components (crun, a local
// registry, the busybox fixture image) that tests/global-setup starts once for the whole run.
export default defineConfig({
  test: {
    // Product code logs at info by default; in tests only problems are worth a line.
    env: { HATAKE_LOG_LEVEL: "warn" },
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: ["**/node_modules/**", "dist/**", ".cache/**", "**/*.e2e.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "real",
          include: ["**/*.e2e.test.ts"],
          exclude: ["**/node_modules/**", "dist/**", ".cache/**"],
          globalSetup: ["testing/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
