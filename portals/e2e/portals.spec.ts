// A person's way through the portals, in Chromium, against the real binary (see server.ts).
import { expect, test, type Page } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import { noSeriousViolation } from './axe';

const base = () => {
  const b = process.env.APIM_BASE;
  if (!b) throw new Error('APIM_BASE is not set: e2e/server.ts starts the node');
  return b;
};
const pizzashack = fileURLToPath(new URL('../../examples/pizzashack.yaml', import.meta.url));
/** The README's screenshots, taken where the scenario reaches each page, so they show the portals as they are. */
const shot = (name: string) => fileURLToPath(new URL(`../../docs/screenshots/${name}`, import.meta.url));

/** The key manager's sign-in page, as a person fills it in. */
async function signIn(page: Page, username: string, password: string) {
  await expect(page).toHaveURL(/\/oauth2\/authorize/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a publisher creates PizzaShack from its OpenAPI file, deploys and publishes it; anonymous visitors find it in the DevPortal', async ({
  page,
  browser,
}) => {
  await page.goto(`${base()}/publisher/`);
  await signIn(page, 'admin', 'admin');
  await expect(page).toHaveURL(/\/publisher\/apis$/);
  await expect(page.getByRole('heading', { name: 'APIs' })).toBeVisible();
  await expect(page.getByLabel('Signed in as')).toHaveText('admin');

  await page.getByRole('link', { name: 'Create API from OpenAPI' }).first().click();
  await page.locator('input[type=file]').setInputFiles(pizzashack);
  await page.getByLabel('Context').fill('/pizzashack');
  await page.getByRole('button', { name: 'Create', exact: true }).click();

  await expect(page).toHaveURL(/\/publisher\/apis\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();
  await expect(page.getByLabel('Lifecycle state')).toHaveText('CREATED');
  await expect(page.getByText('Not deployed to any gateway yet')).toBeVisible();

  await page.getByRole('button', { name: 'Deploy new revision to Default' }).click();
  await expect(page.getByRole('list', { name: 'Deployments' })).toContainText('Default');

  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByLabel('Lifecycle state')).toHaveText('PUBLISHED');
  await noSeriousViolation(page, 'Publisher API overview');
  await page.screenshot({ path: shot('publisher-api-overview.png') });

  // A deep link survives a reload (the session does not: tokens live in memory, so sign in again).
  await page.reload();
  await signIn(page, 'admin', 'admin');
  await expect(page.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();

  // The list finds it by name.
  await page.goto(`${base()}/publisher/apis?query=${encodeURIComponent('name:Pizza')}`);
  await signIn(page, 'admin', 'admin');
  await expect(page.getByRole('table', { name: 'APIs' })).toContainText('PizzaShackAPI');
  await page.screenshot({ path: shot('publisher-api-list.png') });

  // Sign out revokes the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/oauth2\/authorize/);

  const visitor = await browser.newContext({ ignoreHTTPSErrors: true });
  const anon = await visitor.newPage();
  await anon.goto(`${base()}/devportal/`);
  await expect(anon.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await anon.getByRole('link', { name: 'PizzaShackAPI' }).click();
  await expect(anon.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();
  await expect(anon.getByRole('table', { name: 'Endpoints' })).toContainText('/pizzashack/1.0.0');
  await noSeriousViolation(anon, 'DevPortal API page');
  await anon.screenshot({ path: shot('devportal-api.png') });
  // Signing in from an API's page comes back to it.
  await anon.getByRole('button', { name: 'Sign in' }).click();
  await signIn(anon, 'admin', 'admin');
  await expect(anon).toHaveURL(/\/devportal\/apis\/[0-9a-f-]{36}$/);
  await expect(anon.getByLabel('Signed in as')).toHaveText('admin');
  await expect(anon.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();
  await visitor.close();
});

test('the API list pages through search results ten at a time', async ({ page, request }) => {
  const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  for (let i = 1; i <= 11; i++) {
    const r = await request.post(`${base()}/api/am/publisher/v4/apis`, {
      headers: basic,
      data: { name: `Paged${String(i).padStart(2, '0')}`, context: `/paged${i}`, version: '1.0.0' },
    });
    expect(r.status(), await r.text()).toBe(201);
  }
  await page.goto(`${base()}/publisher/apis`);
  await signIn(page, 'admin', 'admin');
  await page.getByLabel('Search APIs').fill('name:Paged');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page).toHaveURL(/query=name%3APaged/);
  await expect(page.getByText('11 APIs')).toBeVisible();
  const rows = page.getByRole('table', { name: 'APIs' }).locator('tbody tr');
  await expect(rows).toHaveCount(10);
  await noSeriousViolation(page, 'Publisher API list with pages');
  await page.getByRole('navigation', { name: 'Pages of APIs' }).getByRole('button', { name: 'Page 2' }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(rows).toHaveCount(1);
  await page.getByRole('button', { name: 'Previous page' }).click();
  await expect(rows).toHaveCount(10);
});

test('the admin portal lists the rate-limiting policies of each level', async ({ page }) => {
  await page.goto(`${base()}/admin/`);
  await signIn(page, 'admin', 'admin');
  await expect(page.getByRole('heading', { name: 'Rate limiting policies' })).toBeVisible();
  await page.getByRole('tab', { name: 'Subscription' }).click();
  await expect(page).toHaveURL(/\/admin\/throttling\/subscription$/);
  await expect(page.getByRole('table', { name: 'Subscription policies' })).toContainText('Unlimited');
  await page.screenshot({ path: shot('admin-policies.png') });
  await page.getByRole('tab', { name: 'Application' }).click();
  await expect(page.getByRole('table', { name: 'Application policies' })).toContainText('10PerMin');
});

test('the server answers with the portal, its security headers and hashed assets', async ({ request }) => {
  const index = await request.get(`${base()}/devportal/apis/anything`);
  expect(index.status()).toBe(200);
  expect(index.headers()['content-security-policy']).toContain("script-src 'self'");
  expect(index.headers()['cache-control']).toBe('no-cache');
  const script = /src="(\/devportal\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1];
  expect(script).toBeTruthy();
  const asset = await request.get(`${base()}${script}`, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(asset.headers()['cache-control']).toContain('immutable');
  expect(asset.headers()['content-type']).toContain('text/javascript');
});
