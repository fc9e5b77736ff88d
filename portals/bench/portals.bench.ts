// What a person waits for: each portal's first load on a cold cache (bytes over the wire, compressed, and the time
// until the page can be used) beside its HTML shell alone in the same run, and the Publisher's API list at 10,000
// APIs (the first page after signing in, and another page of results). Medians of ROUNDS fresh browser contexts.
import { expect, test, type Browser, type Page } from '@playwright/test';

const base = () => {
  const b = process.env.APIM_BASE;
  if (!b) throw new Error('APIM_BASE is not set: e2e/server.ts starts the node');
  return b;
};
const ROUNDS = Number(process.env.ROUNDS ?? '5');
const APIS = Number(process.env.APIS ?? '10000');
const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Loads `path` in a fresh context (a cold cache) until `ready` holds; bytes are the responses' encoded bodies. */
async function coldLoad(browser: Browser, path: string, ready: (p: Page) => Promise<void>, javaScript = true): Promise<{ ms: number; bytes: number }> {
  const context = await browser.newContext({ javaScriptEnabled: javaScript, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  let bytes = 0;
  const pending: Promise<void>[] = [];
  page.on('requestfinished', (r) => pending.push(r.sizes().then((s) => void (bytes += s.responseBodySize + s.responseHeadersSize))));
  const started = Date.now();
  await page.goto(`${base()}${path}`, { waitUntil: 'commit' });
  await ready(page);
  const ms = Date.now() - started;
  await Promise.all(pending);
  await context.close();
  return { ms, bytes };
}

async function signIn(page: Page) {
  await expect(page).toHaveURL(/\/oauth2\/authorize/);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('admin');
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('first load of each portal, and the API list at size', async ({ browser, request }) => {
  // The Publisher and Admin portals send a visitor to sign in: they are usable once that page is shown. The
  // DevPortal is usable anonymously once its catalogue has loaded.
  const portals: [string, string, (p: Page) => Promise<void>][] = [
    ['DevPortal', '/devportal/apis', async (p) => {
      await expect(p.getByRole('heading', { name: 'APIs' })).toBeVisible();
      await expect(p.getByRole('status')).toHaveCount(0);
    }],
    ['Publisher', '/publisher/apis', async (p) => expect(p.getByLabel('Username')).toBeVisible()],
    ['Admin', '/admin/', async (p) => expect(p.getByLabel('Username')).toBeVisible()],
  ];
  const lines: string[] = [];
  for (const [name, path, ready] of portals) {
    const full: { ms: number; bytes: number }[] = [];
    const shell: { ms: number; bytes: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      shell.push(await coldLoad(browser, path, (p) => p.waitForLoadState('load'), false));
      full.push(await coldLoad(browser, path, ready));
    }
    lines.push(
      `${name.padEnd(10)} first load ${String(median(full.map((r) => r.bytes))).padStart(8)} B in ${String(median(full.map((r) => r.ms))).padStart(5)} ms` +
        `   HTML shell alone ${String(median(shell.map((r) => r.bytes))).padStart(6)} B in ${String(median(shell.map((r) => r.ms))).padStart(4)} ms`,
    );
  }

  // The API list at size: APIS APIs made through the Publisher API, 16 at a time.
  const P = `${base()}/api/am/publisher/v4`;
  for (let i = 0; i < APIS; i += 16) {
    await Promise.all(
      Array.from({ length: Math.min(16, APIS - i) }, async (_, j) => {
        const n = i + j;
        const r = await request.post(`${P}/apis`, { headers: basic, data: { name: `Bench${String(n).padStart(5, '0')}`, context: `/bench${n}`, version: '1.0.0' } });
        expect(r.status(), await r.text()).toBe(201);
      }),
    );
  }
  const firstPage: number[] = [];
  const otherPage: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${base()}/publisher/apis`);
    const started = Date.now();
    await signIn(page);
    const rows = page.getByRole('table', { name: 'APIs' }).locator('tbody tr');
    await expect(rows).toHaveCount(10);
    firstPage.push(Date.now() - started);
    const pageTwo = Date.now();
    await page.getByRole('navigation', { name: 'Pages of APIs' }).getByRole('button', { name: 'Page 2' }).click();
    await expect(page).toHaveURL(/page=2/);
    await expect(rows.first()).not.toContainText('Bench00000');
    await expect(rows).toHaveCount(10);
    otherPage.push(Date.now() - pageTwo);
    await context.close();
  }
  lines.push(`API list at ${APIS} APIs: first page after the sign-in form ${median(firstPage)} ms, page 2 ${median(otherPage)} ms`);
  console.log(`\nportals (medians of ${ROUNDS} fresh contexts, Chromium, local binary):\n${lines.join('\n')}`);
});
