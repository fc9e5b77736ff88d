// What an application developer does through the DevPortal REST API and the key manager, as a script would:
// an application, production keys, a subscription, a client-credentials token.
import { expect, type APIRequestContext } from '@playwright/test';

/** A bearer token of a new application `appName` (with `appPlan`) subscribed to `apiId` with `plan`, from the node at `base`. */
export async function subscriberToken(
  request: APIRequestContext,
  base: string,
  apiId: string,
  appName: string,
  plan = 'Gold',
  appPlan = 'Unlimited',
): Promise<string> {
  const basic = { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  const dp = `${base}/api/am/devportal/v3`;
  const app = await request.post(`${dp}/applications`, { headers: basic, data: { name: appName, throttlingPolicy: appPlan } });
  expect(app.status(), await app.text()).toBe(201);
  const appId = ((await app.json()) as { applicationId: string }).applicationId;
  const keys = await request.post(`${dp}/applications/${appId}/generate-keys`, {
    headers: basic,
    data: { keyType: 'PRODUCTION', grantTypesToBeSupported: ['client_credentials'] },
  });
  expect(keys.status(), await keys.text()).toBe(200);
  const { consumerKey, consumerSecret } = (await keys.json()) as { consumerKey: string; consumerSecret: string };
  const sub = await request.post(`${dp}/subscriptions`, { headers: basic, data: { apiId, applicationId: appId, throttlingPolicy: plan } });
  expect(sub.status(), await sub.text()).toBe(201);
  const token = await request.post(`${base}/oauth2/token`, {
    headers: { Authorization: `Basic ${Buffer.from(`${consumerKey}:${consumerSecret}`).toString('base64')}` },
    form: { grant_type: 'client_credentials' },
  });
  expect(token.status(), await token.text()).toBe(200);
  return ((await token.json()) as { access_token: string }).access_token;
}
