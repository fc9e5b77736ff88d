// End-to-end tests of the portals in Debian's Chromium (`/usr/bin/chromium`, or $CHROMIUM) against the real
// `apim all-in-one` binary, which e2e/server.ts starts on free ports ($APIM_BIN, else target/debug/apim).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  globalSetup: './e2e/server.ts',
  workers: 1,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    // The portals then skip their transitions: axe-core looking at a dialog halfway through fading out measured the
    // contrast of a nearly transparent button (a failure seen once in CI).
    reducedMotion: 'reduce',
    trace: 'off',
  },
});
