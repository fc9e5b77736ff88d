// The Admin's traffic managers page, on a node whose gateway counts with a traffic manager process of its own:
// an application over its 10PerMin plan is throttled, and the decision shows on the page until its minute ends.
import { expect, test } from '@playwright/test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { noSeriousViolation } from './axe';
import { subscriberToken } from './rest';
import { startWithTrafficManager } from './server';

const shot = (name: string) => fileURLToPath(new URL(`../../docs/screenshots/${name}`, import.meta.url));

test("an administrator sees each traffic manager and the throttle decision it holds for an application over its plan", async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const backend = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', ok));
  const nodes = await startWithTrafficManager();
  try {
    const base = nodes.aio.listeners['management-https'] ?? '';
    const gateway = nodes.aio.listeners['gateway-http'] ?? '';
    await page.goto(`${base}/admin/traffic-managers`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('admin');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { name: 'Traffic managers' })).toBeVisible();
    const card = page.getByRole('region', { name: /^Traffic manager / });
    await expect(card).toContainText('Nothing throttled', { timeout: 20_000 });

    // An API, and an application on the 10PerMin plan, through the REST APIs as a script would.
    const P = `${base}/api/am/publisher/v4`;
    const headers = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
    const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/b`;
    const created = await request.post(`${P}/apis`, {
      headers,
      data: {
        name: 'Counted',
        context: '/counted-e2e',
        version: '1.0.0',
        policies: ['Unlimited'],
        endpointConfig: { endpoint_type: 'http', production_endpoints: { url } },
        operations: [{ target: '/items', verb: 'GET' }],
      },
    });
    expect(created.status(), await created.text()).toBe(201);
    const apiId = ((await created.json()) as { id: string }).id;
    const revision = await request.post(`${P}/apis/${apiId}/revisions`, { headers, data: {} });
    const revisionId = ((await revision.json()) as { id: string }).id;
    expect((await request.post(`${P}/apis/${apiId}/deploy-revision?revisionId=${revisionId}`, { headers, data: [{ name: 'Default' }] })).status()).toBeLessThan(300);
    expect((await request.post(`${P}/apis/change-lifecycle?action=Publish&apiId=${apiId}`, { headers })).status()).toBe(200);
    const bearer = { Authorization: `Bearer ${await subscriberToken(request, base, apiId, 'TenAMinute', 'Unlimited', '10PerMin')}` };

    // With at least 40 s of the minute left, so the decision is still in force when the page reads it.
    const into = Date.now() % 60_000;
    if (into > 20_000) await new Promise((r) => setTimeout(r, 60_000 - into + 100));
    const items = `${gateway}/counted-e2e/1.0.0/items`;
    await expect.poll(async () => (await request.get(items, { headers: bearer })).status(), { timeout: 15_000 }).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) statuses.push((await request.get(items, { headers: bearer })).status());
    expect(statuses).toContain(429);

    const decisions = card.getByRole('table', { name: /^Decisions of / });
    await expect(decisions).toContainText('application', { timeout: 15_000 });
    await expect(decisions).toContainText(/\d+ of 10/);
    await expect(decisions).toContainText('TenAMinute');
    await expect(card).toContainText(/1 decision in force/);
    await expect(card).toContainText('1 gateway reporting usage');
    await noSeriousViolation(page, 'Admin traffic managers');
    await page.screenshot({ path: shot('admin-traffic-managers.png'), fullPage: true });
  } finally {
    await nodes.stop();
    backend.close();
  }
});
