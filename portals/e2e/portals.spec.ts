// A person's way through the portals, in Chromium, against the real binary (see server.ts).
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { noSeriousViolation } from './axe';
import { subscriberToken } from './rest';

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
  await anon.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signIn(anon, 'admin', 'admin');
  await expect(anon).toHaveURL(/\/devportal\/apis\/[0-9a-f-]{36}$/);
  await expect(anon.getByLabel('Signed in as')).toHaveText('admin');
  await expect(anon.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();
  await visitor.close();
});

test("a publisher takes an API through its tabs: a revision deployed to Default, published by its lifecycle, a document, a description saved with If-Match; the DevPortal shows them", async ({
  page,
  browser,
}) => {
  const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  await page.goto(`${base()}/publisher/`);
  await signIn(page, 'admin', 'admin');
  await page.getByRole('link', { name: 'Create API from OpenAPI' }).first().click();
  await page.locator('input[type=file]').setInputFiles(pizzashack);
  await page.getByLabel('Name').fill('PizzaOrdersAPI');
  await page.getByLabel('Context').fill('/pizzaorders');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(page).toHaveURL(/\/publisher\/apis\/[0-9a-f-]{36}$/);
  const apiId = /apis\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';

  // Deployments: a revision, deployed to Default; the tab is a deep link that survives a reload.
  await page.getByRole('tab', { name: 'Deployments' }).click();
  await expect(page).toHaveURL(new RegExp(`/apis/${apiId}/deployments$`));
  await expect(page.getByText('No revisions yet')).toBeVisible();
  const newRevision = page.getByRole('form', { name: 'Create revision' });
  await newRevision.getByLabel('Description').fill('First menu');
  await newRevision.getByRole('button', { name: 'Create revision' }).click();
  const revisions = page.getByRole('table', { name: 'Revisions' });
  await expect(revisions).toContainText('First menu');
  await revisions.getByRole('button', { name: 'Deploy Revision 1' }).click();
  const deploy = page.getByRole('dialog', { name: 'Deploy Revision 1' });
  await expect(deploy.getByRole('textbox', { name: 'Gateway environment' })).toHaveValue('Default');
  await noSeriousViolation(page, 'Publisher deploy dialog');
  await deploy.getByRole('button', { name: 'Deploy', exact: true }).click();
  await expect(deploy).toBeHidden();
  await expect(page.locator('form[aria-label="Deploy the revision"]')).toHaveCount(0);
  await expect(revisions.getByRole('button', { name: 'Undeploy Revision 1 from Default' })).toBeVisible();
  await noSeriousViolation(page, 'Publisher deployments');
  await fitsPhone(page, 'Publisher deployments');
  await page.screenshot({ path: shot('publisher-api-deployments.png') });
  await page.reload();
  await signIn(page, 'admin', 'admin');
  await expect(page).toHaveURL(new RegExp(`/apis/${apiId}/deployments$`));
  await expect(page.getByRole('table', { name: 'Revisions' })).toContainText('Default');

  // Lifecycle: published by its transition button; the history records it.
  await page.getByRole('tab', { name: 'Lifecycle' }).click();
  await expect(page.getByLabel('Current state')).toHaveText('Created');
  await expect(page.getByRole('list', { name: 'Requirements' })).toContainText('Deployed to a gateway environment — done');
  await noSeriousViolation(page, 'Publisher lifecycle');
  await fitsPhone(page, 'Publisher lifecycle');
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByLabel('Current state')).toHaveText('Published');
  await expect(page.getByLabel('Lifecycle state')).toHaveText('PUBLISHED');
  await expect(page.getByRole('table', { name: 'Lifecycle history' })).toContainText('Published');

  // Documents: an inline one, for everyone who sees the API.
  await page.getByRole('tab', { name: 'Documents' }).click();
  await page.getByRole('button', { name: 'Add document' }).click();
  await expect(page).toHaveURL(/\/documents\?add/);
  const doc = page.getByRole('form', { name: 'Add document' });
  await doc.getByLabel(/^Name/).fill('Ordering');
  await doc.getByLabel('Summary').fill('How to order a pizza');
  await doc.getByLabel('Content').fill('Call GET /menu, then POST /order.');
  await noSeriousViolation(page, 'Publisher add document');
  await doc.getByRole('button', { name: 'Add document' }).click();
  await expect(page.getByRole('table', { name: 'Documents' })).toContainText('Ordering');
  await noSeriousViolation(page, 'Publisher documents');
  await fitsPhone(page, 'Publisher documents');

  // Basic info: someone else saves the API meanwhile, so the first save is refused (412) with the input kept;
  // read again, it saves on top of their change.
  await page.getByRole('tab', { name: 'Basic info' }).click();
  const info = page.getByRole('form', { name: 'Basic info' });
  await expect(info.getByLabel('Description')).toBeVisible();
  const read = await page.request.get(`${base()}/api/am/publisher/v4/apis/${apiId}`, { headers: basic });
  const other = await page.request.put(`${base()}/api/am/publisher/v4/apis/${apiId}`, {
    headers: { ...basic, 'If-Match': read.headers()['etag'] ?? '' },
    data: { ...(await read.json()), tags: ['pizza'] },
  });
  expect(other.status(), await other.text()).toBe(200);
  await info.getByLabel('Description').fill('Pizzas from the oven, to your door.');
  await info.getByRole('button', { name: 'Save' }).click();
  await expect(info.getByRole('alert')).toContainText('412');
  await expect(info.getByLabel('Description')).toHaveValue('Pizzas from the oven, to your door.');
  await noSeriousViolation(page, 'Publisher basic info with a refused save');
  await fitsPhone(page, 'Publisher basic info');
  await info.getByRole('button', { name: 'Read the API again (your input stays)' }).click();
  await info.getByRole('button', { name: 'Save' }).click();
  await expect(info.getByText('Saved.')).toBeVisible();
  const saved = (await (await page.request.get(`${base()}/api/am/publisher/v4/apis/${apiId}`, { headers: basic })).json()) as {
    description: string;
    tags: string[];
  };
  expect(saved.description).toBe('Pizzas from the oven, to your door.');
  expect(saved.tags).toEqual(['pizza']);

  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await expect(page.getByRole('form', { name: 'Endpoints' }).getByRole('textbox', { name: 'Production endpoint' })).toHaveValue(/pizzashack/);
  await noSeriousViolation(page, 'Publisher endpoints');
  await fitsPhone(page, 'Publisher endpoints');

  // The DevPortal, anonymously: the API with its new description, and its document.
  const visitor = await browser.newContext({ ignoreHTTPSErrors: true });
  const anon = await visitor.newPage();
  await anon.goto(`${base()}/devportal/apis/${apiId}`);
  await expect(anon.getByRole('heading', { name: 'PizzaOrdersAPI' })).toBeVisible();
  await expect(anon.getByText('Pizzas from the oven, to your door.')).toBeVisible();
  const docs = await anon.request.get(`${base()}/api/am/devportal/v3/apis/${apiId}/documents`);
  expect(((await docs.json()) as { list: { name: string }[] }).list.map((d) => d.name)).toEqual(['Ordering']);
  await anon.getByRole('button', { name: /Ordering/ }).click();
  await expect(anon.getByLabel('Content of Ordering')).toHaveText('Call GET /menu, then POST /order.');
  await noSeriousViolation(anon, 'DevPortal API page with a document open');
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

test('an administrator works through the admin portal: rate-limiting policies of each level, deny policies, categories, the gateway nodes in sync, gateway environments, key managers and application owners', async ({ page }) => {
  await page.goto(`${base()}/admin/`);
  await signIn(page, 'admin', 'admin');
  await expect(page.getByRole('heading', { name: 'Rate limiting policies' })).toBeVisible();
  // The platform's traffic: a period picker and what the gateways sent (or that nothing came yet).
  const nav = page.getByRole('navigation', { name: 'Main navigation' });
  await nav.getByRole('link', { name: 'Analytics' }).click();
  await expect(page.getByRole('heading', { name: 'Analytics' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Traffic' })).toBeVisible();
  await expect(page.getByRole('alert').or(page.getByRole('img', { name: /Requests over the last/ }))).toBeVisible();
  await noSeriousViolation(page, 'Admin analytics');
  await nav.getByRole('link', { name: 'Rate limiting policies' }).click();
  await page.getByRole('tab', { name: 'Subscription' }).click();
  await expect(page).toHaveURL(/\/admin\/throttling\/subscription$/);
  await expect(page.getByRole('table', { name: 'Subscription policies' })).toContainText('Unlimited');
  await page.screenshot({ path: shot('admin-policies.png') });
  await page.getByRole('tab', { name: 'Application' }).click();
  await expect(page.getByRole('table', { name: 'Application policies' })).toContainText('10PerMin');

  // An advanced policy with one condition group: a header picks a larger quota.
  await page.getByRole('tab', { name: 'Advanced' }).click();
  await page.getByRole('link', { name: 'Add advanced policy' }).click();
  const form = page.getByRole('form', { name: 'Add advanced policy' });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('E2eTiered');
  await form.getByRole('textbox', { name: 'Request count', exact: true }).fill('10');
  await form.getByRole('button', { name: 'Add condition group' }).click();
  await form.getByRole('textbox', { name: 'Group 1: header name' }).fill('X-Tier');
  await form.getByRole('textbox', { name: 'Group 1: value' }).fill('gold');
  await form.getByRole('textbox', { name: 'Group 1: Request count' }).fill('1000');
  await noSeriousViolation(page, 'Admin add advanced policy');
  await fitsPhone(page, 'Admin add advanced policy');
  await form.getByRole('button', { name: 'Add policy' }).click();
  const advanced = page.getByRole('table', { name: 'Advanced policies' });
  await expect(advanced).toContainText('E2eTiered');
  await expect(advanced).toContainText('10 requests per 1 min');
  const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  const listed = (await (await page.request.get(`${base()}/api/am/admin/v4/throttling/policies/advanced`, { headers: basic })).json()) as {
    list: { policyId: string; policyName: string }[];
  };
  const made = listed.list.find((p) => p.policyName === 'E2eTiered');
  expect(made).toBeTruthy();
  const full = (await (await page.request.get(`${base()}/api/am/admin/v4/throttling/policies/advanced/${made?.policyId}`, { headers: basic })).json()) as {
    conditionalGroups: { conditions: { headerCondition?: { headerName: string; headerValue: string } }[]; limit: { requestCount: { requestCount: number } } }[];
  };
  expect(full.conditionalGroups[0]?.conditions[0]?.headerCondition).toEqual({ headerName: 'X-Tier', headerValue: 'gold' });
  expect(full.conditionalGroups[0]?.limit.requestCount.requestCount).toBe(1000);

  // The same name again is refused with the server's message, the input kept.
  await page.getByRole('link', { name: 'Add advanced policy' }).click();
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('E2eTiered');
  await form.getByRole('button', { name: 'Add policy' }).click();
  await expect(form.getByRole('alert')).toContainText('E2eTiered');
  await expect(form.getByRole('textbox', { name: 'Name', exact: true })).toHaveValue('E2eTiered');
  await page.getByRole('link', { name: '← Advanced policies' }).click();

  // Deleted after asking.
  await advanced.getByRole('button', { name: 'Delete E2eTiered' }).click();
  await page.getByRole('dialog', { name: 'Delete policy' }).getByRole('button', { name: 'Delete' }).click();
  await expect(advanced).not.toContainText('E2eTiered');

  // Deny policies: an address blocked, a bad one refused with the server's message, switched off, deleted.
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Deny policies' }).click();
  await expect(page.getByRole('heading', { name: 'Deny policies' })).toBeVisible();
  const deny = page.getByRole('form', { name: 'Add deny policy' });
  await deny.getByRole('textbox', { name: 'Condition' }).click();
  await page.getByRole('option', { name: 'IP address' }).click();
  await deny.getByRole('textbox', { name: 'Value' }).fill('not-an-address');
  await deny.getByRole('button', { name: 'Add deny policy' }).click();
  await expect(deny.getByRole('alert')).toContainText('conditionValue');
  await deny.getByRole('textbox', { name: 'Value' }).fill('203.0.113.77');
  await deny.getByRole('button', { name: 'Add deny policy' }).click();
  const denied = page.getByRole('table', { name: 'Deny policies' });
  await expect(denied).toContainText('203.0.113.77');
  await noSeriousViolation(page, 'Admin deny policies');
  await fitsPhone(page, 'Admin deny policies');
  await denied.getByRole('switch', { name: 'Deny 203.0.113.77' }).click({ force: true });
  await expect
    .poll(async () => {
      const l = (await (await page.request.get(`${base()}/api/am/admin/v4/throttling/deny-policies`, { headers: basic })).json()) as {
        list: { conditionValue: { fixedIp?: string }; conditionStatus: boolean }[];
      };
      return l.list.find((c) => c.conditionValue.fixedIp === '203.0.113.77')?.conditionStatus;
    })
    .toBe(false);
  await denied.getByRole('button', { name: 'Delete deny policy 203.0.113.77' }).click();
  await page.getByRole('dialog', { name: 'Delete deny policy' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('No deny policies')).toBeVisible();

  // API categories: added, a second of the same name refused with the server's message, deleted after asking.
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'API categories' }).click();
  const category = page.getByRole('form', { name: 'Add API category' });
  await category.getByRole('textbox', { name: 'Name', exact: true }).fill('E2eFood');
  await category.getByRole('textbox', { name: 'Description' }).fill('Things to eat');
  await category.getByRole('button', { name: 'Add category' }).click();
  const categories = page.getByRole('table', { name: 'API categories' });
  await expect(categories).toContainText('Things to eat');
  await noSeriousViolation(page, 'Admin API categories');
  await fitsPhone(page, 'Admin API categories');
  await category.getByRole('textbox', { name: 'Name', exact: true }).fill('E2eFood');
  await category.getByRole('button', { name: 'Add category' }).click();
  await expect(category.getByRole('alert')).toContainText('E2eFood');
  await categories.getByRole('button', { name: 'Delete category E2eFood' }).click();
  await page.getByRole('dialog', { name: 'Delete API category' }).getByRole('button', { name: 'Delete' }).click();
  await expect(categories.or(page.getByText('No API categories'))).not.toContainText('E2eFood');

  // Gateway nodes: the all-in-one's own gateway reports what it serves; it shows in sync with the event log.
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Gateway nodes' }).click();
  const nodes = page.getByRole('table', { name: 'Gateway nodes' });
  const row = nodes.getByRole('row').filter({ hasText: 'Default' }).first();
  await expect(row).toContainText('In sync', { timeout: 20_000 });
  await expect(row).toContainText(/\d+ of \d+/);
  await noSeriousViolation(page, 'Admin gateway nodes');
  await fitsPhone(page, 'Admin gateway nodes');
  await page.screenshot({ path: shot('admin-gateway-nodes.png') });
  await row.getByRole('link').click();
  await expect(page.getByRole('heading', { level: 2 })).not.toHaveText('');
  await expect(page.getByText('Environments', { exact: true })).toBeVisible();
  await expect(page.getByRole('table', { name: 'API revisions' }).or(page.getByText("Nothing is deployed to this node's environments"))).toBeVisible();
  await noSeriousViolation(page, 'Admin gateway node');
  // A node that never reported: the server's 404, in words.
  await page.goto(`${base()}/admin/gateway-nodes/nobody-here`);
  await signIn(page, 'admin', 'admin');
  await expect(page.getByRole('alert')).toContainText('nobody-here');

  // Gateway environments: a bad host refused with the server's message, the input kept; added; deleted after asking.
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Gateway environments' }).click();
  const envs = page.getByRole('table', { name: 'Gateway environments' });
  await expect(envs).toContainText('read-only');
  const addEnv = page.getByRole('form', { name: 'Add gateway environment' });
  await addEnv.getByRole('textbox', { name: 'Name' }).fill('E2eEurope');
  await addEnv.getByRole('textbox', { name: 'Host' }).fill('not a host');
  await addEnv.getByRole('button', { name: 'Add environment' }).click();
  await expect(addEnv.getByRole('alert')).toContainText('vhosts[0].host');
  await expect(addEnv.getByRole('textbox', { name: 'Name' })).toHaveValue('E2eEurope');
  await addEnv.getByRole('textbox', { name: 'Host' }).fill('eu.gw.test');
  await addEnv.getByRole('button', { name: 'Add environment' }).click();
  await expect(envs).toContainText('https://eu.gw.test:8243');
  await noSeriousViolation(page, 'Admin gateway environments');
  await fitsPhone(page, 'Admin gateway environments');
  await envs.getByRole('button', { name: 'Delete environment E2eEurope' }).click();
  await page.getByRole('dialog', { name: 'Delete gateway environment' }).getByRole('button', { name: 'Delete' }).click();
  await expect(envs).not.toContainText('E2eEurope');

  // Key managers: discovery of a loopback URL is refused by the control plane's outbound guard (its message
  // shown); the fields typed in instead; the new key manager switched off, then deleted.
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Key managers' }).click();
  const kms = page.getByRole('table', { name: 'Key managers' });
  await expect(kms).toContainText('Resident Key Manager');
  const addKm = page.getByRole('form', { name: 'Add key manager' });
  await addKm.getByRole('textbox', { name: 'Name' }).fill('E2eIdp');
  await addKm.getByRole('textbox', { name: 'Discovery URL' }).fill(`${base()}/oauth2/token/.well-known/openid-configuration`);
  await addKm.getByRole('button', { name: 'Read discovery document' }).click();
  await expect(addKm.getByRole('alert')).toContainText('allowed_private_hosts');
  await addKm.getByRole('textbox', { name: 'Issuer' }).fill('https://idp.example.com');
  await addKm.getByRole('textbox', { name: 'JWKS URL' }).fill('ftp://idp.example.com/jwks');
  await addKm.getByRole('button', { name: 'Add key manager' }).click();
  await expect(addKm.getByRole('alert').filter({ hasText: 'certificates.value' })).toBeVisible();
  await addKm.getByRole('textbox', { name: 'JWKS URL' }).fill('https://idp.example.com/jwks');
  await addKm.getByRole('button', { name: 'Add key manager' }).click();
  await expect(kms).toContainText('E2eIdp');
  await noSeriousViolation(page, 'Admin key managers');
  await fitsPhone(page, 'Admin key managers');
  await kms.getByRole('switch', { name: 'Enable E2eIdp' }).click({ force: true });
  await expect
    .poll(async () => {
      const l = (await (await page.request.get(`${base()}/api/am/admin/v4/key-managers`, { headers: basic })).json()) as {
        list: { name: string; enabled: boolean; certificates?: { value: string } }[];
      };
      const km = l.list.find((k) => k.name === 'E2eIdp');
      return [km?.enabled, km?.certificates?.value];
    })
    .toEqual([false, 'https://idp.example.com/jwks']);
  await kms.getByRole('button', { name: 'Delete key manager E2eIdp' }).click();
  await page.getByRole('dialog', { name: 'Delete key manager' }).getByRole('button', { name: 'Delete' }).click();
  await expect(kms).not.toContainText('E2eIdp');

  // Applications: one handed to another user; an unknown user refused with the server's message.
  const madeApp = await page.request.post(`${base()}/api/am/devportal/v3/applications`, {
    headers: basic,
    data: { name: 'HandedOver', throttlingPolicy: 'Unlimited' },
  });
  expect(madeApp.status(), await madeApp.text()).toBe(201);
  const heir = await page.request.post(`${base()}/api/identity/user/v1.0/me`, { data: { user: { username: 'heir1', password: 'heir-pass1' } } });
  expect(heir.status(), await heir.text()).toBe(201);
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Applications' }).click();
  await page.getByRole('search').getByRole('textbox', { name: 'Owner' }).fill('admin');
  await page.getByRole('search').getByRole('button', { name: 'Search' }).click();
  const appsTable = page.getByRole('table', { name: 'Applications' });
  await expect(appsTable).toContainText('HandedOver');
  await noSeriousViolation(page, 'Admin applications');
  await fitsPhone(page, 'Admin applications');
  await appsTable.getByRole('button', { name: 'Change owner of HandedOver' }).click();
  const ownerForm = page.getByRole('form', { name: 'Change owner' });
  await ownerForm.getByRole('textbox', { name: 'New owner' }).fill('nobody-such');
  await ownerForm.getByRole('button', { name: 'Change owner' }).click();
  await expect(ownerForm.getByRole('alert')).toContainText('nobody-such');
  await ownerForm.getByRole('textbox', { name: 'New owner' }).fill('heir1');
  await ownerForm.getByRole('button', { name: 'Change owner' }).click();
  await expect(ownerForm).toBeHidden();
  await expect(appsTable).not.toContainText('HandedOver');
  const owned = (await (await page.request.get(`${base()}/api/am/admin/v4/applications?user=heir1`, { headers: basic })).json()) as {
    list: { name: string; owner: string }[];
  };
  expect(owned.list.map((a) => [a.name, a.owner])).toEqual([['HandedOver', 'heir1']]);
});

test("a publisher gives a resource a scope; the session ends before Save, and signing in again brings the edit back to save", async ({
  page,
  request,
}) => {
  const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  const made = await request.post(`${base()}/api/am/publisher/v4/apis`, {
    headers: basic,
    data: {
      name: 'ScopedOrders',
      context: '/scoped-orders',
      version: '1.0.0',
      endpointConfig: { endpoint_type: 'http', production_endpoints: { url: 'http://backend.example.com/orders' } },
      operations: [
        { target: '/orders', verb: 'GET' },
        { target: '/orders', verb: 'POST' },
      ],
    },
  });
  expect(made.status(), await made.text()).toBe(201);
  const apiId = ((await made.json()) as { id: string }).id;
  const first = await request.post(`${base()}/api/am/publisher/v4/apis/${apiId}/revisions`, { headers: basic, data: { description: 'before scopes' } });
  expect(first.status(), await first.text()).toBe(201);

  // The portal's tokens, as the key manager hands them to the page.
  const issued = page.waitForResponse((r) => r.url().endsWith('/oauth2/token') && r.request().method() === 'POST');
  await page.goto(`${base()}/publisher/apis/${apiId}/resources`);
  await signIn(page, 'admin', 'admin');
  const tokens = (await (await issued).json()) as { access_token: string; refresh_token: string };
  await expect(page.getByRole('table', { name: 'Operations' })).toContainText('/orders');

  const form = page.getByRole('form', { name: 'Resources' });
  await form.getByRole('textbox', { name: 'New scope' }).fill('order write');
  await form.getByRole('button', { name: 'Add scope' }).click();
  await expect(form.getByText('Letters, digits and : _ . - only')).toBeVisible();
  await form.getByRole('textbox', { name: 'New scope' }).fill('order:write');
  await form.getByRole('textbox', { name: 'Display name' }).fill('Place orders');
  await form.getByRole('button', { name: 'Add scope' }).click();
  await expect(form.getByRole('table', { name: 'Scopes' })).toContainText('Place orders');
  await form.getByLabel('Scopes of POST /orders').click();
  await page.getByRole('option', { name: 'order:write' }).click();
  await page.keyboard.press('Escape');
  await form.getByRole('switch', { name: 'Security of GET /orders' }).click({ force: true });
  await noSeriousViolation(page, 'Publisher API: Resources');

  // The session ends on the server (both tokens revoked) while the edit is unsaved.
  for (const [token, hint] of [
    [tokens.refresh_token, 'refresh_token'],
    [tokens.access_token, 'access_token'],
  ] as const) {
    const r = await request.post(`${base()}/oauth2/revoke`, { form: { token, token_type_hint: hint, client_id: 'apim_publisher' } });
    expect(r.status(), await r.text()).toBe(200);
  }
  await form.getByRole('button', { name: 'Save' }).click();
  // The 401 ends the session: the sign-in page, then back to the same tab with the input as it was left.
  await signIn(page, 'admin', 'admin');
  await expect(page).toHaveURL(new RegExp(`/publisher/apis/${apiId}/resources$`));
  await expect(page.getByRole('alert').filter({ hasText: 'Unsaved changes kept' })).toBeVisible();
  await expect(form.getByRole('table', { name: 'Scopes' })).toContainText('order:write');
  await expect(form.getByRole('switch', { name: 'Security of GET /orders' })).not.toBeChecked();
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await page.screenshot({ path: shot('publisher-resources.png') });

  const saved = (await (await request.get(`${base()}/api/am/publisher/v4/apis/${apiId}`, { headers: basic })).json()) as {
    operations: { target: string; verb: string; scopes: string[]; authType: string }[];
    scopes: { scope: { name: string; displayName: string } }[];
  };
  expect(saved.scopes.map((s) => [s.scope.name, s.scope.displayName])).toEqual([['order:write', 'Place orders']]);
  expect(saved.operations.map((o) => [o.verb, o.scopes, o.authType])).toEqual([
    ['GET', [], 'None'],
    ['POST', ['order:write'], 'Application & Application User'],
  ]);
  // The kept input is gone once saved: a reload shows the server's API, not the draft.
  await page.reload();
  await signIn(page, 'admin', 'admin');
  await expect(form.getByRole('table', { name: 'Scopes' })).toContainText('order:write');
  await expect(page.getByText('Unsaved changes kept')).toHaveCount(0);

  // Runtime: API keys beside OAuth2, and the backend's rate limit; a form with no transport cannot be saved.
  await page.getByRole('tab', { name: 'Runtime' }).click();
  const runtime = page.getByRole('form', { name: 'Runtime' });
  await runtime.getByRole('checkbox', { name: 'HTTP', exact: true }).uncheck();
  await runtime.getByRole('checkbox', { name: 'HTTPS', exact: true }).uncheck();
  await expect(runtime.getByRole('alert')).toHaveText('Choose at least one transport');
  await expect(runtime.getByRole('button', { name: 'Save' })).toBeDisabled();
  await runtime.getByRole('checkbox', { name: 'HTTPS', exact: true }).check();
  await runtime.getByRole('checkbox', { name: 'API keys' }).check();
  await runtime.getByRole('textbox', { name: 'Production (per second)' }).fill('100');
  await noSeriousViolation(page, 'Publisher API: Runtime');
  await runtime.getByRole('button', { name: 'Save' }).click();
  await expect(runtime.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  const tuned = (await (await request.get(`${base()}/api/am/publisher/v4/apis/${apiId}`, { headers: basic })).json()) as {
    transport: string[];
    securityScheme: string[];
    maxTps?: { production?: number };
    operations: { scopes: string[] }[];
  };
  expect([tuned.transport, tuned.securityScheme, tuned.maxTps?.production]).toEqual([['https'], ['oauth2', 'api_key', 'oauth_basic_auth_api_key_mandatory'], 100]);
  expect(tuned.operations[1]?.scopes).toEqual(['order:write']);

  // What a new revision would change against the last one: the scope, the opened operation, the runtime.
  await page.getByRole('tab', { name: 'Deployments' }).click();
  const differences = page.getByRole('table', { name: 'Differences' });
  await expect(differences).toContainText('operations › POST /orders › scopes');
  await expect(differences).toContainText('order:write');
  await expect(differences).toContainText('operations › GET /orders › authType');
  await expect(differences).toContainText('securityScheme');
  await noSeriousViolation(page, 'Publisher API: revision comparison');
  await page.screenshot({ path: shot('publisher-revision-diff.png'), fullPage: true });
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

/** A backend the gateway proxies to: `GET …/menu` answers a JSON menu; every request is counted. */
async function menuBackend(): Promise<{ url: string; server: Server; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls += 1;
    if (req.method === 'GET' && req.url?.endsWith('/menu')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify([{ name: 'Margherita', price: '9.50' }]));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pizzashack`, server, calls: () => calls };
}

/** The publisher's part, through the Publisher REST API as scripts do it: import, deploy to Default, publish. */
async function publishedApi(request: APIRequestContext, name: string, context: string, endpoint: string): Promise<string> {
  const P = `${base()}/api/am/publisher/v4`;
  const headers = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  const created = await request.post(`${P}/apis/import-openapi`, {
    headers,
    multipart: {
      file: { name: 'pizzashack.yaml', mimeType: 'application/yaml', buffer: readFileSync(pizzashack) },
      additionalProperties: JSON.stringify({
        name,
        context,
        policies: ['Gold', 'Unlimited'],
        endpointConfig: { endpoint_type: 'http', production_endpoints: { url: endpoint }, sandbox_endpoints: { url: endpoint } },
      }),
    },
  });
  expect(created.status(), await created.text()).toBe(201);
  const apiId = ((await created.json()) as { id: string }).id;
  const revision = await request.post(`${P}/apis/${apiId}/revisions`, { headers, data: { description: 'e2e' } });
  expect(revision.status(), await revision.text()).toBe(201);
  const revisionId = ((await revision.json()) as { id: string }).id;
  const deployed = await request.post(`${P}/apis/${apiId}/deploy-revision?revisionId=${revisionId}`, { headers, data: [{ name: 'Default' }] });
  expect(deployed.status(), await deployed.text()).toBeLessThan(300);
  const published = await request.post(`${P}/apis/change-lifecycle?action=Publish&apiId=${apiId}`, { headers });
  expect(published.status(), await published.text()).toBe(200);
  return apiId;
}

/** Picks `option` in the Mantine select labelled `label`. */
async function choose(page: Page, label: string, option: string) {
  await page.getByRole('textbox', { name: label }).click();
  await page.getByRole('option', { name: option }).click();
}

/** Nothing on the page is wider than a 390-px phone screen (once the shell's layout transition is over). */
async function fitsPhone(page: Page, what: string) {
  await page.setViewportSize({ width: 390, height: 844 });
  await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth), { message: `${what} at 390 px` }).toBeLessThanOrEqual(390);
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('an application developer creates an application, generates keys, subscribes from the API page, gets a token and calls the API through the gateway', async ({
  page,
  request,
}) => {
  const backend = await menuBackend();
  try {
    const apiId = await publishedApi(request, 'MenuAPI', '/menu-e2e', backend.url);

    // Applications need a user: the list sends the visitor to sign in, then comes back.
    await page.goto(`${base()}/devportal/applications`);
    await signIn(page, 'admin', 'admin');
    await expect(page.getByRole('heading', { name: 'Applications' })).toBeVisible();

    await page.getByRole('link', { name: 'Create application' }).click();
    await expect(page.getByRole('heading', { name: 'Create application' })).toBeVisible();
    await page.getByLabel('Application name').fill('MenuApp');
    await expect(page.getByRole('textbox', { name: 'Rate-limiting plan' })).toHaveValue(/^Unlimited/);
    await page.getByLabel('Description').fill('Reads the menu');
    await fitsPhone(page, 'create application');
    await page.getByRole('button', { name: 'Create', exact: true }).click();

    // Production keys at the resident key manager: client credentials, the secret shown once.
    await expect(page).toHaveURL(/\/devportal\/applications\/[0-9a-f-]{36}\/production-keys$/);
    await expect(page.getByRole('heading', { name: 'MenuApp' })).toBeVisible();
    await expect(page.getByRole('tab', { name: 'Production keys' })).toHaveAttribute('aria-selected', 'true');
    await noSeriousViolation(page, 'DevPortal application without keys');
    await page.getByRole('button', { name: 'Generate keys' }).click();
    const consumerKey = page.getByRole('textbox', { name: 'Consumer key' });
    await expect(consumerKey).not.toHaveValue('');
    await expect(page.getByRole('textbox', { name: 'Consumer secret' }).first()).not.toHaveValue('');
    await noSeriousViolation(page, 'DevPortal application keys');
    await fitsPhone(page, 'application keys');

    // Subscribe from the API's page, with the Gold plan.
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'APIs' }).click();
    await page.getByRole('link', { name: 'MenuAPI' }).click();
    await expect(page).toHaveURL(new RegExp(`/devportal/apis/${apiId}$`));
    const gatewayUrl = (await page.getByRole('table', { name: 'Endpoints' }).locator('tbody tr').first().locator('td').nth(2).innerText()).trim();
    expect(gatewayUrl).toMatch(/^http:\/\/.+\/menu-e2e\/1\.0\.0$/);
    const subscribe = page.getByRole('form', { name: 'Subscribe' });
    await choose(page, 'Application', 'MenuApp');
    await choose(page, 'Business plan', 'Gold');
    await subscribe.getByRole('button', { name: 'Subscribe' }).click();
    await expect(page.getByRole('list', { name: 'Subscribed applications' })).toContainText('MenuApp — Gold');
    await noSeriousViolation(page, 'DevPortal API page with Subscribe');
    await fitsPhone(page, 'API page');

    // To the application's subscriptions, then its keys: an access token from the secret this page still holds.
    await page.getByRole('list', { name: 'Subscribed applications' }).getByRole('link', { name: 'MenuApp' }).click();
    await expect(page).toHaveURL(/\/subscriptions$/);
    const subs = page.getByRole('table', { name: 'Subscriptions' });
    await expect(subs).toContainText('MenuAPI 1.0.0');
    await expect(subs).toContainText('Gold');
    await page.getByRole('tab', { name: 'Production keys' }).click();
    const tokenForm = page.getByRole('form', { name: 'Generate access token' });
    await expect(tokenForm.getByLabel('Consumer secret')).not.toHaveValue('');
    await tokenForm.getByRole('textbox', { name: /Validity period/ }).fill('600');
    await tokenForm.getByRole('button', { name: 'Generate access token' }).click();
    const tokenField = page.getByRole('textbox', { name: 'Access token' });
    await expect(tokenField).toHaveValue(/^eyJ/);
    const token = await tokenField.inputValue();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: shot('devportal-application-keys.png') });

    // The API answers through the gateway with that token (the subscription reaches the gateway within moments).
    const missing = await request.get(`${gatewayUrl}/menu`);
    expect(missing.status()).toBe(401);
    await expect
      .poll(async () => (await request.get(`${gatewayUrl}/menu`, { headers: { Authorization: `Bearer ${token}` } })).status(), { timeout: 10_000 })
      .toBe(200);
    const menu = await request.get(`${gatewayUrl}/menu`, { headers: { Authorization: `Bearer ${token}` } });
    expect(await menu.json()).toEqual([{ name: 'Margherita', price: '9.50' }]);
    expect(backend.calls()).toBeGreaterThanOrEqual(2);

    // A regenerated secret makes the next token (the key manager took the new one).
    const shownSecret = page.getByRole('textbox', { name: 'Consumer secret' }).and(page.locator('[readonly]'));
    const firstSecret = await shownSecret.inputValue();
    await page.getByRole('button', { name: 'Regenerate secret' }).click();
    await page.getByRole('dialog', { name: 'Regenerate consumer secret' }).getByRole('button', { name: 'Regenerate' }).click();
    await expect(shownSecret).not.toHaveValue(firstSecret);
    await tokenForm.getByRole('button', { name: 'Generate access token' }).click();
    await expect(tokenField).not.toHaveValue(token);
    const second = await request.get(`${gatewayUrl}/menu`, { headers: { Authorization: `Bearer ${await tokenField.inputValue()}` } });
    expect(second.status()).toBe(200);

    // Try it on the API's page: a test key of MenuApp (its new secret still in this page's memory), then GET /menu
    // from the browser through the gateway's HTTPS URL (another origin: the gateway answers the CORS preflight).
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'APIs' }).click();
    await page.getByRole('link', { name: 'MenuAPI' }).click();
    const tryIt = page.getByRole('form', { name: 'Try it' });
    await tryIt.getByRole('textbox', { name: 'Application' }).click();
    await page.getByRole('option', { name: 'MenuApp' }).click();
    await tryIt.getByRole('button', { name: 'Get test key' }).click();
    await expect(tryIt.getByLabel('Access token', { exact: true })).toHaveValue(/^eyJ/);
    await tryIt.getByRole('textbox', { name: 'Operation' }).click();
    await page.getByRole('option', { name: 'GET /menu', exact: true }).click();
    const callsBefore = backend.calls();
    await tryIt.getByRole('button', { name: 'Send' }).click();
    await expect(tryIt.getByLabel('Status')).toHaveText(/^200/);
    await expect(tryIt.getByLabel('Response body')).toContainText('Margherita');
    expect(backend.calls()).toBe(callsBefore + 1);
    await noSeriousViolation(page, 'DevPortal Try it');
    await tryIt.screenshot({ path: shot('devportal-try-it.png') });
    await fitsPhone(page, 'Try it');
    // Without a token the gateway's 401 comes back readable (its faults carry the CORS headers).
    await tryIt.getByLabel('Access token', { exact: true }).fill('');
    await tryIt.getByRole('button', { name: 'Send' }).click();
    await expect(tryIt.getByLabel('Status')).toHaveText(/^401/);
    await expect(tryIt.getByLabel('Response body')).toContainText('900902');
    await page.getByRole('list', { name: 'Subscribed applications' }).getByRole('link', { name: 'MenuApp' }).click();
    await expect(page).toHaveURL(/\/subscriptions$/);

    // API keys: one generated (shown once), then revoked by its value.
    await page.getByRole('tab', { name: 'API keys' }).click();
    await expect(page).toHaveURL(/\/api-keys$/);
    const keyForm = page.getByRole('form', { name: 'Generate API key' });
    await keyForm.getByRole('button', { name: 'Generate API key' }).click();
    const apiKey = keyForm.getByRole('textbox', { name: 'API key' });
    await expect(apiKey).toHaveValue(/^eyJ/);
    await noSeriousViolation(page, 'DevPortal API keys');
    await fitsPhone(page, 'API keys');
    const revokeForm = page.getByRole('form', { name: 'Revoke API key' });
    await revokeForm.getByLabel('API key to revoke').fill(await apiKey.inputValue());
    await revokeForm.getByRole('button', { name: 'Revoke' }).click();
    await expect(revokeForm.getByText('Revoked')).toBeVisible();

    // Usage: the calls above, counted by the gateway and shown within seconds (gateways send every 5 s).
    await page.getByRole('tab', { name: 'Usage' }).click();
    await expect(page).toHaveURL(/\/usage$/);
    await expect(page.getByLabel('Requests', { exact: true })).toHaveText(/^[1-9]/, { timeout: 30_000 });
    await expect(page.getByRole('img', { name: /Requests over the last/ })).toBeVisible();
    await expect(page.getByRole('table', { name: 'Top APIs' })).toContainText('MenuAPI');
    await expect(page.getByRole('table', { name: 'Resources' })).toContainText('GET /menu');
    await page.locator('label', { hasText: '24 hours' }).click();
    await expect(page.getByRole('img', { name: 'Requests over the last 24h' })).toBeVisible();
    // Quota used: the application's own plan and the Gold subscription's, each in its current minute.
    const quota = page.getByRole('table', { name: 'Quota used' });
    await expect(quota).toContainText('This application, every API');
    const goldRow = quota.getByRole('row', { name: /MenuAPI 1\.0\.0/ });
    await expect(goldRow).toContainText('Gold');
    await expect(goldRow).toContainText('5,000 requests per minute');
    await expect(goldRow).toContainText(/\d+ of 5,000/);
    // The bar is there with its share (zero wide, and so hidden, once the minute has turned).
    await expect(goldRow.getByRole('progressbar', { name: /MenuAPI 1\.0\.0: \d+% used/ })).toHaveAttribute('aria-valuenow', /^\d+(\.\d+)?$/);
    await noSeriousViolation(page, 'DevPortal application usage');
    await page.screenshot({ path: shot('devportal-usage.png'), fullPage: true });
    await fitsPhone(page, 'application usage');

    // The application's subscriptions: change the plan.
    await page.getByRole('tab', { name: 'Subscriptions' }).click();
    await expect(page).toHaveURL(/\/subscriptions$/);
    await expect(subs).toContainText('Gold');
    await noSeriousViolation(page, 'DevPortal application subscriptions');
    await subs.getByRole('button', { name: 'Change plan of MenuAPI 1.0.0' }).click();
    const dialog = page.getByRole('dialog', { name: 'Change business plan' });
    await expect(dialog.getByRole('textbox', { name: 'New business plan' })).toBeEnabled();
    await noSeriousViolation(page, 'DevPortal change plan dialog');
    await choose(page, 'New business plan', 'Unlimited');
    await dialog.getByRole('button', { name: 'Change plan' }).click();
    await expect(dialog).toBeHidden();
    await expect(subs).toContainText('Unlimited');
    await fitsPhone(page, 'application subscriptions');

    // Edit: another description, saved with the ETag the application was read with.
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await expect(page.getByRole('heading', { name: 'Edit application' })).toBeVisible();
    await expect(page.getByLabel('Application name')).toHaveValue('MenuApp');
    await page.getByLabel('Description').fill('Reads the menu, then orders');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}$/);
    await expect(page.getByText('Reads the menu, then orders')).toBeVisible();

    // Sandbox keys: made, then removed again (WSO2's clean-up: the client goes from the key manager).
    await page.getByRole('tab', { name: 'Sandbox keys' }).click();
    await page.getByRole('form', { name: 'Generate sandbox keys' }).getByRole('button', { name: 'Generate keys' }).click();
    await expect(page.getByRole('textbox', { name: 'Consumer key' })).not.toHaveValue('');
    await page.getByRole('button', { name: 'Remove keys' }).click();
    await page.getByRole('dialog', { name: 'Remove sandbox keys' }).getByRole('button', { name: 'Remove' }).click();
    await expect(page.getByRole('form', { name: 'Generate sandbox keys' })).toBeVisible();

    // The list shows it with its subscription; deleting it asks first.
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Applications' }).click();
    const apps = page.getByRole('table', { name: 'Applications' });
    await expect(apps).toContainText('MenuApp');
    await noSeriousViolation(page, 'DevPortal applications');
    await fitsPhone(page, 'applications');
    await apps.getByRole('button', { name: 'Delete MenuApp' }).click();
    await page.getByRole('dialog', { name: 'Delete application' }).getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByRole('dialog', { name: 'Delete application' })).toBeHidden();
    await expect(page.getByRole('link', { name: 'MenuApp' })).toHaveCount(0);

    // The publisher sees the calls on the API's Analytics tab (the rows outlive the deleted application).
    await page.goto(`${base()}/publisher/apis/${apiId}/analytics`);
    const signInHeading = page.getByRole('heading', { name: 'Sign in' });
    const analyticsTab = page.getByRole('tab', { name: 'Analytics', selected: true });
    await expect(signInHeading.or(analyticsTab)).toBeVisible();
    if (await signInHeading.isVisible()) await signIn(page, 'admin', 'admin');
    await expect(analyticsTab).toBeVisible();
    await expect(page.getByLabel('Requests', { exact: true })).toHaveText(/^[1-9]/, { timeout: 30_000 });
    await expect(page.getByRole('table', { name: 'Top applications' })).toContainText('MenuApp');
    await noSeriousViolation(page, 'Publisher API analytics');
  } finally {
    backend.server.close();
  }
});

test("a publisher blocks a subscriber from the API's Subscriptions tab: the gateway refuses its calls until it is unblocked", async ({
  page,
  request,
}) => {
  const backend = await menuBackend();
  try {
    const apiId = await publishedApi(request, 'GuardedMenu', '/guarded-menu', backend.url);
    const token = await subscriberToken(request, base(), apiId, 'HungryApp');
    // The gateway's URL as the DevPortal gives it.
    const described = (await (await request.get(`${base()}/api/am/devportal/v3/apis/${apiId}`)).json()) as {
      endpointURLs?: { URLs?: { http?: string } }[];
    };
    const http = described.endpointURLs?.[0]?.URLs?.http;
    expect(http).toBeTruthy();
    const url = `${http}/menu`;
    const status = async () => (await request.get(url, { headers: { Authorization: `Bearer ${token}` } })).status();
    await expect.poll(status, { timeout: 10_000 }).toBe(200);

    await page.goto(`${base()}/publisher/apis/${apiId}/subscriptions`);
    await signIn(page, 'admin', 'admin');
    const subs = page.getByRole('table', { name: 'Subscriptions' });
    await expect(subs.getByLabel('State of HungryApp')).toHaveText('Active');
    await noSeriousViolation(page, 'Publisher API: Subscriptions');
    await subs.getByRole('button', { name: 'Block HungryApp' }).click();
    await page.getByRole('menuitem', { name: 'All calls' }).click();
    await expect(subs.getByLabel('State of HungryApp')).toHaveText('Blocked');
    await expect.poll(status, { timeout: 10_000 }).toBe(403);
    const refused = (await (await request.get(url, { headers: { Authorization: `Bearer ${token}` } })).json()) as { code: number | string };
    expect(String(refused.code)).toBe('900907');
    await subs.getByRole('button', { name: 'Unblock HungryApp' }).click();
    await expect(subs.getByLabel('State of HungryApp')).toHaveText('Active');
    await expect.poll(status, { timeout: 10_000 }).toBe(200);
    await fitsPhone(page, 'Publisher API subscriptions');
  } finally {
    backend.server.close();
  }
});

test('a visitor makes their own account in the DevPortal and works as a subscriber; the Publisher offers them no create button and refuses a forced one with its 403', async ({
  page,
}) => {
  const username = `bob${Date.now().toString(36)}`;
  await page.goto(`${base()}/devportal/apis`);
  await page.goto(`${base()}/devportal/sign-up`);
  const form = page.getByRole('form', { name: 'Create an account' });
  await form.getByRole('textbox', { name: 'Username' }).fill(username);
  await form.getByLabel(/^Password\s*\*?$/).fill('bob-pw-1');
  await form.getByLabel(/^Password again/).fill('bob-pw-2');
  await expect(form.getByText('The passwords differ')).toBeVisible();
  await expect(form.getByRole('button', { name: 'Create account' })).toBeDisabled();
  await form.getByLabel(/^Password again/).fill('bob-pw-1');
  await noSeriousViolation(page, 'DevPortal sign-up');
  await fitsPhone(page, 'sign-up');
  await form.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Account created' })).toBeVisible();

  // The same name again is refused with the server's message.
  await page.goto(`${base()}/devportal/sign-up`);
  await form.getByRole('textbox', { name: 'Username' }).fill(username);
  await form.getByLabel(/^Password\s*\*?$/).fill('bob-pw-1');
  await form.getByLabel(/^Password again/).fill('bob-pw-1');
  await form.getByRole('button', { name: 'Create account' }).click();
  await expect(form.getByRole('alert')).toContainText('already exists');

  // Signed in, the subscriber makes an application.
  await page.goto(`${base()}/devportal/applications`);
  await signIn(page, username, 'bob-pw-1');
  await expect(page.getByRole('heading', { name: 'Applications' })).toBeVisible();
  await expect(page.getByLabel('Signed in as')).toHaveText(username);
  await page.getByRole('link', { name: 'Create application' }).click();
  await page.getByLabel('Application name').fill('BobsApp');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'BobsApp' })).toBeVisible();

  // The Publisher: no create button; the create page, forced, gets the server's refusal.
  await page.goto(`${base()}/publisher/apis`);
  await signIn(page, username, 'bob-pw-1');
  await expect(page.getByRole('heading', { name: 'APIs' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Create API from OpenAPI' })).toHaveCount(0);
  await page.goto(`${base()}/publisher/apis/create/openapi`);
  await signIn(page, username, 'bob-pw-1');
  await page.locator('input[type=file]').setInputFiles(pizzashack);
  await page.getByLabel('Context').fill('/bobs-pizza');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('403');
});

test('a publisher bundles operations of two APIs into an API product, deploys and publishes it; the DevPortal lists it', async ({ page, request }) => {
  const backend = await menuBackend();
  try {
    await publishedApi(request, 'StarterAPI', '/starters', backend.url);
    await publishedApi(request, 'DessertAPI', '/desserts', backend.url);
    await page.goto(`${base()}/publisher/api-products`);
    await signIn(page, 'admin', 'admin');
    await expect(page.getByRole('heading', { name: 'API products' })).toBeVisible();
    await page.getByRole('link', { name: 'Create API product' }).click();
    const form = page.getByRole('form', { name: 'Create API product' });
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Dinner');
    await form.getByRole('textbox', { name: 'Context' }).fill('/dinner');
    await form.getByRole('textbox', { name: 'API 1' }).click();
    await page.getByRole('option', { name: 'StarterAPI 1.0.0' }).click();
    await form.getByRole('group', { name: 'Operations of API 1' }).getByRole('checkbox', { name: 'GET /menu' }).check();
    await form.getByRole('button', { name: 'Add another API' }).click();
    await form.getByRole('textbox', { name: 'API 2' }).click();
    await page.getByRole('option', { name: 'DessertAPI 1.0.0' }).click();
    await form.getByRole('group', { name: 'Operations of API 2' }).getByRole('checkbox', { name: 'POST /order' }).check();
    await noSeriousViolation(page, 'Publisher create API product');
    await fitsPhone(page, 'create API product');
    await form.getByRole('button', { name: 'Create', exact: true }).click();

    await expect(page).toHaveURL(/\/publisher\/api-products\/[0-9a-f-]{36}$/);
    await expect(page.getByRole('heading', { name: 'Dinner' })).toBeVisible();
    await expect(page.getByRole('list', { name: 'Operations of StarterAPI' })).toHaveText('GET /menu');
    await expect(page.getByRole('list', { name: 'Operations of DessertAPI' })).toHaveText('POST /order');
    await page.getByRole('button', { name: 'Deploy new revision to Default' }).click();
    await expect(page.getByRole('list', { name: 'Deployments' })).toContainText('Default');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await expect(page.getByLabel('Lifecycle state')).toHaveText('PUBLISHED');
    await noSeriousViolation(page, 'Publisher API product');
    await page.getByRole('link', { name: '← API products' }).click();
    await expect(page.getByRole('table', { name: 'API products' })).toContainText('Dinner');

    // The DevPortal lists the product beside the APIs, to anyone.
    const anon = await request.get(`${base()}/api/am/devportal/v3/apis?limit=100`);
    const names = ((await anon.json()) as { list: { name: string }[] }).list.map((a) => a.name);
    expect(names).toContain('Dinner');
  } finally {
    backend.server.close();
  }
});
