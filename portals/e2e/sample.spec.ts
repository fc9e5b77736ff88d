// A newcomer with no backend: an empty Publisher's "Deploy sample API", on a node of its own (the shared one has
// APIs by now), then a call through the gateway, which answers from the sample's OpenAPI examples.
import { expect, test } from '@playwright/test';
import { subscriberToken } from './rest';
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
    const bearer = { Authorization: `Bearer ${await subscriberToken(request, base, apiId, 'SampleApp')}` };
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
