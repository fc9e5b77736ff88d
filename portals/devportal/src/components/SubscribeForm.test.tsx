import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderSignedIn, scriptedServer } from '../testing';
import { SubscribeCard } from './SubscribeCard';
import { unsubscribedApps } from './SubscribeForm';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const APPS = [
  { applicationId: 'a1', name: 'Subscribed', status: 'APPROVED' },
  { applicationId: 'a2', name: 'Free', status: 'APPROVED' },
];

describe('unsubscribedApps', () => {
  it('leaves out the applications that subscribe already', () => {
    expect(unsubscribedApps(APPS, [{ applicationId: 'a1', throttlingPolicy: 'Gold' }]).map((a) => a.name)).toEqual(['Free']);
  });
});

describe('SubscribeCard', () => {
  it('subscribes a chosen application with a chosen plan', async () => {
    let subs = [{ subscriptionId: 's1', applicationId: 'a1', apiId: 'api1', throttlingPolicy: 'Gold', status: 'UNBLOCKED' }];
    const seen = scriptedServer((method, path, body) => {
      if (method === 'GET' && path === '/applications') return [200, { count: 2, list: APPS }];
      if (method === 'GET' && path === '/subscriptions') return [200, { count: subs.length, list: subs }];
      if (method === 'POST' && path === '/subscriptions') {
        subs = [...subs, { ...(body as (typeof subs)[number]), subscriptionId: 's2', status: 'UNBLOCKED' }];
        return [201, subs[1]];
      }
      return undefined;
    });
    renderSignedIn(<SubscribeCard apiId="api1" plans={['Gold', 'Unlimited']} />);
    const subscribed = await screen.findByRole('list', { name: 'Subscribed applications' });
    expect(subscribed.textContent).toContain('Subscribed');
    const form = screen.getByRole('form', { name: 'Subscribe' });
    fireEvent.click(within(form).getByRole('textbox', { name: 'Application' }));
    expect(screen.queryByRole('option', { name: 'Subscribed', hidden: true })).toBeNull();
    fireEvent.click(await screen.findByRole('option', { name: 'Free', hidden: true }));
    fireEvent.click(within(form).getByRole('textbox', { name: 'Business plan' }));
    fireEvent.click(await screen.findByRole('option', { name: 'Unlimited', hidden: true }));
    fireEvent.click(within(form).getByRole('button', { name: 'Subscribe' }));
    expect(await screen.findByText(/Subscribed\. Generate the application's keys/)).toBeTruthy();
    expect(seen.find((s) => s.method === 'POST')?.body).toEqual({ apiId: 'api1', applicationId: 'a2', throttlingPolicy: 'Unlimited' });
    expect(await screen.findByText('Every one of your applications subscribes to this API.')).toBeTruthy();
  });

  it("shows the server's refusal", async () => {
    scriptedServer((method, path) => {
      if (path === '/applications') return [200, { count: 1, list: [APPS[1]] }];
      if (method === 'GET' && path === '/subscriptions') return [200, { count: 0, list: [] }];
      if (method === 'POST') return [400, { code: 400, message: 'Bad Request', description: 'throttlingPolicy: `Gold` is not offered by this API' }];
      return undefined;
    });
    renderSignedIn(<SubscribeCard apiId="api1" plans={['Gold']} />);
    const form = await screen.findByRole('form', { name: 'Subscribe' });
    fireEvent.click(within(form).getByRole('textbox', { name: 'Application' }));
    fireEvent.click(await screen.findByRole('option', { name: 'Free', hidden: true }));
    fireEvent.click(within(form).getByRole('button', { name: 'Subscribe' }));
    expect((await screen.findByRole('alert')).textContent).toContain('is not offered by this API');
  });
});
