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
