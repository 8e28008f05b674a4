import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{shared,daemon,sync-server,cli,test}/**/*.test.ts"],
    exclude: ["**/node_modules/**", ".tools/**", "bench-results/**"],
    // Tests start real daemons, relays and Postgres connections: seconds, not milliseconds.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
