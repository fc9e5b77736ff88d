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

    // An API's tabs, made through the REST API as scripts do, with a revision and a document so no tab is empty.
    const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
    const api = await page.request.post(`${base()}/api/am/publisher/v4/apis`, {
      headers: basic,
      data: {
        name: `AxeApi${colorScheme}`,
        context: `/axe-${colorScheme}`,
        version: '1.0.0',
        endpointConfig: { endpoint_type: 'http', production_endpoints: { url: 'http://backend.example.com/axe' } },
      },
    });
    expect(api.status(), await api.text()).toBe(201);
    const apiId = ((await api.json()) as { id: string }).id;
    const rev = await page.request.post(`${base()}/api/am/publisher/v4/apis/${apiId}/revisions`, { headers: basic, data: { description: 'axe' } });
    expect(rev.status(), await rev.text()).toBe(201);
    const doc = await page.request.post(`${base()}/api/am/publisher/v4/apis/${apiId}/documents`, {
      headers: basic,
      data: { name: 'Guide', type: 'HOWTO', sourceType: 'INLINE', visibility: 'API_LEVEL', inlineContent: 'Hello' },
    });
    expect(doc.status(), await doc.text()).toBe(201);
    await page.goto(`${base()}/publisher/apis/${apiId}`);
    await signIn(page);
    await expect(page.getByRole('heading', { name: `AxeApi${colorScheme}` })).toBeVisible();
    await expect(page.getByRole('status')).toHaveCount(0);
    await noSeriousViolation(page, 'Publisher API overview');
    const tabs: [string, () => Promise<void>][] = [
      ['Basic info', () => expect(page.getByRole('form', { name: 'Basic info' })).toBeVisible()],
      ['Resources', () => expect(page.getByRole('form', { name: 'Resources' })).toBeVisible()],
      ['Runtime', () => expect(page.getByRole('form', { name: 'Runtime' })).toBeVisible()],
      ['Endpoints', () => expect(page.getByRole('form', { name: 'Endpoints' })).toBeVisible()],
      ['Documents', () => expect(page.getByRole('table', { name: 'Documents' })).toContainText('Guide')],
      ['Deployments', () => expect(page.getByRole('table', { name: 'Revisions' })).toContainText('axe')],
      ['Lifecycle', () => expect(page.getByLabel('Current state')).toHaveText('Created')],
      ['Subscriptions', () => expect(page.getByText('No application subscribes to this API yet')).toBeVisible()],
      ['Analytics', () => expect(page.getByRole('heading', { name: 'Traffic' })).toBeVisible()],
    ];
    for (const [tab, ready] of tabs) {
      await page.getByRole('tab', { name: tab }).click();
      await ready();
      await expect(page.getByRole('status').filter({ hasText: '…' })).toHaveCount(0);
      await noSeriousViolation(page, `Publisher API: ${tab}`);
    }
    await page.getByRole('tab', { name: 'Documents' }).click();
    await page.getByRole('button', { name: 'Edit Guide' }).click();
    await expect(page.getByRole('form', { name: 'Edit document' }).getByLabel('Content')).toHaveValue('Hello');
    await noSeriousViolation(page, 'Publisher edit document');

    await page.goto(`${base()}/admin/throttling/application`);
    await signIn(page);
    await expect(page.getByRole('table', { name: 'Application policies' })).toBeVisible();
    await noSeriousViolation(page, 'Admin rate-limiting policies');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Analytics' }).click();
    await expect(page.getByRole('heading', { name: 'Traffic' })).toBeVisible();
    await expect(page.getByRole('status').filter({ hasText: '…' })).toHaveCount(0);
    await noSeriousViolation(page, 'Admin analytics');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Gateway nodes' }).click();
    await expect(page.getByRole('table', { name: 'Gateway nodes' })).toBeVisible();
    await noSeriousViolation(page, 'Admin gateway nodes');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Gateway environments' }).click();
    await expect(page.getByRole('table', { name: 'Gateway environments' })).toBeVisible();
    await noSeriousViolation(page, 'Admin gateway environments');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Key managers' }).click();
    await expect(page.getByRole('table', { name: 'Key managers' })).toBeVisible();
    await noSeriousViolation(page, 'Admin key managers');
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Applications' }).click();
    await expect(page.getByRole('table', { name: 'Applications' })).toBeVisible();
    await noSeriousViolation(page, 'Admin applications');
    await context.close();
  });
}
