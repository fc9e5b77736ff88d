// The portals' load benchmark (bench/portals.sh), in Debian's Chromium against the real `apim all-in-one`, which
// e2e/server.ts starts ($APIM_BIN, else target/debug/apim). Not a test: it prints figures.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'bench',
  testMatch: '*.bench.ts',
  globalSetup: './e2e/server.ts',
  workers: 1,
  timeout: 600_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    reducedMotion: 'reduce',
    trace: 'off',
  },
});
