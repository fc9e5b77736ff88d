// The portals' load benchmark (bench/portals.sh): the end-to-end tests' browser and server (playwright.config.ts),
// over `bench/*.bench.ts`. Not a test: it prints figures.
import { defineConfig } from '@playwright/test';
import e2e from './playwright.config';

export default defineConfig({ ...e2e, testDir: 'bench', testMatch: '*.bench.ts', timeout: 600_000, expect: { timeout: 30_000 } });
