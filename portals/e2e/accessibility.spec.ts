// axe-core on every page the portals have: no serious or critical violation, in the light and the dark theme.
import { expect, test, type Page } from '@playwright/test';
import { noSeriousViolation } from './axe';

const base = () => process.env.APIM_BASE ?? '';

async function signIn(page: Page) {
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('admin');
  await page.getByRole('button', { name: 'Sign in' }).click();
}

for (const colorScheme of ['light', 'dark'] as const) {
  test(`every page passes axe-core in the ${colorScheme} theme`, async ({ browser }) => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, colorScheme });
    const page = await context.newPage();
    await page.goto(`${base()}/devportal/apis`);
    await expect(page.getByRole('heading', { name: 'APIs' })).toBeVisible();
    await expect(page.getByRole('status')).toHaveCount(0);
    await noSeriousViolation(page, 'DevPortal catalogue');

    // The application developer's pages, signed in: an application made through the REST API as scripts do.
    const made = await page.request.post(`${base()}/api/am/devportal/v3/applications`, {
      headers: { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      data: { name: `Axe-${colorScheme}`, throttlingPolicy: 'Unlimited' },
    });
    expect(made.status(), await made.text()).toBe(201);
    const appId = ((await made.json()) as { applicationId: string }).applicationId;
    await page.goto(`${base()}/devportal/applications`);
    await signIn(page);
    await expect(page.getByRole('table', { name: 'Applications' })).toContainText(`Axe-${colorScheme}`);
    await noSeriousViolation(page, 'DevPortal applications');
    await page.getByRole('link', { name: 'Create application' }).click();
    await expect(page.getByRole('heading', { name: 'Create application' })).toBeVisible();
    await expect(page.getByRole('textbox', { name: 'Rate-limiting plan' })).toHaveValue(/Unlimited/);
    await noSeriousViolation(page, 'DevPortal create application');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Applications' }).click();
    await page.getByRole('link', { name: `Axe-${colorScheme}` }).click();
    await expect(page).toHaveURL(new RegExp(`/applications/${appId}$`));
    await expect(page.getByRole('button', { name: 'Generate keys' })).toBeVisible();
    await noSeriousViolation(page, 'DevPortal application: production keys');
    await page.getByRole('tab', { name: 'Sandbox keys' }).click();
    await expect(page.getByRole('form', { name: 'Generate sandbox keys' })).toBeVisible();
    await noSeriousViolation(page, 'DevPortal application: sandbox keys');
    await page.getByRole('tab', { name: 'Subscriptions' }).click();
    await expect(page.getByText('No subscriptions yet')).toBeVisible();
    await noSeriousViolation(page, 'DevPortal application: subscriptions');
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await expect(page.getByLabel('Application name')).toHaveValue(`Axe-${colorScheme}`);
    await noSeriousViolation(page, 'DevPortal edit application');

    await page.goto(`${base()}/publisher/apis`);
    await signIn(page);
    await expect(page.getByRole('heading', { name: 'APIs' })).toBeVisible();
    await expect(page.getByRole('status')).toHaveCount(0);
    await noSeriousViolation(page, 'Publisher API list');
    await page.getByRole('link', { name: 'Create API from OpenAPI' }).first().click();
    await expect(page.getByRole('heading', { name: 'Create API from OpenAPI' })).toBeVisible();
    await noSeriousViolation(page, 'Publisher create from OpenAPI');

    await page.goto(`${base()}/admin/throttling/application`);
    await signIn(page);
    await expect(page.getByRole('table', { name: 'Application policies' })).toBeVisible();
    await noSeriousViolation(page, 'Admin rate-limiting policies');
    await context.close();
  });
}
