// A newcomer with no backend: an empty Publisher's "Deploy sample API", on a node of its own (the shared one has
// APIs by now), then a call through the gateway, which answers from the sample's OpenAPI examples.
import { expect, test } from '@playwright/test';
import { startApim } from './server';

test('on an empty Publisher one click deploys and publishes the sample API; the gateway answers it from its OpenAPI examples', async ({ page, request }) => {
  const node = await startApim();
  try {
    const base = node.listeners['management-https'] ?? '';
    const gateway = node.listeners['gateway-http'] ?? '';
    await page.goto(`${base}/publisher/`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('admin');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByText('No APIs yet')).toBeVisible();
    await page.getByRole('button', { name: 'Deploy sample API' }).click();
    await expect(page).toHaveURL(/\/publisher\/apis\/[0-9a-f-]{36}$/);
    await expect(page.getByRole('heading', { name: 'PizzaShackAPI' })).toBeVisible();
    await expect(page.getByLabel('Lifecycle state')).toHaveText('PUBLISHED');
    await expect(page.getByRole('list', { name: 'Deployments' })).toContainText('Default');
    const apiId = /apis\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';

    // Secured as WSO2's sample is: a subscriber's token, made through the REST API as a script would.
    const menu = `${gateway}/pizzashack/1.0.0/menu`;
    await expect.poll(async () => (await request.get(menu)).status(), { timeout: 15_000 }).toBe(401);
    const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
    const dp = `${base}/api/am/devportal/v3`;
    const app = await request.post(`${dp}/applications`, { headers: basic, data: { name: 'SampleApp', throttlingPolicy: 'Unlimited' } });
    expect(app.status(), await app.text()).toBe(201);
    const appId = ((await app.json()) as { applicationId: string }).applicationId;
    const keys = await request.post(`${dp}/applications/${appId}/generate-keys`, {
      headers: basic,
      data: { keyType: 'PRODUCTION', grantTypesToBeSupported: ['client_credentials'] },
    });
    expect(keys.status(), await keys.text()).toBe(200);
    const { consumerKey, consumerSecret } = (await keys.json()) as { consumerKey: string; consumerSecret: string };
    const sub = await request.post(`${dp}/subscriptions`, { headers: basic, data: { apiId, applicationId: appId, throttlingPolicy: 'Gold' } });
    expect(sub.status(), await sub.text()).toBe(201);
    const token = await request.post(`${base}/oauth2/token`, {
      headers: { Authorization: `Basic ${Buffer.from(`${consumerKey}:${consumerSecret}`).toString('base64')}` },
      form: { grant_type: 'client_credentials' },
    });
    expect(token.status(), await token.text()).toBe(200);
    const bearer = { Authorization: `Bearer ${((await token.json()) as { access_token: string }).access_token}` };
    await expect.poll(async () => (await request.get(menu, { headers: bearer })).status(), { timeout: 15_000 }).toBe(200);
    const pizzas = (await (await request.get(menu, { headers: bearer })).json()) as { name: string }[];
    expect(pizzas.map((p) => p.name)).toContain('Margherita');
    const made = await request.post(`${gateway}/pizzashack/1.0.0/order`, {
      headers: bearer,
      data: { pizzaType: 'Pepperoni', quantity: 1, customerName: 'Sam', address: 'Here' },
    });
    expect(made.status()).toBe(201);
    expect(((await made.json()) as { orderId: string }).orderId).toBeTruthy();
  } finally {
    await node.stop();
  }
});
